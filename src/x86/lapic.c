/* SPDX-License-Identifier: MIT */
/*
 * lapic.c - the local APIC of one vCPU, behaving as the kernel's
 * arch/x86/kvm/lapic.c (Linux 6.18): the 1 KiB register page that
 * KVM_GET/SET_LAPIC exchange, interrupt acceptance (IRR -> ISR -> EOI,
 * TPR/PPR), xAPIC MMIO and x2APIC MSR access, IA32_APIC_BASE, and the
 * one-shot / periodic / TSC-deadline timer.
 *
 * State and locking.  The register page is kept exactly as the kernel
 * keeps apic->regs (the first KVM_APIC_REG_SIZE bytes of it), as 32-bit
 * words accessed with relaxed atomics so that lock-free readers never see
 * torn values:
 *   - IRR and TMR bits are set and cleared with atomic RMW operations, by
 *     x86_lapic_accept_irq() on any thread, lock-free;
 *   - every other change happens under apic->lock, a leaf lock that is
 *     never held while calling out of this file (EOI to the IOAPIC, IPIs,
 *     kicks, NMI/SMI injection and APIC map recalculation are collected in
 *     a struct lapic_post and run after unlocking).
 *
 * Time.  The timer is a deadline in VM-clock nanoseconds that
 * x86_lapic_timer_poll() fires; nothing fires from inside a register
 * access.  The APIC bus runs at 1 GHz (the kernel's apic_bus_cycle_ns = 1),
 * and the guest TSC is modelled as VM-clock ns * tsc_khz / 10^6 (TSC 0 at
 * clock 0; tsc_khz defaults to 1000000, so TSC == ns).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lapic.h"

/* Intel SDM "version 0x14" as KVM reports it (Xeon / Pentium 4). */
#define APIC_VERSION 0x14u
#define LAPIC_MMIO_LENGTH 0x1000u
#define LAPIC_REG_WORDS (KVM_APIC_REG_SIZE / 4)

#define APIC_VECTOR_MASK 0xffu
#define APIC_MODE_MASK 0x700u
#define APIC_SEND_PENDING (1u << 12)
#define APIC_ICR_BUSY (1u << 12)
#define APIC_INPUT_POLARITY (1u << 13)
#define APIC_LVT_REMOTE_IRR (1u << 14)
#define APIC_INT_ASSERT (1u << 14)
#define APIC_LVT_LEVEL_TRIGGER (1u << 15)
#define APIC_INT_LEVELTRIG (1u << 15)
#define APIC_SHORT_MASK 0xc0000u
#define APIC_LDR_MASK 0xff000000u

#define LVT_MASK (APIC_LVT_MASKED | APIC_SEND_PENDING | APIC_VECTOR_MASK)
#define LINT_MASK (LVT_MASK | APIC_MODE_MASK | APIC_INPUT_POLARITY | \
		   APIC_LVT_REMOTE_IRR | APIC_LVT_LEVEL_TRIGGER)

#define APIC_LVT_TIMER_ONESHOT (0u << 17)
#define APIC_LVT_TIMER_PERIODIC (1u << 17)
#define APIC_LVT_TIMER_TSCDEADLINE (2u << 17)

/* x2APIC ICR: bits 31:20, 17:16 and 13 are reserved (#GP). */
#define X2APIC_ICR_RESERVED_BITS (0xfff00000ull | 0x30000ull | 0x2000ull)

/* The kernel's min_timer_period_us (kvm module parameter, default 200). */
#define MIN_TIMER_PERIOD_NS 200000ll
#define APIC_BUS_CYCLE_NS 1ull
#define DEFAULT_TSC_KHZ 1000000u
/* MAXPHYADDR without CPUID leaf 0x80000008 (cpuid_query_maxphyaddr). */
#define DEFAULT_PHYS_BITS 36u

/* kvm_lapic->pending_events bits. */
#define LAPIC_INIT (1u << 0)
#define LAPIC_SIPI (1u << 1)

enum lvt_index {
	LVT_TIMER,
	LVT_THERMAL_MONITOR,
	LVT_PERFORMANCE_COUNTER,
	LVT_LINT0,
	LVT_LINT1,
	LVT_ERROR,
	LVT_CMCI,
	LVT_MAX_ENTRIES,
};

/* Writable bits of each LVT (the timer mode bits are added at run time). */
static const uint32_t lvt_write_mask[LVT_MAX_ENTRIES] = {
	[LVT_TIMER] = LVT_MASK,
	[LVT_THERMAL_MONITOR] = LVT_MASK | APIC_MODE_MASK,
	[LVT_PERFORMANCE_COUNTER] = LVT_MASK | APIC_MODE_MASK,
	[LVT_LINT0] = LINT_MASK,
	[LVT_LINT1] = LINT_MASK,
	[LVT_ERROR] = LVT_MASK,
	[LVT_CMCI] = LVT_MASK | APIC_MODE_MASK,
};

static uint32_t lvt_reg(int index)
{
	return index == LVT_CMCI ? APIC_LVTCMCI : APIC_LVTT + 0x10u * (uint32_t)index;
}

struct lapic_timer {
	uint32_t mode;        /* LVTT & mode_mask: one-shot, periodic, TSC deadline */
	uint32_t mode_mask;   /* 0 until CPUID is set, then 1 << 17 or 3 << 17 */
	int64_t period;       /* ns; 0 when stopped */
	uint64_t target;      /* target_expiration, VM-clock ns */
	uint64_t tscdeadline; /* IA32_TSC_DEADLINE, guest TSC units */
	bool armed;           /* the kernel's hrtimer is queued */
	uint64_t expire;      /* when armed: VM-clock ns at which it fires */
};

struct x86_lapic {
	struct x86_vcpu *xv;
	pthread_mutex_t lock;
	const struct virq_trace_sink *trace; /* the VM's; NULL without one */

	/* The register page (first 1 KiB of the kernel's apic->regs). */
	uint32_t regs[LAPIC_REG_WORDS];

	_Atomic uint64_t apic_base; /* IA32_APIC_BASE (vcpu->arch.apic_base) */
	atomic_bool sw_enabled;     /* SPIV.APIC_ENABLED */
	atomic_bool irr_pending;    /* hint: some IRR bit may be set */
	atomic_uint arb_prio;       /* vcpu->arch.apic_arb_prio */
	atomic_uint pending_events; /* LAPIC_INIT | LAPIC_SIPI */
	atomic_uint sipi_vector;

	/* Under lock. */
	int isr_count;
	int highest_isr_cache;
	int nr_lvt_entries;
	uint32_t divide_count;
	bool lvt0_in_nmi_mode;
	unsigned phys_bits;
	uint32_t tsc_khz;
	struct lapic_timer timer;
};

/* What a locked operation wants done once the lock is dropped. */
struct lapic_post {
	int eoi_vector; /* -1: none */
	bool ipi;
	uint32_t icr_low; /* the IPI as written, for its trace event */
	struct x86_irq irq;
	bool icr64_written; /* x2APIC ICR: traced after the IPI, as the kernel */
	uint64_t icr64;
	bool kick;
	bool recalc_map;
};

#define LAPIC_POST_INIT { .eoi_vector = -1 }

/* ---- register page -------------------------------------------------- */

static inline uint32_t reg_get(const struct x86_lapic *apic, uint32_t off)
{
	return __atomic_load_n(&apic->regs[off / 4], __ATOMIC_RELAXED);
}

static inline void reg_set(struct x86_lapic *apic, uint32_t off, uint32_t val)
{
	__atomic_store_n(&apic->regs[off / 4], val, __ATOMIC_RELAXED);
}

static inline uint64_t reg_get64(const struct x86_lapic *apic, uint32_t off)
{
	return reg_get(apic, off) | (uint64_t)reg_get(apic, off + 4) << 32;
}

static inline void reg_set64(struct x86_lapic *apic, uint32_t off, uint64_t val)
{
	reg_set(apic, off, (uint32_t)val);
	reg_set(apic, off + 4, (uint32_t)(val >> 32));
}

/* 256-bit vector registers (ISR, TMR, IRR): 8 words, 16 bytes apart. */
static inline uint32_t *vec_word(struct x86_lapic *apic, uint32_t base, uint32_t vec)
{
	return &apic->regs[(base + ((vec >> 5) << 4)) / 4];
}

static inline bool vec_test(struct x86_lapic *apic, uint32_t base, uint32_t vec)
{
	return (__atomic_load_n(vec_word(apic, base, vec), __ATOMIC_ACQUIRE) >> (vec & 31)) & 1;
}

static inline void vec_set(struct x86_lapic *apic, uint32_t base, uint32_t vec)
{
	__atomic_fetch_or(vec_word(apic, base, vec), 1u << (vec & 31), __ATOMIC_RELEASE);
}

static inline void vec_clear(struct x86_lapic *apic, uint32_t base, uint32_t vec)
{
	__atomic_fetch_and(vec_word(apic, base, vec), ~(1u << (vec & 31)), __ATOMIC_RELEASE);
}

static int find_highest_vector(struct x86_lapic *apic, uint32_t base)
{
	for (int i = 7; i >= 0; i--) {
		uint32_t w = __atomic_load_n(&apic->regs[(base + 0x10u * (uint32_t)i) / 4],
					     __ATOMIC_ACQUIRE);
		if (w)
			return i * 32 + 31 - __builtin_clz(w);
	}
	return -1;
}

/* count_vectors() returns a u8 in the kernel: a full ISR (256 bits, only
 * reachable through KVM_SET_LAPIC) counts as 0 and then looks empty. */
static uint8_t count_vectors(struct x86_lapic *apic, uint32_t base)
{
	uint8_t n = 0;

	for (uint32_t i = 0; i < 8; i++)
		n = (uint8_t)(n + __builtin_popcount(reg_get(apic, base + 0x10 * i)));
	return n;
}

/* ---- mode helpers ----------------------------------------------------- */

static inline uint64_t base_get(const struct x86_lapic *apic)
{
	return atomic_load_explicit(&((struct x86_lapic *)apic)->apic_base, memory_order_acquire);
}

static inline bool hw_enabled(const struct x86_lapic *apic)
{
	return base_get(apic) & MSR_IA32_APICBASE_ENABLE;
}

static inline bool sw_enabled(const struct x86_lapic *apic)
{
	return atomic_load_explicit(&((struct x86_lapic *)apic)->sw_enabled, memory_order_acquire);
}

static inline bool x2apic_mode(const struct x86_lapic *apic)
{
	return base_get(apic) & MSR_IA32_APICBASE_EXTD;
}

static inline uint32_t vcpu_id(const struct x86_lapic *apic)
{
	return apic->xv->vcpu->vcpu_id;
}

/* kvm_apic tracepoint: a guest register access (rw 0 read, 1 write). */
static inline void trace_access(struct x86_lapic *apic, uint32_t rw, uint32_t reg, uint64_t val)
{
	virq_trace_kvm_apic(apic->trace, (int32_t)vcpu_id(apic), rw, reg, val);
}

static inline uint64_t now_ns(struct x86_lapic *apic)
{
	return virq_vm_now(apic->xv->vcpu->vm);
}

static inline uint32_t x2apic_ldr(uint32_t id)
{
	return ((id >> 4) << 16) | (1u << (id & 0xf));
}

static void map_dirty(struct x86_lapic *apic, struct lapic_post *post)
{
	x86_apic_map_mark_dirty(apic->xv->xvm);
	if (post)
		post->recalc_map = true;
}

static void set_xapic_id(struct x86_lapic *apic, uint8_t id, struct lapic_post *post)
{
	reg_set(apic, APIC_ID, (uint32_t)id << 24);
	map_dirty(apic, post);
}

static void set_x2apic_id(struct x86_lapic *apic, uint32_t id, struct lapic_post *post)
{
	reg_set(apic, APIC_ID, id);
	reg_set(apic, APIC_LDR, x2apic_ldr(id));
	map_dirty(apic, post);
}

static void set_spiv(struct x86_lapic *apic, uint32_t val, struct lapic_post *post)
{
	bool enabled = val & APIC_SPIV_APIC_ENABLED;

	reg_set(apic, APIC_SPIV, val);
	if (enabled != sw_enabled(apic)) {
		atomic_store_explicit(&apic->sw_enabled, enabled, memory_order_release);
		map_dirty(apic, post);
	}
}

static void set_version(struct x86_lapic *apic)
{
	uint32_t v = APIC_VERSION | (uint32_t)(apic->nr_lvt_entries - 1) << 16;

	/*
	 * KVM emulates the 82093AA IOAPIC, which has no EOI register, so it
	 * offers EOI-broadcast suppression only when the IOAPIC lives in user
	 * space and the guest sees x2APIC in CPUID.
	 */
	if (apic->xv->cpuid_x2apic && !x86_irqchip_full(apic->xv->xvm))
		v |= APIC_LVR_DIRECTED_EOI;
	reg_set(apic, APIC_LVR, v);
}

/* ---- IRR / ISR / PPR ---------------------------------------------------- */

static int highest_irr(struct x86_lapic *apic)
{
	if (!atomic_load_explicit(&apic->irr_pending, memory_order_acquire))
		return -1;
	return find_highest_vector(apic, APIC_IRR);
}

static void clear_irr(struct x86_lapic *apic, int vec)
{
	atomic_store_explicit(&apic->irr_pending, false, memory_order_release);
	vec_clear(apic, APIC_IRR, (uint32_t)vec);
	if (find_highest_vector(apic, APIC_IRR) != -1)
		atomic_store_explicit(&apic->irr_pending, true, memory_order_release);
}

static void set_isr(struct x86_lapic *apic, int vec)
{
	if (vec_test(apic, APIC_ISR, (uint32_t)vec))
		return;
	vec_set(apic, APIC_ISR, (uint32_t)vec);
	apic->isr_count++;
	/* The highest deliverable vector is acked, so it is the highest ISR. */
	apic->highest_isr_cache = vec;
}

static int highest_isr(struct x86_lapic *apic)
{
	if (!apic->isr_count)
		return -1;
	if (apic->highest_isr_cache != -1)
		return apic->highest_isr_cache;
	return find_highest_vector(apic, APIC_ISR);
}

static void clear_isr(struct x86_lapic *apic, int vec)
{
	if (!vec_test(apic, APIC_ISR, (uint32_t)vec))
		return;
	vec_clear(apic, APIC_ISR, (uint32_t)vec);
	if (apic->isr_count > 0)
		apic->isr_count--;
	apic->highest_isr_cache = -1;
}

/* kvm_apic_update_apicv() without APICv: rebuild the caches. */
static void recompute_caches(struct x86_lapic *apic)
{
	atomic_store_explicit(&apic->irr_pending, true, memory_order_release);
	apic->isr_count = count_vectors(apic, APIC_ISR);
	apic->highest_isr_cache = -1;
}

static int has_interrupt_for_ppr(struct x86_lapic *apic, uint32_t ppr)
{
	int irr = highest_irr(apic);

	if (irr == -1 || ((uint32_t)irr & 0xf0) <= ppr)
		return -1;
	return irr;
}

/* __apic_update_ppr(): true if the PPR went down. */
static bool update_ppr_raw(struct x86_lapic *apic, uint32_t *new_ppr)
{
	uint32_t old_ppr = reg_get(apic, APIC_PROCPRI);
	uint32_t tpr = reg_get(apic, APIC_TASKPRI);
	int isr = highest_isr(apic);
	uint32_t isrv = isr != -1 ? (uint32_t)isr : 0;
	uint32_t ppr;

	if ((tpr & 0xf0) >= (isrv & 0xf0))
		ppr = tpr & 0xff;
	else
		ppr = isrv & 0xf0;
	*new_ppr = ppr;
	if (ppr != old_ppr)
		reg_set(apic, APIC_PROCPRI, ppr);
	return ppr < old_ppr;
}

/* apic_update_ppr(): KVM_REQ_EVENT if something became deliverable. */
static void update_ppr(struct x86_lapic *apic, struct lapic_post *post)
{
	uint32_t ppr;

	if (update_ppr_raw(apic, &ppr) && has_interrupt_for_ppr(apic, ppr) != -1 && post)
		post->kick = true;
}

/* apic_set_eoi(): end the highest in-service vector. */
static int set_eoi(struct x86_lapic *apic, struct lapic_post *post)
{
	int vector = highest_isr(apic);

	/* Traced before the check: the kernel shows spurious EOIs as -1. */
	virq_trace_kvm_eoi(apic->trace, (int32_t)vcpu_id(apic), vcpu_id(apic), vector);
	/* Not every EOI write has an in-service vector (e.g. Linux's
	 * check_timer() at boot). */
	if (vector == -1)
		return -1;
	clear_isr(apic, vector);
	update_ppr(apic, post);
	post->eoi_vector = vector;
	return vector;
}

/* ---- timer ---------------------------------------------------------------- */

static inline bool lvtt_oneshot(const struct x86_lapic *apic)
{
	return apic->timer.mode == APIC_LVT_TIMER_ONESHOT;
}

static inline bool lvtt_period(const struct x86_lapic *apic)
{
	return apic->timer.mode == APIC_LVT_TIMER_PERIODIC;
}

static inline bool lvtt_tscdeadline(const struct x86_lapic *apic)
{
	return apic->timer.mode == APIC_LVT_TIMER_TSCDEADLINE;
}

static void update_divide_count(struct x86_lapic *apic)
{
	uint32_t tdcr = reg_get(apic, APIC_TDCR) & 0xf;
	uint32_t shift = ((tdcr & 0x3) | ((tdcr & 0x8) >> 1)) + 1;

	apic->divide_count = 1u << (shift & 0x7);
}

static int64_t tmict_to_ns(const struct x86_lapic *apic, uint32_t count)
{
	/* At most 2^32 * 128: no overflow. */
	return (int64_t)((uint64_t)count * APIC_BUS_CYCLE_NS * apic->divide_count);
}

/* Periodic timers faster than min_timer_period_us are slowed down. */
static void limit_periodic_timer_frequency(struct x86_lapic *apic)
{
	if (lvtt_period(apic) && apic->timer.period && apic->timer.period < MIN_TIMER_PERIOD_NS)
		apic->timer.period = MIN_TIMER_PERIOD_NS;
}

static void cancel_timer(struct x86_lapic *apic)
{
	apic->timer.armed = false;
}

static void arm_timer(struct x86_lapic *apic, uint64_t expire)
{
	apic->timer.armed = true;
	apic->timer.expire = expire;
}

/* apic_update_lvtt(): a change between deadline and count modes stops it. */
static void update_lvtt(struct x86_lapic *apic)
{
	uint32_t mode = reg_get(apic, APIC_LVTT) & apic->timer.mode_mask;

	if (apic->timer.mode == mode)
		return;
	if (lvtt_tscdeadline(apic) != (mode == APIC_LVT_TIMER_TSCDEADLINE)) {
		cancel_timer(apic);
		reg_set(apic, APIC_TMICT, 0);
		apic->timer.period = 0;
		apic->timer.tscdeadline = 0;
	}
	apic->timer.mode = mode;
	limit_periodic_timer_frequency(apic);
}

static uint64_t guest_tsc(const struct x86_lapic *apic, uint64_t now)
{
	return (uint64_t)((unsigned __int128)now * apic->tsc_khz / 1000000u);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* apic_get_tmcct(). */
static uint32_t get_tmcct(struct x86_lapic *apic, uint64_t now)
{
	int64_t remaining;

	if (reg_get(apic, APIC_TMICT) == 0 || apic->timer.period <= 0)
		return 0;
	remaining = apic->timer.target > now ? (int64_t)(apic->timer.target - now) : 0;
	if (remaining < 0)
		remaining = 0;
	return (uint32_t)((uint64_t)(remaining % apic->timer.period) /
			  (APIC_BUS_CYCLE_NS * apic->divide_count));
}

/* set_target_expiration(): false if TMICT is 0 (timer stays stopped). */
static bool set_target_expiration(struct x86_lapic *apic, uint32_t count_reg, uint64_t now)
{
	int64_t deadline;

	apic->timer.period = tmict_to_ns(apic, reg_get(apic, APIC_TMICT));
	if (!apic->timer.period)
		return false;
	limit_periodic_timer_frequency(apic);
	deadline = apic->timer.period;

	if (count_reg != APIC_TMICT) {
		/* KVM_SET_LAPIC restarts from the saved current count. */
		deadline = tmict_to_ns(apic, reg_get(apic, count_reg));
		if (deadline <= 0) {
			deadline = lvtt_period(apic) ? apic->timer.period : 0;
		} else if (deadline > apic->timer.period) {
			reg_set(apic, count_reg, 0);
			deadline = apic->timer.period;
		}
	}
	apic->timer.target = now + (uint64_t)deadline;
	return true;
}

static void start_sw_tscdeadline(struct x86_lapic *apic, uint64_t now)
{
	uint64_t tsc, deadline = apic->timer.tscdeadline;
	unsigned __int128 ns;

	if (!deadline || !apic->tsc_khz)
		return;
	tsc = guest_tsc(apic, now);
	if (deadline <= tsc) {
		arm_timer(apic, now); /* already expired: fires at the next poll */
		return;
	}
	/* Round up so that the guest TSC has reached the deadline when it fires. */
	ns = ((unsigned __int128)(deadline - tsc) * 1000000u + apic->tsc_khz - 1) / apic->tsc_khz;
	arm_timer(apic, ns > UINT64_MAX - now ? UINT64_MAX : now + (uint64_t)ns);
}

/* restart_apic_timer() with a software timer. */
static void restart_timer(struct x86_lapic *apic, uint64_t now)
{
	if (lvtt_period(apic) || lvtt_oneshot(apic)) {
		if (apic->timer.period)
			arm_timer(apic, apic->timer.target);
	} else if (lvtt_tscdeadline(apic)) {
		start_sw_tscdeadline(apic, now);
	}
}

static void start_timer(struct x86_lapic *apic, uint32_t count_reg, uint64_t now)
{
	if ((lvtt_period(apic) || lvtt_oneshot(apic)) &&
	    !set_target_expiration(apic, count_reg, now))
		return;
	restart_timer(apic, now);
}

/* update_target_expiration(): TDCR changed while counting. */
static void update_target_expiration(struct x86_lapic *apic, uint32_t old_divisor, uint64_t now)
{
	uint64_t remaining_old, remaining_new;

	apic->timer.period = tmict_to_ns(apic, reg_get(apic, APIC_TMICT));
	limit_periodic_timer_frequency(apic);
	remaining_old = apic->timer.target > now ? apic->timer.target - now : 0;
	remaining_new = (uint64_t)((unsigned __int128)remaining_old * apic->divide_count / old_divisor);
	apic->timer.target = add_sat(now, remaining_new);
}

/* ---- register read ------------------------------------------------------ */

#define APIC_REG_MASK(reg) (1ull << ((reg) >> 4))
#define APIC_REGS_MASK(first, count) (APIC_REG_MASK(first) * ((1ull << (count)) - 1))

/* kvm_lapic_readable_reg_mask(). */
static uint64_t readable_reg_mask(const struct x86_lapic *apic)
{
	uint64_t mask = APIC_REG_MASK(APIC_ID) | APIC_REG_MASK(APIC_LVR) |
		APIC_REG_MASK(APIC_TASKPRI) | APIC_REG_MASK(APIC_PROCPRI) |
		APIC_REG_MASK(APIC_LDR) | APIC_REG_MASK(APIC_SPIV) |
		APIC_REGS_MASK(APIC_ISR, 8) | APIC_REGS_MASK(APIC_TMR, 8) |
		APIC_REGS_MASK(APIC_IRR, 8) | APIC_REG_MASK(APIC_ESR) |
		APIC_REG_MASK(APIC_ICR) | APIC_REG_MASK(APIC_LVTT) |
		APIC_REG_MASK(APIC_LVTTHMR) | APIC_REG_MASK(APIC_LVTPC) |
		APIC_REG_MASK(APIC_LVT0) | APIC_REG_MASK(APIC_LVT1) |
		APIC_REG_MASK(APIC_LVTERR) | APIC_REG_MASK(APIC_TMICT) |
		APIC_REG_MASK(APIC_TMCCT) | APIC_REG_MASK(APIC_TDCR);

	if (apic->nr_lvt_entries > LVT_CMCI)
		mask |= APIC_REG_MASK(APIC_LVTCMCI);
	/* ARBPRI, DFR and ICR2 do not exist in x2APIC mode. */
	if (!x2apic_mode(apic))
		mask |= APIC_REG_MASK(APIC_ARBPRI) | APIC_REG_MASK(APIC_DFR) |
			APIC_REG_MASK(APIC_ICR2);
	return mask;
}

/* __apic_read(): @offset is 16-byte aligned and readable. */
static uint32_t apic_read(struct x86_lapic *apic, uint32_t offset, struct lapic_post *post)
{
	switch (offset) {
	case APIC_ARBPRI:
		return 0;
	case APIC_TMCCT:
		if (lvtt_tscdeadline(apic))
			return 0;
		return get_tmcct(apic, now_ns(apic));
	case APIC_PROCPRI:
		update_ppr(apic, post);
		return reg_get(apic, offset);
	default:
		return reg_get(apic, offset);
	}
}

/* kvm_lapic_reg_read(): 0, or 1 if the register cannot be read. */
static int reg_read(struct x86_lapic *apic, uint32_t offset, unsigned len, void *data,
		    struct lapic_post *post)
{
	uint32_t alignment = offset & 0xf;
	uint32_t result;

	if (alignment + len > 4)
		return 1;
	if (offset > 0x3f0 || !(readable_reg_mask(apic) & APIC_REG_MASK(offset)))
		return 1;
	result = apic_read(apic, offset & ~0xfu, post);
	trace_access(apic, 0, offset, result);
	if (len == 1 || len == 2 || len == 4)
		memcpy(data, (char *)&result + alignment, len);
	return 0;
}

/* ---- register write ----------------------------------------------------- */

/* kvm_icr_to_lapic_irq(). */
static void icr_to_irq(struct x86_lapic *apic, uint32_t icr_low, uint32_t icr_high,
		       struct x86_irq *irq)
{
	irq->vector = icr_low & APIC_VECTOR_MASK;
	irq->delivery_mode = icr_low & APIC_MODE_MASK;
	irq->dest_mode = icr_low & APIC_DEST_MASK;
	irq->level = (icr_low & APIC_INT_ASSERT) != 0;
	irq->trig_mode = (icr_low & APIC_INT_LEVELTRIG) ? 1 : 0;
	irq->shorthand = icr_low & APIC_SHORT_MASK;
	irq->msi_redir_hint = false;
	irq->dest_id = x2apic_mode(apic) ? icr_high : icr_high >> 24;
}

static void send_ipi(struct x86_lapic *apic, uint32_t icr_low, uint32_t icr_high,
		     struct lapic_post *post)
{
	icr_to_irq(apic, icr_low, icr_high, &post->irq);
	post->icr_low = icr_low;
	post->ipi = true;
}

static int lvt_index(uint32_t reg)
{
	if (reg == APIC_LVTCMCI)
		return LVT_CMCI;
	if (reg < APIC_LVTT || reg > APIC_LVTERR)
		return -1;
	return (int)((reg - APIC_LVTT) >> 4);
}

static void manage_nmi_watchdog(struct x86_lapic *apic, uint32_t lvt0)
{
	apic->lvt0_in_nmi_mode = (lvt0 & (APIC_MODE_MASK | APIC_LVT_MASKED)) == APIC_DM_NMI;
}

/* kvm_lapic_reg_write(): 0, or 1 if the write is refused (#GP for MSRs). */
static int reg_write(struct x86_lapic *apic, uint32_t reg, uint32_t val, struct lapic_post *post)
{
	int ret = 0;

	trace_access(apic, 1, reg, val);

	switch (reg) {
	case APIC_ID:
		if (!x2apic_mode(apic))
			set_xapic_id(apic, (uint8_t)(val >> 24), post);
		else
			ret = 1;
		break;

	case APIC_TASKPRI:
		reg_set(apic, APIC_TASKPRI, val & 0xff);
		update_ppr(apic, post);
		break;

	case APIC_EOI:
		set_eoi(apic, post);
		break;

	case APIC_LDR:
		if (!x2apic_mode(apic)) {
			reg_set(apic, APIC_LDR, val & APIC_LDR_MASK);
			map_dirty(apic, post);
		} else {
			ret = 1;
		}
		break;

	case APIC_DFR:
		if (!x2apic_mode(apic)) {
			reg_set(apic, APIC_DFR, val | 0x0fffffffu);
			map_dirty(apic, post);
		} else {
			ret = 1;
		}
		break;

	case APIC_SPIV: {
		uint32_t mask = 0x3ff;

		if (reg_get(apic, APIC_LVR) & APIC_LVR_DIRECTED_EOI)
			mask |= APIC_SPIV_DIRECTED_EOI;
		set_spiv(apic, val & mask, post);
		if (!(val & APIC_SPIV_APIC_ENABLED)) {
			for (int i = 0; i < apic->nr_lvt_entries; i++)
				reg_set(apic, lvt_reg(i), reg_get(apic, lvt_reg(i)) | APIC_LVT_MASKED);
			update_lvtt(apic);
		}
		break;
	}

	case APIC_ICR:
		/* xAPIC only: the x2APIC ICR is written by x2apic_icr_write(). */
		val &= ~APIC_ICR_BUSY; /* no delay: never busy */
		send_ipi(apic, val, reg_get(apic, APIC_ICR2), post);
		reg_set(apic, APIC_ICR, val);
		break;

	case APIC_ICR2:
		if (x2apic_mode(apic))
			ret = 1;
		else
			reg_set(apic, APIC_ICR2, val & 0xff000000u);
		break;

	case APIC_LVT0:
		manage_nmi_watchdog(apic, val);
		/* fall through */
	case APIC_LVTTHMR:
	case APIC_LVTPC:
	case APIC_LVT1:
	case APIC_LVTERR:
	case APIC_LVTCMCI: {
		int index = lvt_index(reg);

		if (index < 0 || index >= apic->nr_lvt_entries) {
			ret = 1;
			break;
		}
		if (!sw_enabled(apic))
			val |= APIC_LVT_MASKED;
		reg_set(apic, reg, val & lvt_write_mask[index]);
		break;
	}

	case APIC_LVTT:
		if (!sw_enabled(apic))
			val |= APIC_LVT_MASKED;
		val &= lvt_write_mask[LVT_TIMER] | apic->timer.mode_mask;
		reg_set(apic, APIC_LVTT, val);
		update_lvtt(apic);
		break;

	case APIC_TMICT:
		if (lvtt_tscdeadline(apic))
			break;
		cancel_timer(apic);
		reg_set(apic, APIC_TMICT, val);
		start_timer(apic, APIC_TMICT, now_ns(apic));
		break;

	case APIC_TDCR: {
		uint32_t old_divisor = apic->divide_count;

		reg_set(apic, APIC_TDCR, val & 0xb);
		update_divide_count(apic);
		if (apic->divide_count != old_divisor && apic->timer.period) {
			uint64_t now = now_ns(apic);

			cancel_timer(apic);
			update_target_expiration(apic, old_divisor, now);
			restart_timer(apic, now);
		}
		break;
	}

	case APIC_ESR:
		if (x2apic_mode(apic) && val != 0)
			ret = 1;
		break;

	case APIC_SELF_IPI:
		/* x2APIC only; bits 31:8 are reserved. */
		if (!x2apic_mode(apic) || (val & ~APIC_VECTOR_MASK))
			ret = 1;
		else
			send_ipi(apic, APIC_DEST_SELF | val, 0, post);
		break;

	default:
		ret = 1;
		break;
	}
	return ret;
}

/* __kvm_x2apic_icr_write(). */
static int x2apic_icr_write(struct x86_lapic *apic, uint64_t data, struct lapic_post *post)
{
	if (data & X2APIC_ICR_RESERVED_BITS)
		return 1;
	/* BUSY is reserved in x2APIC mode; KVM clears it. */
	data &= ~(uint64_t)APIC_ICR_BUSY;
	send_ipi(apic, (uint32_t)data, (uint32_t)(data >> 32), post);
	/* One 64-bit register (VMX layout): ICR2's dword holds nothing. */
	reg_set64(apic, APIC_ICR, data);
	post->icr64_written = true;
	post->icr64 = data;
	return 0;
}

/* Run what a locked operation deferred; no lock may be held. */
static void run_post(struct x86_lapic *apic, const struct lapic_post *post)
{
	struct x86_vcpu *xv = apic->xv;

	if (post->eoi_vector >= 0)
		x86_vcpu_ioapic_eoi(xv, post->eoi_vector);
	if (post->ipi) {
		/* kvm_apic_send_ipi(): the event, then the delivery. */
		virq_trace_kvm_apic_ipi(apic->trace, (int32_t)vcpu_id(apic), post->icr_low, post->irq.dest_id);
		x86_irq_delivery_to_apic(xv->xvm, apic, &post->irq, NULL);
	}
	if (post->icr64_written)
		trace_access(apic, 1, APIC_ICR, post->icr64);
	if (post->recalc_map)
		x86_recalculate_apic_map(xv->xvm);
	if (post->kick)
		x86_vcpu_kick(xv);
}

/* ---- APIC base ---------------------------------------------------------- */

/* __kvm_apic_set_base(). */
static void set_base_locked(struct x86_lapic *apic, uint64_t value, struct lapic_post *post)
{
	uint64_t old = base_get(apic);
	uint32_t id = vcpu_id(apic);

	atomic_store_explicit(&apic->apic_base, value, memory_order_release);

	if ((old ^ value) & MSR_IA32_APICBASE_ENABLE) {
		if (value & MSR_IA32_APICBASE_ENABLE)
			set_xapic_id(apic, (uint8_t)id, post);
		else
			map_dirty(apic, post);
	}
	if ((old ^ value) & MSR_IA32_APICBASE_EXTD) {
		if (value & MSR_IA32_APICBASE_EXTD)
			set_x2apic_id(apic, id, post);
		else if (value & MSR_IA32_APICBASE_ENABLE)
			set_xapic_id(apic, (uint8_t)id, post);
	}
}

/* ---- public: life cycle ------------------------------------------------- */

static void reset_locked(struct x86_lapic *apic, bool init_event, struct lapic_post *post)
{
	bool bsp = x86_vcpu_is_bsp(apic->xv);

	if (!init_event) {
		uint64_t base = APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE;

		if (bsp)
			base |= MSR_IA32_APICBASE_BSP;
		set_base_locked(apic, base, post);
	}

	cancel_timer(apic);

	/* The xAPIC ID is set at RESET even if the APIC was already enabled. */
	if (!init_event)
		set_xapic_id(apic, (uint8_t)vcpu_id(apic), post);
	set_version(apic);

	for (int i = 0; i < apic->nr_lvt_entries; i++)
		reg_set(apic, lvt_reg(i), APIC_LVT_MASKED);
	update_lvtt(apic);
	/* KVM_X86_QUIRK_LINT0_REENABLED (on by default): BSP LINT0 = ExtINT. */
	if (bsp)
		reg_set(apic, APIC_LVT0, APIC_DM_EXTINT);
	manage_nmi_watchdog(apic, reg_get(apic, APIC_LVT0));

	reg_set(apic, APIC_DFR, APIC_DFR_FLAT);
	map_dirty(apic, post);
	set_spiv(apic, 0xff, post);
	reg_set(apic, APIC_TASKPRI, 0);
	if (!x2apic_mode(apic))
		reg_set(apic, APIC_LDR, 0);
	reg_set(apic, APIC_ESR, 0);
	if (!x2apic_mode(apic)) {
		reg_set(apic, APIC_ICR, 0);
		reg_set(apic, APIC_ICR2, 0);
	} else {
		reg_set64(apic, APIC_ICR, 0);
	}
	reg_set(apic, APIC_TDCR, 0);
	reg_set(apic, APIC_TMICT, 0);
	for (uint32_t i = 0; i < 8; i++) {
		reg_set(apic, APIC_IRR + 0x10 * i, 0);
		reg_set(apic, APIC_ISR + 0x10 * i, 0);
		reg_set(apic, APIC_TMR + 0x10 * i, 0);
	}
	recompute_caches(apic);
	update_divide_count(apic);
	update_ppr(apic, post);
	atomic_store_explicit(&apic->arb_prio, 0, memory_order_relaxed);
}

struct x86_lapic *x86_lapic_create(struct x86_vcpu *xv)
{
	struct x86_lapic *apic = calloc(1, sizeof(*apic));

	if (!apic)
		return NULL;
	if (pthread_mutex_init(&apic->lock, NULL)) {
		free(apic);
		return NULL;
	}
	apic->xv = xv;
	if (xv->xvm && xv->xvm->vm)
		apic->trace = &xv->xvm->vm->trace;
	/* KVM_APIC_MAX_NR_LVT_ENTRIES minus CMCI: vCPUs start without
	 * MCG_CMCI_P (KVM_X86_SETUP_MCE is not modelled). */
	apic->nr_lvt_entries = LVT_MAX_ENTRIES - 1;
	apic->phys_bits = DEFAULT_PHYS_BITS;
	apic->tsc_khz = DEFAULT_TSC_KHZ;
	apic->highest_isr_cache = -1;
	apic->divide_count = 2;
	/* kvm_create_lapic() stuffs ENABLE so that reset sees no transition. */
	atomic_store(&apic->apic_base, MSR_IA32_APICBASE_ENABLE);

	struct lapic_post post = LAPIC_POST_INIT;

	pthread_mutex_lock(&apic->lock);
	reset_locked(apic, false, &post);
	pthread_mutex_unlock(&apic->lock);
	/* Not yet visible to the VM: the map is only marked dirty. */
	return apic;
}

void x86_lapic_destroy(struct x86_lapic *apic)
{
	if (!apic)
		return;
	pthread_mutex_destroy(&apic->lock);
	free(apic);
}

void x86_lapic_reset(struct x86_lapic *apic, bool init_event)
{
	struct lapic_post post = LAPIC_POST_INIT;

	pthread_mutex_lock(&apic->lock);
	reset_locked(apic, init_event, &post);
	pthread_mutex_unlock(&apic->lock);
	post.kick = false; /* nothing can be pending after a reset */
	run_post(apic, &post);
}

void x86_lapic_set_version(struct x86_lapic *apic)
{
	pthread_mutex_lock(&apic->lock);
	set_version(apic);
	pthread_mutex_unlock(&apic->lock);
}

void x86_lapic_update_cpuid(struct x86_lapic *apic)
{
	pthread_mutex_lock(&apic->lock);
	apic->timer.mode_mask = apic->xv->cpuid_tsc_deadline ? 3u << 17 : 1u << 17;
	set_version(apic);
	pthread_mutex_unlock(&apic->lock);
}

void x86_lapic_set_phys_bits(struct x86_lapic *apic, unsigned bits)
{
	pthread_mutex_lock(&apic->lock);
	apic->phys_bits = bits; /* as CPUID says; >= 64 means no reserved bits */
	pthread_mutex_unlock(&apic->lock);
}

void x86_lapic_set_tsc_khz(struct x86_lapic *apic, uint32_t khz)
{
	pthread_mutex_lock(&apic->lock);
	apic->tsc_khz = khz ? khz : DEFAULT_TSC_KHZ;
	pthread_mutex_unlock(&apic->lock);
}

/* ---- public: KVM_GET/SET_LAPIC --------------------------------------------- */

int x86_lapic_get_state(struct x86_lapic *apic, struct kvm_lapic_state *s)
{
	uint32_t words[LAPIC_REG_WORDS];
	int r = 0;

	pthread_mutex_lock(&apic->lock);
	for (unsigned i = 0; i < LAPIC_REG_WORDS; i++)
		words[i] = reg_get(apic, i * 4);
	/* TMCCT is computed at read time. */
	words[APIC_TMCCT / 4] = apic_read(apic, APIC_TMCCT, NULL);

	/* kvm_apic_state_fixup(set = false). */
	if (x2apic_mode(apic)) {
		uint32_t x2apic_id = vcpu_id(apic);

		if (apic->xv->xvm->x2apic_format) {
			if (words[APIC_ID / 4] != x2apic_id)
				r = -EINVAL;
		} else {
			words[APIC_ID / 4] = x2apic_id << 24;
		}
		/* The 64-bit ICR is shown split into ICR and ICR2. */
		words[APIC_ICR2 / 4] = words[APIC_ICR / 4 + 1];
	}
	pthread_mutex_unlock(&apic->lock);
	if (!r)
		memcpy(s->regs, words, sizeof(words));
	return r;
}

int x86_lapic_set_state(struct x86_lapic *apic, const struct kvm_lapic_state *s)
{
	struct lapic_post post = LAPIC_POST_INIT;
	uint32_t words[LAPIC_REG_WORDS];
	uint64_t now;

	memcpy(words, s->regs, sizeof(words));

	pthread_mutex_lock(&apic->lock);
	/*
	 * SPIV goes first, as in kvm_apic_set_state(), and stays even when
	 * kvm_apic_state_fixup() then refuses the state: a failing
	 * KVM_SET_LAPIC is not all-or-nothing in the kernel (measured: a
	 * rejected state with SPIV 0x1ff leaves SPIV 0x1ff, nothing else).
	 */
	set_spiv(apic, words[APIC_SPIV / 4], &post);
	if (x2apic_mode(apic)) {
		uint32_t x2apic_id = vcpu_id(apic);

		if (apic->xv->xvm->x2apic_format) {
			if (words[APIC_ID / 4] != x2apic_id) {
				pthread_mutex_unlock(&apic->lock);
				run_post(apic, &post);
				return -EINVAL;
			}
		} else {
			/* The x2APIC ID is read-only; ignore the user's value. */
			words[APIC_ID / 4] = x2apic_id;
		}
		words[APIC_LDR / 4] = x2apic_ldr(x2apic_id);
		/* ICR2 becomes the upper half of the 64-bit ICR. */
		words[APIC_ICR / 4 + 1] = words[APIC_ICR2 / 4];
	}

	for (unsigned i = 0; i < LAPIC_REG_WORDS; i++)
		reg_set(apic, i * 4, words[i]);

	map_dirty(apic, &post);
	set_version(apic);
	/*
	 * As in kvm_apic_set_state(), the PPR is computed before the ISR
	 * caches are rebuilt (kvm_apic_update_apicv() comes later), i.e. from
	 * the previous state's isr_count / highest_isr_cache.  kvm: a SET of
	 * TPR 0x5a5a5a5a and ISR 0x5a5a5a5a.. over an empty ISR reads back
	 * PPR 0x5a, not 0xf0.  The next has_interrupt recomputes it.
	 */
	update_ppr(apic, NULL);

	now = now_ns(apic);
	cancel_timer(apic);
	update_lvtt(apic);
	manage_nmi_watchdog(apic, reg_get(apic, APIC_LVT0));
	update_divide_count(apic);
	start_timer(apic, APIC_TMCCT, now);
	reg_set(apic, APIC_TMCCT, 0);
	recompute_caches(apic);
	atomic_store_explicit(&apic->arb_prio, 0, memory_order_relaxed);
	pthread_mutex_unlock(&apic->lock);

	run_post(apic, &post);
	return 0;
}

/* ---- public: IA32_APIC_BASE, IA32_TSC_DEADLINE ------------------------------ */

uint64_t x86_lapic_get_base(struct x86_lapic *apic)
{
	return base_get(apic);
}

/* kvm_apic_set_base(). */
int x86_lapic_set_base(struct x86_lapic *apic, uint64_t value, bool host_initiated)
{
	struct lapic_post post = LAPIC_POST_INIT;
	const uint64_t mode_bits = MSR_IA32_APICBASE_ENABLE | MSR_IA32_APICBASE_EXTD;
	uint64_t old_mode, new_mode, reserved;

	pthread_mutex_lock(&apic->lock);
	if (base_get(apic) == value) {
		pthread_mutex_unlock(&apic->lock);
		return 0;
	}
	old_mode = base_get(apic) & mode_bits;
	new_mode = value & mode_bits;
	reserved = (apic->phys_bits >= 64 ? 0 : ~0ull << apic->phys_bits) | 0x2ff;
	if (!apic->xv->cpuid_x2apic)
		reserved |= MSR_IA32_APICBASE_EXTD;

	if ((value & reserved) || new_mode == MSR_IA32_APICBASE_EXTD)
		goto refuse;
	if (!host_initiated) {
		/* x2APIC -> xAPIC and disabled -> x2APIC need a stop in between. */
		if (old_mode == mode_bits && new_mode == MSR_IA32_APICBASE_ENABLE)
			goto refuse;
		if (old_mode == 0 && new_mode == mode_bits)
			goto refuse;
	}
	set_base_locked(apic, value, &post);
	pthread_mutex_unlock(&apic->lock);
	run_post(apic, &post);
	return 0;

refuse:
	pthread_mutex_unlock(&apic->lock);
	return 1;
}

uint64_t x86_lapic_get_tscdeadline(struct x86_lapic *apic)
{
	uint64_t v = 0;

	pthread_mutex_lock(&apic->lock);
	if (hw_enabled(apic) && lvtt_tscdeadline(apic))
		v = apic->timer.tscdeadline;
	pthread_mutex_unlock(&apic->lock);
	return v;
}

void x86_lapic_set_tscdeadline(struct x86_lapic *apic, uint64_t value)
{
	pthread_mutex_lock(&apic->lock);
	if (hw_enabled(apic) && lvtt_tscdeadline(apic)) {
		cancel_timer(apic);
		apic->timer.tscdeadline = value;
		start_timer(apic, APIC_TMICT, now_ns(apic));
	}
	pthread_mutex_unlock(&apic->lock);
}

/* ---- public: guest access ---------------------------------------------------- */

int x86_lapic_mmio_read(struct x86_lapic *apic, uint32_t offset, void *data, unsigned len)
{
	struct lapic_post post = LAPIC_POST_INIT;

	if (!data)
		return -EINVAL;
	if (offset >= LAPIC_MMIO_LENGTH)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&apic->lock);
	if (!hw_enabled(apic) || x2apic_mode(apic)) {
		pthread_mutex_unlock(&apic->lock);
		return -EOPNOTSUPP;
	}
	/* Unreadable registers and bad widths leave zeros (KVM leaves the
	 * emulator's buffer untouched). */
	memset(data, 0, len);
	reg_read(apic, offset, len, data, &post);
	pthread_mutex_unlock(&apic->lock);
	run_post(apic, &post);
	return 0;
}

int x86_lapic_mmio_write(struct x86_lapic *apic, uint32_t offset, const void *data, unsigned len)
{
	struct lapic_post post = LAPIC_POST_INIT;
	uint32_t val;

	if (!data)
		return -EINVAL;
	if (offset >= LAPIC_MMIO_LENGTH)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&apic->lock);
	if (!hw_enabled(apic) || x2apic_mode(apic)) {
		pthread_mutex_unlock(&apic->lock);
		return -EOPNOTSUPP;
	}
	/* SDM 11.4.1: registers are 16-byte aligned and accessed as dwords;
	 * anything else is dropped. */
	if (len == 4 && !(offset & 0xf)) {
		memcpy(&val, data, 4);
		reg_write(apic, offset & 0xff0, val, &post);
	}
	pthread_mutex_unlock(&apic->lock);
	run_post(apic, &post);
	return 0;
}

int x86_lapic_msr_read(struct x86_lapic *apic, uint32_t msr, uint64_t *value)
{
	struct lapic_post post = LAPIC_POST_INIT;
	uint32_t reg, low = 0;
	int r = 0;

	if (msr < APIC_BASE_MSR || msr > APIC_BASE_MSR + 0xff)
		return 1;
	reg = (msr - APIC_BASE_MSR) << 4;

	pthread_mutex_lock(&apic->lock);
	if (!x2apic_mode(apic)) {
		r = 1;
	} else if (reg == APIC_ICR) {
		*value = reg_get64(apic, APIC_ICR);
	} else if (reg_read(apic, reg, 4, &low, &post)) {
		r = 1;
	} else {
		*value = low;
	}
	pthread_mutex_unlock(&apic->lock);
	run_post(apic, &post);
	return r;
}

int x86_lapic_msr_write(struct x86_lapic *apic, uint32_t msr, uint64_t value, bool host_initiated)
{
	struct lapic_post post = LAPIC_POST_INIT;
	uint32_t reg;
	int r;

	(void)host_initiated; /* KVM treats host and guest writes alike here */
	if (msr < APIC_BASE_MSR || msr > APIC_BASE_MSR + 0xff)
		return 1;
	reg = (msr - APIC_BASE_MSR) << 4;

	pthread_mutex_lock(&apic->lock);
	if (!x2apic_mode(apic))
		r = 1;
	else if (reg == APIC_ICR)
		r = x2apic_icr_write(apic, value, &post);
	else if (value >> 32) /* bits 63:32 are reserved in every other register */
		r = 1;
	else
		r = reg_write(apic, reg, (uint32_t)value, &post);
	pthread_mutex_unlock(&apic->lock);
	run_post(apic, &post);
	return r;
}

/* ---- public: accept ---------------------------------------------------------- */

/* __apic_accept_irq(); lock-free. */
/* The fixed (and lowest-priority) case of __apic_accept_irq(). */
static inline int accept_fixed(struct x86_lapic *apic, uint32_t vector, uint32_t trig_mode,
			       struct x86_dest_map *dest_map)
{
	if (!hw_enabled(apic) || !sw_enabled(apic))
		return 0;
	if (dest_map && vcpu_id(apic) < X86_MAX_VCPU_IDS)
		x86_dest_map_set(dest_map, vcpu_id(apic), (uint8_t)vector);
	if (vec_test(apic, APIC_TMR, vector) != !!trig_mode) {
		if (trig_mode)
			vec_set(apic, APIC_TMR, vector);
		else
			vec_clear(apic, APIC_TMR, vector);
	}
	vec_set(apic, APIC_IRR, vector);
	/* After the IRR bit, so that clear_irr() cannot lose it. */
	atomic_store_explicit(&apic->irr_pending, true, memory_order_release);
	x86_vcpu_kick(apic->xv);
	return 1;
}

int x86_lapic_accept_fixed_edge(struct x86_lapic *apic, uint32_t vector)
{
	vector &= APIC_VECTOR_MASK;
	virq_trace_kvm_apic_accept_irq(apic->trace, (int32_t)vcpu_id(apic), vcpu_id(apic), APIC_DM_FIXED, 0,
				       (uint8_t)vector);
	return accept_fixed(apic, vector, 0, NULL);
}

int x86_lapic_accept_irq(struct x86_lapic *apic, const struct x86_irq *irq,
			 struct x86_dest_map *dest_map)
{
	struct x86_vcpu *xv = apic->xv;
	uint32_t vector = irq->vector & APIC_VECTOR_MASK;
	int result = 0;

	/* As __apic_accept_irq(): every attempt, accepted or not. */
	virq_trace_kvm_apic_accept_irq(apic->trace, (int32_t)vcpu_id(apic), vcpu_id(apic),
				       (uint16_t)irq->delivery_mode, (uint16_t)irq->trig_mode, (uint8_t)vector);
	switch (irq->delivery_mode) {
	case APIC_DM_LOWEST:
		atomic_fetch_add_explicit(&apic->arb_prio, 1, memory_order_relaxed);
		/* fall through */
	case APIC_DM_FIXED:
		if (irq->trig_mode && !irq->level)
			break;
		result = accept_fixed(apic, vector, irq->trig_mode, dest_map);
		break;

	case APIC_DM_REMRD:
		/* The PV kick (KVM_HC_KICK_CPU): unhalts a HALTED vCPU. */
		result = 1;
		atomic_store_explicit(&xv->pv_unhalted, true, memory_order_release);
		x86_vcpu_kick(xv);
		break;

	case APIC_DM_SMI:
		/* kvm_inject_smi() fails without SMM support: not accepted. */
		if (x86_vcpu_request_smi(xv) == 0) {
			x86_vcpu_kick(xv);
			result = 1;
		}
		break;

	case APIC_DM_NMI:
		result = 1;
		x86_vcpu_inject_nmi(xv);
		break;

	case APIC_DM_INIT:
		if (!irq->trig_mode || irq->level) {
			result = 1;
			/* INIT supersedes a pending SIPI. */
			atomic_store_explicit(&apic->pending_events, LAPIC_INIT, memory_order_release);
			x86_vcpu_kick(xv);
		}
		break;

	case APIC_DM_STARTUP:
		result = 1;
		atomic_store_explicit(&apic->sipi_vector, vector, memory_order_relaxed);
		atomic_fetch_or_explicit(&apic->pending_events, LAPIC_SIPI, memory_order_release);
		x86_vcpu_kick(xv);
		break;

	case APIC_DM_EXTINT:
		/* Only LVT0 uses ExtINT; the PIC path (accept_pic_intr) handles it. */
	default:
		break;
	}
	return result;
}

/* ---- public: acceptance by the vCPU --------------------------------------------- */

static int has_interrupt_locked(struct x86_lapic *apic)
{
	uint32_t ppr;

	if (!hw_enabled(apic))
		return -1;
	update_ppr_raw(apic, &ppr);
	return has_interrupt_for_ppr(apic, ppr);
}

int x86_lapic_has_interrupt(struct x86_lapic *apic)
{
	int v;

	pthread_mutex_lock(&apic->lock);
	v = has_interrupt_locked(apic);
	pthread_mutex_unlock(&apic->lock);
	return v;
}

int x86_lapic_get_interrupt(struct x86_lapic *apic)
{
	uint32_t ppr;
	int v;

	pthread_mutex_lock(&apic->lock);
	v = has_interrupt_locked(apic);
	if (v != -1) {
		/* kvm_apic_ack_interrupt(): IRR -> ISR raises the PPR. */
		clear_irr(apic, v);
		set_isr(apic, v);
		update_ppr_raw(apic, &ppr);
	}
	pthread_mutex_unlock(&apic->lock);
	return v;
}

bool x86_lapic_accept_pic_intr(struct x86_lapic *apic)
{
	uint32_t lvt0 = reg_get(apic, APIC_LVT0);

	if (!hw_enabled(apic))
		return true;
	return !(lvt0 & APIC_LVT_MASKED) && (lvt0 & APIC_MODE_MASK) == APIC_DM_EXTINT;
}

bool x86_lapic_pending_eoi(struct x86_lapic *apic, int vector)
{
	if (vector < 0 || vector > 255)
		return false;
	return vec_test(apic, APIC_ISR, (uint32_t)vector) ||
	       vec_test(apic, APIC_IRR, (uint32_t)vector);
}

int x86_lapic_eoi(struct x86_lapic *apic)
{
	struct lapic_post post = LAPIC_POST_INIT;
	int v;

	pthread_mutex_lock(&apic->lock);
	v = set_eoi(apic, &post);
	pthread_mutex_unlock(&apic->lock);
	run_post(apic, &post);
	return v;
}

bool x86_lapic_latched_init(struct x86_lapic *apic)
{
	return atomic_load_explicit(&apic->pending_events, memory_order_acquire) & LAPIC_INIT;
}

void x86_lapic_set_latched_init(struct x86_lapic *apic, bool latched)
{
	if (latched)
		atomic_fetch_or_explicit(&apic->pending_events, LAPIC_INIT, memory_order_release);
	else
		atomic_fetch_and_explicit(&apic->pending_events, ~LAPIC_INIT, memory_order_release);
}

void x86_lapic_set_sipi_vector(struct x86_lapic *apic, uint32_t vector)
{
	atomic_store_explicit(&apic->sipi_vector, vector, memory_order_relaxed);
}

void x86_lapic_take_events(struct x86_lapic *apic, bool *init, bool *sipi, uint8_t *vec)
{
	unsigned int pe = atomic_exchange_explicit(&apic->pending_events, 0, memory_order_acq_rel);

	*init = pe & LAPIC_INIT;
	*sipi = pe & LAPIC_SIPI;
	if (*sipi)
		*vec = (uint8_t)atomic_load_explicit(&apic->sipi_vector, memory_order_relaxed);
}

bool x86_lapic_events_pending(struct x86_lapic *apic)
{
	return atomic_load_explicit(&apic->pending_events, memory_order_acquire) != 0;
}

bool x86_lapic_sipi_pending(struct x86_lapic *apic)
{
	return atomic_load_explicit(&apic->pending_events, memory_order_acquire) & LAPIC_SIPI;
}

void x86_lapic_set_sipi_pending(struct x86_lapic *apic, bool pending)
{
	if (pending)
		atomic_fetch_or_explicit(&apic->pending_events, LAPIC_SIPI, memory_order_release);
	else
		atomic_fetch_and_explicit(&apic->pending_events, ~LAPIC_SIPI, memory_order_release);
}

uint32_t x86_lapic_sipi_vector(struct x86_lapic *apic)
{
	return atomic_load_explicit(&apic->sipi_vector, memory_order_relaxed);
}

/* ---- public: timer ------------------------------------------------------------ */

int64_t x86_lapic_timer_poll(struct x86_lapic *apic, uint64_t now)
{
	struct lapic_timer *t = &apic->timer;
	bool fire = false;
	uint32_t lvtt = 0;
	int64_t next = INT64_MAX;

	pthread_mutex_lock(&apic->lock);
	if (t->armed && now >= t->expire) {
		/* kvm_apic_local_deliver(APIC_LVTT), done below unlocked. */
		lvtt = reg_get(apic, APIC_LVTT);
		fire = hw_enabled(apic) && !(lvtt & APIC_LVT_MASKED);

		if (lvtt_period(apic) && t->period > 0) {
			/* advance_periodic_target_expiration(): arithmetic, no
			 * drift; a late timer delivers one interrupt and does
			 * not play catch-up. */
			uint64_t next_target = add_sat(t->target, (uint64_t)t->period);

			if (next_target <= now)
				next_target = add_sat(now, (uint64_t)t->period);
			t->target = next_target;
			t->expire = next_target;
		} else {
			t->armed = false;
			if (lvtt_oneshot(apic)) {
				t->target = 0;
				t->tscdeadline = 0;
			} else if (lvtt_tscdeadline(apic)) {
				t->tscdeadline = 0;
			}
		}
	}
	if (t->armed)
		next = t->expire > now ? (int64_t)(t->expire - now > INT64_MAX ? INT64_MAX : t->expire - now) : 0;
	pthread_mutex_unlock(&apic->lock);

	if (fire) {
		struct x86_irq irq = {
			.vector = lvtt & APIC_VECTOR_MASK,
			.delivery_mode = lvtt & APIC_MODE_MASK,
			.dest_mode = APIC_DEST_PHYSICAL,
			.level = true,
			.trig_mode = (lvtt & APIC_LVT_LEVEL_TRIGGER) ? 1 : 0,
			.shorthand = APIC_DEST_SELF,
			.dest_id = 0,
		};
		x86_lapic_accept_irq(apic, &irq, NULL);
	}
	return next;
}

/* ---- public: what apic_bus.c needs ------------------------------------------- */

bool x86_lapic_hw_enabled(struct x86_lapic *apic)
{
	return hw_enabled(apic);
}

bool x86_lapic_sw_enabled(struct x86_lapic *apic)
{
	return sw_enabled(apic);
}

bool x86_lapic_x2apic_mode(struct x86_lapic *apic)
{
	return x2apic_mode(apic);
}

uint32_t x86_lapic_id(struct x86_lapic *apic)
{
	if (x2apic_mode(apic))
		return vcpu_id(apic);
	return reg_get(apic, APIC_ID) >> 24;
}

uint32_t x86_lapic_reg(struct x86_lapic *apic, uint32_t offset)
{
	if (offset >= KVM_APIC_REG_SIZE || (offset & 3))
		return 0;
	return reg_get(apic, offset);
}

uint32_t x86_lapic_arb_prio(struct x86_lapic *apic)
{
	return atomic_load_explicit(&apic->arb_prio, memory_order_relaxed);
}

int x86_lapic_compare_prio(struct x86_lapic *a, struct x86_lapic *b)
{
	return (int)(x86_lapic_arb_prio(a) - x86_lapic_arb_prio(b));
}

struct x86_vcpu *x86_lapic_vcpu(struct x86_lapic *apic)
{
	return apic->xv;
}
