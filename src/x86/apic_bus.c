/* SPDX-License-Identifier: MIT */
/*
 * apic_bus.c - the APIC bus: which local APICs an interrupt message
 * reaches, lowest-priority arbitration, and MSI decoding.  Behaves as the
 * kernel's arch/x86/kvm/lapic.c (map, fast path, destination matching) and
 * arch/x86/kvm/irq.c (slow path, MSI routes).
 *
 * Two ways to find the destinations, and the choice is visible to the
 * guest and to KVM_SIGNAL_MSI callers:
 *
 *  - the fast path looks the destination up in the APIC map, an immutable
 *    snapshot of every present LAPIC indexed by physical ID and by logical
 *    ID.  A lookup that finds no LAPIC still counts as handled and returns
 *    0 ("found the destination, nobody accepted").
 *  - the slow path walks every vCPU and matches each LAPIC by hand.  It
 *    runs when there is no map (no vCPU ever reset, or two vCPUs share a
 *    physical ID), when the logical part of the map is disabled (mixed
 *    flat/cluster/x2APIC modes, shared logical IDs), for shorthands, and
 *    for broadcasts.  Nothing matched returns -1.
 *
 * Map lifetime: readers load the published pointer inside rcu_read_lock()
 * and never block; x86_recalculate_apic_map() builds a new snapshot under
 * apic_map_lock, publishes it with a release store and frees the previous
 * one after a grace period.  apic_map_dirty follows the kernel's
 * CLEAN -> DIRTY (anyone, no lock) -> UPDATE_IN_PROGRESS (under the lock)
 * -> CLEAN protocol, so a change that races with a rebuild leaves the map
 * DIRTY and is picked up by the next rebuild.
 *
 * The map holds LAPIC pointers of published vCPUs only.  A vCPU is never
 * destroyed while its VM lives, so a pointer read from any snapshot stays
 * valid after rcu_read_unlock(); delivery therefore copies the (at most 16)
 * fast-path targets out of the snapshot and calls into the LAPICs outside
 * the read-side section, so a VMM callback run by a kick may safely wait
 * for a grace period.
 */
#include <stdlib.h>
#include <string.h>

#include "lapic.h"
#include "x86.h"

/* Module parameter vector_hashing: Y on the kernel this library mirrors. */
static const bool bus_vector_hashing = true;

/* Logical part of the map: which layout the software-enabled LAPICs agree on. */
enum bus_logical_mode {
	BUS_LOGICAL_NONE = 0,  /* no software-enabled LAPIC has an LDR yet */
	BUS_LOGICAL_FLAT,      /* xAPIC, DFR flat: 8 one-hot bits */
	BUS_LOGICAL_CLUSTER,   /* xAPIC, DFR cluster: 16 clusters of 4 */
	BUS_LOGICAL_X2APIC,    /* x2APIC: cluster = ID >> 4, found in phys[] */
	BUS_LOGICAL_DISABLED,  /* mixed modes or aliased IDs: use the slow path */
};

/* apic_map_dirty states (the kernel's CLEAN / UPDATE_IN_PROGRESS / DIRTY). */
enum {
	BUS_MAP_CLEAN = 0,
	BUS_MAP_UPDATING = 1,
	BUS_MAP_DIRTY = 2,
};

struct x86_apic_map {
	struct rcu_head rcu;
	enum bus_logical_mode logical_mode;
	uint32_t max_apic_id; /* phys[] has max_apic_id + 1 slots; >= 255 */
	union {
		struct x86_lapic *flat[8];
		struct x86_lapic *cluster[16][4];
	} logical;
	struct x86_lapic *phys[]; /* by physical (x2)APIC ID */
};

/* ---- small helpers ------------------------------------------------------ */

static inline uint32_t bus_x2apic_id(struct x86_lapic *apic)
{
	/* KVM pins the x2APIC ID to the vCPU id. */
	return x86_lapic_vcpu(apic)->vcpu->vcpu_id;
}

static inline uint32_t bus_xapic_id(struct x86_lapic *apic)
{
	return x86_lapic_reg(apic, APIC_ID) >> 24;
}

/* kvm_apic_present(): an in-kernel LAPIC that is hardware-enabled. */
static inline bool bus_apic_present(struct x86_lapic *apic)
{
	return apic && x86_lapic_hw_enabled(apic);
}

static inline bool bus_lowest_prio(const struct x86_irq *irq)
{
	return irq->delivery_mode == APIC_DM_LOWEST || irq->msi_redir_hint;
}

/* Index of the set bit of rank @n (0-based) in @bits, or @nbits if none. */
static uint32_t bus_nth_set_bit(const uint64_t *bits, uint32_t nbits, uint32_t n)
{
	uint32_t w, nwords = (nbits + 63) / 64;

	for (w = 0; w < nwords; w++) {
		uint64_t word = bits[w];
		uint32_t cnt = (uint32_t)__builtin_popcountll(word);
		uint32_t bit;

		if (n >= cnt) {
			n -= cnt;
			continue;
		}
		while (n--)
			word &= word - 1; /* drop the lowest set bit */
		bit = w * 64 + (uint32_t)__builtin_ctzll(word);
		return bit < nbits ? bit : nbits;
	}
	return nbits;
}

/* kvm_vector_to_index(): vector hashing picks the (vector % count)-th candidate. */
static uint32_t bus_vector_to_index(uint32_t vector, uint32_t ncand, const uint64_t *bits,
				    uint32_t nbits)
{
	return bus_nth_set_bit(bits, nbits, vector % ncand);
}

/* ---- destination matching (kvm_apic_match_dest) ------------------------- */

static bool bus_is_broadcast(struct x86_lapic *apic, uint32_t mda)
{
	return mda == (x86_lapic_x2apic_mode(apic) ? X2APIC_BROADCAST : APIC_BROADCAST);
}

static bool bus_match_physical(struct x86_lapic *apic, uint32_t mda)
{
	if (bus_is_broadcast(apic, mda))
		return true;
	/*
	 * An ID that does not fit in 8 bits is compared with the x2APIC ID
	 * even when the target is in xAPIC mode: KVM's "hotplug hack" lets
	 * vCPUs with large IDs be addressed before they switch to x2APIC.
	 */
	if (x86_lapic_x2apic_mode(apic) || mda > 0xff)
		return mda == bus_x2apic_id(apic);
	return mda == bus_xapic_id(apic);
}

static bool bus_match_logical(struct x86_lapic *apic, uint32_t mda)
{
	uint32_t ldr;

	if (bus_is_broadcast(apic, mda))
		return true;

	ldr = x86_lapic_reg(apic, APIC_LDR);
	if (x86_lapic_x2apic_mode(apic))
		return (ldr >> 16) == (mda >> 16) && (ldr & mda & 0xffff) != 0;

	ldr >>= 24;
	switch (x86_lapic_reg(apic, APIC_DFR)) {
	case APIC_DFR_FLAT:
		return (ldr & mda) != 0;
	case APIC_DFR_CLUSTER:
		return (ldr >> 4) == (mda >> 4) && (ldr & mda & 0xf) != 0;
	default:
		return false;
	}
}

/*
 * The message destination address as @target sees it.  Without an
 * interrupt remapping unit the in-kernel IOAPIC and MSIs can only say
 * 0xff for "everyone"; unless userspace turned the quirk off, an x2APIC
 * target reads a non-IPI 0xff as the x2APIC broadcast.
 */
static uint32_t bus_mda(struct x86_vm *xvm, uint32_t dest, struct x86_lapic *source,
			struct x86_lapic *target)
{
	if (!xvm->x2apic_broadcast_quirk_disabled && !source && dest == APIC_BROADCAST &&
	    x86_lapic_x2apic_mode(target))
		return X2APIC_BROADCAST;
	return dest;
}

bool x86_apic_match_dest(struct x86_vm *xvm, struct x86_lapic *target, struct x86_lapic *source,
			 uint32_t shorthand, uint32_t dest, uint32_t dest_mode)
{
	uint32_t mda = bus_mda(xvm, dest, source, target);

	switch (shorthand) {
	case APIC_DEST_NOSHORT:
		if (dest_mode == APIC_DEST_PHYSICAL)
			return bus_match_physical(target, mda);
		return bus_match_logical(target, mda);
	case APIC_DEST_SELF:
		return target == source;
	case APIC_DEST_ALLINC:
		return true;
	case APIC_DEST_ALLBUT:
		return target != source;
	default:
		return false;
	}
}

/* ---- the map ------------------------------------------------------------- */

/*
 * Where logical destination @dest_id points: a row of LAPIC slots and a
 * mask over it.  False when the logical map is disabled.
 */
static bool bus_logical_row(struct x86_apic_map *map, uint32_t dest_id,
			    struct x86_lapic ***row, uint16_t *mask)
{
	*row = NULL;
	switch (map->logical_mode) {
	case BUS_LOGICAL_NONE:
		/* Nobody can match; any non-NULL row will do. */
		*row = map->logical.flat;
		*mask = 0;
		return true;
	case BUS_LOGICAL_X2APIC: {
		/* x2APIC LDR = (ID >> 4) << 16 | 1 << (ID & 0xf): invert it. */
		uint32_t base = (dest_id >> 16) * 16;

		if (base <= map->max_apic_id) {
			uint32_t width = map->max_apic_id - base + 1;

			if (width > 16)
				width = 16;
			*row = &map->phys[base];
			*mask = (uint16_t)(dest_id & (0xffffu >> (16 - width)));
		} else {
			*mask = 0;
		}
		return true;
	}
	case BUS_LOGICAL_FLAT:
		*row = map->logical.flat;
		*mask = dest_id & 0xff;
		return true;
	case BUS_LOGICAL_CLUSTER:
		*row = map->logical.cluster[(dest_id >> 4) & 0xf];
		*mask = dest_id & 0xf;
		return true;
	case BUS_LOGICAL_DISABLED:
	default:
		return false;
	}
}

/*
 * Enter @apic into the physical part of @map (kvm_recalculate_phys_map).
 * Returns 0, -E2BIG when the map was sized too small (a vCPU became
 * present meanwhile: size again), or -EINVAL when the map cannot be used.
 */
static int bus_map_add_phys(struct x86_vm *xvm, struct x86_apic_map *map, struct x86_lapic *apic)
{
	uint32_t x2id = bus_x2apic_id(apic);
	bool x2mode = x86_lapic_x2apic_mode(apic);
	uint32_t xid = x2mode ? 0 : bus_xapic_id(apic);

	if (xid > map->max_apic_id)
		return -EINVAL;
	if (x2id > map->max_apic_id)
		return -E2BIG;

	if (xvm->x2apic_format) {
		/*
		 * 32-bit IDs: a LAPIC answers to its x2APIC ID when in x2APIC
		 * mode or when that ID needs more than 8 bits; in xAPIC mode
		 * it also answers to its xAPIC ID unless another took it.
		 * Aliases are tolerated here (first come, first served).
		 */
		if (x2mode || x2id > 0xff)
			map->phys[x2id] = apic;
		if (!x2mode && !map->phys[xid])
			map->phys[xid] = apic;
		return 0;
	}

	/* Legacy IDs: the map needs a strict one-to-one ID -> LAPIC relation. */
	if (x2mode)
		xid = x2id;
	if (map->phys[xid])
		return -EINVAL;
	map->phys[xid] = apic;
	return 0;
}

/* Enter @apic into the logical part of @map (kvm_recalculate_logical_map). */
static void bus_map_add_logical(struct x86_apic_map *map, struct x86_lapic *apic)
{
	enum bus_logical_mode mode;
	struct x86_lapic **row;
	uint16_t mask;
	uint32_t ldr, slot;

	if (map->logical_mode == BUS_LOGICAL_DISABLED)
		return;
	if (!x86_lapic_sw_enabled(apic))
		return;
	ldr = x86_lapic_reg(apic, APIC_LDR);
	if (!ldr)
		return;

	if (x86_lapic_x2apic_mode(apic)) {
		mode = BUS_LOGICAL_X2APIC;
	} else {
		ldr >>= 24;
		mode = x86_lapic_reg(apic, APIC_DFR) == APIC_DFR_FLAT ? BUS_LOGICAL_FLAT
								     : BUS_LOGICAL_CLUSTER;
	}

	/* Every software-enabled LAPIC must use the same layout. */
	if (map->logical_mode == BUS_LOGICAL_NONE) {
		map->logical_mode = mode;
	} else if (map->logical_mode != mode) {
		map->logical_mode = BUS_LOGICAL_DISABLED;
		return;
	}

	/* x2APIC logical IDs derive from the physical ID: phys[] serves both. */
	if (mode == BUS_LOGICAL_X2APIC)
		return;

	if (!bus_logical_row(map, ldr, &row, &mask)) {
		map->logical_mode = BUS_LOGICAL_DISABLED;
		return;
	}
	if (!mask)
		return;

	/* One LAPIC per logical bit: several bits, or a taken bit, disable it. */
	slot = (uint32_t)__builtin_ctz(mask);
	if ((mask & (mask - 1)) || row[slot])
		map->logical_mode = BUS_LOGICAL_DISABLED;
	else
		row[slot] = apic;
}

static void bus_map_free_rcu(struct rcu_head *head)
{
	free(container_of(head, struct x86_apic_map, rcu));
}

void x86_apic_map_mark_dirty(struct x86_vm *xvm)
{
	atomic_store_explicit(&xvm->apic_map_dirty, BUS_MAP_DIRTY, memory_order_release);
}

/* The LAPIC of published vCPU @idx, or NULL without an in-kernel LAPIC. */
static struct x86_lapic *bus_vcpu_apic(struct virq_vm *vm, uint32_t idx)
{
	struct virq_vcpu *vcpu = virq_vm_vcpu(vm, idx);
	struct x86_vcpu *xv = vcpu ? x86_vcpu_of(vcpu) : NULL;

	return xv ? xv->apic : NULL;
}

void x86_recalculate_apic_map(struct x86_vm *xvm)
{
	struct virq_vm *vm = xvm->vm;
	struct x86_apic_map *map, *old;
	uint32_t max_id = 255; /* room for every xAPIC ID */
	uint32_t i, nr;
	unsigned int expect;
	int r;

	/* Pairs with the release in mark_dirty: see the LAPIC changes. */
	if (atomic_load_explicit(&xvm->apic_map_dirty, memory_order_acquire) == BUS_MAP_CLEAN)
		return;

	pthread_mutex_lock(&xvm->apic_map_lock);
again:
	expect = BUS_MAP_DIRTY;
	if (!atomic_compare_exchange_strong_explicit(&xvm->apic_map_dirty, &expect, BUS_MAP_UPDATING,
						     memory_order_acquire, memory_order_acquire) &&
	    expect == BUS_MAP_CLEAN) {
		/* Another thread rebuilt it while we waited for the lock. */
		pthread_mutex_unlock(&xvm->apic_map_lock);
		return;
	}

	/*
	 * max_id only grows across retries, so a vCPU whose LAPIC keeps
	 * flipping its enable bit cannot make this loop forever.
	 */
	nr = virq_vm_nr_vcpus(vm);
	for (i = 0; i < nr; i++) {
		struct x86_lapic *apic = bus_vcpu_apic(vm, i);

		if (bus_apic_present(apic) && bus_x2apic_id(apic) > max_id)
			max_id = bus_x2apic_id(apic);
	}
	if (max_id >= X86_MAX_VCPU_IDS)
		max_id = X86_MAX_VCPU_IDS - 1; /* vcpu ids are below this; never trust it blindly */

	map = calloc(1, sizeof(*map) + sizeof(map->phys[0]) * ((size_t)max_id + 1));
	if (map) {
		map->max_apic_id = max_id;
		map->logical_mode = BUS_LOGICAL_NONE;

		nr = virq_vm_nr_vcpus(vm);
		for (i = 0; i < nr; i++) {
			struct x86_lapic *apic = bus_vcpu_apic(vm, i);

			if (!bus_apic_present(apic))
				continue;
			r = bus_map_add_phys(xvm, map, apic);
			if (r) {
				free(map);
				map = NULL;
				if (r == -E2BIG && max_id < X86_MAX_VCPU_IDS - 1)
					goto again;
				break;
			}
			bus_map_add_logical(map, apic);
		}
	}
	/* A NULL map (aliased IDs, no memory) sends everything down the slow path. */

	old = atomic_load_explicit(&xvm->apic_map, memory_order_relaxed);
	atomic_store_explicit(&xvm->apic_map, map, memory_order_release);
	/* Publish before going CLEAN; a change made meanwhile stays DIRTY. */
	expect = BUS_MAP_UPDATING;
	atomic_compare_exchange_strong_explicit(&xvm->apic_map_dirty, &expect, BUS_MAP_CLEAN,
						memory_order_release, memory_order_relaxed);
	pthread_mutex_unlock(&xvm->apic_map_lock);

	if (old)
		call_rcu(&old->rcu, bus_map_free_rcu);

	x86_request_scan_ioapic(xvm);
}

void x86_apic_map_free(struct x86_vm *xvm)
{
	struct x86_apic_map *map = atomic_exchange_explicit(&xvm->apic_map, NULL, memory_order_acq_rel);

	/* A straggling reader may still hold it: free after a grace period. */
	if (map)
		call_rcu(&map->rcu, bus_map_free_rcu);
}

/* ---- delivery -------------------------------------------------------------- */

/*
 * kvm_apic_is_broadcast_dest(): broadcasts always take the slow path.
 * With the quirk disabled, 0xff is a broadcast only if it cannot be the
 * x2APIC logical destination "cluster 0, CPUs 0-7".
 */
static bool bus_broadcast_dest(struct x86_vm *xvm, struct x86_lapic *src, uint32_t dest_id,
			       const struct x86_apic_map *map)
{
	if (xvm->x2apic_broadcast_quirk_disabled)
		return (dest_id == APIC_BROADCAST && map->logical_mode != BUS_LOGICAL_X2APIC) ||
		       dest_id == X2APIC_BROADCAST;
	if (src && x86_lapic_x2apic_mode(src))
		return dest_id == X2APIC_BROADCAST;
	return dest_id == APIC_BROADCAST;
}

/*
 * A physical destination without shorthand, answered by the map alone:
 * true with *@apic (NULL when nobody has that ID), as bus_map_dest() would
 * answer, or false when the slow path must decide (no map, a broadcast).
 * LAPICs outlive every snapshot, so *@apic stays valid after the unlock.
 */
static bool bus_phys_lookup(struct x86_vm *xvm, struct x86_lapic *src, uint32_t dest_id,
			    struct x86_lapic **apic)
{
	struct x86_apic_map *map;
	bool handled = false;

	rcu_read_lock();
	map = atomic_load_explicit(&xvm->apic_map, memory_order_consume);
	if (likely(map && !bus_broadcast_dest(xvm, src, dest_id, map))) {
		*apic = dest_id <= map->max_apic_id ? map->phys[dest_id] : NULL;
		handled = true;
	}
	rcu_read_unlock();
	return handled;
}

/*
 * kvm_apic_map_get_dest_lapic(): resolve @irq through @map into at most
 * 16 slots (@dst) selected by *@bitmap.  Returns false when the map cannot
 * answer (slow path).  True with an empty bitmap or NULL slots means the
 * message goes nowhere (result 0).
 */
static bool bus_map_dest(struct x86_vm *xvm, struct x86_lapic *src, const struct x86_irq *irq,
			 struct x86_apic_map *map, struct x86_lapic **dst, uint16_t *bitmap)
{
	struct x86_lapic **row;
	uint16_t mask;
	uint32_t i, pick;
	int best;

	*bitmap = 0;
	if (irq->shorthand == APIC_DEST_SELF && src) {
		dst[0] = src;
		*bitmap = 1;
		return true;
	}
	if (irq->shorthand)
		return false;
	if (!map || bus_broadcast_dest(xvm, src, irq->dest_id, map))
		return false;

	if (irq->dest_mode == APIC_DEST_PHYSICAL) {
		if (irq->dest_id <= map->max_apic_id) {
			dst[0] = map->phys[irq->dest_id];
			*bitmap = 1;
		}
		return true;
	}

	if (!bus_logical_row(map, irq->dest_id, &row, &mask))
		return false;
	for (i = 0; i < 16; i++)
		dst[i] = (mask >> i) & 1 ? row[i] : NULL;
	*bitmap = mask;

	if (!bus_lowest_prio(irq) || !mask)
		return true;

	if (bus_vector_hashing) {
		/*
		 * Hash over every bit of the mask, populated or not: a hit
		 * on an empty slot drops the interrupt, as KVM does.
		 */
		uint64_t bits = mask;

		pick = bus_vector_to_index(irq->vector, (uint32_t)__builtin_popcount(mask), &bits, 16);
		*bitmap = pick < 16 && dst[pick] ? (uint16_t)(1u << pick) : 0;
		return true;
	}

	best = -1;
	for (i = 0; i < 16; i++) {
		if (!((mask >> i) & 1) || !dst[i])
			continue;
		if (best < 0 || x86_lapic_compare_prio(dst[i], dst[best]) < 0)
			best = (int)i;
	}
	*bitmap = best >= 0 ? (uint16_t)(1u << best) : 0;
	return true;
}

/* kvm_irq_delivery_to_apic_fast(): true when handled, result in *@r. */
static bool bus_deliver_fast(struct x86_vm *xvm, struct x86_lapic *src, const struct x86_irq *irq,
			     struct x86_dest_map *dest_map, int *r)
{
	struct x86_lapic *dst[16];
	uint16_t bitmap;
	bool handled;

	*r = -1;
	if (irq->shorthand == APIC_DEST_SELF) {
		/* A self IPI without a sender is a caller bug: drop it. */
		*r = src ? x86_lapic_accept_irq(src, irq, dest_map) : 0;
		return true;
	}

	/* The common case first: a physical unicast is one slot of the map. */
	if (irq->dest_mode == APIC_DEST_PHYSICAL && !irq->shorthand) {
		struct x86_lapic *apic;

		if (bus_phys_lookup(xvm, src, irq->dest_id, &apic)) {
			*r = apic ? x86_lapic_accept_irq(apic, irq, dest_map) : 0;
			return true;
		}
	}
	rcu_read_lock();
	handled = bus_map_dest(xvm, src, irq, atomic_load_explicit(&xvm->apic_map, memory_order_consume),
			       dst, &bitmap);
	rcu_read_unlock();
	if (!handled)
		return false;

	/* LAPICs outlive every map snapshot (see the top of the file). */
	*r = 0;
	for (uint32_t b = bitmap; b; b &= b - 1) {
		uint32_t i = (uint32_t)__builtin_ctz(b);

		if (dst[i])
			*r += x86_lapic_accept_irq(dst[i], irq, dest_map);
	}
	return true;
}

int x86_irq_delivery_to_apic(struct x86_vm *xvm, struct x86_lapic *src,
			     const struct x86_irq *irq_in, struct x86_dest_map *dest_map)
{
	struct virq_vm *vm = xvm->vm;
	uint64_t cand[X86_VCPUS_LIMIT / 64];
	struct x86_lapic *lowest = NULL;
	struct x86_ext_bus *ext = atomic_load_explicit(&xvm->ext_bus, memory_order_acquire);
	struct x86_irq irq;
	uint32_t i, nr, ncand = 0;
	int r;

	if (unlikely(ext))
		return x86_ext_deliver(ext, irq_in);
	if (bus_deliver_fast(xvm, src, irq_in, dest_map, &r))
		return r;
	irq = *irq_in;

	/*
	 * Lowest priority to the physical broadcast makes no sense; KVM turns
	 * it into fixed delivery.  A set redirection hint still arbitrates.
	 */
	if (irq.dest_mode == APIC_DEST_PHYSICAL && irq.dest_id == 0xff && bus_lowest_prio(&irq))
		irq.delivery_mode = APIC_DM_FIXED;

	r = -1;
	nr = virq_vm_nr_vcpus(vm);
	if (nr > X86_VCPUS_LIMIT)
		nr = X86_VCPUS_LIMIT;
	memset(cand, 0, (nr + 63) / 64 * sizeof(cand[0]));
	for (i = 0; i < nr; i++) {
		struct x86_lapic *apic = bus_vcpu_apic(vm, i);

		if (!bus_apic_present(apic))
			continue;
		if (!x86_apic_match_dest(xvm, apic, src, irq.shorthand, irq.dest_id, irq.dest_mode))
			continue;

		if (!bus_lowest_prio(&irq)) {
			if (r < 0)
				r = 0;
			r += x86_lapic_accept_irq(apic, &irq, dest_map);
		} else if (x86_lapic_sw_enabled(apic)) {
			/* Only software-enabled LAPICs take part in arbitration. */
			if (bus_vector_hashing) {
				cand[i / 64] |= 1ull << (i % 64);
				ncand++;
			} else if (!lowest || x86_lapic_compare_prio(apic, lowest) < 0) {
				lowest = apic;
			}
		}
	}

	if (ncand) {
		uint32_t idx = bus_vector_to_index(irq.vector, ncand, cand, nr);

		lowest = idx < nr ? bus_vcpu_apic(vm, idx) : NULL;
	}
	if (lowest)
		r = x86_lapic_accept_irq(lowest, &irq, dest_map);
	return r;
}

/* ---- MSI ----------------------------------------------------------------------- */

/*
 * MSI address: bits 31:20 0xfee (not checked, as KVM), 19:12 destination
 * ID, 3 redirection hint, 2 logical destination mode.  With 32-bit x2APIC
 * IDs, address_hi bits 31:8 carry destination ID bits 31:8 and bits 7:0
 * must be zero.  MSI data: 7:0 vector, 10:8 delivery mode, 15 level
 * trigger; the assert bit (14) is ignored, an MSI always asserts.
 */
#define MSI_ADDR_DEST_SHIFT 12
#define MSI_ADDR_DEST_MASK 0xffu
#define MSI_ADDR_REDIR_HINT (1u << 3)
#define MSI_ADDR_DEST_LOGICAL (1u << 2)
#define MSI_ADDR_HI_EXT_DEST 0xffffff00u
#define MSI_DATA_VECTOR_MASK 0xffu
#define MSI_DATA_DM_MASK 0x700u
#define MSI_DATA_TRIGGER_LEVEL (1u << 15)

bool x86_msi_route_invalid(struct x86_vm *xvm, uint32_t address_hi)
{
	return xvm->x2apic_format && (address_hi & 0xff);
}

void x86_msi_to_irq(struct x86_vm *xvm, uint32_t address_lo, uint32_t address_hi,
		    uint32_t data, struct x86_irq *irq)
{
	memset(irq, 0, sizeof(*irq));
	irq->dest_id = (address_lo >> MSI_ADDR_DEST_SHIFT) & MSI_ADDR_DEST_MASK;
	if (xvm->x2apic_format)
		irq->dest_id |= address_hi & MSI_ADDR_HI_EXT_DEST;
	irq->vector = data & MSI_DATA_VECTOR_MASK;
	irq->delivery_mode = data & MSI_DATA_DM_MASK;
	irq->dest_mode = address_lo & MSI_ADDR_DEST_LOGICAL ? APIC_DEST_LOGICAL : APIC_DEST_PHYSICAL;
	irq->trig_mode = data & MSI_DATA_TRIGGER_LEVEL ? 1 : 0;
	irq->msi_redir_hint = (address_lo & MSI_ADDR_REDIR_HINT) != 0;
	irq->level = true;
	irq->shorthand = APIC_DEST_NOSHORT;
}

int x86_set_msi(struct x86_vm *xvm, uint32_t address_lo, uint32_t address_hi,
		uint32_t data, int level)
{
	struct x86_irq irq;

	if (x86_msi_route_invalid(xvm, address_hi))
		return -EINVAL;
	if (!level)
		return -1;
	/* As kvm_msi_to_lapic_irq(): the high address dword only counts
	 * (and is only shown) in the x2APIC format. */
	virq_trace_kvm_msi_set_irq(xvm->vm ? &xvm->vm->trace : NULL, -1,
				   address_lo | (xvm->x2apic_format ? (uint64_t)address_hi << 32 : 0), data);
	/*
	 * The common MSI, fixed, edge and physical, is one slot of the map:
	 * exactly what x86_irq_delivery_to_apic() would find, without
	 * building the message.  Broadcasts and everything else go the
	 * long way.
	 */
	if (likely(!(address_lo & MSI_ADDR_DEST_LOGICAL) && (data & MSI_DATA_DM_MASK) == APIC_DM_FIXED &&
		   !(data & MSI_DATA_TRIGGER_LEVEL) &&
		   !atomic_load_explicit(&xvm->ext_bus, memory_order_relaxed))) {
		uint32_t dest = (address_lo >> MSI_ADDR_DEST_SHIFT) & MSI_ADDR_DEST_MASK;
		struct x86_lapic *apic;

		if (xvm->x2apic_format)
			dest |= address_hi & MSI_ADDR_HI_EXT_DEST;
		if (bus_phys_lookup(xvm, NULL, dest, &apic))
			return apic ? x86_lapic_accept_fixed_edge(apic, data & MSI_DATA_VECTOR_MASK) : 0;
	}
	x86_msi_to_irq(xvm, address_lo, address_hi, data, &irq);
	return x86_irq_delivery_to_apic(xvm, NULL, &irq, NULL);
}
