/* SPDX-License-Identifier: MIT */
/*
 * x86.c - the x86 architecture module: the x86 parts of the VM and vCPU
 * ioctls (arch/x86/kvm/x86.c and irq.c in the kernel), the default GSI
 * routing, the routing entry types x86 understands, and the glue that
 * connects the PIC, IOAPIC and LAPIC models to each other and to the core.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ioapic.h"
#include "lapic.h"
#include "pic.h"
#include "x86.h"

#define KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST (1ull << 2)
#define KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST (1ull << 3)
#define X2APIC_API_VALID_FLAGS                                                                  \
	(KVM_X2APIC_API_USE_32BIT_IDS | KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK |                \
	 KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST | KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST)

#define X86_MAX_IO_MSRS 256
#define X86_MAX_CPUID_ENTRIES 256
#define NMI_VECTOR 2
#define CPUID1_ECX_X2APIC (1u << 21)
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)

/* The vCPU at creation index @idx; callers stay below virq_vm_nr_vcpus(). */
static struct x86_vcpu *xvcpu_at(struct x86_vm *xvm, uint32_t idx)
{
	return x86_vcpu_of(xvm->vm->vcpus[idx]);
}

/* ---- kicks ---------------------------------------------------------------- */

/*
 * The IOAPIC and PIC deliver to the LAPICs with their lock held, and a
 * delivery kicks the vCPU, which runs the VMM's callback.  The callback must
 * be free to inject again, so kicks raised while this thread is inside a
 * chip are queued here and sent when the outermost chip call returns.
 */
#define KICK_QUEUE 16

static __thread struct {
	int depth;
	int n;
	bool overflow;
	struct x86_vm *xvm;
	struct x86_vcpu *q[KICK_QUEUE];
} kicks;

void x86_kicks_hold(struct x86_vm *xvm)
{
	if (kicks.depth++ == 0) {
		kicks.n = 0;
		kicks.overflow = false;
		kicks.xvm = xvm;
	}
}

void x86_kicks_release(void)
{
	struct x86_vcpu *q[KICK_QUEUE];
	struct x86_vm *xvm = kicks.xvm;
	int n = kicks.n;
	bool all = kicks.overflow;

	if (--kicks.depth || (!n && !all))
		return;
	/* Copied out: a kick's callback may inject again and queue anew. */
	for (int i = 0; i < n; i++)
		q[i] = kicks.q[i];
	if (all) {
		uint32_t nr = virq_vm_nr_vcpus(xvm->vm);

		for (uint32_t i = 0; i < nr; i++)
			virq_vcpu_kick(xvm->vm->vcpus[i]);
		return;
	}
	for (int i = 0; i < n; i++)
		virq_vcpu_kick(q[i]->vcpu);
}

void x86_vcpu_kick(struct x86_vcpu *xv)
{
	/* Nobody listens: nothing to queue (a listener installed later
	 * looks for pending interrupts itself, see virq_vcpu_set_event_fn). */
	if (!atomic_load_explicit(&xv->vcpu->event_sink, memory_order_relaxed))
		return;
	if (!kicks.depth) {
		virq_vcpu_kick(xv->vcpu);
		return;
	}
	for (int i = 0; i < kicks.n; i++)
		if (kicks.q[i] == xv)
			return;
	if (kicks.n < KICK_QUEUE)
		kicks.q[kicks.n++] = xv;
	else
		kicks.overflow = true; /* kick everyone: spurious kicks are harmless */
}

/* ---- calls from the chip models ----------------------------------------- */

void x86_vcpu_inject_nmi(struct x86_vcpu *xv)
{
	atomic_fetch_add_explicit(&xv->nmi_queued, 1, memory_order_release);
	x86_vcpu_kick(xv);
}

int x86_vcpu_request_smi(struct x86_vcpu *xv)
{
	(void)xv;
	return -ENOTTY; /* no SMM, as in the kernel this mirrors (KVM_SMI: ENOTTY) */
}

bool x86_vcpu_is_bsp(const struct x86_vcpu *xv)
{
	return xv->vcpu->vcpu_id == xv->xvm->bsp_vcpu_id;
}

void x86_request_scan_ioapic(struct x86_vm *xvm)
{
	atomic_fetch_add_explicit(&xvm->scan_gen, 1, memory_order_release);
}

struct scan_ctx {
	struct x86_vcpu *xv;
	bool track_stale; /* a vCPU scan, not RTC tracking */
};

static bool scan_match(void *opaque, uint32_t dest_id, uint32_t dest_mode)
{
	struct scan_ctx *c = opaque;

	return x86_apic_match_dest(c->xv->xvm, c->xv->apic, NULL, APIC_DEST_NOSHORT, dest_id, dest_mode);
}

/* Asked only when the destination does not match: a vector still pending
 * from the previous routing, whose EOI must be intercepted once more
 * (kvm_scan_ioapic_irq's highest_stale_pending_ioapic_eoi). */
static bool scan_pending_eoi(void *opaque, int vector)
{
	struct scan_ctx *c = opaque;

	if (!x86_lapic_pending_eoi(c->xv->apic, vector))
		return false;
	if (c->track_stale && vector > c->xv->highest_stale_pending_ioapic_eoi)
		c->xv->highest_stale_pending_ioapic_eoi = vector;
	return true;
}

static void set_vec(uint64_t *bm, unsigned v)
{
	bm[(v & 255) / 64] |= 1ull << (v % 64);
}

/* kvm_scan_ioapic_routes(): split mode, level-triggered MSI routes of the
 * GSIs reserved for the user-space IOAPIC. */
static void scan_ioapic_routes(struct x86_vcpu *xv, uint64_t handled[4])
{
	struct x86_vm *xvm = xv->xvm;
	struct virq_routing *rt;

	rcu_read_lock();
	rt = virq_routing_deref(xvm->vm);
	for (uint32_t gsi = 0; gsi < xvm->nr_reserved_ioapic_pins; gsi++) {
		const struct virq_gsi_routes *g = virq_routing_lookup(rt, gsi);

		for (uint32_t j = 0; g && j < g->nr; j++) {
			const struct virq_route *e = &g->e[j];
			struct x86_irq irq;

			if (e->type != KVM_IRQ_ROUTING_MSI)
				continue;
			x86_msi_to_irq(xvm, e->msi.address_lo, e->msi.address_hi, e->msi.data, &irq);
			if (!irq.trig_mode)
				continue;
			if (x86_apic_match_dest(xvm, xv->apic, NULL, APIC_DEST_NOSHORT, irq.dest_id,
						irq.dest_mode)) {
				set_vec(handled, irq.vector);
			} else if (x86_lapic_pending_eoi(xv->apic, (int)irq.vector)) {
				set_vec(handled, irq.vector);
				if ((int)irq.vector > xv->highest_stale_pending_ioapic_eoi)
					xv->highest_stale_pending_ioapic_eoi = (int)irq.vector;
			}
		}
	}
	rcu_read_unlock();
}

/* vcpu_scan_ioapic(), run where the kernel would run it: on the vCPU's way
 * into the guest, i.e. at the start of every native vCPU call. */
static void vcpu_sync_scan(struct x86_vcpu *xv)
{
	struct x86_vm *xvm = xv->xvm;
	unsigned int gen = atomic_load_explicit(&xvm->scan_gen, memory_order_acquire);
	struct scan_ctx c = { .xv = xv, .track_stale = true };

	if (!xv->apic || gen == xv->scan_gen)
		return;
	xv->scan_gen = gen;
	memset(xv->ioapic_handled_vectors, 0, sizeof(xv->ioapic_handled_vectors));
	xv->highest_stale_pending_ioapic_eoi = -1;
	if (x86_irqchip_split(xvm))
		scan_ioapic_routes(xv, xv->ioapic_handled_vectors);
	else if (xvm->ioapic)
		x86_ioapic_scan_entry(xvm->ioapic, xv->vcpu->vcpu_id, scan_match, scan_pending_eoi, &c,
				      xv->ioapic_handled_vectors);
}

/*
 * Split irqchip: the GSIs reserved for the user-space IOAPIC whose level MSI
 * route sent @vector to this vCPU are acknowledged, so their resampling
 * irqfds resample (virq allows resamplefd in split mode; the kernel does not).
 */
static void split_eoi_notify_gsis(struct x86_vcpu *xv, int vector)
{
	struct x86_vm *xvm = xv->xvm;
	struct virq_routing *rt;

	if (!virq_has_ack_notifiers(xvm->vm))
		return;
	rcu_read_lock();
	rt = virq_routing_deref(xvm->vm);
	for (uint32_t gsi = 0; rt && gsi < xvm->nr_reserved_ioapic_pins && gsi < rt->limit; gsi++) {
		const struct virq_gsi_routes *gr = virq_routing_lookup(rt, gsi);

		for (uint32_t j = 0; gr && j < gr->nr; j++) {
			const struct virq_route *e = &gr->e[j];
			struct x86_irq irq;

			if (e->type != KVM_IRQ_ROUTING_MSI)
				continue;
			x86_msi_to_irq(xvm, e->msi.address_lo, e->msi.address_hi, e->msi.data, &irq);
			if (!irq.trig_mode || irq.vector != (uint32_t)vector ||
			    !x86_apic_match_dest(xvm, xv->apic, NULL, APIC_DEST_NOSHORT, irq.dest_id,
						 irq.dest_mode))
				continue;
			virq_notify_acked_gsi(xvm->vm, gsi);
			break;
		}
	}
	rcu_read_unlock();
}

/* kvm_ioapic_send_eoi(). */
void x86_vcpu_ioapic_eoi(struct x86_vcpu *xv, int vector)
{
	struct x86_vm *xvm = xv->xvm;
	bool directed, level;

	if (vector < 0 || vector > 255 || !xv->apic)
		return;
	if (!((xv->ioapic_handled_vectors[vector / 64] >> (vector % 64)) & 1))
		return;
	/* An EOI for an IRQ of the previous routing: rescan next time. */
	if (xv->highest_stale_pending_ioapic_eoi == vector)
		x86_request_scan_ioapic(xvm);

	directed = x86_lapic_reg(xv->apic, APIC_SPIV) & APIC_SPIV_DIRECTED_EOI;
	if (x86_irqchip_split(xvm)) {
		if (directed && xvm->seoib_mode == X86_SEOIB_ENABLED)
			return;
		split_eoi_notify_gsis(xv, vector);
		virq_vcpu_event(xv->vcpu, VIRQ_EVENT_IOAPIC_EOI, (uint32_t)vector);
		return;
	}
	level = (x86_lapic_reg(xv->apic, APIC_TMR + 0x10 * (vector / 32)) >> (vector % 32)) & 1;
	x86_kicks_hold(xvm);
	x86_ioapic_update_eoi(xvm->ioapic, xv->vcpu->vcpu_id, directed, vector, level ? 1 : 0);
	x86_kicks_release();
}

/* ---- chip hooks ------------------------------------------------------------ */

/* pic_unlock(): kick the first vCPU that takes PIC interrupts. */
static void pic_kick(void *opaque)
{
	struct x86_vm *xvm = opaque;
	uint32_t n = virq_vm_nr_vcpus(xvm->vm);

	if (atomic_load_explicit(&xvm->ext_bus, memory_order_acquire)) {
		x86_ext_extint(xvm);
		return;
	}

	for (uint32_t i = 0; i < n; i++) {
		struct x86_vcpu *xv = xvcpu_at(xvm, i);

		if (xv->apic && x86_lapic_accept_pic_intr(xv->apic)) {
			x86_vcpu_kick(xv);
			return;
		}
	}
}

/* Whether some vCPU takes PIC interrupts (decides what ICW1 acks). */
static bool pic_accepts(void *opaque)
{
	struct x86_vm *xvm = opaque;
	uint32_t n = virq_vm_nr_vcpus(xvm->vm);

	/* Local APICs elsewhere: their LVT0 decides, assume it takes ExtINT. */
	if (atomic_load_explicit(&xvm->ext_bus, memory_order_acquire))
		return true;

	for (uint32_t i = 0; i < n; i++) {
		struct x86_vcpu *xv = xvcpu_at(xvm, i);

		if (xv->apic && x86_lapic_accept_pic_intr(xv->apic))
			return true;
	}
	return false;
}

static void pic_acked(void *opaque, int irq)
{
	struct x86_vm *xvm = opaque;

	virq_notify_acked_irq(xvm->vm, irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
			      (uint32_t)irq);
}

static int ioapic_deliver(void *opaque, const struct x86_irq *irq, struct x86_dest_map *dest_map)
{
	return x86_irq_delivery_to_apic(opaque, NULL, irq, dest_map);
}

static void ioapic_acked(void *opaque, int pin)
{
	struct x86_vm *xvm = opaque;

	virq_notify_acked_irq(xvm->vm, KVM_IRQCHIP_IOAPIC, (uint32_t)pin);
}

static bool ioapic_has_notifier(void *opaque, int pin)
{
	struct x86_vm *xvm = opaque;

	return virq_irq_has_notifier(xvm->vm, KVM_IRQCHIP_IOAPIC, (uint32_t)pin);
}

/* kvm_notify_irqfd_resampler(KVM_IRQCHIP_IOAPIC, pin): a level pin was
 * unmasked with IRR set.  Runs under the IOAPIC lock: RCU only. */
static bool ioapic_resample(void *opaque, int pin)
{
	struct x86_vm *xvm = opaque;
	bool r = false;
	int gsi;

	rcu_read_lock();
	gsi = virq_irqchip_pin_to_gsi(xvm->vm, KVM_IRQCHIP_IOAPIC, (uint32_t)pin);
	if (gsi >= 0)
		r = virq_notify_irqfd_resampler(xvm->vm, (uint32_t)gsi);
	rcu_read_unlock();
	return r;
}

static void ioapic_scan(void *opaque)
{
	x86_request_scan_ioapic(opaque);
	x86_ext_report_ioapic(opaque, false);
}

static uint64_t ioapic_now(void *opaque)
{
	struct x86_vm *xvm = opaque;

	return virq_vm_now(xvm->vm);
}

/* ---- routing entries ---------------------------------------------------------- */

static int set_pic_irq(const struct virq_route *e, struct virq_vm *vm, int src, int level, bool ls)
{
	int r;

	(void)ls;
	x86_kicks_hold(x86_vm_of(vm));
	r = x86_pic_set_irq(x86_vm_of(vm)->pic, (int)e->irqchip.pin, src, level);
	x86_kicks_release();
	return r;
}

static int set_ioapic_irq(const struct virq_route *e, struct virq_vm *vm, int src, int level, bool ls)
{
	int r;

	x86_kicks_hold(x86_vm_of(vm));
	r = x86_ioapic_set_irq(x86_vm_of(vm)->ioapic, (int)e->irqchip.pin, src, level, ls);
	x86_kicks_release();
	return r;
}

static int set_msi(const struct virq_route *e, struct virq_vm *vm, int src, int level, bool ls)
{
	(void)src;
	(void)ls;
	return x86_set_msi(x86_vm_of(vm), e->msi.address_lo, e->msi.address_hi, e->msi.data, level);
}

/* kvm_set_routing_entry() for x86.  HV_SINT and XEN_EVTCHN get EINVAL, as
 * on a kernel built without Hyper-V and Xen support (this machine's). */
static int x86_set_routing_entry(struct virq_vm *vm, struct virq_route *e,
				 const struct kvm_irq_routing_entry *ue)
{
	struct x86_vm *xvm = x86_vm_of(vm);

	switch (ue->type) {
	case KVM_IRQ_ROUTING_IRQCHIP:
		if (x86_irqchip_split(xvm))
			return -EINVAL;
		e->irqchip.pin = ue->u.irqchip.pin;
		switch (ue->u.irqchip.irqchip) {
		case KVM_IRQCHIP_PIC_SLAVE:
			e->irqchip.pin += X86_PIC_NUM_PINS / 2;
			/* fall through */
		case KVM_IRQCHIP_PIC_MASTER:
			if (ue->u.irqchip.pin >= X86_PIC_NUM_PINS / 2)
				return -EINVAL;
			e->set = set_pic_irq;
			break;
		case KVM_IRQCHIP_IOAPIC:
			if (ue->u.irqchip.pin >= X86_IOAPIC_NUM_PINS)
				return -EINVAL;
			e->set = set_ioapic_irq;
			break;
		default:
			return -EINVAL;
		}
		e->irqchip.irqchip = ue->u.irqchip.irqchip;
		return 0;
	case KVM_IRQ_ROUTING_MSI:
		e->set = set_msi;
		e->msi.address_lo = ue->u.msi.address_lo;
		e->msi.address_hi = ue->u.msi.address_hi;
		e->msi.data = ue->u.msi.data;
		e->msi.flags = ue->flags;
		e->msi.devid = ue->u.msi.devid;
		return x86_msi_route_invalid(xvm, e->msi.address_hi) ? -EINVAL : 0;
	default:
		return -EINVAL;
	}
}

static void x86_route_to_user(const struct virq_route *e, struct kvm_irq_routing_entry *ue)
{
	if (e->type == KVM_IRQ_ROUTING_IRQCHIP && e->irqchip.irqchip == KVM_IRQCHIP_PIC_SLAVE)
		ue->u.irqchip.pin -= X86_PIC_NUM_PINS / 2;
}

static bool x86_can_set_irq_routing(struct virq_vm *vm)
{
	return x86_irqchip_in_kernel(x86_vm_of(vm));
}

static bool x86_irqchip_in_kernel_op(struct virq_vm *vm)
{
	return x86_irqchip_in_kernel(x86_vm_of(vm));
}

/* kvm_arch_irqfd_allowed() requires the full irqchip for a resampling
 * irqfd; virq also resamples in split mode (split-mode EOIs of level MSI
 * routes notify the GSI), a deliberate difference. */
static bool x86_irqfd_allowed(struct virq_vm *vm, bool resample)
{
	(void)resample;
	return x86_irqchip_in_kernel(x86_vm_of(vm));
}

static void x86_irq_routing_update(struct virq_vm *vm)
{
	struct x86_vm *xvm = x86_vm_of(vm);

	/* kvm_arch_irq_routing_update(): split mode rescans the MSI routes
	 * that stand for user-space IOAPIC pins. */
	if (x86_irqchip_split(xvm))
		x86_request_scan_ioapic(xvm);
}

/* kvm_setup_default_irq_routing(): GSI 0-15 to the IOAPIC pin and the PIC
 * pin of the same number, GSI 16-23 to the IOAPIC only. */
static int setup_default_routing(struct virq_vm *vm)
{
	struct kvm_irq_routing_entry e[16 * 2 + 8];
	unsigned n = 0;

	memset(e, 0, sizeof(e));
	for (uint32_t irq = 0; irq < X86_IOAPIC_NUM_PINS; irq++) {
		e[n].gsi = irq;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[n++].u.irqchip.pin = irq;
		if (irq < X86_PIC_NUM_PINS) {
			e[n].gsi = irq;
			e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			e[n].u.irqchip.irqchip = irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			e[n++].u.irqchip.pin = irq % 8;
		}
	}
	return virq_set_irq_routing(vm, e, n, 0);
}

/* ---- VM ------------------------------------------------------------------------ */

static int x86_vm_init(struct virq_vm *vm, unsigned long type)
{
	struct x86_vm *xvm;

	if (type != 0) /* KVM_X86_DEFAULT_VM only */
		return -EINVAL;
	xvm = calloc(1, sizeof(*xvm));
	if (!xvm)
		return -ENOMEM;
	xvm->vm = vm;
	pthread_mutex_init(&xvm->apic_map_lock, NULL);
	vm->arch_vm = xvm;
	return 0;
}

static void x86_vm_destroy(struct virq_vm *vm)
{
	struct x86_vm *xvm = x86_vm_of(vm);

	if (xvm->ioapic)
		x86_ioapic_destroy(xvm->ioapic);
	if (xvm->pic)
		x86_pic_destroy(xvm->pic);
	x86_apic_map_free(xvm);
	x86_ext_bus_free(xvm);
	pthread_mutex_destroy(&xvm->apic_map_lock);
	free(xvm);
}

static int create_irqchip(struct virq_vm *vm)
{
	struct x86_vm *xvm = x86_vm_of(vm);
	struct x86_pic_hooks ph = { .opaque = xvm, .trace = &vm->trace, .kick = pic_kick,
				  .acked = pic_acked, .accepts = pic_accepts };
	struct x86_ioapic_hooks ih = {
		.opaque = xvm,
		.trace = &vm->trace,
		.deliver = ioapic_deliver,
		.acked = ioapic_acked,
		.has_notifier = ioapic_has_notifier,
		.resample = ioapic_resample,
		.scan = ioapic_scan,
		.now = ioapic_now,
	};
	int r;

	pthread_mutex_lock(&vm->lock);
	r = -EEXIST;
	if (x86_irqchip_in_kernel(xvm))
		goto out;
	r = -EINVAL;
	if (vm->created_vcpus)
		goto out;
	r = -ENOMEM;
	xvm->pic = x86_pic_create(&ph);
	if (!xvm->pic)
		goto out;
	xvm->ioapic = x86_ioapic_create(&ih);
	if (!xvm->ioapic)
		goto destroy_pic;
	r = setup_default_routing(vm);
	if (r)
		goto destroy_ioapic;
	atomic_store_explicit(&xvm->irqchip_mode, X86_IRQCHIP_KERNEL, memory_order_release);
	goto out;

destroy_ioapic:
	x86_ioapic_destroy(xvm->ioapic);
	xvm->ioapic = NULL;
destroy_pic:
	x86_pic_destroy(xvm->pic);
	xvm->pic = NULL;
out:
	pthread_mutex_unlock(&vm->lock);
	return r;
}

static int get_irqchip(struct x86_vm *xvm, void *argp)
{
	struct kvm_irqchip chip;

	if (!argp)
		return -EFAULT;
	/* The kernel duplicates the caller's buffer and overwrites only the
	 * selected chip's state: the rest of the union comes back as given. */
	memcpy(&chip, argp, sizeof(chip));
	if (!x86_irqchip_full(xvm))
		return -ENXIO;
	switch (chip.chip_id) {
	case KVM_IRQCHIP_PIC_MASTER:
	case KVM_IRQCHIP_PIC_SLAVE:
		x86_pic_get_state(xvm->pic, (int)chip.chip_id, &chip.chip.pic);
		break;
	case KVM_IRQCHIP_IOAPIC:
		x86_ioapic_get_state(xvm->ioapic, &chip.chip.ioapic);
		break;
	default:
		return -EINVAL;
	}
	memcpy(argp, &chip, sizeof(chip));
	return 0;
}

static void rtc_restore_all(struct x86_vm *xvm)
{
	uint32_t n = virq_vm_nr_vcpus(xvm->vm);

	x86_ioapic_rtc_reset_tracking(xvm->ioapic);
	for (uint32_t i = 0; i < n; i++) {
		struct x86_vcpu *xv = xvcpu_at(xvm, i);
		struct scan_ctx c = { .xv = xv };

		x86_ioapic_rtc_restore_one(xvm->ioapic, xv->vcpu->vcpu_id, scan_match, scan_pending_eoi, &c);
	}
}

static int set_irqchip_locked(struct x86_vm *xvm, struct kvm_irqchip *chip_p);

static int set_irqchip(struct x86_vm *xvm, void *argp)
{
	struct kvm_irqchip chip;
	int r;

	if (!argp)
		return -EFAULT;
	memcpy(&chip, argp, sizeof(chip));
	if (!x86_irqchip_full(xvm))
		return -ENXIO;
	x86_kicks_hold(xvm);
	r = set_irqchip_locked(xvm, &chip);
	x86_kicks_release();
	return r;
}

static int set_irqchip_locked(struct x86_vm *xvm, struct kvm_irqchip *chip_p)
{
	struct kvm_irqchip chip = *chip_p;

	switch (chip.chip_id) {
	case KVM_IRQCHIP_PIC_MASTER:
	case KVM_IRQCHIP_PIC_SLAVE:
		x86_pic_set_state(xvm->pic, (int)chip.chip_id, &chip.chip.pic);
		break;
	case KVM_IRQCHIP_IOAPIC:
		x86_ioapic_set_state(xvm->ioapic, &chip.chip.ioapic);
		rtc_restore_all(xvm);
		x86_request_scan_ioapic(xvm);
		break;
	default:
		/* The kernel re-evaluates the PIC output even for a bad id. */
		x86_pic_update_irq(xvm->pic);
		return -EINVAL;
	}
	x86_pic_update_irq(xvm->pic);
	return 0;
}

static int set_boot_cpu_id(struct virq_vm *vm, unsigned long id)
{
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->created_vcpus)
		r = -EBUSY;
	else if (id > X86_MAX_VCPU_IDS)
		r = -EINVAL;
	else
		x86_vm_of(vm)->bsp_vcpu_id = (uint32_t)id;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

static long x86_vm_ioctl(struct virq_vm *vm, unsigned int req, void *argp)
{
	struct x86_vm *xvm = x86_vm_of(vm);

	switch (req) {
	case KVM_CREATE_IRQCHIP:
		return create_irqchip(vm);
	case KVM_GET_IRQCHIP:
		return get_irqchip(xvm, argp);
	case KVM_SET_IRQCHIP:
		return set_irqchip(xvm, argp);
	case KVM_SET_BOOT_CPU_ID:
		return set_boot_cpu_id(vm, (unsigned long)argp);
	default:
		return -ENOTTY;
	}
}

static int x86_vm_enable_cap(struct virq_vm *vm, const struct kvm_enable_cap *cap)
{
	struct x86_vm *xvm = x86_vm_of(vm);
	uint64_t a = cap->args[0];
	int r;

	switch (cap->cap) {
	case KVM_CAP_SPLIT_IRQCHIP:
		pthread_mutex_lock(&vm->lock);
		r = -EINVAL;
		if (a > X86_MAX_IRQ_ROUTES)
			goto unlock;
		r = -EEXIST;
		if (x86_irqchip_in_kernel(xvm) || vm->created_vcpus)
			goto unlock;
		xvm->nr_reserved_ioapic_pins = (uint32_t)a;
		atomic_store_explicit(&xvm->irqchip_mode, X86_IRQCHIP_SPLIT, memory_order_release);
		r = 0;
unlock:
		pthread_mutex_unlock(&vm->lock);
		return r;
	case KVM_CAP_X2APIC_API:
		if (a & ~X2APIC_API_VALID_FLAGS)
			return -EINVAL;
		if ((a & KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST) &&
		    (a & KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST))
			return -EINVAL;
		if ((a & KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST) && !x86_irqchip_split(xvm))
			return -EINVAL;
		if (a & KVM_X2APIC_API_USE_32BIT_IDS)
			atomic_store_explicit(&xvm->x2apic_format, true, memory_order_relaxed);
		if (a & KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK)
			atomic_store_explicit(&xvm->x2apic_broadcast_quirk_disabled, true,
					      memory_order_relaxed);
		if (a & KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST)
			xvm->seoib_mode = X86_SEOIB_ENABLED;
		if (a & KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST)
			xvm->seoib_mode = X86_SEOIB_DISABLED;
		return 0;
	default:
		return -EINVAL;
	}
}

/* The capabilities virq implements, with the values of the kernel it
 * mirrors; everything else (memory, CPU state, ...) is not virq's and
 * reads 0. */
static int x86_check_extension(struct virq_vm *vm, long cap)
{
	switch (cap) {
	case KVM_CAP_IRQCHIP:
	case KVM_CAP_IRQ_INJECT_STATUS:
	case KVM_CAP_SPLIT_IRQCHIP:
	case KVM_CAP_VCPU_EVENTS:
	case KVM_CAP_TSC_DEADLINE_TIMER:
	case KVM_CAP_IOAPIC_POLARITY_IGNORED:
	case KVM_CAP_SET_BOOT_CPU_ID:
	case KVM_CAP_EXT_CPUID:
	case KVM_CAP_USER_NMI:
	case KVM_CAP_IRQFD:
	case KVM_CAP_IRQFD_RESAMPLE:
	case KVM_CAP_MP_STATE:
		return 1;
	case KVM_CAP_X2APIC_API: {
		int r = (int)X2APIC_API_VALID_FLAGS;

		if (vm && !x86_irqchip_split(x86_vm_of(vm)))
			r &= ~(int)KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST;
		return r;
	}
	default:
		return 0;
	}
}

/* KVM_IRQ_LINE(_STATUS) for x86: ENXIO without an irqchip (split counts as
 * one), and the route sum as status. */
static int x86_irq_line(struct virq_vm *vm, struct kvm_irq_level *ev, bool line_status)
{
	if (!x86_irqchip_in_kernel(x86_vm_of(vm)))
		return -ENXIO;
	ev->status = virq_set_irq(vm, VIRQ_USERSPACE_IRQ_SOURCE_ID, ev->irq, ev->level ? 1 : 0,
				  line_status);
	return 0;
}

static int x86_signal_msi(struct virq_vm *vm, const struct kvm_msi *msi)
{
	return x86_set_msi(x86_vm_of(vm), msi->address_lo, msi->address_hi, msi->data, 1);
}

static int64_t x86_poll_timers(struct virq_vm *vm)
{
	struct x86_vm *xvm = x86_vm_of(vm);
	uint64_t now = virq_vm_now(vm);
	uint32_t n = virq_vm_nr_vcpus(vm);
	int64_t next = INT64_MAX;

	for (uint32_t i = 0; i < n; i++) {
		struct x86_vcpu *xv = xvcpu_at(xvm, i);

		if (xv->apic) {
			int64_t d = x86_lapic_timer_poll(xv->apic, now);

			if (d < next)
				next = d;
		}
	}
	if (x86_irqchip_full(xvm)) {
		int64_t d;

		x86_kicks_hold(xvm);
		d = x86_ioapic_poll(xvm->ioapic, now);
		x86_kicks_release();

		if (d < next)
			next = d;
	}
	return next;
}

/* ---- vCPU ------------------------------------------------------------------------ */

static int x86_vcpu_precreate(struct virq_vm *vm, uint32_t id)
{
	(void)vm;
	return id >= X86_MAX_VCPU_IDS ? -EINVAL : 0;
}

static int x86_vcpu_init(struct virq_vcpu *vcpu)
{
	struct x86_vm *xvm = x86_vm_of(vcpu->vm);
	struct x86_vcpu *xv = calloc(1, sizeof(*xv));

	if (!xv)
		return -ENOMEM;
	xv->vcpu = vcpu;
	xv->xvm = xvm;
	pthread_mutex_init(&xv->lock, NULL);
	pthread_mutex_init(&xv->mp_lock, NULL);
	xv->pending_external_vector = -1;
	xv->highest_stale_pending_ioapic_eoi = -1;
	xv->maxphyaddr = 36;
	xv->scan_gen = atomic_load(&xvm->scan_gen) - 1; /* scan on first use */
	vcpu->arch_vcpu = xv;
	xv->apic_base = APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE |
			(x86_vcpu_is_bsp(xv) ? MSR_IA32_APICBASE_BSP : 0);
	if (x86_irqchip_in_kernel(xvm)) {
		xv->apic = x86_lapic_create(xv);
		if (!xv->apic) {
			pthread_mutex_destroy(&xv->mp_lock);
			pthread_mutex_destroy(&xv->lock);
			free(xv);
			vcpu->arch_vcpu = NULL;
			return -ENOMEM;
		}
		x86_lapic_reset(xv->apic, false);
	}
	xv->mp_state = (!x86_irqchip_in_kernel(xvm) || x86_vcpu_is_bsp(xv)) ? KVM_MP_STATE_RUNNABLE
									    : KVM_MP_STATE_UNINITIALIZED;
	return 0;
}

/*
 * Nothing to do: the LAPIC reset in vcpu_init already rebuilt the APIC map,
 * before the vCPU was visible, so - exactly as in the kernel - a new vCPU
 * joins the map only at the next rebuild (its first KVM_SET_LAPIC, APIC
 * base or register change, or another vCPU's).
 */
static void x86_vcpu_postcreate(struct virq_vcpu *vcpu)
{
	(void)vcpu;
}

static void x86_vcpu_destroy(struct virq_vcpu *vcpu)
{
	struct x86_vcpu *xv = x86_vcpu_of(vcpu);

	if (!xv)
		return;
	if (xv->apic)
		x86_lapic_destroy(xv->apic);
	pthread_mutex_destroy(&xv->mp_lock);
	pthread_mutex_destroy(&xv->lock);
	free(xv);
}

/* ---- MP state: INIT and STARTUP ----------------------------------------------- */

/*
 * kvm_apic_init_sipi_allowed() is always true here: INIT is blocked only in
 * SMM, in VMX root mode and with SVM's GIF clear, and virq's vCPUs have no
 * SMM and no nested virtualization.  So KVM_SET_MP_STATE never refuses
 * INIT_RECEIVED or SIPI_RECEIVED for a blocked INIT or a pending SMI, and
 * acceptance never has to leave an INIT latched.
 */

/* kvm_set_mp_state(): becoming RUNNABLE ends a PV kick.  Under mp_lock. */
static void set_mp_state(struct x86_vcpu *xv, uint32_t state)
{
	xv->mp_state = state;
	if (state == KVM_MP_STATE_RUNNABLE)
		atomic_store_explicit(&xv->pv_unhalted, false, memory_order_relaxed);
}

static uint32_t vcpu_mp_state(struct x86_vcpu *xv)
{
	uint32_t state;

	pthread_mutex_lock(&xv->mp_lock);
	state = xv->mp_state;
	pthread_mutex_unlock(&xv->mp_lock);
	return state;
}

/* kvm_vcpu_is_bsp(): IA32_APIC_BASE.BSP now, not the reset BSP's id. */
static bool vcpu_apic_base_bsp(struct x86_vcpu *xv)
{
	uint64_t base = xv->apic ? x86_lapic_get_base(xv->apic) : xv->apic_base;

	return base & MSR_IA32_APICBASE_BSP;
}

/* kvm_vcpu_reset(vcpu, true), the part virq holds: the LAPIC as an INIT
 * leaves it, and no event left to inject (NMIs unmasked, as measured). */
static void vcpu_init_event(struct x86_vcpu *xv)
{
	x86_lapic_reset(xv->apic, true);
	pthread_mutex_lock(&xv->lock);
	atomic_store_explicit(&xv->nmi_queued, 0, memory_order_relaxed);
	xv->nmi_pending = 0;
	xv->nmi_injected = false;
	xv->nmi_masked = false;
	xv->interrupt.injected = false;
	xv->exception.injected = false;
	pthread_mutex_unlock(&xv->lock);
}

/*
 * kvm_apic_accept_events(): take a pending INIT (reset, then INIT_RECEIVED,
 * or RUNNABLE for the BSP), then a pending SIPI, which starts the vCPU only
 * in INIT_RECEIVED and is dropped otherwise.  Under mp_lock; returns the
 * VIRQ_ACCEPT_* taken and the SIPI's vector in @vec.
 */
static unsigned int accept_events_locked(struct x86_vcpu *xv, uint8_t *vec)
{
	unsigned int taken = 0;
	bool init, sipi;
	uint8_t v = 0;

	if (!xv->apic || !x86_lapic_events_pending(xv->apic))
		return 0;
	/* Both bits in one exchange: the kernel tests INIT, then SIPI, and
	 * an INIT+SIPI pair landing in between loses its SIPI. */
	x86_lapic_take_events(xv->apic, &init, &sipi, &v);
	if (init) {
		vcpu_init_event(xv);
		set_mp_state(xv, vcpu_apic_base_bsp(xv) ? KVM_MP_STATE_RUNNABLE
							 : KVM_MP_STATE_INIT_RECEIVED);
		taken |= VIRQ_ACCEPT_INIT;
	}
	if (sipi && xv->mp_state == KVM_MP_STATE_INIT_RECEIVED) {
		set_mp_state(xv, KVM_MP_STATE_RUNNABLE);
		*vec = v;
		taken |= VIRQ_ACCEPT_SIPI;
	}
	return taken;
}

/* Keep what was taken for virq_vcpu_accept_events(); an INIT cancels a
 * SIPI taken before it.  Under mp_lock. */
static void note_unreported(struct x86_vcpu *xv, unsigned int taken, uint8_t vec)
{
	if (taken & VIRQ_ACCEPT_INIT)
		xv->unreported = VIRQ_ACCEPT_INIT;
	if (taken & VIRQ_ACCEPT_SIPI) {
		xv->unreported |= VIRQ_ACCEPT_SIPI;
		xv->unreported_vector = vec;
	}
}

int x86_vcpu_accept_events(struct x86_vcpu *xv, uint8_t *sipi_vector)
{
	unsigned int r, taken;
	uint8_t vec = 0;

	if (!xv->apic)
		return -ENXIO;
	x86_vcpu_enter(xv);
	pthread_mutex_lock(&xv->mp_lock);
	taken = accept_events_locked(xv, &vec);
	note_unreported(xv, taken, vec);
	r = xv->unreported;
	if (r & VIRQ_ACCEPT_SIPI)
		*sipi_vector = xv->unreported_vector;
	xv->unreported = 0;
	pthread_mutex_unlock(&xv->mp_lock);
	return (int)r;
}

/* kvm_arch_vcpu_ioctl_get_mpstate(): events first, then the state; a PV
 * kick reads as RUNNABLE.  The events are taken before the copy out, so a
 * NULL argument still takes them (EFAULT after, as in the kernel). */
static int vcpu_get_mp_state(struct x86_vcpu *xv, void *argp)
{
	struct kvm_mp_state mp;
	unsigned int taken;
	uint8_t vec = 0;

	pthread_mutex_lock(&xv->mp_lock);
	taken = accept_events_locked(xv, &vec);
	note_unreported(xv, taken, vec);
	mp.mp_state = xv->mp_state;
	if ((mp.mp_state == KVM_MP_STATE_HALTED || mp.mp_state == KVM_MP_STATE_AP_RESET_HOLD) &&
	    atomic_load_explicit(&xv->pv_unhalted, memory_order_acquire))
		mp.mp_state = KVM_MP_STATE_RUNNABLE;
	pthread_mutex_unlock(&xv->mp_lock);
	if (!argp)
		return -EFAULT;
	memcpy(argp, &mp, sizeof(mp));
	return 0;
}

/* kvm_arch_vcpu_ioctl_set_mpstate(): the states other than RUNNABLE need
 * an in-kernel LAPIC; SIPI_RECEIVED is stored as INIT_RECEIVED with the
 * SIPI pending (the vector is the one KVM_SET_VCPU_EVENTS or the last
 * STARTUP left).  Pending events stay pending. */
static int vcpu_set_mp_state(struct x86_vcpu *xv, void *argp)
{
	struct kvm_mp_state mp;

	if (!argp)
		return -EFAULT;
	memcpy(&mp, argp, sizeof(mp));
	switch (mp.mp_state) {
	case KVM_MP_STATE_UNINITIALIZED:
	case KVM_MP_STATE_HALTED:
	case KVM_MP_STATE_AP_RESET_HOLD:
	case KVM_MP_STATE_INIT_RECEIVED:
	case KVM_MP_STATE_SIPI_RECEIVED:
		if (!xv->apic)
			return -EINVAL;
		break;
	case KVM_MP_STATE_RUNNABLE:
		break;
	default:
		return -EINVAL;
	}
	pthread_mutex_lock(&xv->mp_lock);
	if (mp.mp_state == KVM_MP_STATE_SIPI_RECEIVED) {
		set_mp_state(xv, KVM_MP_STATE_INIT_RECEIVED);
		x86_lapic_set_sipi_pending(xv->apic, true);
	} else {
		set_mp_state(xv, mp.mp_state);
	}
	pthread_mutex_unlock(&xv->mp_lock);
	x86_vcpu_kick(xv); /* KVM_REQ_EVENT */
	return 0;
}

void x86_vcpu_mp_save(struct x86_vcpu *xv, uint32_t *mp_state, uint32_t *mp_flags)
{
	uint32_t f = 0;

	pthread_mutex_lock(&xv->mp_lock);
	*mp_state = xv->mp_state;
	if (xv->apic && x86_lapic_sipi_pending(xv->apic))
		f |= X86_MP_SIPI_PENDING;
	if (atomic_load_explicit(&xv->pv_unhalted, memory_order_acquire))
		f |= X86_MP_PV_UNHALTED;
	if (xv->unreported & VIRQ_ACCEPT_INIT)
		f |= X86_MP_UNREPORTED_INIT;
	if (xv->unreported & VIRQ_ACCEPT_SIPI)
		f |= X86_MP_UNREPORTED_SIPI | (uint32_t)xv->unreported_vector << X86_MP_VECTOR_SHIFT;
	pthread_mutex_unlock(&xv->mp_lock);
	*mp_flags = f;
}

/* The states a vCPU can be in (SIPI_RECEIVED is never stored). */
int x86_vcpu_mp_check(uint32_t mp_state, uint32_t mp_flags)
{
	switch (mp_state) {
	case KVM_MP_STATE_RUNNABLE:
	case KVM_MP_STATE_UNINITIALIZED:
	case KVM_MP_STATE_INIT_RECEIVED:
	case KVM_MP_STATE_HALTED:
	case KVM_MP_STATE_AP_RESET_HOLD:
		break;
	default:
		return -EINVAL;
	}
	return (mp_flags & ~X86_MP_KNOWN) ? -EINVAL : 0;
}

void x86_vcpu_mp_restore(struct x86_vcpu *xv, uint32_t mp_state, uint32_t mp_flags)
{
	pthread_mutex_lock(&xv->mp_lock);
	xv->mp_state = mp_state;
	atomic_store_explicit(&xv->pv_unhalted, mp_flags & X86_MP_PV_UNHALTED, memory_order_release);
	if (xv->apic)
		x86_lapic_set_sipi_pending(xv->apic, mp_flags & X86_MP_SIPI_PENDING);
	xv->unreported = 0;
	if (mp_flags & X86_MP_UNREPORTED_INIT)
		xv->unreported |= VIRQ_ACCEPT_INIT;
	if (mp_flags & X86_MP_UNREPORTED_SIPI)
		xv->unreported |= VIRQ_ACCEPT_SIPI;
	xv->unreported_vector = (uint8_t)(mp_flags >> X86_MP_VECTOR_SHIFT);
	pthread_mutex_unlock(&xv->mp_lock);
	x86_vcpu_kick(xv);
}

static int vcpu_get_lapic(struct x86_vcpu *xv, void *argp)
{
	struct kvm_lapic_state s;
	int r;

	if (!xv->apic)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	r = x86_lapic_get_state(xv->apic, &s);
	if (r)
		return r;
	if (!argp)
		return -EFAULT;
	memcpy(argp, &s, sizeof(s));
	return 0;
}

static int vcpu_set_lapic(struct x86_vcpu *xv, void *argp)
{
	struct kvm_lapic_state s;
	struct scan_ctx c = { .xv = xv };
	int r;

	if (!xv->apic)
		return -EINVAL;
	if (!argp)
		return -EFAULT;
	memcpy(&s, argp, sizeof(s));
	r = x86_lapic_set_state(xv->apic, &s);
	if (r)
		return r;
	x86_recalculate_apic_map(xv->xvm);
	if (xv->xvm->ioapic)
		x86_ioapic_rtc_restore_one(xv->xvm->ioapic, xv->vcpu->vcpu_id, scan_match,
					   scan_pending_eoi, &c);
	x86_request_scan_ioapic(xv->xvm);
	return 0;
}

/* kvm_vcpu_ioctl_interrupt(). */
static int vcpu_interrupt(struct x86_vcpu *xv, void *argp)
{
	struct kvm_interrupt irq;
	int r = 0;

	if (!argp)
		return -EFAULT;
	memcpy(&irq, argp, sizeof(irq));
	if (irq.irq >= KVM_NR_INTERRUPTS)
		return -EINVAL;
	pthread_mutex_lock(&xv->lock);
	if (!x86_irqchip_in_kernel(xv->xvm)) {
		xv->interrupt.injected = true;
		xv->interrupt.soft = false;
		xv->interrupt.nr = (uint8_t)irq.irq;
	} else if (xv->xvm->pic) {
		r = -ENXIO; /* with an in-kernel PIC, ExtINT comes from it */
	} else if (xv->pending_external_vector != -1) {
		r = -EEXIST;
	} else {
		xv->pending_external_vector = (int)irq.irq;
	}
	pthread_mutex_unlock(&xv->lock);
	if (!r)
		x86_vcpu_kick(xv);
	return r;
}

/* process_nmi(): fold queued NMIs into the pending count; at most two may
 * be pending, one if NMIs are masked or one is being injected. */
static void process_nmi(struct x86_vcpu *xv)
{
	unsigned limit = (xv->nmi_masked || xv->nmi_injected) ? 1 : 2;

	xv->nmi_pending += atomic_exchange_explicit(&xv->nmi_queued, 0, memory_order_acq_rel);
	if (xv->nmi_pending > limit)
		xv->nmi_pending = limit;
}

static int vcpu_get_events(struct x86_vcpu *xv, void *argp)
{
	struct kvm_vcpu_events ev;

	if (!argp)
		return -EFAULT;
	memset(&ev, 0, sizeof(ev));
	pthread_mutex_lock(&xv->lock);
	process_nmi(xv);
	/* Soft exceptions (#BP, #OF) are not reported: no instruction length. */
	if (xv->exception.nr != 3 && xv->exception.nr != 4)
		ev.exception.injected = xv->exception.injected;
	ev.exception.nr = xv->exception.nr;
	ev.exception.has_error_code = xv->exception.has_error_code;
	ev.exception.error_code = xv->exception.error_code;
	ev.interrupt.injected = xv->interrupt.injected && !xv->interrupt.soft;
	ev.interrupt.nr = xv->interrupt.nr;
	ev.nmi.injected = xv->nmi_injected;
	ev.nmi.pending = (uint8_t)xv->nmi_pending;
	ev.nmi.masked = xv->nmi_masked;
	ev.smi.latched_init = xv->apic ? x86_lapic_latched_init(xv->apic) : 0;
	ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
	pthread_mutex_unlock(&xv->lock);
	memcpy(argp, &ev, sizeof(ev));
	return 0;
}

static int vcpu_set_events(struct x86_vcpu *xv, void *argp)
{
	struct kvm_vcpu_events ev;

	if (!argp)
		return -EFAULT;
	memcpy(&ev, argp, sizeof(ev));
	if (ev.flags & ~(KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
			 KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |
			 KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT))
		return -EINVAL;
	/* KVM_CAP_EXCEPTION_PAYLOAD is not enabled (virq does not offer it). */
	if (ev.flags & KVM_VCPUEVENT_VALID_PAYLOAD)
		return -EINVAL;
	ev.exception.pending = 0;
	ev.exception_has_payload = 0;
	if (ev.exception.injected && (ev.exception.nr > 31 || ev.exception.nr == NMI_VECTOR))
		return -EINVAL;
	/* INITs are latched in SMM, so SMM cannot be entered in wait-for-SIPI. */
	if ((ev.flags & KVM_VCPUEVENT_VALID_SMM) && (ev.smi.smm || ev.smi.pending) &&
	    vcpu_mp_state(xv) == KVM_MP_STATE_INIT_RECEIVED)
		return -EINVAL;

	/* From here on the kernel commits as it goes: a later EINVAL (SMM,
	 * triple fault) leaves what was already written in place. */
	pthread_mutex_lock(&xv->lock);
	process_nmi(xv);
	xv->exception.injected = ev.exception.injected;
	xv->exception.nr = ev.exception.nr;
	xv->exception.has_error_code = ev.exception.has_error_code;
	xv->exception.error_code = ev.exception.error_code;
	xv->interrupt.injected = ev.interrupt.injected;
	xv->interrupt.nr = ev.interrupt.nr;
	xv->interrupt.soft = ev.interrupt.soft;
	xv->nmi_injected = ev.nmi.injected;
	if (ev.flags & KVM_VCPUEVENT_VALID_NMI_PENDING) {
		xv->nmi_pending = 0;
		atomic_store(&xv->nmi_queued, ev.nmi.pending);
	}
	xv->nmi_masked = ev.nmi.masked;
	pthread_mutex_unlock(&xv->lock);
	if ((ev.flags & KVM_VCPUEVENT_VALID_SIPI_VECTOR) && xv->apic)
		x86_lapic_set_sipi_vector(xv->apic, ev.sipi_vector);
	if (ev.flags & KVM_VCPUEVENT_VALID_SMM) {
		/* No SMM in this build, as in the kernel it mirrors. */
		if (ev.smi.smm || ev.smi.pending || ev.smi.smm_inside_nmi)
			return -EINVAL;
		if (xv->apic)
			x86_lapic_set_latched_init(xv->apic, ev.smi.latched_init);
	}
	/* KVM_CAP_X86_TRIPLE_FAULT_EVENT is not enabled. */
	if (ev.flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT)
		return -EINVAL;
	x86_vcpu_kick(xv);
	return 0;
}

/* One MSR of KVM_GET_MSRS / KVM_SET_MSRS; 0 or 1 (failure, stops the list). */
static int msr_get(struct x86_vcpu *xv, uint32_t index, uint64_t *data)
{
	switch (index) {
	case MSR_IA32_APICBASE:
		*data = xv->apic ? x86_lapic_get_base(xv->apic) : xv->apic_base;
		return 0;
	case MSR_IA32_TSC_DEADLINE:
		*data = xv->apic ? x86_lapic_get_tscdeadline(xv->apic) : 0;
		return 0;
	default:
		if (index >= APIC_BASE_MSR && index <= APIC_BASE_MSR + 0xff)
			return xv->apic ? x86_lapic_msr_read(xv->apic, index, data) : 1;
		return 1; /* not an interrupt MSR: not virq's */
	}
}

static int msr_set(struct x86_vcpu *xv, uint32_t index, uint64_t data)
{
	switch (index) {
	case MSR_IA32_APICBASE:
		if (xv->apic) {
			int r = x86_lapic_set_base(xv->apic, data, true);

			if (!r)
				x86_recalculate_apic_map(xv->xvm);
			return r;
		}
		/* kvm_apic_set_base() without a LAPIC: only the value checks;
		 * bits at and above MAXPHYADDR are reserved. */
		if (data == xv->apic_base)
			return 0;
		if (data & (0x2ffull | (xv->cpuid_x2apic ? 0 : MSR_IA32_APICBASE_EXTD) |
			    (xv->maxphyaddr >= 64 ? 0 : ~0ull << xv->maxphyaddr)))
			return 1;
		if ((data & (MSR_IA32_APICBASE_ENABLE | MSR_IA32_APICBASE_EXTD)) == MSR_IA32_APICBASE_EXTD)
			return 1;
		xv->apic_base = data;
		return 0;
	case MSR_IA32_TSC_DEADLINE:
		if (xv->apic)
			x86_lapic_set_tscdeadline(xv->apic, data);
		return 0;
	default:
		if (index >= APIC_BASE_MSR && index <= APIC_BASE_MSR + 0xff)
			return xv->apic ? x86_lapic_msr_write(xv->apic, index, data, true) : 1;
		return 1;
	}
}

/* msr_io(): returns the number of MSRs processed. */
static int vcpu_msrs(struct x86_vcpu *xv, void *argp, bool set)
{
	struct kvm_msrs hdr;
	struct kvm_msr_entry *e;
	uint32_t i;

	if (!argp)
		return -EFAULT;
	memcpy(&hdr, argp, sizeof(hdr));
	if (hdr.nmsrs >= X86_MAX_IO_MSRS)
		return -E2BIG;
	e = ((struct kvm_msrs *)argp)->entries;
	for (i = 0; i < hdr.nmsrs; i++) {
		uint64_t data = e[i].data;
		int r = set ? msr_set(xv, e[i].index, data) : msr_get(xv, e[i].index, &data);

		if (r)
			break;
		if (!set)
			e[i].data = data;
	}
	return (int)i;
}

/* KVM_SET_CPUID2: virq keeps only the bits that change interrupt
 * behaviour (leaf 1 ECX: x2APIC, TSC-deadline). */
static int vcpu_set_cpuid2(struct x86_vcpu *xv, void *argp)
{
	struct kvm_cpuid2 hdr;
	const struct kvm_cpuid_entry2 *e;
	bool x2apic = false, tscd = false, leaf1 = false, has_ext = false, has_phys = false;
	uint32_t max_ext = 0, phys = 0;

	if (!argp)
		return -EFAULT;
	memcpy(&hdr, argp, sizeof(hdr));
	if (hdr.nent > X86_MAX_CPUID_ENTRIES)
		return -E2BIG;
	e = ((struct kvm_cpuid2 *)argp)->entries;
	for (uint32_t i = 0; i < hdr.nent; i++) {
		/* kvm_find_cpuid_entry(): the first matching entry counts. */
		if (e[i].function == 1 && e[i].index == 0 && !leaf1) {
			leaf1 = true;
			x2apic = e[i].ecx & CPUID1_ECX_X2APIC;
			tscd = e[i].ecx & CPUID1_ECX_TSC_DEADLINE;
		}
		if (e[i].function == 0x80000000 && !has_ext) {
			has_ext = true;
			max_ext = e[i].eax;
		}
		if (e[i].function == 0x80000008 && !has_phys) {
			has_phys = true;
			phys = e[i].eax & 0xff;
		}
	}
	xv->cpuid_x2apic = x2apic;
	xv->cpuid_tsc_deadline = tscd;
	/* cpuid_query_maxphyaddr(): leaf 0x80000008 EAX[7:0] as it is, 36
	 * when the leaf is absent or out of the advertised range. */
	xv->maxphyaddr = (max_ext >= 0x80000008 && has_phys) ? (uint8_t)phys : 36;
	if (xv->apic) {
		x86_lapic_set_phys_bits(xv->apic, xv->maxphyaddr);
		x86_lapic_update_cpuid(xv->apic);
	}
	return 0;
}

static long x86_vcpu_ioctl(struct virq_vcpu *vcpu, unsigned int req, void *argp)
{
	struct x86_vcpu *xv = x86_vcpu_of(vcpu);

	switch (req) {
	case KVM_GET_LAPIC:
		return vcpu_get_lapic(xv, argp);
	case KVM_SET_LAPIC:
		return vcpu_set_lapic(xv, argp);
	case KVM_INTERRUPT:
		return vcpu_interrupt(xv, argp);
	case KVM_NMI:
		x86_vcpu_inject_nmi(xv);
		return 0;
	case KVM_GET_VCPU_EVENTS:
		return vcpu_get_events(xv, argp);
	case KVM_SET_VCPU_EVENTS:
		return vcpu_set_events(xv, argp);
	case KVM_GET_MSRS:
		return vcpu_msrs(xv, argp, false);
	case KVM_SET_MSRS:
		return vcpu_msrs(xv, argp, true);
	case KVM_SET_CPUID2:
		return vcpu_set_cpuid2(xv, argp);
	case KVM_GET_MP_STATE:
		return vcpu_get_mp_state(xv, argp);
	case KVM_SET_MP_STATE:
		return vcpu_set_mp_state(xv, argp);
	case KVM_SMI:
		return -ENOTTY; /* no SMM */
	default:
		return -EINVAL; /* kvm_arch_vcpu_ioctl()'s default */
	}
}

/* ---- native: the vCPU takes interrupts ---------------------------------------------- */

/* kvm_cpu_has_extint(). */
static bool has_extint(struct x86_vcpu *xv)
{
	if (!xv->apic)
		return xv->interrupt.injected;
	if (!x86_lapic_accept_pic_intr(xv->apic))
		return false;
	if (xv->xvm->pic)
		return x86_pic_output(xv->xvm->pic);
	return xv->pending_external_vector != -1;
}

/* What the vCPU does on its way into the guest: fold timers, rescan. */
void x86_vcpu_enter(struct x86_vcpu *xv)
{
	if (xv->apic)
		x86_lapic_timer_poll(xv->apic, virq_vm_now(xv->vcpu->vm));
	vcpu_sync_scan(xv);
}

static int x86_vcpu_has_interrupt(struct virq_vcpu *vcpu)
{
	struct x86_vcpu *xv = x86_vcpu_of(vcpu);
	int r;

	x86_vcpu_enter(xv);
	pthread_mutex_lock(&xv->lock);
	r = has_extint(xv);
	pthread_mutex_unlock(&xv->lock);
	if (!r && xv->apic)
		r = x86_lapic_has_interrupt(xv->apic) != -1;
	return r;
}

/* kvm_cpu_get_interrupt(). */
static int x86_vcpu_ack_interrupt(struct virq_vcpu *vcpu)
{
	struct x86_vcpu *xv = x86_vcpu_of(vcpu);
	int vector = -1;

	x86_vcpu_enter(xv);
	pthread_mutex_lock(&xv->lock);
	if (has_extint(xv)) {
		if (!xv->apic) {
			vector = xv->interrupt.nr;
			xv->interrupt.injected = false;
		} else if (!xv->xvm->pic) {
			vector = xv->pending_external_vector;
			xv->pending_external_vector = -1;
		}
	}
	pthread_mutex_unlock(&xv->lock);
	if (vector == -1 && xv->apic && xv->xvm->pic && x86_lapic_accept_pic_intr(xv->apic) &&
	    x86_pic_output(xv->xvm->pic)) {
		x86_kicks_hold(xv->xvm);
		vector = x86_pic_read_irq(xv->xvm->pic) & 0xff; /* the kernel queues a u8 */
		x86_kicks_release();
	}
	if (vector == -1 && xv->apic)
		vector = x86_lapic_get_interrupt(xv->apic);
	if (vector == -1)
		return -EAGAIN;
	/* The kernel traces the injection into the guest (vmx/svm_inject_irq);
	 * taking the vector is the closest point virq has.  Never soft
	 * (INTn) nor re-injected here. */
	virq_trace_kvm_inj_virq(&vcpu->vm->trace, (int32_t)vcpu->vcpu_id, (uint32_t)vector, false, false);
	return vector;
}

static int x86_vcpu_eoi(struct virq_vcpu *vcpu)
{
	struct x86_vcpu *xv = x86_vcpu_of(vcpu);
	int vector;

	if (!xv->apic)
		return -ENXIO;
	x86_vcpu_enter(xv);
	vector = x86_lapic_eoi(xv->apic);
	return vector < 0 ? -EAGAIN : vector;
}


const struct virq_arch_ops virq_x86_ops = {
	.arch = VIRQ_ARCH_X86,
	.name = "x86",
	.max_vcpus = X86_MAX_VCPUS,
	.vcpus_limit = X86_VCPUS_LIMIT,
	.max_vcpu_ids = X86_MAX_VCPU_IDS,
	.nr_irqchips = X86_NR_IRQCHIPS,
	.irqchip_pins = X86_IOAPIC_NUM_PINS,
	.max_irq_routes = X86_MAX_IRQ_ROUTES,
	.check_extension = x86_check_extension,
	.vm_init = x86_vm_init,
	.vm_destroy = x86_vm_destroy,
	.vm_ioctl = x86_vm_ioctl,
	.vm_enable_cap = x86_vm_enable_cap,
	.vcpu_precreate = x86_vcpu_precreate,
	.vcpu_init = x86_vcpu_init,
	.vcpu_postcreate = x86_vcpu_postcreate,
	.vcpu_destroy = x86_vcpu_destroy,
	.vcpu_ioctl = x86_vcpu_ioctl,
	.can_set_irq_routing = x86_can_set_irq_routing,
	.set_routing_entry = x86_set_routing_entry,
	.route_to_user = x86_route_to_user,
	.state_sections = x86_state_sections,
	.nr_state_sections = 2,
	.state_save = x86_state_save,
	.state_check = x86_state_check,
	.state_restore = x86_state_restore,
	.irq_routing_update = x86_irq_routing_update,
	.irq_line = x86_irq_line,
	.signal_msi = x86_signal_msi,
	.irqchip_in_kernel = x86_irqchip_in_kernel_op,
	.irqfd_allowed = x86_irqfd_allowed,
	.poll_timers = x86_poll_timers,
	.vcpu_has_interrupt = x86_vcpu_has_interrupt,
	.vcpu_ack_interrupt = x86_vcpu_ack_interrupt,
	.vcpu_eoi = x86_vcpu_eoi,
};
