/* SPDX-License-Identifier: MIT */
/*
 * x86.h - what the x86 interrupt controllers share: the decoded interrupt
 * message, the VM and vCPU state of the x86 arch module, APIC register
 * constants, and the calls the chip models make into x86.c.
 *
 * Lock order (never inverted): IOAPIC lock -> PIC lock is never nested;
 * either chip lock may be held while calling x86_irq_delivery_to_apic(),
 * which only touches LAPIC atomics and the LAPIC's own leaf lock.  No chip
 * calls out (ack notifiers, EOI to the IOAPIC, events to the VMM) while it
 * holds its lock.
 */
#ifndef VIRQ_X86_H
#define VIRQ_X86_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "virq-int.h"

struct x86_pic;
struct x86_ioapic;
struct x86_lapic;
struct x86_apic_map;
struct x86_ext_bus;

/* ---- limits (those of the kernel this machine runs) --------------------- */
#define X86_MAX_VCPUS 1024
#define X86_MAX_VCPU_IDS 4096
/* The most vCPUs a VM may opt into: as many as there are vCPU ids. */
#define X86_VCPUS_LIMIT X86_MAX_VCPU_IDS
#define X86_IOAPIC_NUM_PINS 24
#define X86_PIC_NUM_PINS 16
#define X86_NR_IRQCHIPS 3
#define X86_MAX_IRQ_ROUTES 4096
#define X86_RTC_GSI 8

/* ---- APIC constants (Intel SDM vol. 3, ch. 10/11) ---------------------- */
#define APIC_ID 0x20
#define APIC_LVR 0x30
#define APIC_TASKPRI 0x80
#define APIC_ARBPRI 0x90
#define APIC_PROCPRI 0xa0
#define APIC_EOI 0xb0
#define APIC_RRR 0xc0
#define APIC_LDR 0xd0
#define APIC_DFR 0xe0
#define APIC_SPIV 0xf0
#define APIC_ISR 0x100
#define APIC_TMR 0x180
#define APIC_IRR 0x200
#define APIC_ESR 0x280
#define APIC_LVTCMCI 0x2f0
#define APIC_ICR 0x300
#define APIC_ICR2 0x310
#define APIC_LVTT 0x320
#define APIC_LVTTHMR 0x330
#define APIC_LVTPC 0x340
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_LVTERR 0x370
#define APIC_TMICT 0x380
#define APIC_TMCCT 0x390
#define APIC_TDCR 0x3e0
#define APIC_SELF_IPI 0x3f0

#define APIC_DM_FIXED 0x000
#define APIC_DM_LOWEST 0x100
#define APIC_DM_SMI 0x200
#define APIC_DM_REMRD 0x300
#define APIC_DM_NMI 0x400
#define APIC_DM_INIT 0x500
#define APIC_DM_STARTUP 0x600
#define APIC_DM_EXTINT 0x700

#define APIC_DEST_PHYSICAL 0x000
#define APIC_DEST_LOGICAL 0x800
#define APIC_DEST_NOSHORT 0x00000
#define APIC_DEST_SELF 0x40000
#define APIC_DEST_ALLINC 0x80000
#define APIC_DEST_ALLBUT 0xc0000
#define APIC_DEST_MASK 0x800

#define APIC_DFR_FLAT 0xffffffffu
#define APIC_DFR_CLUSTER 0x0fffffffu

#define APIC_SPIV_APIC_ENABLED (1u << 8)
#define APIC_SPIV_DIRECTED_EOI (1u << 12)
#define APIC_LVR_DIRECTED_EOI (1u << 24)
#define APIC_LVT_MASKED (1u << 16)
#define APIC_BROADCAST 0xff
#define X2APIC_BROADCAST 0xffffffffu

#define MSR_IA32_APICBASE 0x1b
#define MSR_IA32_APICBASE_BSP (1ull << 8)
#define MSR_IA32_APICBASE_EXTD (1ull << 10) /* x2APIC enable */
#define MSR_IA32_APICBASE_ENABLE (1ull << 11)
#define MSR_IA32_APICBASE_BASE (0xfffffull << 12)
#define APIC_DEFAULT_PHYS_BASE 0xfee00000ull
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define APIC_BASE_MSR 0x800 /* x2APIC MSR = 0x800 + (offset >> 4) */

/* ---- the decoded interrupt message: the kernel's struct kvm_lapic_irq -- */
struct x86_irq {
	uint32_t vector;
	uint32_t delivery_mode; /* APIC_DM_* */
	uint32_t dest_mode;     /* APIC_DEST_PHYSICAL or APIC_DEST_LOGICAL */
	bool level;             /* asserted */
	uint32_t trig_mode;     /* 0 edge, 1 level */
	uint32_t shorthand;     /* APIC_DEST_NOSHORT, _SELF, _ALLINC, _ALLBUT */
	uint32_t dest_id;
	bool msi_redir_hint;
};

/* Which vCPUs (by vcpu_id) an interrupt reached and with which vector;
 * used by the IOAPIC's RTC (GSI 8) EOI tracking. */
struct x86_dest_map {
	uint64_t map[X86_MAX_VCPU_IDS / 64];
	uint8_t vectors[X86_MAX_VCPU_IDS];
};

static inline void x86_dest_map_set(struct x86_dest_map *m, uint32_t id, uint8_t vec)
{
	m->map[id / 64] |= 1ull << (id % 64);
	m->vectors[id] = vec;
}

static inline bool x86_dest_map_test(const struct x86_dest_map *m, uint32_t id)
{
	return id < X86_MAX_VCPU_IDS && (m->map[id / 64] >> (id % 64)) & 1;
}

/* ---- VM and vCPU ------------------------------------------------------- */

enum x86_irqchip_mode {
	X86_IRQCHIP_NONE = 0,
	X86_IRQCHIP_KERNEL, /* KVM_CREATE_IRQCHIP: PICs, IOAPIC and LAPICs */
	X86_IRQCHIP_SPLIT,  /* KVM_CAP_SPLIT_IRQCHIP: LAPICs only */
};

struct x86_vm {
	struct virq_vm *vm;
	_Atomic int irqchip_mode; /* enum x86_irqchip_mode; set once */
	uint32_t nr_reserved_ioapic_pins;
	/* Set by KVM_ENABLE_CAP while injectors may read them. */
	atomic_bool x2apic_format;                   /* KVM_X2APIC_API_USE_32BIT_IDS */
	atomic_bool x2apic_broadcast_quirk_disabled; /* ..._DISABLE_BROADCAST_QUIRK */
	/* Suppress-EOI-broadcast (directed EOI) policy from KVM_CAP_X2APIC_API:
	 * QUIRKED advertises it in split mode but still broadcasts EOIs,
	 * ENABLED (bit 2, split only) honours SPIV bit 12, DISABLED (bit 3)
	 * does not advertise it. */
	enum { X86_SEOIB_QUIRKED = 0, X86_SEOIB_ENABLED, X86_SEOIB_DISABLED } seoib_mode;
	uint32_t bsp_vcpu_id;

	struct x86_pic *pic;       /* KVM_IRQCHIP_KERNEL only */
	struct x86_ioapic *ioapic; /* KVM_IRQCHIP_KERNEL only */

	/* The APIC map (apic_bus.c): an RCU snapshot rebuilt on changes. */
	struct x86_apic_map *_Atomic apic_map;
	pthread_mutex_t apic_map_lock;
	atomic_uint apic_map_dirty; /* the kernel's apic_map_dirty */

	/* Bumped whenever vCPUs must recompute their EOI filters. */
	atomic_uint scan_gen;

	/* Local APICs elsewhere (virq_vm_set_apic_bus(), ext_bus.c): set
	 * once before any vCPU, then every message goes there. */
	struct x86_ext_bus *_Atomic ext_bus;
};

struct x86_vcpu {
	struct virq_vcpu *vcpu;
	struct x86_vm *xvm;
	struct x86_lapic *apic; /* NULL without an in-kernel LAPIC */

	/* CPUID bits that change interrupt behaviour (from KVM_SET_CPUID2). */
	bool cpuid_x2apic;       /* leaf 1 ECX bit 21 */
	bool cpuid_tsc_deadline; /* leaf 1 ECX bit 24 */
	uint8_t maxphyaddr;      /* leaf 0x80000008 EAX[7:0], 36 without it */

	/* Event state: KVM_INTERRUPT, KVM_NMI, KVM_GET/SET_VCPU_EVENTS. */
	pthread_mutex_t lock;
	struct {
		bool injected;
		bool soft;
		uint8_t nr;
	} interrupt;
	int pending_external_vector; /* split mode KVM_INTERRUPT, -1 if none */
	atomic_uint nmi_queued;
	uint32_t nmi_pending;
	bool nmi_injected;
	bool nmi_masked;
	struct {
		bool injected;
		bool has_error_code;
		uint8_t nr;
		uint32_t error_code;
	} exception;
	uint64_t apic_base; /* IA32_APIC_BASE when there is no in-kernel LAPIC */

	/* KVM_GET/SET_MP_STATE and INIT/SIPI acceptance, under mp_lock (taken
	 * before xv->lock and the LAPIC's lock, never inside them). */
	pthread_mutex_t mp_lock;
	uint32_t mp_state;
	/* INIT/SIPI taken by KVM_GET_MP_STATE and not yet returned by
	 * virq_vcpu_accept_events(): VIRQ_ACCEPT_* and the SIPI's vector. */
	unsigned int unreported;
	uint8_t unreported_vector;
	atomic_bool pv_unhalted; /* kvm's pv.pv_unhalted: a REMRD (PV kick) */

	/* Vectors whose EOI the IOAPIC must see (kvm's ioapic_handled_vectors),
	 * recomputed when scan_gen lags the VM's (KVM_REQ_SCAN_IOAPIC). */
	uint64_t ioapic_handled_vectors[4];
	int highest_stale_pending_ioapic_eoi;
	unsigned int scan_gen;
};

static inline struct x86_vm *x86_vm_of(struct virq_vm *vm) { return vm->arch_vm; }
static inline struct x86_vcpu *x86_vcpu_of(struct virq_vcpu *v) { return v->arch_vcpu; }

static inline int x86_irqchip_mode(const struct x86_vm *xvm)
{
	return atomic_load_explicit(&((struct x86_vm *)xvm)->irqchip_mode, memory_order_acquire);
}
static inline bool x86_irqchip_in_kernel(const struct x86_vm *xvm)
{
	return x86_irqchip_mode(xvm) != X86_IRQCHIP_NONE;
}
static inline bool x86_irqchip_split(const struct x86_vm *xvm)
{
	return x86_irqchip_mode(xvm) == X86_IRQCHIP_SPLIT;
}
static inline bool x86_irqchip_full(const struct x86_vm *xvm)
{
	return x86_irqchip_mode(xvm) == X86_IRQCHIP_KERNEL;
}

/* ---- calls into x86.c (chip models -> vCPU) ---------------------------- */

/* kvm_inject_nmi(): queue an NMI and kick. */
void x86_vcpu_inject_nmi(struct x86_vcpu *xv);
/* KVM_REQ_SMI: request an SMI.  Returns 0, or -ENOTTY because this
 * build, like the kernel it mirrors, has no SMM (the SMI is then not
 * accepted: __apic_accept_irq's result stays 0). */
int x86_vcpu_request_smi(struct x86_vcpu *xv);
/* KVM_REQ_EVENT + kvm_vcpu_kick(): the vCPU has something new. */
void x86_vcpu_kick(struct x86_vcpu *xv);
/* The LAPIC EOIed @vector (kvm_ioapic_send_eoi): forwards to the IOAPIC
 * (full irqchip) or reports VIRQ_EVENT_IOAPIC_EOI (split), if the IOAPIC
 * handles the vector.  Called with no lock held. */
void x86_vcpu_ioapic_eoi(struct x86_vcpu *xv, int vector);
/* The vCPU is the boot processor (vcpu_id == bsp_vcpu_id). */
bool x86_vcpu_is_bsp(const struct x86_vcpu *xv);
/* The vCPU is about to run guest code (native calls): fire its expired
 * timers and recompute its EOI filter if asked to. */
void x86_vcpu_enter(struct x86_vcpu *xv);
/* Bracket a call into the IOAPIC or PIC: kicks raised inside are sent
 * when the outermost bracket closes, after the chip dropped its lock. */
void x86_kicks_hold(struct x86_vm *xvm);
void x86_kicks_release(void);
/* virq_vcpu_accept_events(): VIRQ_ACCEPT_* or -ENXIO without a LAPIC. */
int x86_vcpu_accept_events(struct x86_vcpu *xv, uint8_t *sipi_vector);
/* Redirection table or APIC map changed: recompute handled vectors. */
void x86_request_scan_ioapic(struct x86_vm *xvm);

/* ---- apic_bus.c: delivery to the local APICs --------------------------- */

/*
 * kvm_irq_delivery_to_apic(): deliver @irq to every LAPIC it selects.
 * @src is the sending LAPIC for IPIs (NULL for IOAPIC and MSI).
 * Returns -1 if no LAPIC was selected, else the number that accepted it.
 * May be called with the IOAPIC or PIC lock held; takes no VM-wide lock.
 */
int x86_irq_delivery_to_apic(struct x86_vm *xvm, struct x86_lapic *src,
			     const struct x86_irq *irq, struct x86_dest_map *dest_map);
/* kvm_apic_match_dest(). */
bool x86_apic_match_dest(struct x86_vm *xvm, struct x86_lapic *target, struct x86_lapic *source,
			 uint32_t shorthand, uint32_t dest, uint32_t dest_mode);
/* kvm_recalculate_apic_map(): rebuild the map if marked dirty. */
void x86_recalculate_apic_map(struct x86_vm *xvm);
/* Mark the map dirty (an ID, LDR, DFR, base or enable state changed). */
void x86_apic_map_mark_dirty(struct x86_vm *xvm);
void x86_apic_map_free(struct x86_vm *xvm);
/* kvm_msi_route_invalid(): x2APIC format requires address_hi & 0xff == 0. */
bool x86_msi_route_invalid(struct x86_vm *xvm, uint32_t address_hi);
/* kvm_set_msi_irq(): decode an MSI address/data pair. */
void x86_msi_to_irq(struct x86_vm *xvm, uint32_t address_lo, uint32_t address_hi,
		    uint32_t data, struct x86_irq *irq);
/* kvm_set_msi(): the route set() semantics: -EINVAL, -1, or delivery result. */
int x86_set_msi(struct x86_vm *xvm, uint32_t address_lo, uint32_t address_hi,
		uint32_t data, int level);

/* The MP state in the VM state blob (x86_state.c): the raw mp_state and
 * X86_MP_* bits.  x86_vcpu_mp_check() is 0 or -EINVAL. */
#define X86_MP_SIPI_PENDING (1u << 0)     /* a SIPI not taken yet */
#define X86_MP_PV_UNHALTED (1u << 1)      /* pv_unhalted */
#define X86_MP_UNREPORTED_INIT (1u << 2)  /* unreported VIRQ_ACCEPT_INIT */
#define X86_MP_UNREPORTED_SIPI (1u << 3)  /* unreported VIRQ_ACCEPT_SIPI ... */
#define X86_MP_VECTOR_SHIFT 8             /* ... with this vector in bits 15:8 */
#define X86_MP_KNOWN 0xff0fu
void x86_vcpu_mp_save(struct x86_vcpu *xv, uint32_t *mp_state, uint32_t *mp_flags);
int x86_vcpu_mp_check(uint32_t mp_state, uint32_t mp_flags);
void x86_vcpu_mp_restore(struct x86_vcpu *xv, uint32_t mp_state, uint32_t mp_flags);

/* x86_state.c: the arch sections of the VM state blob. */
extern const uint32_t x86_state_sections[2];
long x86_state_save(struct virq_vm *vm, uint32_t type, void *buf, size_t size, uint32_t *count);
int x86_state_check(struct virq_vm *vm, uint32_t type, const void *payload, uint32_t count,
		    uint32_t size);
int x86_state_restore(struct virq_vm *vm, uint32_t type, const void *payload, uint32_t count);

/* ---- ext_bus.c: local APICs outside virq ------------------------------- */
int x86_ext_bus_install(struct x86_vm *xvm, const struct virq_apic_bus *ops, void *opaque);
void x86_ext_bus_free(struct x86_vm *xvm);
/* Send @irq to the external local APICs; the result as KVM_SIGNAL_MSI's. */
int x86_ext_deliver(struct x86_ext_bus *bus, const struct x86_irq *irq);
/* Report the redirection entries that changed (all of them if @all). */
void x86_ext_report_ioapic(struct x86_vm *xvm, bool all);
/* The PIC's output rose. */
void x86_ext_extint(struct x86_vm *xvm);

#endif /* VIRQ_X86_H */
