/* SPDX-License-Identifier: MIT */
/*
 * groups.c - what the benchmark measures, one function per group.  Every
 * row runs the same requests on the kernel's VM and on virq's VM, built
 * the same way (bvm_create()), and checks once per series that its
 * injections arrived.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "virq/virq.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void row_init(struct row *r, const char *group, enum unit unit, enum target_kind kind, double want)
{
	memset(r, 0, sizeof(*r));
	r->group = group;
	r->unit = unit;
	r->kind = kind;
	r->want = want;
	r->kernel = r->virq = -1;
	r->checked = true;
}

/* ---- limit ------------------------------------------------------------------ */

static _Alignas(64) _Atomic uint64_t word;

static void atomic_batch(void *ctx, unsigned n)
{
	(void)ctx;
	for (unsigned i = 0; i < n; i++)
		atomic_fetch_or_explicit(&word, 1ull << (i & 63), memory_order_seq_cst);
}

void group_limit(struct bench *B)
{
	struct row r;

	row_init(&r, "limit", U_NS, T_NONE, 0);
	snprintf(r.name, sizeof(r.name), "atomic OR, seq_cst, one cache line");
	r.virq = measure_one(B, atomic_batch, NULL);
	B->atomic_ns = r.virq;
	emit(B, &r);
}

/* ---- msi -------------------------------------------------------------------- */

struct msi_ctx {
	struct bvm *b;
	struct kvm_msi msi;
};

static void msi_batch(void *p, unsigned n)
{
	struct msi_ctx *c = p;

	for (unsigned i = 0; i < n; i++)
		c->b->s->ioctl(c->b->vm, KVM_SIGNAL_MSI, &c->msi);
}

/* An xAPIC MSI: physical or logical destination, fixed or lowest priority. */
static struct kvm_msi xapic_msi(unsigned dest, bool logical, bool lowest, unsigned vector)
{
	return (struct kvm_msi){
		.address_lo = 0xfee00000u | dest << 12 | (logical ? 4u : 0u),
		.data = vector | (lowest ? 1u << 8 : 0u),
	};
}

/* An x2APIC MSI with a 32-bit destination (KVM_X2APIC_API_USE_32BIT_IDS). */
static struct kvm_msi x2apic_msi(uint32_t dest, unsigned vector)
{
	return (struct kvm_msi){
		.address_lo = 0xfee00000u | (dest & 0xff) << 12,
		.address_hi = dest & 0xffffff00u,
		.data = vector,
	};
}

/* Did the vector reach vCPU @i on every side that ran? */
static bool irr_both(struct bvm *k, struct bvm *v, unsigned i, unsigned vec)
{
	return bvm_irr_take(v, i, vec) && (k->vm < 0 || bvm_irr_take(k, i, vec));
}

/* Did the vector reach any of vCPUs [0, n) on every side?  Clears them all. */
static bool irr_any(struct bvm *b, unsigned n, unsigned vec)
{
	bool seen = false;

	if (b->vm < 0)
		return true;
	for (unsigned i = 0; i < n; i++)
		seen |= bvm_irr_take(b, i, vec);
	return seen;
}

static void msi_row(struct bench *B, struct row *r, struct bvm *k, struct bvm *v, struct kvm_msi msi)
{
	struct msi_ctx kc = { k, msi }, vc = { v, msi };

	measure(B, r, k->vm >= 0 ? msi_batch : NULL, &kc, msi_batch, &vc);
}

void group_msi(struct bench *B)
{
	static const unsigned shared_n[] = { 1, 2, 8, 64 }, virq_n[] = { 1024, 4096 };
	double unicast1 = -1, unicast_max = -1;
	struct row r;

	for (size_t i = 0; i < ARRAY_SIZE(shared_n); i++) {
		unsigned n = shared_n[i], group = n < 8 ? n : 8;
		struct bvm k = { .vm = -1 }, v;

		if (!bvm_create(&v, &B->virq, n, BVM_FLAT_LOGICAL)) {
			fprintf(stderr, "bench: msi: cannot build a virq VM with %u vCPUs\n", n);
			bvm_destroy(&v);
			continue;
		}
		if (!B->have_kernel || !bvm_create(&k, &B->kernel, n, BVM_FLAT_LOGICAL))
			bvm_destroy(&k);

		row_init(&r, "msi", U_NS, T_FASTER, 10);
		snprintf(r.name, sizeof(r.name), "KVM_SIGNAL_MSI fixed unicast, %u vCPU%s", n, n > 1 ? "s" : "");
		msi_row(B, &r, &k, &v, xapic_msi(n - 1, false, false, 0x40));
		r.checked = irr_both(&k, &v, n - 1, 0x40);
		emit(B, &r);
		if (n == 1)
			unicast1 = r.virq;

		row_init(&r, "msi", U_NS, T_NONE, 0);
		snprintf(r.name, sizeof(r.name), "KVM_SIGNAL_MSI lowest priority to %u, %u vCPU%s", group, n,
			 n > 1 ? "s" : "");
		msi_row(B, &r, &k, &v, xapic_msi((1u << group) - 1, true, true, 0x41));
		r.checked = irr_any(&v, group, 0x41) && irr_any(&k, group, 0x41);
		emit(B, &r);

		row_init(&r, "msi", U_NS, n == 64 ? T_FASTER : T_NONE, 10);
		snprintf(r.name, sizeof(r.name), "KVM_SIGNAL_MSI broadcast, %u vCPU%s", n, n > 1 ? "s" : "");
		msi_row(B, &r, &k, &v, xapic_msi(0xff, false, false, 0x42));
		r.checked = irr_both(&k, &v, 0, 0x42) && (n == 1 || irr_both(&k, &v, n - 1, 0x42));
		emit(B, &r);
		bvm_destroy(&k);
		bvm_destroy(&v);
	}

	/* Beyond what the kernel allows here (1024 vCPUs): x2APIC, virq only. */
	for (size_t i = 0; i < ARRAY_SIZE(virq_n); i++) {
		unsigned n = virq_n[i];
		struct bvm k = { .vm = -1 }, v;

		if (!bvm_create(&v, &B->virq, n, BVM_X2APIC)) {
			fprintf(stderr, "bench: msi: cannot build a virq VM with %u vCPUs\n", n);
			bvm_destroy(&v);
			continue;
		}
		row_init(&r, "msi", U_NS, T_NONE, 0);
		snprintf(r.name, sizeof(r.name), "KVM_SIGNAL_MSI fixed unicast, %u vCPUs, x2APIC", n);
		msi_row(B, &r, &k, &v, x2apic_msi(n - 1, 0x40));
		r.checked = bvm_irr_take(&v, n - 1, 0x40);
		emit(B, &r);
		unicast_max = r.virq;

		row_init(&r, "msi", U_NS, T_NONE, 0);
		/* Destination 0xff: KVM's x2APIC broadcast quirk (0xffffffff in
		 * an MSI reaches nobody, on the kernel as on virq). */
		snprintf(r.name, sizeof(r.name), "KVM_SIGNAL_MSI broadcast, %u vCPUs, x2APIC", n);
		msi_row(B, &r, &k, &v, x2apic_msi(0xff, 0x42));
		r.checked = bvm_irr_take(&v, 0, 0x42) && bvm_irr_take(&v, n - 1, 0x42);
		emit(B, &r);
		bvm_destroy(&v);
	}

	if (unicast1 > 0) {
		row_init(&r, "msi", U_X, T_AT_MOST, 3);
		snprintf(r.name, sizeof(r.name), "unicast MSI, 1 vCPU, as a multiple of the atomic OR");
		r.virq = unicast1 / B->atomic_ns;
		emit(B, &r);
	}
	if (unicast1 > 0 && unicast_max > 0) {
		row_init(&r, "msi", U_X, T_AT_MOST, 1.5);
		snprintf(r.name, sizeof(r.name), "unicast MSI, 4096 vCPUs as a multiple of 1 vCPU");
		r.virq = unicast_max / unicast1;
		emit(B, &r);
	}
}

/* ---- line ------------------------------------------------------------------- */

struct line_ctx {
	struct bvm *b;
	unsigned gsi;
};

static void line_batch(void *p, unsigned n)
{
	struct line_ctx *c = p;

	for (unsigned i = 0; i < n; i++) {
		struct kvm_irq_level up = { .irq = c->gsi, .level = 1 }, down = { .irq = c->gsi };

		c->b->s->ioctl(c->b->vm, KVM_IRQ_LINE_STATUS, &up);
		c->b->s->ioctl(c->b->vm, KVM_IRQ_LINE_STATUS, &down);
	}
}

static bool pic_irr_has(struct bvm *b, unsigned pin)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_PIC_MASTER };

	if (b->vm < 0)
		return true;
	return b->s->ioctl(b->vm, KVM_GET_IRQCHIP, &chip) == 0 && (chip.chip.pic.irr & (1u << pin));
}

void group_line(struct bench *B)
{
	static const struct {
		const char *name;
		unsigned gsi, vector;
		bool level, ioapic;
	} lines[] = {
		{ "KVM_IRQ_LINE_STATUS raise+lower, IOAPIC edge", 16, 0x43, false, true },
		{ "KVM_IRQ_LINE_STATUS raise+lower, IOAPIC level", 17, 0x44, true, true },
		{ "KVM_IRQ_LINE_STATUS raise+lower, PIC (GSI 3)", 3, 0, false, false },
	};
	struct bvm k = { .vm = -1 }, v;
	struct row r;

	if (!bvm_create(&v, &B->virq, 1, 0)) {
		fprintf(stderr, "bench: line: cannot build the virq VM\n");
		bvm_destroy(&v);
		return;
	}
	if (!B->have_kernel || !bvm_create(&k, &B->kernel, 1, 0))
		bvm_destroy(&k);
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		struct line_ctx kc = { &k, lines[i].gsi }, vc = { &v, lines[i].gsi };

		if (lines[i].ioapic && (!bvm_ioapic_pin(&v, lines[i].gsi, lines[i].vector, lines[i].level) ||
					(k.vm >= 0 && !bvm_ioapic_pin(&k, lines[i].gsi, lines[i].vector, lines[i].level))))
			fprintf(stderr, "bench: line: cannot program IOAPIC pin %u\n", lines[i].gsi);
		row_init(&r, "line", U_NS, lines[i].ioapic ? T_FASTER : T_NONE, 10);
		snprintf(r.name, sizeof(r.name), "%s", lines[i].name);
		measure(B, &r, k.vm >= 0 ? line_batch : NULL, &kc, line_batch, &vc);
		if (lines[i].ioapic)
			r.checked = irr_both(&k, &v, 0, lines[i].vector);
		else
			r.checked = pic_irr_has(&v, lines[i].gsi) && pic_irr_has(&k, lines[i].gsi);
		emit(B, &r);
	}
	bvm_destroy(&k);
	bvm_destroy(&v);
}

/* ---- routing ---------------------------------------------------------------- */

struct table_ctx {
	struct bvm *b;
	struct kvm_irq_routing *table;
};

static void table_batch(void *p, unsigned n)
{
	struct table_ctx *c = p;

	for (unsigned i = 0; i < n; i++)
		c->b->s->ioctl(c->b->vm, KVM_SET_GSI_ROUTING, c->table);
}

/* @n MSI routes at GSIs 0 .. n-1, all to APIC ID 0 with @vector. */
static struct kvm_irq_routing *msi_table(unsigned n, unsigned vector)
{
	struct kvm_irq_routing *t = calloc(1, sizeof(*t) + n * sizeof(t->entries[0]));

	if (!t)
		return NULL;
	t->nr = n;
	for (unsigned i = 0; i < n; i++) {
		t->entries[i].gsi = i;
		t->entries[i].type = KVM_IRQ_ROUTING_MSI;
		t->entries[i].u.msi.address_lo = 0xfee00000;
		t->entries[i].u.msi.data = vector;
	}
	return t;
}

/* Fire @gsi through KVM_IRQ_LINE and look for @vec in vCPU 0's IRR. */
static bool gsi_delivers(struct bvm *b, unsigned gsi, unsigned vec)
{
	struct kvm_irq_level up = { .irq = gsi, .level = 1 };

	if (b->vm < 0)
		return true;
	bvm_irr_take(b, 0, vec);
	return b->s->ioctl(b->vm, KVM_IRQ_LINE, &up) == 0 && bvm_irr_take(b, 0, vec);
}

struct route_ctx {
	int vm;
	uint32_t gsi;
	struct kvm_irq_routing_entry e[2];
};

static void route_set_batch(void *p, unsigned n)
{
	struct route_ctx *c = p;

	for (unsigned i = 0; i < n; i++)
		virq_route_set(c->vm, c->gsi, &c->e[i & 1], 1);
}

static long voluntary_switches(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw;
}

/* Voluntary context switches per 1000 calls: did the caller sleep? */
static double sleeps_per_1000(batch_fn fn, void *ctx)
{
	long s0 = voluntary_switches();

	fn(ctx, 200);
	return (double)(voluntary_switches() - s0) * 1000 / 200;
}

void group_routing(struct bench *B)
{
	static const unsigned sizes[] = { 1, 64, 1024, 4096 };
	static const unsigned one_sizes[] = { 64, 1024, 16384, 262144, 1u << 20 };
	double kernel_1024 = -1, one_first = -1, one_last = -1;
	struct bvm k = { .vm = -1 }, v;
	struct row r;

	if (!bvm_create(&v, &B->virq, 1, 0)) {
		fprintf(stderr, "bench: routing: cannot build the virq VM\n");
		bvm_destroy(&v);
		return;
	}
	if (!B->have_kernel || !bvm_create(&k, &B->kernel, 1, 0))
		bvm_destroy(&k);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct kvm_irq_routing *t = msi_table(sizes[i], 0x45);
		struct table_ctx kc = { &k, t }, vc = { &v, t };

		if (!t)
			break;
		row_init(&r, "routing", U_NS, sizes[i] == 4096 ? T_FASTER : T_NONE, 10);
		snprintf(r.name, sizeof(r.name), "KVM_SET_GSI_ROUTING, %u MSI entr%s", sizes[i],
			 sizes[i] > 1 ? "ies" : "y");
		measure(B, &r, k.vm >= 0 ? table_batch : NULL, &kc, table_batch, &vc);
		r.checked = gsi_delivers(&v, sizes[i] - 1, 0x45) && gsi_delivers(&k, sizes[i] - 1, 0x45);
		emit(B, &r);
		if (sizes[i] == 1024)
			kernel_1024 = r.kernel;
		if (sizes[i] == 4096) {
			/* The kernel waits for readers (synchronize_srcu) on every
			 * call; virq never does.  What is left is the allocator's
			 * rare page-fault sleep. */
			row_init(&r, "routing", U_COUNT, T_AT_MOST, 10);
			snprintf(r.name, sizeof(r.name), "  voluntary sleeps per 1000 replaces of 4096");
			if (k.vm >= 0)
				r.kernel = sleeps_per_1000(table_batch, &kc);
			r.virq = sleeps_per_1000(table_batch, &vc);
			emit(B, &r);
		}
		free(t);
	}

	/* One-route updates, virq only; the kernel can only replace the table. */
	for (size_t i = 0; i < ARRAY_SIZE(one_sizes); i++) {
		unsigned n = one_sizes[i];
		struct kvm_irq_routing *t = msi_table(n, 0x46);
		struct route_ctx c = { .vm = v.vm, .gsi = n / 2 };

		if (!t || (n > 4096 && virq_vm_set_gsi_limit(v.vm, n) < 0) ||
		    virq_ioctl(v.vm, KVM_SET_GSI_ROUTING, t) < 0) {
			fprintf(stderr, "bench: routing: cannot install %u routes: %s\n", n, strerror(errno));
			free(t);
			break;
		}
		c.e[0] = t->entries[n / 2];
		c.e[1] = c.e[0];
		c.e[1].u.msi.data = 0x47;
		free(t);
		row_init(&r, "routing", U_NS, T_FASTER, 100);
		snprintf(r.name, sizeof(r.name), "virq_route_set, 1 route of %u (kernel: replace 1024)", n);
		r.virq = measure_one(B, route_set_batch, &c);
		r.kernel = kernel_1024;
		r.checked = gsi_delivers(&v, n / 2, 0x46) || gsi_delivers(&v, n / 2, 0x47);
		emit(B, &r);
		if (i == 0)
			one_first = r.virq;
		one_last = r.virq;
	}
	if (one_first > 0 && one_last > 0) {
		row_init(&r, "routing", U_X, T_AT_MOST, 2);
		snprintf(r.name, sizeof(r.name), "one-route update, 1M routes as a multiple of 64");
		r.virq = one_last / one_first;
		emit(B, &r);
	}
	bvm_destroy(&k);
	bvm_destroy(&v);
}

/* ---- irqfd ------------------------------------------------------------------ */

struct irqfd_side {
	struct bvm b;
	int efd_msi, efd_edge, efd_level;
};

#define GSI_LEVEL 18
#define GSI_EDGE 19
#define GSI_MSI 24
#define VEC_LEVEL 0x49
#define VEC_EDGE 0x4a
#define VEC_MSI 0x48

static bool irqfd_side_init(struct irqfd_side *x, struct side *s)
{
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[3];
	} table = { .r.nr = 3 };
	static const unsigned gsis[] = { GSI_LEVEL, GSI_EDGE, GSI_MSI };
	int *efds[] = { &x->efd_level, &x->efd_edge, &x->efd_msi };

	x->efd_msi = x->efd_edge = x->efd_level = -1;
	if (!bvm_create(&x->b, s, 1, 0))
		return false;
	for (int i = 0; i < 2; i++) {
		table.e[i].gsi = gsis[i];
		table.e[i].type = KVM_IRQ_ROUTING_IRQCHIP;
		table.e[i].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		table.e[i].u.irqchip.pin = gsis[i];
	}
	table.e[2].gsi = GSI_MSI;
	table.e[2].type = KVM_IRQ_ROUTING_MSI;
	table.e[2].u.msi.address_lo = 0xfee00000;
	table.e[2].u.msi.data = VEC_MSI;
	if (s->ioctl(x->b.vm, KVM_SET_GSI_ROUTING, &table) < 0 ||
	    !bvm_ioapic_pin(&x->b, GSI_LEVEL, VEC_LEVEL, true) || !bvm_ioapic_pin(&x->b, GSI_EDGE, VEC_EDGE, false))
		return false;
	for (int i = 0; i < 3; i++) {
		struct kvm_irqfd fd = { .gsi = gsis[i] };

		*efds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		fd.fd = (uint32_t)*efds[i];
		if (*efds[i] < 0 || s->ioctl(x->b.vm, KVM_IRQFD, &fd) < 0)
			return false;
	}
	return true;
}

static void irqfd_side_fini(struct irqfd_side *x)
{
	bvm_destroy(&x->b);
	if (x->efd_msi >= 0)
		close(x->efd_msi);
	if (x->efd_edge >= 0)
		close(x->efd_edge);
	if (x->efd_level >= 0)
		close(x->efd_level);
}

static void write_batch(void *p, unsigned n)
{
	int fd = *(int *)p;
	uint64_t one = 1;

	for (unsigned i = 0; i < n; i++)
		if (write(fd, &one, sizeof(one)) < 0)
			break;
}

struct trigger_ctx {
	int vm, efd;
};

static void trigger_batch(void *p, unsigned n)
{
	struct trigger_ctx *c = p;

	for (unsigned i = 0; i < n; i++)
		virq_irqfd_trigger(c->vm, c->efd);
}

/* Wait up to 100 ms for @vec in vCPU 0's IRR (asynchronous deliveries). */
static bool irr_eventually(struct bvm *b, unsigned vec)
{
	uint64_t t0 = now_ns();

	if (b->vm < 0)
		return true;
	do {
		if (bvm_irr_take(b, 0, vec))
			return true;
	} while (now_ns() - t0 < 100000000u);
	return false;
}

static bool remote_irr(struct bvm *b, unsigned pin, bool clear)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	bool set;

	if (b->s->ioctl(b->vm, KVM_GET_IRQCHIP, &chip) < 0)
		return false;
	set = chip.chip.ioapic.redirtbl[pin].fields.remote_irr;
	if (clear && set) {
		chip.chip.ioapic.redirtbl[pin].fields.remote_irr = 0;
		b->s->ioctl(b->vm, KVM_SET_IRQCHIP, &chip);
	}
	return set;
}

static bool irr_peek(struct bvm *b, unsigned vec)
{
	struct kvm_lapic_state st;
	uint32_t w;

	if (b->s->ioctl(b->vcpu[0], KVM_GET_LAPIC, &st) < 0)
		return false;
	memcpy(&w, st.regs + 0x200 + 16 * (vec / 32), 4);
	return w & (1u << (vec % 32));
}

/*
 * One latency sample: from just before the eventfd write to the start of
 * the first poll that sees the interrupt (so a poll's own cost is not
 * counted against the side that delivered before it began).  MSI routes
 * are seen in the LAPIC's IRR, IOAPIC level routes in the pin's remote IRR.
 * Returns ns, or -1 after a second without delivery (a loaded machine,
 * or a sanitizer build, may take milliseconds; nothing takes a second).
 */
static double latency_sample(struct irqfd_side *x, bool msi)
{
	uint64_t one = 1, t0, t;

	if (msi)
		bvm_irr_take(&x->b, 0, VEC_MSI);
	else
		remote_irr(&x->b, GSI_LEVEL, true);
	t0 = now_ns();
	if (write(msi ? x->efd_msi : x->efd_level, &one, sizeof(one)) < 0)
		return -1;
	do {
		t = now_ns();
		if (msi ? irr_peek(&x->b, VEC_MSI) : remote_irr(&x->b, GSI_LEVEL, false))
			return (double)(t - t0);
	} while (t - t0 < 1000000000u);
	return -1;
}

#define LAT_SAMPLES 201

static void latency_row(struct bench *B, struct row *r, struct irqfd_side *k, struct irqfd_side *v, bool msi)
{
	static double kl[LAT_SAMPLES], vl[LAT_SAMPLES];
	unsigned nk = 0, nv = 0;

	for (unsigned i = 0; i < LAT_SAMPLES; i++) {
		double s;

		if (B->have_kernel && k->b.vm >= 0 && (s = latency_sample(k, msi)) >= 0)
			kl[nk++] = s;
		if ((s = latency_sample(v, msi)) >= 0)
			vl[nv++] = s;
	}
	r->kernel = nk ? median(kl, nk) : -1;
	r->virq = nv ? median(vl, nv) : -1;
	r->checked = nv == LAT_SAMPLES && (k->b.vm < 0 || nk == LAT_SAMPLES);
}

void group_irqfd(struct bench *B)
{
	struct irqfd_side k = { .b.vm = -1, .efd_msi = -1, .efd_edge = -1, .efd_level = -1 }, v;
	struct row r;

	if (!irqfd_side_init(&v, &B->virq)) {
		fprintf(stderr, "bench: irqfd: cannot build the virq VM: %s\n", strerror(errno));
		irqfd_side_fini(&v);
		return;
	}
	if (B->have_kernel && !irqfd_side_init(&k, &B->kernel)) {
		fprintf(stderr, "bench: irqfd: cannot build the kernel VM: %s\n", strerror(errno));
		irqfd_side_fini(&k);
		k.b.vm = -1;
	}
	bool kern = k.b.vm >= 0;

	row_init(&r, "irqfd", U_NS, T_NONE, 0);
	snprintf(r.name, sizeof(r.name), "eventfd write, MSI route");
	measure(B, &r, kern ? write_batch : NULL, &k.efd_msi, write_batch, &v.efd_msi);
	r.checked = irr_eventually(&v.b, VEC_MSI) && (!kern || irr_eventually(&k.b, VEC_MSI));
	double kernel_write = r.kernel;
	emit(B, &r);

	row_init(&r, "irqfd", U_NS, T_NONE, 0);
	snprintf(r.name, sizeof(r.name), "eventfd write, IOAPIC edge route");
	measure(B, &r, kern ? write_batch : NULL, &k.efd_edge, write_batch, &v.efd_edge);
	r.checked = irr_eventually(&v.b, VEC_EDGE) && (!kern || irr_eventually(&k.b, VEC_EDGE));
	emit(B, &r);

	struct trigger_ctx tc = { v.b.vm, v.efd_msi };

	row_init(&r, "irqfd", U_NS, T_NONE, 0);
	snprintf(r.name, sizeof(r.name), "virq_irqfd_trigger, MSI route (kernel: write)");
	r.virq = measure_one(B, trigger_batch, &tc);
	r.kernel = kernel_write;
	r.checked = irr_eventually(&v.b, VEC_MSI);
	emit(B, &r);

	row_init(&r, "irqfd", U_NS, T_NONE, 0);
	snprintf(r.name, sizeof(r.name), "latency write -> IRR, MSI route");
	r.note = "the kernel injects MSI routes inside write(); virq's irqfd thread wakes";
	latency_row(B, &r, &k, &v, true);
	emit(B, &r);

	row_init(&r, "irqfd", U_NS, T_FASTER, 1);
	snprintf(r.name, sizeof(r.name), "latency write -> remote IRR, IOAPIC level route");
	latency_row(B, &r, &k, &v, false);
	emit(B, &r);

	irqfd_side_fini(&k);
	irqfd_side_fini(&v);
}

/* ---- threads ----------------------------------------------------------------- */

struct inj_thread {
	pthread_t tid;
	struct bvm *b;
	struct kvm_msi msi;
	_Atomic bool *go, *stop;
	uint64_t ops;
};

static void *inj_main(void *p)
{
	struct inj_thread *t = p;
	uint64_t n = 0;

	while (!atomic_load_explicit(t->go, memory_order_acquire))
		;
	/* At least one batch, even if stop came first: the IRR check after
	 * the run needs a delivery from every thread. */
	do {
		for (int i = 0; i < 64; i++)
			t->b->s->ioctl(t->b->vm, KVM_SIGNAL_MSI, &t->msi);
		n += 64;
	} while (!atomic_load_explicit(t->stop, memory_order_relaxed));
	t->ops = n;
	return NULL;
}

/* Injections per µs with @nthreads threads to APIC IDs @dest[]. */
static double inj_rate(struct bench *B, struct bvm *b, int nthreads, const unsigned *dest)
{
	struct inj_thread t[2];
	_Atomic bool go = false, stop = false;
	uint64_t t0, t1, ops = 0;

	for (int i = 0; i < nthreads; i++) {
		t[i] = (struct inj_thread){ .b = b, .msi = xapic_msi(dest[i], false, false, 0x4b + dest[i]),
					    .go = &go, .stop = &stop };
		if (pthread_create(&t[i].tid, NULL, inj_main, &t[i]))
			return -1;
	}
	t0 = now_ns();
	atomic_store_explicit(&go, true, memory_order_release);
	usleep(B->ms * 1000);
	atomic_store_explicit(&stop, true, memory_order_relaxed);
	for (int i = 0; i < nthreads; i++) {
		pthread_join(t[i].tid, NULL);
		ops += t[i].ops;
	}
	t1 = now_ns();
	return (double)ops * 1000 / (double)(t1 - t0);
}

void group_threads(struct bench *B)
{
	static const unsigned one[] = { 0 }, distinct[] = { 0, 1 }, same[] = { 0, 0 };
	double k1[101], k2d[101], k2s[101], v1[101], v2d[101], v2s[101];
	unsigned rounds = B->rounds < 101 ? B->rounds : 101;
	struct bvm k = { .vm = -1 }, v;
	struct row r;

	if (!bvm_create(&v, &B->virq, 2, 0)) {
		bvm_destroy(&v);
		return;
	}
	if (!B->have_kernel || !bvm_create(&k, &B->kernel, 2, 0))
		bvm_destroy(&k);
	for (unsigned i = 0; i < rounds; i++) {
		if (k.vm >= 0) {
			k1[i] = inj_rate(B, &k, 1, one);
			k2d[i] = inj_rate(B, &k, 2, distinct);
			k2s[i] = inj_rate(B, &k, 2, same);
		}
		v1[i] = inj_rate(B, &v, 1, one);
		v2d[i] = inj_rate(B, &v, 2, distinct);
		v2s[i] = inj_rate(B, &v, 2, same);
	}
	double kr1 = k.vm >= 0 ? median(k1, rounds) : -1, vr1 = median(v1, rounds);
	double kr2d = k.vm >= 0 ? median(k2d, rounds) : -1, vr2d = median(v2d, rounds);
	double kr2s = k.vm >= 0 ? median(k2s, rounds) : -1, vr2s = median(v2s, rounds);
	bool ok = irr_both(&k, &v, 0, 0x4b) && irr_both(&k, &v, 1, 0x4c);

	row_init(&r, "threads", U_NS, T_FASTER, 10);
	snprintf(r.name, sizeof(r.name), "KVM_SIGNAL_MSI, 2 threads to distinct vCPUs, per op");
	r.kernel = kr2d > 0 ? 1000 / kr2d : -1;
	r.virq = 1000 / vr2d;
	r.checked = ok;
	emit(B, &r);

	row_init(&r, "threads", U_X, T_AT_LEAST, 1.8);
	snprintf(r.name, sizeof(r.name), "2 threads, distinct vCPUs: speed-up over 1 thread");
	r.kernel = kr1 > 0 ? kr2d / kr1 : -1;
	r.virq = vr2d / vr1;
	r.checked = ok;
	emit(B, &r);

	row_init(&r, "threads", U_X, T_NONE, 0);
	snprintf(r.name, sizeof(r.name), "2 threads, same vCPU: speed-up over 1 thread");
	r.kernel = kr1 > 0 ? kr2s / kr1 : -1;
	r.virq = vr2s / vr1;
	r.checked = ok;
	emit(B, &r);
	bvm_destroy(&k);
	bvm_destroy(&v);
}

/* ---- state ------------------------------------------------------------------- */

#define STATE_VCPUS 8

struct state_ctx {
	struct bvm *b;
	struct kvm_irqchip chip[3];
	struct kvm_lapic_state lapic[STATE_VCPUS];
	void *blob;
	size_t blob_size;
};

static void get_irqchip_batch(void *p, unsigned n)
{
	struct state_ctx *c = p;

	for (unsigned i = 0; i < n; i++)
		c->b->s->ioctl(c->b->vm, KVM_GET_IRQCHIP, &c->chip[2]);
}

static void set_irqchip_batch(void *p, unsigned n)
{
	struct state_ctx *c = p;

	for (unsigned i = 0; i < n; i++)
		c->b->s->ioctl(c->b->vm, KVM_SET_IRQCHIP, &c->chip[2]);
}

static void get_lapic_batch(void *p, unsigned n)
{
	struct state_ctx *c = p;

	for (unsigned i = 0; i < n; i++)
		c->b->s->ioctl(c->b->vcpu[0], KVM_GET_LAPIC, &c->lapic[0]);
}

static void set_lapic_batch(void *p, unsigned n)
{
	struct state_ctx *c = p;

	for (unsigned i = 0; i < n; i++)
		c->b->s->ioctl(c->b->vcpu[0], KVM_SET_LAPIC, &c->lapic[0]);
}

/* The kernel's whole-VM save: every chip, every LAPIC. */
static void kvm_save_batch(void *p, unsigned n)
{
	struct state_ctx *c = p;

	for (unsigned i = 0; i < n; i++) {
		for (int j = 0; j < 3; j++)
			c->b->s->ioctl(c->b->vm, KVM_GET_IRQCHIP, &c->chip[j]);
		for (unsigned j = 0; j < c->b->nvcpus; j++)
			c->b->s->ioctl(c->b->vcpu[j], KVM_GET_LAPIC, &c->lapic[j]);
	}
}

static void kvm_restore_batch(void *p, unsigned n)
{
	struct state_ctx *c = p;

	for (unsigned i = 0; i < n; i++) {
		for (int j = 0; j < 3; j++)
			c->b->s->ioctl(c->b->vm, KVM_SET_IRQCHIP, &c->chip[j]);
		for (unsigned j = 0; j < c->b->nvcpus; j++)
			c->b->s->ioctl(c->b->vcpu[j], KVM_SET_LAPIC, &c->lapic[j]);
	}
}

static void virq_save_batch(void *p, unsigned n)
{
	struct state_ctx *c = p;

	for (unsigned i = 0; i < n; i++)
		virq_vm_save(c->b->vm, c->blob, c->blob_size, VIRQ_STATE_ALL);
}

static void virq_restore_batch(void *p, unsigned n)
{
	struct state_ctx *c = p;

	for (unsigned i = 0; i < n; i++)
		virq_vm_restore(c->b->vm, c->blob, c->blob_size);
}

static bool state_init(struct state_ctx *c, struct bvm *b)
{
	memset(c, 0, sizeof(*c));
	c->b = b;
	for (int j = 0; j < 3; j++)
		c->chip[j].chip_id = (uint32_t)j;
	kvm_save_batch(c, 1);
	if (!b->s->is_virq)
		return true;
	long sz = virq_vm_save(b->vm, NULL, 0, VIRQ_STATE_ALL);

	if (sz <= 0 || !(c->blob = malloc((size_t)sz)))
		return false;
	c->blob_size = (size_t)sz;
	return virq_vm_save(b->vm, c->blob, c->blob_size, VIRQ_STATE_ALL) == sz;
}

void group_state(struct bench *B)
{
	static const struct {
		const char *name;
		batch_fn kfn, vfn;
	} ops[] = {
		{ "KVM_GET_IRQCHIP, IOAPIC", get_irqchip_batch, get_irqchip_batch },
		{ "KVM_SET_IRQCHIP, IOAPIC", set_irqchip_batch, set_irqchip_batch },
		{ "KVM_GET_LAPIC", get_lapic_batch, get_lapic_batch },
		{ "KVM_SET_LAPIC", set_lapic_batch, set_lapic_batch },
		{ "save whole VM, 8 vCPUs (virq_vm_save)", kvm_save_batch, virq_save_batch },
		{ "restore whole VM, 8 vCPUs (virq_vm_restore)", kvm_restore_batch, virq_restore_batch },
	};
	struct state_ctx kc, vc;
	struct bvm k = { .vm = -1 }, v;
	struct row r;

	if (!bvm_create(&v, &B->virq, STATE_VCPUS, 0) || !state_init(&vc, &v)) {
		fprintf(stderr, "bench: state: cannot build the virq VM\n");
		bvm_destroy(&v);
		return;
	}
	if (!B->have_kernel || !bvm_create(&k, &B->kernel, STATE_VCPUS, 0) || !state_init(&kc, &k))
		bvm_destroy(&k);
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		row_init(&r, "state", U_NS, T_NONE, 0);
		snprintf(r.name, sizeof(r.name), "%s", ops[i].name);
		measure(B, &r, k.vm >= 0 ? ops[i].kfn : NULL, &kc, ops[i].vfn, &vc);
		emit(B, &r);
	}
	free(vc.blob);
	bvm_destroy(&k);
	bvm_destroy(&v);
}

/* ---- memory ------------------------------------------------------------------ */

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

void group_memory(struct bench *B)
{
	struct row r;
	struct bvm v;
	size_t m0, m1;
	int sys = B->virq.sys, vm, *vcpus = calloc(1024, sizeof(int)), nv = 0;

	/* Earlier groups' tables are freed after grace periods, by liburcu's
	 * call_rcu thread: let it finish, or its frees hide our allocations. */
	usleep(300000);
	/* Per vCPU: 1024 vCPUs with their LAPICs, on an in-kernel irqchip. */
	vm = virq_ioctl(sys, KVM_CREATE_VM, 0);
	if (!vcpus || vm < 0 || virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) {
		free(vcpus);
		return;
	}
	m0 = heap_in_use();
	while (nv < 1024 && (vcpus[nv] = virq_ioctl(vm, KVM_CREATE_VCPU, nv)) >= 0)
		nv++;
	m1 = heap_in_use();
	row_init(&r, "memory", U_BYTES, T_NONE, 0);
	snprintf(r.name, sizeof(r.name), "per vCPU (LAPIC included), %d vCPUs", nv);
	r.virq = nv && m1 > m0 ? (double)(m1 - m0) / nv : -1; /* -1: no mallinfo2 (sanitizers) */
	emit(B, &r);
	while (nv > 0)
		virq_close(vcpus[--nv]);
	free(vcpus);
	virq_close(vm);

	if (!bvm_create(&v, &B->virq, 1, 0)) {
		bvm_destroy(&v);
		return;
	}
	static const unsigned sizes[] = { 4096, 1u << 20 };

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct kvm_irq_routing *t = msi_table(sizes[i], 0x45);

		if (!t || virq_vm_set_gsi_limit(v.vm, sizes[i] > 4096 ? sizes[i] : 4096) < 0) {
			free(t);
			break;
		}
		m0 = heap_in_use();
		virq_ioctl(v.vm, KVM_SET_GSI_ROUTING, t);
		m1 = heap_in_use();
		row_init(&r, "memory", U_BYTES, T_NONE, 0);
		snprintf(r.name, sizeof(r.name), "per route, KVM_SET_GSI_ROUTING of %u", sizes[i]);
		r.virq = m1 > m0 ? (double)(m1 - m0) / sizes[i] : -1;
		r.checked = gsi_delivers(&v, sizes[i] - 1, 0x45);
		emit(B, &r);
		free(t);
	}

	/* Routes added one at a time are allocated one GSI at a time. */
	struct kvm_irq_routing empty = { .nr = 0 };
	struct kvm_irq_routing_entry e = { .type = KVM_IRQ_ROUTING_MSI, .u.msi = { .address_lo = 0xfee00000, .data = 0x45 } };

	virq_ioctl(v.vm, KVM_SET_GSI_ROUTING, &empty);
	m0 = heap_in_use();
	for (uint32_t g = 0; g < 4096; g++) {
		e.gsi = g;
		virq_route_set(v.vm, g, &e, 1);
	}
	m1 = heap_in_use();
	row_init(&r, "memory", U_BYTES, T_NONE, 0);
	snprintf(r.name, sizeof(r.name), "per route, 4096 added by virq_route_set");
	r.virq = m1 > m0 ? (double)(m1 - m0) / 4096 : -1;
	r.checked = gsi_delivers(&v, 4095, 0x45);
	emit(B, &r);
	bvm_destroy(&v);
}
