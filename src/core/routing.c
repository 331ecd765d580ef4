/* SPDX-License-Identifier: MIT */
/*
 * routing.c - the GSI routing table (the kernel's virt/kvm/irqchip.c), and
 * what KVM cannot do with it: one-GSI edits, batches, read-back, a larger
 * sparse GSI space and per-route counters.
 *
 * Shape (see struct virq_routing): a two-level radix over the GSI space.
 * Each GSI's routes are one immutable struct virq_gsi_routes; a lookup is
 * two dependent loads.  Readers (every injection) run inside an RCU
 * read-side section and never wait; writers serialise on vm->irq_lock and
 * never wait either: what they replace is freed by call_rcu().
 *
 *  - KVM_SET_GSI_ROUTING validates the whole table while building a new
 *    one off to the side (all routes carved from one block), then publishes
 *    it with one pointer store.  On any error the new table is dropped and
 *    the old one stays in force.
 *  - One-GSI edits (virq_route_set, batches) build the GSI's new routes
 *    off to the side, then store one slot of the table in force.
 *
 * Ownership: a table owns its leaves, its bulk block and every
 * individually allocated GSI in its slots.  A GSI carved from the bulk
 * block is never freed on its own; it goes with the block.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"

struct virq_ack_notifiers {
	pthread_mutex_t lock; /* writers */
	struct virq_irq_ack_notifier *_Atomic head; /* RCU list */
};

/* ---- tables ---------------------------------------------------------------- */

static size_t gsi_routes_size(uint32_t nr)
{
	size_t sz = sizeof(struct virq_gsi_routes) + nr * sizeof(struct virq_route);

	sz = (sz + 15) & ~(size_t)15;
	return sz + nr * sizeof(struct virq_route_counters);
}

/*
 * Lay out a GSI's routes at @mem: the header and the counters are
 * initialised here, each route by setup_entry() as it validates (a bulk
 * block is not zeroed first: at 4096 routes that memset was a third of
 * KVM_SET_GSI_ROUTING's cost).
 */
static struct virq_gsi_routes *gsi_routes_init(void *mem, uint32_t gsi, uint32_t nr, bool bulk)
{
	struct virq_gsi_routes *g = mem;
	size_t off = sizeof(*g) + nr * sizeof(struct virq_route);

	off = (off + 15) & ~(size_t)15;
	memset(g, 0, sizeof(*g));
	memset((char *)mem + off, 0, nr * sizeof(struct virq_route_counters));
	g->gsi = gsi;
	g->nr = (uint16_t)nr;
	g->bulk = bulk;
	g->counters = (struct virq_route_counters *)((char *)mem + off);
	return g;
}

static struct virq_gsi_routes *gsi_routes_alloc(uint32_t gsi, uint32_t nr)
{
	void *mem = calloc(1, gsi_routes_size(nr));

	return mem ? gsi_routes_init(mem, gsi, nr, false) : NULL;
}

static void gsi_routes_free_rcu(struct rcu_head *head)
{
	free(container_of(head, struct virq_gsi_routes, rcu));
}

/* Free @g once readers are done with it (no-op for bulk routes). */
static void gsi_routes_retire(struct virq_gsi_routes *g)
{
	if (g && !g->bulk)
		call_rcu(&g->rcu, gsi_routes_free_rcu);
}

/*
 * One retired bulk block kept for the next KVM_SET_GSI_ROUTING, process
 * wide.  Large blocks come from mmap(); without this, every replacement
 * of a big table would fault in fresh zeroed pages (the bulk of its cost)
 * while the previous block is being unmapped by the call_rcu thread.
 */
struct spare_block {
	void *mem;
	size_t size;
};
static struct spare_block *_Atomic spare_bulk;

static void *bulk_alloc(size_t size, size_t *got)
{
	struct spare_block *b = atomic_exchange_explicit(&spare_bulk, NULL, memory_order_acquire);
	void *mem;

	if (b && b->size >= size && b->size <= 2 * size + 65536) {
		mem = b->mem;
		*got = b->size;
		free(b);
		return mem; /* not zeroed: the carving initialises what it uses */
	}
	if (b) {
		free(b->mem);
		free(b);
	}
	*got = size;
	return malloc(size);
}

static void bulk_free(void *mem, size_t size)
{
	struct spare_block *b;

	if (!mem)
		return;
	b = malloc(sizeof(*b));
	if (!b) {
		free(mem);
		return;
	}
	b->mem = mem;
	b->size = size;
	b = atomic_exchange_explicit(&spare_bulk, b, memory_order_acq_rel);
	if (b) {
		free(b->mem);
		free(b);
	}
}

static bool in_bulk(const struct virq_routing *rt, const void *p)
{
	return rt->bulk && (const char *)p >= (const char *)rt->bulk &&
	       (const char *)p < (const char *)rt->bulk + rt->bulk_size;
}

void virq_routing_free(struct virq_routing *rt)
{
	if (!rt)
		return;
	for (uint32_t i = 0; i < rt->nr_leaves; i++) {
		struct virq_rt_leaf *l = atomic_load_explicit(&rt->leaf[i], memory_order_relaxed);

		if (!l)
			continue;
		for (uint32_t j = 0; rt->nr_own && j < VIRQ_RT_LEAF_SIZE; j++) {
			struct virq_gsi_routes *g = atomic_load_explicit(&l->slot[j], memory_order_relaxed);

			if (g && !g->bulk)
				free(g);
		}
		if (!in_bulk(rt, l))
			free(l);
	}
	bulk_free(rt->bulk, rt->bulk_size);
	free(rt->chip);
	free(rt->chip_refs);
	free(rt);
}

static void routing_free_rcu(struct rcu_head *head)
{
	virq_routing_free(container_of(head, struct virq_routing, rcu));
}

/* Only the shell: leaves, routes and the bulk block moved to a new table. */
static void routing_shell_free_rcu(struct rcu_head *head)
{
	struct virq_routing *rt = container_of(head, struct virq_routing, rcu);

	for (uint32_t li = rt->keep_leaves; li < rt->nr_leaves; li++) {
		struct virq_rt_leaf *l = atomic_load_explicit(&rt->leaf[li], memory_order_relaxed);

		if (!in_bulk(rt, l))
			free(l);
	}
	free(rt->chip);
	free(rt->chip_refs);
	free(rt);
}

static struct virq_routing *routing_alloc(const struct virq_arch_ops *arch, uint32_t limit)
{
	uint32_t nr_leaves = (limit + VIRQ_RT_LEAF_SIZE - 1) / VIRQ_RT_LEAF_SIZE;
	struct virq_routing *rt = calloc(1, sizeof(*rt) + nr_leaves * sizeof(rt->leaf[0]));
	uint32_t nchip = arch->nr_irqchips * arch->irqchip_pins;

	if (!rt)
		return NULL;
	rt->limit = limit;
	rt->nr_leaves = nr_leaves;
	rt->nchip = nchip;
	rt->chip = malloc((nchip ? nchip : 1) * sizeof(*rt->chip));
	rt->chip_refs = calloc(nchip ? nchip : 1, sizeof(*rt->chip_refs));
	if (!rt->chip || !rt->chip_refs) {
		virq_routing_free(rt);
		return NULL;
	}
	for (uint32_t i = 0; i < nchip; i++)
		atomic_store_explicit(&rt->chip[i], -1, memory_order_relaxed);
	return rt;
}

static uint32_t chip_index(const struct virq_vm *vm, const struct virq_route *e)
{
	return e->irqchip.irqchip * vm->arch->irqchip_pins + e->irqchip.pin;
}

/* ---- validation ------------------------------------------------------------ */

/*
 * The per-entry checks of kvm_set_irq_routing() and setup_routing_entry(),
 * in their order: flags, the duplicate rule against the entries already on
 * the GSI (@prev[0 .. @nprev)), then the arch's rules.  Fills @e.
 */
static int setup_entry(struct virq_vm *vm, struct virq_route *e, const struct virq_route *prev,
		       uint32_t nprev, uint32_t gsi, const struct kvm_irq_routing_entry *ue)
{
	const struct virq_arch_ops *arch = vm->arch;
	int r;

	if (ue->type == KVM_IRQ_ROUTING_MSI) {
		if (ue->flags & ~KVM_MSI_VALID_DEVID)
			return -EINVAL;
	} else if (ue->flags) {
		return -EINVAL;
	}
	/* One route per irqchip on a GSI; any other type must be alone. */
	for (uint32_t j = 0; j < nprev; j++) {
		if (prev[j].type != KVM_IRQ_ROUTING_IRQCHIP || ue->type != KVM_IRQ_ROUTING_IRQCHIP ||
		    ue->u.irqchip.irqchip == prev[j].irqchip.irqchip)
			return -EINVAL;
	}
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = ue->type;
	r = arch->set_routing_entry(vm, e, ue);
	if (r)
		return r;
	/* The arch validated chip and pin; bound them again anyway, the
	 * reverse map is indexed with them. */
	if (e->type == KVM_IRQ_ROUTING_IRQCHIP &&
	    (e->irqchip.irqchip >= arch->nr_irqchips || e->irqchip.pin >= arch->irqchip_pins))
		return -EINVAL;
	return 0;
}

void virq_route_to_user(struct virq_vm *vm, const struct virq_route *e, struct kvm_irq_routing_entry *ue)
{
	memset(ue, 0, sizeof(*ue));
	ue->gsi = e->gsi;
	ue->type = e->type;
	switch (e->type) {
	case KVM_IRQ_ROUTING_IRQCHIP:
		ue->u.irqchip.irqchip = e->irqchip.irqchip;
		ue->u.irqchip.pin = e->irqchip.pin;
		break;
	case KVM_IRQ_ROUTING_MSI:
		ue->flags = e->msi.flags;
		ue->u.msi.address_lo = e->msi.address_lo;
		ue->u.msi.address_hi = e->msi.address_hi;
		ue->u.msi.data = e->msi.data;
		ue->u.msi.devid = e->msi.devid;
		break;
	case KVM_IRQ_ROUTING_S390_ADAPTER:
		ue->u.adapter = e->adapter;
		break;
	case KVM_IRQ_ROUTING_HV_SINT:
		ue->u.hv_sint = e->hv_sint;
		break;
	case KVM_IRQ_ROUTING_XEN_EVTCHN:
		ue->u.xen_evtchn = e->xen_evtchn;
		break;
	}
	if (vm->arch->route_to_user)
		vm->arch->route_to_user(e, ue);
}

static bool route_same(const struct virq_route *a, const struct virq_route *b)
{
	return a->type == b->type && a->set == b->set && !memcmp(&a->msi, &b->msi, sizeof(*a) - offsetof(struct virq_route, msi));
}

static void counter_copy(_Atomic uint64_t *dst, _Atomic uint64_t *src)
{
	atomic_store_explicit(dst, atomic_load_explicit(src, memory_order_relaxed), memory_order_relaxed);
}

/* A route that did not change keeps its counters. */
static void carry_counters(struct virq_gsi_routes *g, const struct virq_gsi_routes *old)
{
	if (!old)
		return;
	for (uint32_t k = 0; k < g->nr && k < old->nr; k++) {
		struct virq_route_counters *d = &g->counters[k], *c = &old->counters[k];

		if (!route_same(&g->e[k], &old->e[k]))
			continue;
		counter_copy(&d->delivered, &c->delivered);
		counter_copy(&d->coalesced, &c->coalesced);
		counter_copy(&d->masked, &c->masked);
		counter_copy(&d->no_destination, &c->no_destination);
	}
}

/* Side effects of any routing change (irq_lock held). */
static void routing_changed(struct virq_vm *vm)
{
	if (vm->arch->irq_routing_update)
		vm->arch->irq_routing_update(vm);
	virq_irqfd_routing_update(vm);
}

/* ---- KVM_SET_GSI_ROUTING ---------------------------------------------------- */

struct gsi_ref {
	uint32_t gsi;
	uint32_t idx;
};

static int gsi_ref_cmp(const void *a, const void *b)
{
	const struct gsi_ref *x = a, *y = b;

	if (x->gsi != y->gsi)
		return x->gsi < y->gsi ? -1 : 1;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/*
 * Order the entries by (gsi, input position): a counting sort when the GSIs
 * are dense, a comparison sort when they are sparse, so the work and the
 * memory stay proportional to @nr, not to the GSI space.
 */
static int order_entries(struct gsi_ref *ref, uint32_t nr, uint32_t max_gsi)
{
	if ((uint64_t)max_gsi + 1 <= 4ull * nr + 256) {
		uint32_t n = max_gsi + 2, *cnt = calloc(n, sizeof(*cnt));
		struct gsi_ref *tmp = malloc((size_t)nr * sizeof(*tmp));

		if (!cnt || !tmp) {
			free(cnt);
			free(tmp);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < nr; i++)
			cnt[ref[i].gsi + 1]++;
		for (uint32_t g = 1; g < n; g++)
			cnt[g] += cnt[g - 1];
		for (uint32_t i = 0; i < nr; i++)
			tmp[cnt[ref[i].gsi]++] = ref[i];
		memcpy(ref, tmp, (size_t)nr * sizeof(*ref));
		free(tmp);
		free(cnt);
	} else {
		qsort(ref, nr, sizeof(*ref), gsi_ref_cmp);
	}
	return 0;
}

int virq_set_irq_routing(struct virq_vm *vm, const struct kvm_irq_routing_entry *ue,
			 uint32_t nr, uint32_t flags)
{
	const struct virq_arch_ops *arch = vm->arch;
	uint32_t limit = virq_vm_gsi_limit(vm), max_gsi = 0, ngsi = 0, nleaf = 0;
	struct virq_gsi_routes **route_of = NULL; /* per input entry */
	uint16_t *pos = NULL;                     /* per input entry */
	struct gsi_ref *ref = NULL;
	struct virq_routing *rt, *old;
	size_t bulk_size = 0;
	char *p;
	int r = 0;

	(void)flags;
	/* Pass 1: the GSI of each entry, read once; it decides where the
	 * entry goes even if the caller rewrites it later. */
	ref = malloc((nr ? nr : 1) * sizeof(*ref));
	if (!ref)
		return -ENOMEM;
	bool sorted = true;

	for (uint32_t i = 0; i < nr; i++) {
		uint32_t gsi = ue[i].gsi;

		if (gsi >= limit) {
			free(ref);
			return -EINVAL;
		}
		ref[i].gsi = gsi;
		ref[i].idx = i;
		if (gsi < max_gsi)
			sorted = false;
		else
			max_gsi = gsi;
	}
	/* VMMs usually hand the table over in GSI order already. */
	r = sorted ? 0 : order_entries(ref, nr, max_gsi);
	if (r) {
		free(ref);
		return r;
	}

	/* Size the block: every GSI's routes, then the leaves they need. */
	for (uint32_t i = 0; i < nr;) {
		uint32_t j = i;

		while (j < nr && ref[j].gsi == ref[i].gsi)
			j++;
		if (j - i > UINT16_MAX) /* cannot pass the duplicate rule */
			j = i + UINT16_MAX;
		bulk_size += gsi_routes_size(j - i);
		if (!ngsi || (ref[i].gsi >> VIRQ_RT_LEAF_SHIFT) != (ref[i - 1].gsi >> VIRQ_RT_LEAF_SHIFT))
			nleaf++;
		ngsi++;
		i = j;
	}
	bulk_size = (bulk_size + 63) & ~(size_t)63;

	rt = routing_alloc(arch, limit);
	route_of = malloc((nr ? nr : 1) * sizeof(*route_of));
	pos = malloc((nr ? nr : 1) * sizeof(*pos));
	if (rt && nr)
		rt->bulk = bulk_alloc(bulk_size + nleaf * sizeof(struct virq_rt_leaf), &rt->bulk_size);
	if (!rt || !route_of || !pos || (nr && !rt->bulk)) {
		r = -ENOMEM;
		goto out;
	}

	/* Carve: GSIs first, leaves after them. */
	p = rt->bulk;
	{
		char *leaves = (char *)rt->bulk + bulk_size;

		for (uint32_t i = 0; i < nr;) {
			uint32_t j = i, gsi = ref[i].gsi, li = gsi >> VIRQ_RT_LEAF_SHIFT;
			struct virq_rt_leaf *l = atomic_load_explicit(&rt->leaf[li], memory_order_relaxed);
			struct virq_gsi_routes *g;

			while (j < nr && ref[j].gsi == gsi && j - i < UINT16_MAX)
				j++;
			g = gsi_routes_init(p, gsi, j - i, true);
			g->nr = 0; /* grows as entries validate */
			p += gsi_routes_size(j - i);
			for (uint32_t k = i; k < j; k++) {
				route_of[ref[k].idx] = g;
				pos[ref[k].idx] = (uint16_t)(k - i);
			}
			if (!l) {
				l = (struct virq_rt_leaf *)leaves;
				leaves += sizeof(*l);
				memset(l, 0, sizeof(*l));
				atomic_store_explicit(&rt->leaf[li], l, memory_order_relaxed);
			}
			atomic_store_explicit(&l->slot[gsi & (VIRQ_RT_LEAF_SIZE - 1)], g, memory_order_relaxed);
			i = j;
		}
	}

	/* Pass 2, in the caller's order as the kernel does: the entries
	 * before this one on its GSI are exactly the ones already filled. */
	for (uint32_t i = 0; i < nr; i++) {
		struct virq_gsi_routes *g = route_of[i];
		struct kvm_irq_routing_entry e;

		memcpy(&e, &ue[i], sizeof(e));
		r = setup_entry(vm, &g->e[pos[i]], g->e, pos[i], g->gsi, &e);
		if (r)
			goto out;
		g->nr++;
		if (g->e[pos[i]].type == KVM_IRQ_ROUTING_IRQCHIP) {
			uint32_t c = chip_index(vm, &g->e[pos[i]]);

			atomic_store_explicit(&rt->chip[c], (int32_t)g->gsi, memory_order_relaxed);
			rt->chip_refs[c]++;
		}
	}
	atomic_store_explicit(&rt->nr_routes, nr, memory_order_relaxed);

	pthread_mutex_lock(&vm->irq_lock);
	old = atomic_load_explicit(&vm->routing, memory_order_relaxed);
	if (limit != virq_vm_gsi_limit(vm)) {
		/* The GSI space changed under us: rebuild against the new one. */
		pthread_mutex_unlock(&vm->irq_lock);
		virq_routing_free(rt);
		free(ref);
		free(route_of);
		free(pos);
		return virq_set_irq_routing(vm, ue, nr, flags);
	}
	if (old && atomic_load_explicit(&old->counted, memory_order_relaxed)) {
		for (uint32_t i = 0; i < nr; i++) {
			if (i && ref[i].gsi == ref[i - 1].gsi)
				continue;
			carry_counters(route_of[ref[i].idx], virq_routing_lookup(old, ref[i].gsi));
		}
		atomic_store_explicit(&rt->counted, true, memory_order_relaxed);
	}
	atomic_store_explicit(&vm->routing, rt, memory_order_release);
	virq_trace_virq_set_gsi_routing(&vm->trace, -1, nr);
	routing_changed(vm);
	pthread_mutex_unlock(&vm->irq_lock);
	if (old)
		call_rcu(&old->rcu, routing_free_rcu);
	rt = NULL;
	r = 0;
out:
	virq_routing_free(rt);
	free(ref);
	free(route_of);
	free(pos);
	return r;
}

/* ---- injection ---------------------------------------------------------------- */

static void count(struct virq_routing *rt, struct virq_route_counters *c, const struct virq_route *e, int r)
{
	_Atomic uint64_t *n;

	if (unlikely(!atomic_load_explicit(&rt->counted, memory_order_relaxed)))
		atomic_store_explicit(&rt->counted, true, memory_order_relaxed);
	if (r > 0)
		n = &c->delivered;
	else if (r == 0)
		n = &c->coalesced;
	else if (r == -1 && e->type != KVM_IRQ_ROUTING_IRQCHIP)
		n = &c->no_destination;
	else
		n = &c->masked;
	atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
}

/*
 * kvm_set_irq(): deliver @level on @gsi through every route of the GSI and
 * combine the results: <0 routes are skipped, the others are summed; -1 if
 * the GSI has no route or every route ignored it.
 */
int virq_set_irq(struct virq_vm *vm, int irq_source_id, uint32_t gsi, int level, bool line_status)
{
	const struct virq_gsi_routes *g;
	struct virq_routing *rt;
	int ret = -1;

	virq_trace_kvm_set_irq(&vm->trace, -1, gsi, level, irq_source_id);
	rcu_read_lock();
	rt = virq_routing_deref(vm);
	g = virq_routing_lookup(rt, gsi);
	if (g) {
		for (uint32_t k = 0; k < g->nr; k++) {
			const struct virq_route *e = &g->e[k];
			int r = e->set(e, vm, irq_source_id, level, line_status);

			if (level)
				count(rt, &g->counters[k], e, r);
			if (r < 0)
				continue;
			ret = r + (ret < 0 ? 0 : ret);
		}
	}
	rcu_read_unlock();
	return ret;
}

int virq_irqchip_pin_to_gsi(struct virq_vm *vm, uint32_t irqchip, uint32_t pin)
{
	struct virq_routing *rt = virq_routing_deref(vm);

	if (!rt || irqchip >= vm->arch->nr_irqchips || pin >= vm->arch->irqchip_pins)
		return -1;
	return atomic_load_explicit(&rt->chip[irqchip * vm->arch->irqchip_pins + pin], memory_order_relaxed);
}

/* ---- one-GSI edits ------------------------------------------------------------- */

/* Validate @nr entries for @gsi into new routes (NULL for none).  The VM
 * must allow routing at all. */
static int build_gsi(struct virq_vm *vm, uint32_t gsi, const struct kvm_irq_routing_entry *ue,
		     uint32_t nr, struct virq_gsi_routes **out)
{
	struct virq_gsi_routes *g;
	int r;

	*out = NULL;
	if (!vm->arch->can_set_irq_routing(vm) || gsi >= virq_vm_gsi_limit(vm))
		return -EINVAL;
	if (nr && !ue)
		return -EFAULT;
	if (nr > vm->arch->nr_irqchips && nr > 1)
		return -EINVAL; /* cannot pass the duplicate rule */
	if (!nr)
		return 0;
	g = gsi_routes_alloc(gsi, nr);
	if (!g)
		return -ENOMEM;
	for (uint32_t i = 0; i < nr; i++) {
		struct kvm_irq_routing_entry e;

		memcpy(&e, &ue[i], sizeof(e));
		r = e.gsi != gsi ? -EINVAL : setup_entry(vm, &g->e[i], g->e, i, gsi, &e);
		if (r) {
			free(g);
			return r;
		}
	}
	*out = g;
	return 0;
}

/* Re-check staged routes against the VM as it is now (irq_lock held). */
static int revalidate_gsi(struct virq_vm *vm, const struct virq_gsi_routes *g)
{
	if (!vm->arch->can_set_irq_routing(vm) || (g && g->gsi >= virq_vm_gsi_limit(vm)))
		return -EINVAL;
	for (uint32_t i = 0; g && i < g->nr; i++) {
		struct kvm_irq_routing_entry ue;
		struct virq_route e;
		int r;

		virq_route_to_user(vm, &g->e[i], &ue);
		r = setup_entry(vm, &e, g->e, i, g->gsi, &ue);
		if (r)
			return r;
	}
	return 0;
}

/* Find another GSI routed to reverse-map slot @c (the one that pointed
 * there is going away).  Rare: two GSIs on one pin. */
static int32_t chip_fallback(struct virq_vm *vm, struct virq_routing *rt, uint32_t c, uint32_t skip)
{
	for (uint32_t li = 0; li < rt->nr_leaves; li++) {
		struct virq_rt_leaf *l = atomic_load_explicit(&rt->leaf[li], memory_order_relaxed);

		for (uint32_t j = 0; l && j < VIRQ_RT_LEAF_SIZE; j++) {
			struct virq_gsi_routes *g = atomic_load_explicit(&l->slot[j], memory_order_relaxed);

			if (!g || g->gsi == skip)
				continue;
			for (uint32_t k = 0; k < g->nr; k++)
				if (g->e[k].type == KVM_IRQ_ROUTING_IRQCHIP && chip_index(vm, &g->e[k]) == c)
					return (int32_t)g->gsi;
		}
	}
	return -1;
}

/* Make sure the leaf of @gsi exists (irq_lock held).  An empty leaf is
 * harmless to readers, so this may run before a change is known to apply. */
static int ensure_leaf(struct virq_routing *rt, uint32_t gsi)
{
	uint32_t li = gsi >> VIRQ_RT_LEAF_SHIFT;
	struct virq_rt_leaf *l;

	if (atomic_load_explicit(&rt->leaf[li], memory_order_relaxed))
		return 0;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	atomic_store_explicit(&rt->leaf[li], l, memory_order_release);
	return 0;
}

/*
 * Install @g (NULL: remove) on @gsi in the table in force, whose leaf for
 * @gsi exists unless @g is NULL (irq_lock held).  Returns the routes
 * replaced.
 */
static struct virq_gsi_routes *install_gsi(struct virq_vm *vm, struct virq_routing *rt, uint32_t gsi,
					   struct virq_gsi_routes *g)
{
	struct virq_rt_leaf *l = atomic_load_explicit(&rt->leaf[gsi >> VIRQ_RT_LEAF_SHIFT], memory_order_relaxed);
	struct virq_gsi_routes *old;

	virq_trace_virq_route_update(&vm->trace, -1, gsi, g ? g->nr : 0);
	if (!l)
		return NULL;
	old = atomic_load_explicit(&l->slot[gsi & (VIRQ_RT_LEAF_SIZE - 1)], memory_order_relaxed);
	if (g && atomic_load_explicit(&rt->counted, memory_order_relaxed))
		carry_counters(g, old);
	rt->nr_own += (g && !g->bulk) - (old && !old->bulk);
	atomic_store_explicit(&l->slot[gsi & (VIRQ_RT_LEAF_SIZE - 1)], g, memory_order_release);
	atomic_store_explicit(&rt->nr_routes,
			      atomic_load_explicit(&rt->nr_routes, memory_order_relaxed) + (g ? g->nr : 0) -
				      (old ? old->nr : 0),
			      memory_order_relaxed);

	/* The reverse map: new routes win; a pin whose GSI lost its route
	 * falls back to another GSI still routed there, if any. */
	for (uint32_t k = 0; old && k < old->nr; k++) {
		if (old->e[k].type != KVM_IRQ_ROUTING_IRQCHIP)
			continue;
		uint32_t c = chip_index(vm, &old->e[k]);

		rt->chip_refs[c]--;
		if (atomic_load_explicit(&rt->chip[c], memory_order_relaxed) == (int32_t)gsi)
			atomic_store_explicit(&rt->chip[c], rt->chip_refs[c] ? chip_fallback(vm, rt, c, gsi) : -1,
					      memory_order_relaxed);
	}
	for (uint32_t k = 0; g && k < g->nr; k++) {
		if (g->e[k].type != KVM_IRQ_ROUTING_IRQCHIP)
			continue;
		uint32_t c = chip_index(vm, &g->e[k]);

		rt->chip_refs[c]++;
		atomic_store_explicit(&rt->chip[c], (int32_t)gsi, memory_order_relaxed);
	}
	return old;
}

/* The table in force, creating an empty one if the VM has none (irq_lock held). */
static struct virq_routing *routing_locked(struct virq_vm *vm)
{
	struct virq_routing *rt = atomic_load_explicit(&vm->routing, memory_order_relaxed);

	if (!rt) {
		rt = routing_alloc(vm->arch, virq_vm_gsi_limit(vm));
		if (rt)
			atomic_store_explicit(&vm->routing, rt, memory_order_release);
	}
	return rt;
}

int virq_route_set(int vm_fd, uint32_t gsi, const struct kvm_irq_routing_entry *entries, uint32_t nr)
{
	struct virq_vm *vm = virq_vm_get(vm_fd);
	struct virq_gsi_routes *g = NULL, *old;
	struct virq_routing *rt;
	int r;

	if (!vm)
		return -EBADF;
	r = build_gsi(vm, gsi, entries, nr, &g);
	if (r)
		goto out;
	pthread_mutex_lock(&vm->irq_lock);
	rt = routing_locked(vm);
	/* Validation ran outside the lock; the VM may have changed. */
	r = rt ? revalidate_gsi(vm, g) : -ENOMEM;
	if (!r && g)
		r = ensure_leaf(rt, gsi);
	if (!r) {
		old = install_gsi(vm, rt, gsi, g);
		g = NULL;
		routing_changed(vm);
		gsi_routes_retire(old);
	}
	pthread_mutex_unlock(&vm->irq_lock);
out:
	free(g);
	virq_obj_put(&vm->obj);
	return r;
}

/* ---- batches -------------------------------------------------------------------- */

struct batch_op {
	uint32_t gsi;
	uint32_t seq;
	struct virq_gsi_routes *g; /* NULL: remove */
};

struct virq_route_batch {
	struct virq_vm *vm; /* holds a reference */
	struct batch_op *ops;
	uint32_t nr, cap;
};

int virq_route_batch_begin(int vm_fd, struct virq_route_batch **batch)
{
	struct virq_vm *vm;
	struct virq_route_batch *b;

	if (!batch)
		return -EFAULT;
	*batch = NULL;
	vm = virq_vm_get(vm_fd);
	if (!vm)
		return -EBADF;
	b = calloc(1, sizeof(*b));
	if (!b) {
		virq_obj_put(&vm->obj);
		return -ENOMEM;
	}
	b->vm = vm;
	*batch = b;
	return 0;
}

int virq_route_batch_set(struct virq_route_batch *b, uint32_t gsi,
			 const struct kvm_irq_routing_entry *entries, uint32_t nr)
{
	struct virq_gsi_routes *g;
	int r;

	if (!b)
		return -EFAULT;
	r = build_gsi(b->vm, gsi, entries, nr, &g);
	if (r)
		return r;
	if (b->nr == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 16;
		struct batch_op *ops = cap > b->cap ? realloc(b->ops, cap * sizeof(*ops)) : NULL;

		if (!ops) {
			free(g);
			return -ENOMEM;
		}
		b->ops = ops;
		b->cap = cap;
	}
	b->ops[b->nr] = (struct batch_op){ .gsi = gsi, .seq = b->nr, .g = g };
	b->nr++;
	return 0;
}

static int batch_op_cmp(const void *a, const void *b)
{
	const struct batch_op *x = a, *y = b;

	if (x->gsi != y->gsi)
		return x->gsi < y->gsi ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void batch_free(struct virq_route_batch *b)
{
	for (uint32_t i = 0; i < b->nr; i++)
		free(b->ops[i].g);
	free(b->ops);
	virq_obj_put(&b->vm->obj);
	free(b);
}

void virq_route_batch_abort(struct virq_route_batch *b)
{
	if (b)
		batch_free(b);
}

int virq_route_batch_commit(struct virq_route_batch *b)
{
	struct virq_vm *vm;
	struct virq_routing *rt;
	uint32_t n = 0;
	int r = 0;

	if (!b)
		return -EFAULT;
	vm = b->vm;
	/* Keep the last change of each GSI. */
	if (b->nr)
		qsort(b->ops, b->nr, sizeof(*b->ops), batch_op_cmp);
	for (uint32_t i = 0; i < b->nr; i++) {
		if (i + 1 < b->nr && b->ops[i + 1].gsi == b->ops[i].gsi) {
			free(b->ops[i].g);
			continue;
		}
		b->ops[n++] = b->ops[i];
	}
	b->nr = n;

	pthread_mutex_lock(&vm->irq_lock);
	rt = routing_locked(vm);
	if (!rt)
		r = -ENOMEM;
	if (!r && !vm->arch->can_set_irq_routing(vm))
		r = -EINVAL;
	for (uint32_t i = 0; !r && i < n; i++)
		r = revalidate_gsi(vm, b->ops[i].g);
	/* Allocate before changing anything: installing cannot fail. */
	for (uint32_t i = 0; !r && i < n; i++)
		if (b->ops[i].g)
			r = ensure_leaf(rt, b->ops[i].gsi);
	if (!r) {
		for (uint32_t i = 0; i < n; i++) {
			struct virq_gsi_routes *old = install_gsi(vm, rt, b->ops[i].gsi, b->ops[i].g);

			b->ops[i].g = NULL;
			gsi_routes_retire(old);
		}
		if (n)
			routing_changed(vm);
	}
	pthread_mutex_unlock(&vm->irq_lock);
	batch_free(b);
	return r;
}

/* ---- read-back, counters, GSI space -------------------------------------------- */

/* Copy route @k of @g into slot @k of @out. */
typedef void (*route_copy_fn)(struct virq_vm *vm, const struct virq_gsi_routes *g, uint32_t k, void *out);

/* The routes of @gsi through @copy (up to @max); returns how many there are. */
static int read_gsi(int vm_fd, uint32_t gsi, route_copy_fn copy, void *out, uint32_t max)
{
	struct virq_vm *vm = virq_vm_get(vm_fd);
	const struct virq_gsi_routes *g;
	int n = 0;

	if (!vm)
		return -EBADF;
	rcu_read_lock();
	g = virq_routing_lookup(virq_routing_deref(vm), gsi);
	if (g) {
		n = g->nr;
		for (uint32_t k = 0; out && k < g->nr && k < max; k++)
			copy(vm, g, k, out);
	}
	rcu_read_unlock();
	virq_obj_put(&vm->obj);
	return n;
}

static void copy_entry(struct virq_vm *vm, const struct virq_gsi_routes *g, uint32_t k, void *out)
{
	virq_route_to_user(vm, &g->e[k], &((struct kvm_irq_routing_entry *)out)[k]);
}

static void copy_stats(struct virq_vm *vm, const struct virq_gsi_routes *g, uint32_t k, void *out)
{
	struct virq_route_counters *c = &g->counters[k];
	struct virq_route_stats *st = &((struct virq_route_stats *)out)[k];

	(void)vm;
	st->delivered = atomic_load_explicit(&c->delivered, memory_order_relaxed);
	st->coalesced = atomic_load_explicit(&c->coalesced, memory_order_relaxed);
	st->masked = atomic_load_explicit(&c->masked, memory_order_relaxed);
	st->no_destination = atomic_load_explicit(&c->no_destination, memory_order_relaxed);
}

int virq_route_get(int vm_fd, uint32_t gsi, struct kvm_irq_routing_entry *entries, uint32_t max)
{
	return read_gsi(vm_fd, gsi, copy_entry, entries, max);
}

int virq_route_stats(int vm_fd, uint32_t gsi, struct virq_route_stats *stats, uint32_t max)
{
	return read_gsi(vm_fd, gsi, copy_stats, stats, max);
}

/* Copy the table in force, in GSI order (irq_lock held: one snapshot). */
uint32_t virq_routing_copy(struct virq_vm *vm, struct kvm_irq_routing_entry *entries, uint32_t max)
{
	struct virq_routing *rt = atomic_load_explicit(&vm->routing, memory_order_relaxed);
	uint32_t n = 0;

	for (uint32_t li = 0; rt && li < rt->nr_leaves; li++) {
		struct virq_rt_leaf *l = atomic_load_explicit(&rt->leaf[li], memory_order_relaxed);

		for (uint32_t j = 0; l && j < VIRQ_RT_LEAF_SIZE; j++) {
			struct virq_gsi_routes *g = atomic_load_explicit(&l->slot[j], memory_order_relaxed);

			for (uint32_t k = 0; g && k < g->nr; k++, n++)
				if (entries && n < max)
					virq_route_to_user(vm, &g->e[k], &entries[n]);
		}
	}
	return n;
}

long virq_routing_get(int vm_fd, struct kvm_irq_routing_entry *entries, uint32_t max)
{
	struct virq_vm *vm = virq_vm_get(vm_fd);
	uint32_t n;

	if (!vm)
		return -EBADF;
	pthread_mutex_lock(&vm->irq_lock);
	n = virq_routing_copy(vm, entries, max);
	pthread_mutex_unlock(&vm->irq_lock);
	virq_obj_put(&vm->obj);
	return n;
}

int virq_vm_set_gsi_limit(int vm_fd, uint32_t nr_gsis)
{
	struct virq_vm *vm = virq_vm_get(vm_fd);
	struct virq_routing *rt, *old;
	int r = 0;

	if (!vm)
		return -EBADF;
	if (nr_gsis < vm->arch->max_irq_routes || nr_gsis > VIRQ_MAX_GSIS) {
		virq_obj_put(&vm->obj);
		return -EINVAL;
	}
	pthread_mutex_lock(&vm->irq_lock);
	old = atomic_load_explicit(&vm->routing, memory_order_relaxed);
	if (!old) {
		atomic_store_explicit(&vm->gsi_limit, nr_gsis, memory_order_relaxed);
		goto unlock;
	}
	/* Refuse if a route sits at or above the new limit. */
	for (uint32_t li = nr_gsis / VIRQ_RT_LEAF_SIZE; li < old->nr_leaves; li++) {
		struct virq_rt_leaf *l = atomic_load_explicit(&old->leaf[li], memory_order_relaxed);

		for (uint32_t j = 0; l && j < VIRQ_RT_LEAF_SIZE; j++)
			if (li * VIRQ_RT_LEAF_SIZE + j >= nr_gsis &&
			    atomic_load_explicit(&l->slot[j], memory_order_relaxed)) {
				r = -EBUSY;
				goto unlock;
			}
	}
	rt = routing_alloc(vm->arch, nr_gsis);
	if (!rt) {
		r = -ENOMEM;
		goto unlock;
	}
	/* The new table takes over leaves, routes and the bulk block;
	 * empty leaves past the new end are freed with the old shell. */
	for (uint32_t li = 0; li < old->nr_leaves; li++) {
		struct virq_rt_leaf *l = atomic_load_explicit(&old->leaf[li], memory_order_relaxed);

		if (li < rt->nr_leaves)
			atomic_store_explicit(&rt->leaf[li], l, memory_order_relaxed);
	}
	old->keep_leaves = rt->nr_leaves;
	rt->bulk = old->bulk;
	rt->bulk_size = old->bulk_size;
	rt->nr_own = old->nr_own;
	atomic_store_explicit(&rt->counted, atomic_load_explicit(&old->counted, memory_order_relaxed),
			      memory_order_relaxed);
	memcpy(rt->chip_refs, old->chip_refs, rt->nchip * sizeof(*rt->chip_refs));
	for (uint32_t i = 0; i < rt->nchip; i++)
		atomic_store_explicit(&rt->chip[i], atomic_load_explicit(&old->chip[i], memory_order_relaxed),
				      memory_order_relaxed);
	atomic_store_explicit(&rt->nr_routes, atomic_load_explicit(&old->nr_routes, memory_order_relaxed),
			      memory_order_relaxed);
	atomic_store_explicit(&vm->gsi_limit, nr_gsis, memory_order_relaxed);
	atomic_store_explicit(&vm->routing, rt, memory_order_release);
	call_rcu(&old->rcu, routing_shell_free_rcu);
unlock:
	pthread_mutex_unlock(&vm->irq_lock);
	virq_obj_put(&vm->obj);
	return r;
}

/* ---- ack notifiers ------------------------------------------------------------ */

int virq_ack_notifiers_init(struct virq_vm *vm)
{
	vm->ack = calloc(1, sizeof(*vm->ack));
	if (!vm->ack)
		return -ENOMEM;
	pthread_mutex_init(&vm->ack->lock, NULL);
	pthread_mutex_init(&vm->irq_lock, NULL);
	return 0;
}

void virq_ack_notifiers_destroy(struct virq_vm *vm)
{
	if (!vm->ack)
		return;
	pthread_mutex_destroy(&vm->ack->lock);
	pthread_mutex_destroy(&vm->irq_lock);
	free(vm->ack);
	vm->ack = NULL;
}

void virq_register_irq_ack_notifier(struct virq_vm *vm, struct virq_irq_ack_notifier *kian)
{
	pthread_mutex_lock(&vm->ack->lock);
	kian->next = atomic_load_explicit(&vm->ack->head, memory_order_relaxed);
	atomic_store_explicit(&vm->ack->head, kian, memory_order_release);
	pthread_mutex_unlock(&vm->ack->lock);
}

void virq_unregister_irq_ack_notifier(struct virq_vm *vm, struct virq_irq_ack_notifier *kian)
{
	struct virq_irq_ack_notifier *_Atomic *pp;

	pthread_mutex_lock(&vm->ack->lock);
	for (pp = &vm->ack->head; *pp; pp = (struct virq_irq_ack_notifier *_Atomic *)&(*pp)->next) {
		if (*pp == kian) {
			atomic_store_explicit(pp, kian->next, memory_order_release);
			break;
		}
	}
	pthread_mutex_unlock(&vm->ack->lock);
	synchronize_rcu();
}

static void notify_acked_gsi(struct virq_vm *vm, uint32_t gsi)
{
	struct virq_irq_ack_notifier *kian;

	for (kian = atomic_load_explicit(&vm->ack->head, memory_order_acquire); kian;
	     kian = atomic_load_explicit(&kian->next, memory_order_acquire))
		if (kian->gsi == gsi)
			kian->irq_acked(kian);
}

bool virq_has_ack_notifiers(struct virq_vm *vm)
{
	return atomic_load_explicit(&vm->ack->head, memory_order_relaxed) != NULL;
}

void virq_notify_acked_gsi(struct virq_vm *vm, uint32_t gsi)
{
	if (!virq_has_ack_notifiers(vm))
		return;
	rcu_read_lock();
	notify_acked_gsi(vm, gsi);
	rcu_read_unlock();
}

void virq_notify_acked_irq(struct virq_vm *vm, uint32_t irqchip, uint32_t pin)
{
	int gsi;

	virq_trace_kvm_ack_irq(&vm->trace, -1, irqchip, pin);
	if (!virq_has_ack_notifiers(vm))
		return;
	rcu_read_lock();
	gsi = virq_irqchip_pin_to_gsi(vm, irqchip, pin);
	if (gsi != -1)
		notify_acked_gsi(vm, (uint32_t)gsi);
	rcu_read_unlock();
}

bool virq_irq_has_notifier(struct virq_vm *vm, uint32_t irqchip, uint32_t pin)
{
	struct virq_irq_ack_notifier *kian;
	bool found = false;
	int gsi;

	if (!virq_has_ack_notifiers(vm))
		return false;
	rcu_read_lock();
	gsi = virq_irqchip_pin_to_gsi(vm, irqchip, pin);
	for (kian = atomic_load_explicit(&vm->ack->head, memory_order_acquire);
	     gsi != -1 && kian && !found; kian = atomic_load_explicit(&kian->next, memory_order_acquire))
		found = kian->gsi == (uint32_t)gsi;
	rcu_read_unlock();
	return found;
}
