/* SPDX-License-Identifier: MIT */
/*
 * backend.h - the VMM's interrupt-controller backends.
 *
 * The VMM (vmm.c) owns the VM, the memory, the vCPU threads and the simple
 * devices; everything that decides where an interrupt goes belongs to an
 * irqchip backend.  There is one backend per `--irqchip` mode:
 *
 *   kernel     PIC, IOAPIC and LAPICs all in KVM (KVM_CREATE_IRQCHIP)
 *   split      LAPICs in KVM, PIC and IOAPIC in the VMM (KVM_CAP_SPLIT_IRQCHIP)
 *   userspace  everything in the VMM; KVM only runs instructions
 *
 * Threading: per-vCPU hooks (pre_run, hlt, ioapic_eoi, pio, mmio) run on
 * that vCPU's thread, so several run at once for different vCPUs.
 * set_line and signal_msi run on whichever vCPU thread executed the device
 * access.  create, vcpu_init and destroy run on the main thread while no
 * vCPU thread exists.  A backend that makes an interrupt pending for a vCPU
 * whose LAPIC it models must call vmm_kick() for that vCPU.
 *
 * Return values: 0 or a positive count for success, -errno for failure.
 * A hook that fails stops the VM with exit status 4 (system error); the
 * VMM prints the hook's name and strerror(-ret), so hooks need not print.
 */
#ifndef VMM_BACKEND_H
#define VMM_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

struct kvm_run;
struct vmm;

/* What accept_events() reports, besides 0 and -errno. */
#define VMM_EVENT_INIT	0x100	/* INIT: park the vCPU until a STARTUP IPI */
#define VMM_EVENT_SIPI	0x200	/* STARTUP: start a parked vCPU in real mode at (r & 0xff) << 12 */

/* What hlt() asks the VMM to do after a KVM_EXIT_HLT. */
enum vmm_hlt {
	VMM_HLT_RESUME = 0,	/* an interrupt is deliverable: run the guest */
	VMM_HLT_WAIT = 1,	/* sleep until vmm_kick() (or a safety bound) */
};

struct vmm_backend {
	const char *name;	/* the --irqchip word */

	/*
	 * True when KVM holds the LAPICs (kernel, split): the APs then wait
	 * for INIT/SIPI in KVM.  False: the VMM parks them itself, and the
	 * backend's accept_events() reports the IPIs that start them.
	 */
	bool lapic_in_kernel;

	/* After KVM_CREATE_VM and the memory slot, before any vCPU exists:
	 * create the chips (KVM_CREATE_IRQCHIP, KVM_ENABLE_CAP SPLIT_IRQCHIP,
	 * virq objects).  vmm_set_backend_data() stores private state. */
	int (*create)(struct vmm *vm);

	/* After KVM_CREATE_VCPU and KVM_SET_CPUID2 for @cpu, in cpu order,
	 * before its registers are set.  Optional. */
	int (*vcpu_init)(struct vmm *vm, int cpu);

	/* Drive GSI @gsi (0..23 from the IRQ test device) to @level (0/1).
	 * Returns >= 0 (the KVM_IRQ_LINE_STATUS style count is fine). */
	int (*set_line)(struct vmm *vm, uint32_t gsi, int level);

	/* Send one MSI, as KVM_SIGNAL_MSI would (x86: address 0xfeeXXXXX).
	 * Returns >= 0 (vCPUs reached; 0 when nobody took it). */
	int (*signal_msi)(struct vmm *vm, uint64_t addr, uint32_t data);

	/*
	 * Attach eventfd @fd to GSI @gsi as a level-triggered irqfd with
	 * resamplefd @resamplefd (KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE): a
	 * write raises the line; the guest's EOI of its interrupt lowers it
	 * and signals @resamplefd.  Runs on a vCPU thread; the VMM closes the
	 * eventfds after destroy().  0 or -errno.
	 */
	int (*irqfd)(struct vmm *vm, uint32_t gsi, int fd, int resamplefd);

	/*
	 * A port or MMIO access no VMM device claimed.  @data holds @size
	 * bytes, little endian: read it for a write, fill it for a read.
	 * Return 1 if the backend handled it, 0 to let the VMM apply the
	 * default (reads all ones, writes dropped), -errno to stop.
	 * Optional (NULL: nothing claimed).
	 */
	int (*pio)(struct vmm *vm, int cpu, uint16_t port, void *data, int size, bool write);
	int (*mmio)(struct vmm *vm, int cpu, uint64_t addr, void *data, int size, bool write);

	/*
	 * A guest RDMSR or WRMSR that KVM sent to user space
	 * (KVM_EXIT_X86_RDMSR/WRMSR: the backend enabled
	 * KVM_CAP_X86_USER_SPACE_MSR and filtered the MSRs it owns).  Read
	 * or write *@data.  Return 1 if done, 0 to raise #GP in the guest,
	 * -errno to stop.  Optional (NULL: every such access raises #GP).
	 */
	int (*msr)(struct vmm *vm, int cpu, uint32_t index, uint64_t *data, bool write);

	/* KVM_EXIT_IOAPIC_EOI (split mode): the guest's LAPIC EOIed @vector,
	 * which KVM reports because the IOAPIC lives in user space. */
	int (*ioapic_eoi)(struct vmm *vm, int cpu, int vector);

	/*
	 * Before every KVM_RUN of @cpu, on its thread.  Userspace mode injects
	 * here: with run->ready_for_interrupt_injection and run->if_flag set,
	 * KVM_INTERRUPT the next vector; otherwise, if one is pending, set
	 * run->request_interrupt_window so KVM exits (IRQ_WINDOW_OPEN) as soon
	 * as the guest can take it.  vmm_vcpu_run() gives the kvm_run page.
	 * Optional.
	 */
	int (*pre_run)(struct vmm *vm, int cpu);

	/*
	 * KVM_EXIT_HLT (only without an in-kernel LAPIC): return
	 * VMM_HLT_RESUME when an interrupt is deliverable, VMM_HLT_WAIT to
	 * sleep.  The VMM clears the vCPU's kick flag before the call, so a
	 * kick that races with the decision is never lost.  Optional (NULL:
	 * resume at once, i.e. HLT becomes a busy wait).
	 */
	int (*hlt)(struct vmm *vm, int cpu);

	/*
	 * Without an in-kernel LAPIC: the INIT and STARTUP IPIs the
	 * backend's LAPIC took for @cpu (KVM's kvm_apic_accept_events()).
	 * Runs on @cpu's thread before every KVM_RUN, at a HLT, and while the
	 * vCPU is parked after each vmm_kick() of it (and every 10 ms).  The
	 * VMM resets the vCPU's registers on INIT.  Returns 0, VMM_EVENT_INIT,
	 * VMM_EVENT_SIPI | vector, both (an INIT, then a STARTUP IPI), or
	 * -errno.  An INIT to the BSP stops the VM (a reset).  Optional.
	 */
	int (*accept_events)(struct vmm *vm, int cpu);

	/* After every vCPU thread has ended; free what create() made. */
	void (*destroy)(struct vmm *vm);
};

/* Find the backend for an --irqchip word; NULL if it is not built. */
const struct vmm_backend *vmm_backend_lookup(const char *name);

extern const struct vmm_backend vmm_backend_kernel;
extern const struct vmm_backend vmm_backend_split;
extern const struct vmm_backend vmm_backend_userspace;

/* What a backend may ask of the VMM (all thread-safe). */
int vmm_vm_fd(const struct vmm *vm);
int vmm_vcpu_fd(const struct vmm *vm, int cpu);
struct kvm_run *vmm_vcpu_run(const struct vmm *vm, int cpu);
int vmm_ncpus(const struct vmm *vm);
void *vmm_backend_data(const struct vmm *vm);
void vmm_set_backend_data(struct vmm *vm, void *data);

/* Make @cpu leave KVM_RUN soon (or not enter it), and wake it if it waits
 * after a HLT.  Safe from any thread, including @cpu's own. */
void vmm_kick(struct vmm *vm, int cpu);

/* Sleep on @cpu's thread until vmm_kick(@cpu) or @timeout_us passes
 * (< 0: no bound).  Returns 1 if kicked, 0 on timeout. */
int vmm_vcpu_wait(struct vmm *vm, int cpu, long timeout_us);

#endif
