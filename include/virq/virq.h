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
#include <stddef.h>
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
 * VMM's business, and so is the MP state: it answers for a vCPU waiting in
 * UNINITIALIZED or INIT_RECEIVED too, which the kernel would not run (see
 * virq_vcpu_accept_events()).  Returns 1 or 0, or -EBADF.
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

#define VIRQ_ACCEPT_INIT 1u /* INIT taken: the LAPIC was reset; reset the CPU's registers to
			     * their INIT state; mp_state is INIT_RECEIVED (AP) or RUNNABLE (BSP) */
#define VIRQ_ACCEPT_SIPI 2u /* STARTUP taken while INIT_RECEIVED: start the CPU in real mode at
			     * *sipi_vector << 12 (CS = vector << 8, IP = 0); mp_state is RUNNABLE */

/**
 * virq_vcpu_accept_events() - take the INIT and STARTUP IPIs pending for
 * the vCPU, as the kernel does on its way into the guest
 * (kvm_apic_accept_events): an INIT resets the LAPIC (APIC_BASE and the
 * APIC ID stay), drops the NMI, interrupt and exception waiting to be
 * injected, and makes the vCPU INIT_RECEIVED, or RUNNABLE if IA32_APIC_BASE
 * has the BSP bit; then a STARTUP makes an INIT_RECEIVED vCPU RUNNABLE and
 * is dropped in any other state.  The registers are the VMM's to change.
 *
 * Returns the VIRQ_ACCEPT_* bits taken (both: INIT, then STARTUP), 0 if
 * none; *@sipi_vector is set when VIRQ_ACCEPT_SIPI is returned.  Events
 * that KVM_GET_MP_STATE took since the last call are returned too (an INIT
 * cancels a STARTUP before it).  -EINVAL for a NULL @sipi_vector, -ENXIO
 * without an in-kernel LAPIC (no irqchip), -EBADF.
 *
 * A VMM calls it before it runs the vCPU and before
 * virq_vcpu_has_interrupt(), and runs the vCPU only while it is RUNNABLE:
 * like the kernel, virq still accepts interrupts into the IRR of a vCPU in
 * UNINITIALIZED or INIT_RECEIVED (virq_vcpu_has_interrupt() reports them
 * as usual); they wait there until the vCPU runs.  An INIT or STARTUP that
 * arrives sends VIRQ_EVENT_KICK.
 */
VIRQ_API int virq_vcpu_accept_events(int vcpu_fd, uint8_t *sipi_vector);

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

/**
 * Install (or, with @fn NULL, remove) the vCPU's event callback.  0 or
 * -EBADF.  Kicks are sent only while a callback is installed: a VMM that
 * installs one after interrupts may already be pending checks
 * virq_vcpu_has_interrupt() once afterwards.
 */
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

/* ------------------------------------------------------------------------ */
/* The native face: GSI routing beyond KVM                                   */
/* ------------------------------------------------------------------------ */
/*
 * KVM can only replace the whole routing table and cannot read it back.
 * These calls edit one GSI at a time, in O(1) expected time, with exactly
 * the validation of KVM_SET_GSI_ROUTING (the entries' flags, the duplicate
 * rule, the architecture's per-type rules; errno as the kernel's).  Each
 * change is atomic for its GSI: an injection sees the old routes or the new
 * ones, never a mix.  Readers (every injection) never wait for writers.
 *
 * Struct kvm_irq_routing_entry is the one of <linux/kvm.h>; include that
 * before this header to use these calls.
 */
struct kvm_irq_routing_entry;

/** The largest GSI space a VM may opt into (virq_vm_set_gsi_limit()). */
#define VIRQ_MAX_GSIS (1u << 20)

/**
 * virq_vm_set_gsi_limit() - change the VM's GSI space.  The default is the
 * kernel's KVM_MAX_IRQ_ROUTES (4096 on x86), with the kernel's errno for
 * anything beyond it.  A VM may opt into up to VIRQ_MAX_GSIS GSIs; memory
 * stays proportional to the routes in use.  The limit then applies to
 * KVM_SET_GSI_ROUTING (nr and gsi) and KVM_CHECK_EXTENSION(KVM_CAP_IRQ_ROUTING)
 * on this VM as well.  Returns 0, -EINVAL if @nr_gsis is below the kernel's
 * limit or above VIRQ_MAX_GSIS, -EBUSY if a route sits at or above @nr_gsis,
 * -ENOMEM, -EBADF.
 */
VIRQ_API int virq_vm_set_gsi_limit(int vm_fd, uint32_t nr_gsis);

/** The most vCPUs a VM may opt into (virq_vm_set_max_vcpus()). */
#define VIRQ_MAX_VCPUS 4096

/**
 * virq_vm_set_max_vcpus() - change how many vCPUs the VM may create.  The
 * default is the kernel's KVM_MAX_VCPUS (1024 on x86; kernels built with
 * MAXSMP allow 4096).  A VM may opt into up to VIRQ_MAX_VCPUS before its
 * first KVM_CREATE_VCPU; KVM_CHECK_EXTENSION(KVM_CAP_MAX_VCPUS) on the VM
 * then answers the new limit.  Returns 0, -EINVAL if @nr is 0 or above
 * what the architecture allows, -EBUSY once a vCPU exists, -ENOMEM, -EBADF.
 */
VIRQ_API int virq_vm_set_max_vcpus(int vm_fd, uint32_t nr);

/**
 * virq_route_set() - replace the routes of @gsi with @entries[0 .. @nr)
 * (every entry's gsi must be @gsi: -EINVAL otherwise).  @nr == 0 removes
 * the GSI's routes.  Returns 0 or -errno: -EINVAL (any rule of
 * KVM_SET_GSI_ROUTING, no irqchip, @gsi beyond the limit), -ENOMEM, -EBADF.
 * On error nothing changes.
 */
VIRQ_API int virq_route_set(int vm_fd, uint32_t gsi, const struct kvm_irq_routing_entry *entries,
			    uint32_t nr);

/**
 * virq_route_get() - read back the routes of @gsi, in the order they were
 * given, into @entries[0 .. @max).  Returns the number of routes the GSI has
 * (which may exceed @max: call again with a larger array), -EBADF.
 */
VIRQ_API int virq_route_get(int vm_fd, uint32_t gsi, struct kvm_irq_routing_entry *entries,
			    uint32_t max);

/**
 * virq_routing_get() - read back the whole table, in GSI order, into
 * @entries[0 .. @max).  Returns the number of routes in the table (which
 * may exceed @max), -EBADF.  The copy is one consistent snapshot.
 */
VIRQ_API long virq_routing_get(int vm_fd, struct kvm_irq_routing_entry *entries, uint32_t max);

/**
 * A batch of route changes.  virq_route_batch_set() validates each change
 * when it is added (its errno is the one virq_route_set() would give);
 * virq_route_batch_commit() applies them all, or none if the VM changed so
 * that one no longer validates.  A GSI set twice keeps the last change.
 * Side effects of a routing change (rescans, irqfd re-resolution) run once
 * per commit.  The batch is freed by commit and by abort.
 */
struct virq_route_batch;

/** Start a batch.  0 and *@batch set, or -EBADF, -ENOMEM. */
VIRQ_API int virq_route_batch_begin(int vm_fd, struct virq_route_batch **batch);
VIRQ_API int virq_route_batch_set(struct virq_route_batch *batch, uint32_t gsi,
				  const struct kvm_irq_routing_entry *entries, uint32_t nr);
/** Apply the batch: 0 or -errno (nothing applied).  Frees @batch. */
VIRQ_API int virq_route_batch_commit(struct virq_route_batch *batch);
/** Drop the batch without applying it. */
VIRQ_API void virq_route_batch_abort(struct virq_route_batch *batch);

/**
 * Per-route counters, counted on assertions (level != 0) only:
 *   delivered       the route's target took it (> 0 from the delivery);
 *   coalesced       it merged with one already pending (0);
 *   masked          masked, ignored or refused by the target (< 0,
 *                   other than "no destination");
 *   no_destination  an MSI-like route found no target (-1).
 * Counters live with the route: a change that keeps a route identical (same
 * GSI, position, type and payload) keeps its counts, any other starts at 0.
 */
struct virq_route_stats {
	uint64_t delivered;
	uint64_t coalesced;
	uint64_t masked;
	uint64_t no_destination;
};

/**
 * virq_route_stats() - the counters of @gsi's routes, in route order, into
 * @stats[0 .. @max).  Returns the number of routes of the GSI, -EBADF.
 */
VIRQ_API int virq_route_stats(int vm_fd, uint32_t gsi, struct virq_route_stats *stats, uint32_t max);

/* ------------------------------------------------------------------------ */
/* The native face: local APICs that live elsewhere (x86)                    */
/* ------------------------------------------------------------------------ */
/*
 * A VMM whose local APICs are somewhere else (KVM's split irqchip, where
 * the kernel keeps them; another hypervisor; a CPU emulator) can still use
 * virq's PICs, IOAPIC, routing table and irqfds: after KVM_CREATE_IRQCHIP
 * and before any KVM_CREATE_VCPU it installs a struct virq_apic_bus, and
 * every interrupt message those send to the local APICs goes to @deliver
 * instead, in MSI format.  The VMM then forwards the guest's EOIs of
 * level-triggered vectors (KVM_EXIT_IOAPIC_EOI) to virq_ioapic_eoi() and
 * injects the PIC's interrupts itself (virq_pic_has_interrupt(),
 * virq_pic_ack_interrupt(), then KVM_INTERRUPT).
 */
struct virq_apic_bus {
	/*
	 * An interrupt message for the local APICs: @address as an MSI
	 * address (destination ID in bits 19:12, bits 8-31 of an x2APIC ID
	 * in bits 63:40, logical destination in bit 2), @data as MSI data
	 * (vector, delivery mode in bits 10:8, level in bit 14, trigger in
	 * bit 15).  Returns what KVM_SIGNAL_MSI would: >0 delivered, 0 not
	 * accepted, <0 no destination.  IOAPIC messages are sent with the
	 * IOAPIC's lock held: the callback must not call virq for this VM.
	 */
	int (*deliver)(void *opaque, uint64_t address, uint32_t data);
	/* The PIC's INT output rose (optional).  No lock held. */
	void (*extint)(void *opaque);
	/*
	 * IOAPIC pin @pin now sends this message, or nothing if @masked
	 * (optional): after a guest write, KVM_SET_IRQCHIP or a restore, and
	 * once for every pin when the bus is installed.  KVM's split irqchip
	 * learns which vectors need KVM_EXIT_IOAPIC_EOI from MSI routes, so
	 * a VMM mirrors level-triggered pins there.  No lock held.
	 */
	void (*ioapic_entry)(void *opaque, uint32_t pin, uint64_t address, uint32_t data, bool masked);
};

/**
 * virq_vm_set_apic_bus() - send the VM's interrupt messages to @bus
 * (copied) instead of virq's local APICs.  Once, after KVM_CREATE_IRQCHIP,
 * before any vCPU.  Returns 0, -EINVAL (no in-kernel irqchip, no
 * @deliver), -EBUSY (a vCPU exists, or a bus is already installed),
 * -EBADF.
 */
VIRQ_API int virq_vm_set_apic_bus(int vm_fd, const struct virq_apic_bus *bus, void *opaque);

/**
 * virq_ioapic_eoi() - a local APIC elsewhere ended level-triggered
 * @vector (KVM_EXIT_IOAPIC_EOI): the IOAPIC clears remote IRR on the pins
 * with that vector, sends again those whose line is still high, and the
 * GSIs' resamplefds fire.  Returns 0, -EINVAL (@vector > 255), -ENXIO (no
 * in-kernel irqchip), -EBADF.
 */
VIRQ_API int virq_ioapic_eoi(int vm_fd, uint32_t vector);

/**
 * virq_pic_has_interrupt() - is the PIC's INT output high?  1 or 0;
 * -ENXIO without a PIC, -EBADF.
 */
VIRQ_API int virq_pic_has_interrupt(int vm_fd);

/**
 * virq_pic_ack_interrupt() - the INTA cycle on the PIC alone: the vector to
 * inject (KVM_INTERRUPT), or -EAGAIN if the output is low; -ENXIO without
 * a PIC, -EBADF.
 */
VIRQ_API int virq_pic_ack_interrupt(int vm_fd);

/* ------------------------------------------------------------------------ */
/* The native face: irqfd delivery                                           */
/* ------------------------------------------------------------------------ */
/*
 * KVM_IRQFD binds an eventfd to a GSI, as in the kernel.  Someone must read
 * the eventfds: by default a thread virq owns (one per VM, started at the
 * first KVM_IRQFD).  A VMM with its own event loop selects
 * VIRQ_IRQFD_POLL: it then waits for the returned descriptor to become
 * readable and calls virq_irqfd_dispatch().  In-process producers skip the
 * eventfd entirely with virq_irqfd_trigger().
 */
enum virq_irqfd_mode {
	VIRQ_IRQFD_THREAD = 0, /* virq's own delivery thread (default) */
	VIRQ_IRQFD_POLL = 1,   /* the VMM polls one fd and dispatches */
};

/**
 * virq_irqfd_set_mode() - choose who reads the VM's eventfds.  For
 * VIRQ_IRQFD_POLL returns a process file descriptor (owned by virq, valid
 * until the VM is destroyed or the mode changes) that becomes readable
 * when virq_irqfd_dispatch() has work; for VIRQ_IRQFD_THREAD returns 0.
 * -EINVAL for another mode, -EMFILE/-ENOMEM, -EBADF.
 */
VIRQ_API int virq_irqfd_set_mode(int vm_fd, int mode);

/** The longest polling window virq_irqfd_set_busy_poll() accepts (µs). */
#define VIRQ_IRQFD_BUSY_POLL_MAX_US 10000u

/**
 * virq_irqfd_set_busy_poll() - how long virq's delivery thread keeps
 * polling its eventfds after an event before it sleeps again (the idea of
 * KVM's halt_poll_ns).  While it polls, an eventfd write needs no
 * cross-CPU wakeup and the interrupt arrives within a microsecond; the
 * price is up to @usec of CPU time after each burst.  Default 50 µs; 0
 * never polls.  Returns 0, -EINVAL above VIRQ_IRQFD_BUSY_POLL_MAX_US,
 * -ENOMEM, -EBADF.
 */
VIRQ_API int virq_irqfd_set_busy_poll(int vm_fd, uint32_t usec);

/**
 * virq_irqfd_dispatch() - in VIRQ_IRQFD_POLL mode, consume every signalled
 * eventfd and inject, without blocking.  Returns the number of eventfds
 * that injected, -EINVAL in thread mode, -EBADF.
 */
VIRQ_API int virq_irqfd_dispatch(int vm_fd);

/**
 * virq_irqfd_trigger() - inject as if 1 had been written to @eventfd, an
 * eventfd bound to this VM with KVM_IRQFD, without any system call.
 * Returns 0, -ENOENT if @eventfd is not bound, -EBADF.
 */
VIRQ_API int virq_irqfd_trigger(int vm_fd, int eventfd);

/* ------------------------------------------------------------------------ */
/* The native face: save and restore                                         */
/* ------------------------------------------------------------------------ */
/*
 * The state virq holds for one VM as one versioned, self-describing blob:
 * a header, then sections (routing table, irqfd bindings, ...), each with
 * its own type, version and length.  The layout is documented in
 * docs/state-format.md.  irqfd bindings are saved with their descriptor
 * numbers: a VMM restoring into another process rewrites them (the
 * struct virq_state_irqfd records are plain and documented).
 */
#define VIRQ_STATE_ROUTING (1u << 0) /* the GSI routing table */
#define VIRQ_STATE_IRQFD (1u << 1)   /* the irqfd bindings */
#define VIRQ_STATE_ARCH (1u << 2)    /* the interrupt controllers (x86: PIC,
				      * IOAPIC, and per vCPU the LAPIC, its
				      * MSRs, the pending events and the MP
				      * state with pending INIT/SIPI) */
#define VIRQ_STATE_ALL (VIRQ_STATE_ROUTING | VIRQ_STATE_IRQFD | VIRQ_STATE_ARCH)

#define VIRQ_STATE_MAGIC 0x51524956u /* "VIRQ" little-endian */
#define VIRQ_STATE_VERSION 1

struct virq_state_header {
	uint32_t magic;   /* VIRQ_STATE_MAGIC */
	uint16_t version; /* VIRQ_STATE_VERSION */
	uint16_t arch;    /* enum virq_arch of the VM */
	uint32_t size;    /* of the whole blob, header included */
	uint32_t nr_sections;
};

enum virq_state_section_type {
	VIRQ_SECTION_ROUTING = 1,     /* struct kvm_irq_routing_entry[], GSI order */
	VIRQ_SECTION_IRQFD = 2,       /* struct virq_state_irqfd[] */
	VIRQ_SECTION_X86_IRQCHIP = 16, /* struct kvm_irqchip[3]: PIC master, slave, IOAPIC */
	VIRQ_SECTION_X86_VCPU = 17,   /* per vCPU, see docs/state-format.md */
};

struct virq_state_section {
	uint32_t type;    /* enum virq_state_section_type */
	uint16_t version; /* of this section's layout, 1 */
	uint16_t flags;   /* 0 */
	uint32_t size;    /* of the payload that follows, 8-byte padded */
	uint32_t count;   /* records in the payload */
};

struct virq_state_irqfd {
	int32_t fd;         /* the eventfd */
	int32_t resamplefd; /* -1 if none */
	uint32_t gsi;
	uint32_t flags;     /* KVM_IRQFD_FLAG_RESAMPLE or 0 */
};

/**
 * virq_vm_save() - write the state selected by @what (VIRQ_STATE_*) into
 * @buf.  Returns the blob's size; if that exceeds @size the blob was not
 * written (the buffer's contents are unspecified) and the caller retries
 * with a buffer that large: a first call with @buf NULL sizes it.
 * -EINVAL for unknown @what bits, -ENOMEM, -EBADF.
 */
VIRQ_API long virq_vm_save(int vm_fd, void *buf, size_t size, unsigned what);

/**
 * virq_vm_restore() - replace the VM's state with the sections of the
 * blob (sections not present are left alone).  The blob's layout and every
 * section are checked before anything changes; then the routing is
 * installed as KVM_SET_GSI_ROUTING would, the controllers are restored as
 * their KVM_SET_* ioctls would, and the irqfd bindings replace the current
 * ones.  If one of these refuses, what was already applied is put back.
 * Returns 0 or -errno: -EINVAL (bad magic, version, sizes, another
 * architecture, or a value the matching ioctl rejects), -EBADF (a saved
 * eventfd is not open), -ENOMEM.
 */
VIRQ_API int virq_vm_restore(int vm_fd, const void *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* VIRQ_VIRQ_H */
