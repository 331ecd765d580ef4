/* SPDX-License-Identifier: MIT */
/*
 * virq.h - the Linux KVM interrupt subsystem, in user space.
 *
 * virq offers two faces over the same objects:
 *
 *  1. The KVM-ABI face: virq_open(), virq_ioctl(), virq_close().  Requests
 *     and argument structs are those of <linux/kvm.h>; return values and
 *     errno are what the kernel gives for the same call.  Code written for
 *     /dev/kvm runs against virq by replacing open/ioctl/close.
 *
 *  2. The native face: typed calls for what the kernel does on behalf of the
 *     guest (register accesses to the interrupt controllers, acknowledging
 *     and ending interrupts) and for what KVM cannot do.  Native calls
 *     return a non-negative value on success and -errno on failure; they
 *     never print, never exit and never set errno.
 *
 * Handles.  virq_open() and the KVM_CREATE_* requests return handles: small
 * positive integers at or above VIRQ_HANDLE_BASE, a range the kernel never
 * uses for file descriptors, so a handle can never be mistaken for one of
 * the process's own descriptors.  A handle stays valid until virq_close().
 * Objects are reference counted like kernel files: closing a VM handle
 * while vCPU handles are open keeps the VM alive until the last is closed.
 *
 * Threads.  Every call is thread-safe.  Injection paths (KVM_IRQ_LINE,
 * KVM_SIGNAL_MSI, the native injection calls) take no VM-wide lock.
 * The register-access calls of one vCPU are expected from one thread at a
 * time (the thread that runs that vCPU), as with KVM_RUN.
 */
#ifndef VIRQ_VIRQ_H
#define VIRQ_VIRQ_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VIRQ_VERSION_MAJOR 0
#define VIRQ_VERSION_MINOR 1
#define VIRQ_VERSION_PATCH 0

#if defined(__GNUC__) && !defined(VIRQ_NO_VISIBILITY)
#define VIRQ_API __attribute__((visibility("default")))
#else
#define VIRQ_API
#endif

/** First handle value; handles are >= this and < VIRQ_HANDLE_BASE + 2^24. */
#define VIRQ_HANDLE_BASE 0x40000000

/** The library version as "MAJOR.MINOR.PATCH". */
VIRQ_API const char *virq_version(void);

/* ------------------------------------------------------------------------ */
/* The KVM-ABI face                                                          */
/* ------------------------------------------------------------------------ */

enum virq_arch {
	VIRQ_ARCH_HOST = 0, /* the architecture virq was built for */
	VIRQ_ARCH_X86 = 1,
	VIRQ_ARCH_ARM = 2,
	VIRQ_ARCH_IA64 = 3,
	VIRQ_ARCH_S390 = 4,
};

/**
 * virq_open() - the equivalent of open("/dev/kvm").
 *
 * Returns a system handle, or -1 with errno set:
 *   EINVAL      @arch is not one of enum virq_arch;
 *   ENODEV      the architecture exists in the ABI but this build of virq
 *               does not implement it yet;
 *   EMFILE      the handle table is full;
 *   ENOMEM      out of memory.
 */
VIRQ_API int virq_open(enum virq_arch arch);

/**
 * virq_ioctl() - the equivalent of ioctl(2) on a KVM file descriptor.
 *
 * @fd is a handle from virq_open() or from a KVM_CREATE_* request; @request
 * and the optional third argument are those of <linux/kvm.h>.  Returns what
 * the kernel returns for the same call; on failure -1 with errno set as the
 * kernel sets it.  Additionally:
 *   EBADF       @fd is not a live virq handle;
 *   ENOTTY      @request is not known for this kind of handle.
 *
 * KVM_CREATE_VM, KVM_CREATE_VCPU and KVM_CREATE_DEVICE return new handles.
 * docs/kvm-differences.md lists every deliberate difference from the kernel.
 */
VIRQ_API int virq_ioctl(int fd, unsigned long request, ...);

/**
 * virq_close() - release a handle.
 *
 * Returns 0, or -1 with errno EBADF if @fd is not a live virq handle.
 */
VIRQ_API int virq_close(int fd);

/* ------------------------------------------------------------------------ */
/* The native face: guest actions (x86)                                      */
/* ------------------------------------------------------------------------ */
/*
 * These calls perform what a guest does to its interrupt controllers, for a
 * VMM or CPU emulator that traps those accesses.  @len is the access width
 * in bytes; the device decides which widths it implements and ignores the
 * others the way the kernel model does.  Return values:
 *   0            done (for reads, @data is filled);
 *   -EOPNOTSUPP  the address is not handled by virq (for example LAPIC MMIO
 *                while the LAPIC is in x2APIC mode or hardware-disabled, or
 *                PIC ports without an in-kernel irqchip): the VMM handles it;
 *   -EINVAL      bad @len or NULL @data;
 *   -ENXIO       the VM has no such device (no irqchip, or split mode for
 *                the PIC and IOAPIC, which then live in the VMM);
 *   -EBADF       the handle is not a live VM (or vCPU) handle.
 */

/** Guest read or write of the local APIC page; @offset is within the 4 KiB page. */
VIRQ_API int virq_lapic_read(int vcpu_fd, uint32_t offset, void *data, unsigned len);
VIRQ_API int virq_lapic_write(int vcpu_fd, uint32_t offset, const void *data, unsigned len);

/** Guest read or write of the IOAPIC window; @offset is relative to its base (0xfec00000). */
VIRQ_API int virq_ioapic_read(int vm_fd, uint32_t offset, void *data, unsigned len);
VIRQ_API int virq_ioapic_write(int vm_fd, uint32_t offset, const void *data, unsigned len);

/** Guest port I/O to the PICs (0x20, 0x21, 0xa0, 0xa1) and the ELCR (0x4d0, 0x4d1). */
VIRQ_API int virq_pio_read(int vm_fd, uint16_t port, void *data, unsigned len);
VIRQ_API int virq_pio_write(int vm_fd, uint16_t port, const void *data, unsigned len);

/**
 * Guest RDMSR / WRMSR of an interrupt MSR: IA32_APIC_BASE (0x1b),
 * IA32_TSC_DEADLINE (0x6e0) and the x2APIC range 0x800-0x8ff.
 * Returns 0 on success, 1 when the access raises #GP in the guest (as the
 * kernel's MSR handlers do), -EOPNOTSUPP for an MSR virq does not own,
 * -ENXIO without an in-kernel LAPIC, -EBADF.
 */
VIRQ_API int virq_msr_read(int vcpu_fd, uint32_t index, uint64_t *value);
VIRQ_API int virq_msr_write(int vcpu_fd, uint32_t index, uint64_t value);

/* ------------------------------------------------------------------------ */
/* The native face: the vCPU's interrupt acceptance                          */
/* ------------------------------------------------------------------------ */

/**
 * virq_vcpu_has_interrupt() - can the vCPU acknowledge an interrupt now?
 *
 * Considers, in the kernel's order, an interrupt queued by KVM_INTERRUPT,
 * an ExtINT from the PIC (when LVT0 or a disabled LAPIC accepts it) and the
 * highest IRR vector above the processor priority.  Expired timers are
 * processed first.  The guest's RFLAGS.IF and interrupt shadow are the
 * VMM's business.  Returns 1 or 0, or -EBADF.
 */
VIRQ_API int virq_vcpu_has_interrupt(int vcpu_fd);

/**
 * virq_vcpu_ack_interrupt() - the INTA cycle: take the interrupt the vCPU
 * would take now.  Returns the vector (0-255): for the LAPIC the vector moves
 * from IRR to ISR (auto-EOI rules of the PIC apply for ExtINT).  Returns
 * -EAGAIN if nothing is deliverable, -EBADF.
 */
VIRQ_API int virq_vcpu_ack_interrupt(int vcpu_fd);

/**
 * virq_vcpu_eoi() - end the highest-priority in-service interrupt, exactly
 * as a guest write of 0 to the LAPIC EOI register (EOI broadcast to the
 * IOAPIC unless suppressed).  Returns the vector that was ended, -EAGAIN if
 * none was in service, -ENXIO without an in-kernel LAPIC, -EBADF.
 */
VIRQ_API int virq_vcpu_eoi(int vcpu_fd);

/** Events virq reports to the VMM. */
enum virq_event_type {
	/* The vCPU gained something to take (interrupt, NMI, SMI, INIT,
	 * SIPI) or a timer expired: wake or kick the thread that runs it. */
	VIRQ_EVENT_KICK = 1,
	/* Split irqchip: the guest EOIed a level-triggered vector that the
	 * VMM's IOAPIC must see (the user-space KVM_EXIT_IOAPIC_EOI). */
	VIRQ_EVENT_IOAPIC_EOI = 2,
};

struct virq_event {
	uint32_t type;    /* enum virq_event_type */
	uint32_t vcpu_id; /* the vCPU the event is for */
	uint32_t vector;  /* VIRQ_EVENT_IOAPIC_EOI: the vector */
	uint32_t pad;
};

/**
 * The notification callback.  It runs on the thread that caused the event
 * (an injecting thread, a timer poll, the vCPU's own thread) with no
 * device lock held, so it may inject (KVM_IRQ_LINE, KVM_SIGNAL_MSI) or
 * read state.  It may be inside an injection's read-side section, so it
 * must not call what waits for injections to drain: virq_close(),
 * KVM_SET_GSI_ROUTING, KVM_CREATE_IRQCHIP or virq_vcpu_set_event_fn().
 * Typically it writes an eventfd or signals the vCPU thread.
 */
typedef void (*virq_event_fn)(void *opaque, int vcpu_fd, const struct virq_event *ev);

/** Install (or, with @fn NULL, remove) the vCPU's event callback. 0 or -EBADF. */
VIRQ_API int virq_vcpu_set_event_fn(int vcpu_fd, virq_event_fn fn, void *opaque);

/* ------------------------------------------------------------------------ */
/* The native face: time                                                     */
/* ------------------------------------------------------------------------ */

/** A clock in nanoseconds; must never go backwards. */
typedef uint64_t (*virq_clock_fn)(void *opaque);

/**
 * virq_vm_set_clock() - replace the VM's clock (default CLOCK_MONOTONIC).
 * Tests install a clock they advance by hand, which makes the LAPIC timers
 * deterministic.  Call before creating vCPUs.  0, -EBUSY once vCPUs exist,
 * -EBADF.
 */
VIRQ_API int virq_vm_set_clock(int vm_fd, virq_clock_fn fn, void *opaque);

/**
 * virq_vm_poll_timers() - fire every timer whose deadline has passed.
 * Returns the nanoseconds until the next armed deadline (so a VMM can sleep
 * that long), INT64_MAX if none is armed, or -EBADF.
 */
VIRQ_API int64_t virq_vm_poll_timers(int vm_fd);

#ifdef __cplusplus
}
#endif

#endif /* VIRQ_VIRQ_H */
