/* SPDX-License-Identifier: MIT */
/*
 * spinlock.h - the lock of one interrupt controller (the kernel's
 * ioapic->lock and pic->lock are spinlocks too).
 *
 * Why not a pthread mutex: the sections it guards are a few dozen
 * instructions with no call-outs and no sleeping (every chip defers its
 * notifications to after the unlock), so a waiter is better off spinning
 * than sleeping, and an uncontended lock/unlock pair then costs one atomic
 * exchange and one plain release store instead of two atomic operations
 * and two library calls.  On the injection paths that is a measurable
 * share of the whole (docs/performance.md).
 *
 * The one hazard of spinning in user space is a holder that loses its CPU:
 * a waiter spins with PAUSE for a bounded while, then yields the CPU on
 * every further attempt so the holder can run.
 */
#ifndef VIRQ_SPINLOCK_H
#define VIRQ_SPINLOCK_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct {
	_Atomic int locked;
} virq_spinlock_t;

#define VIRQ_SPINLOCK_INIT { 0 }

static inline void virq_spin_init(virq_spinlock_t *l)
{
	atomic_init(&l->locked, 0);
}

static inline void virq_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static inline bool virq_spin_trylock(virq_spinlock_t *l)
{
	return !atomic_exchange_explicit(&l->locked, 1, memory_order_acquire);
}

static inline void virq_spin_lock_slow(virq_spinlock_t *l)
{
	for (unsigned tries = 0;; tries++) {
		/* Wait on a plain load (no cache-line ping-pong), then retry. */
		for (unsigned spin = 0; atomic_load_explicit(&l->locked, memory_order_relaxed); spin++) {
			if (tries > 0 || spin > 256)
				sched_yield();
			else
				virq_cpu_relax();
		}
		if (virq_spin_trylock(l))
			return;
	}
}

static inline void virq_spin_lock(virq_spinlock_t *l)
{
	if (__builtin_expect(!virq_spin_trylock(l), 0))
		virq_spin_lock_slow(l);
}

static inline void virq_spin_unlock(virq_spinlock_t *l)
{
	atomic_store_explicit(&l->locked, 0, memory_order_release);
}

#endif
