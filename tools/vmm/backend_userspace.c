/* SPDX-License-Identifier: MIT */
/*
 * backend_userspace.c - `--irqchip userspace`: KVM has no irqchip at all;
 * virq models the PICs, the IOAPIC and every local APIC, as a hypervisor
 * other than KVM would use it.
 *
 *   guest LAPIC/IOAPIC MMIO, PIC ports -> exits -> virq_lapic_*, virq_ioapic_*, virq_pio_*
 *   APIC_BASE, TSC_DEADLINE, x2APIC MSRs -> filtered to user space -> virq_msr_*
 *   an interrupt becomes deliverable   -> virq's event callback -> vmm_kick()
 *   before each KVM_RUN                -> virq_vcpu_ack_interrupt() -> KVM_INTERRUPT
 *   HLT                                -> sleep until virq has something for the vCPU
 *   LAPIC timers                       -> a thread polls virq_vm_poll_timers()
 *   INIT / STARTUP IPIs to a vCPU      -> virq_vcpu_accept_events() on its thread
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "backend.h"
#include "backend_virq.h"
#include "virq/virq.h"

#define MAX_CPUS 64

struct userspace;

struct us_cpu {
	struct userspace *u;
	int id;
	int vcpu; /* virq's vCPU handle */
};

struct userspace {
	struct vmm *vm;
	int sys, vfd;
	struct us_cpu cpu[MAX_CPUS];
	pthread_t timer;
	bool timer_running;
	atomic_bool stop;
};

static struct userspace *us_of(struct vmm *vm)
{
	return vmm_backend_data(vm);
}

/* virq has something for the vCPU (an interrupt, an NMI, an EOI note). */
static void us_event(void *opaque, int vcpu_fd, const struct virq_event *ev)
{
	struct us_cpu *c = opaque;

	(void)vcpu_fd;
	(void)ev;
	vmm_kick(c->u->vm, c->id);
}

/* The LAPIC timers run on virq's clock: fire them when they are due. */
static void *us_timer_main(void *arg)
{
	struct userspace *u = arg;

	while (!atomic_load(&u->stop)) {
		int64_t next = virq_vm_poll_timers(u->vfd);
		struct timespec ts = { 0, 1000000 }; /* at most 1 ms, so stop is seen */

		if (next >= 0 && next < 1000000)
			ts.tv_nsec = next > 20000 ? next : 20000;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void us_destroy(struct vmm *vm);

/*
 * The interrupt MSRs must reach virq_msr_read/write.  Without an in-kernel
 * LAPIC, KVM keeps IA32_APIC_BASE and IA32_TSC_DEADLINE to itself: an MSR
 * filter denies them, and KVM_MSR_EXIT_REASON_FILTER turns the denials
 * into KVM_EXIT_X86_RDMSR/WRMSR.  The x2APIC range 0x800-0x8ff cannot be
 * filtered, but KVM would raise #GP for it: KVM_MSR_EXIT_REASON_INVAL
 * sends every such access to user space instead (the msr hook answers
 * #GP for the MSRs that are not virq's, so nothing else changes).
 */
static int us_claim_msrs(struct vmm *vm)
{
	static const uint8_t deny[1]; /* a clear bit denies */
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_USER_SPACE_MSR,
		.args[0] = KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_INVAL,
	};
	struct kvm_msr_filter f = {
		.flags = KVM_MSR_FILTER_DEFAULT_ALLOW,
		.ranges = {
			{ KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE, 1, 0x1b, (uint8_t *)deny },
			{ KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE, 1, 0x6e0, (uint8_t *)deny },
		},
	};

	/* Hosts before Linux 5.10: xAPIC only; the x2APIC MSRs raise #GP. */
	if (ioctl(vmm_vm_fd(vm), KVM_CHECK_EXTENSION, KVM_CAP_X86_USER_SPACE_MSR) <= 0 ||
	    ioctl(vmm_vm_fd(vm), KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER) <= 0)
		return 0;
	if (ioctl(vmm_vm_fd(vm), KVM_ENABLE_CAP, &cap) < 0 ||
	    ioctl(vmm_vm_fd(vm), KVM_X86_SET_MSR_FILTER, &f) < 0)
		return -errno;
	return 0;
}

static int us_create(struct vmm *vm)
{
	struct userspace *u = calloc(1, sizeof(*u));
	int r = 0;

	if (!u)
		return -ENOMEM;
	if (vmm_ncpus(vm) > MAX_CPUS) {
		free(u);
		return -E2BIG;
	}
	u->vm = vm;
	u->sys = u->vfd = -1;
	vmm_set_backend_data(vm, u);
	if ((u->sys = virq_open(VIRQ_ARCH_X86)) < 0)
		r = -errno;
	else if ((u->vfd = virq_ioctl(u->sys, KVM_CREATE_VM, 0)) < 0 ||
		 virq_ioctl(u->vfd, KVM_CREATE_IRQCHIP, 0) < 0)
		r = -errno;
	else
		r = us_claim_msrs(vm);
	if (r < 0)
		us_destroy(vm); /* destroy() runs only after a create() that succeeded */
	return r;
}

static int us_vcpu_init(struct vmm *vm, int cpu)
{
	struct userspace *u = us_of(vm);
	struct us_cpu *c = &u->cpu[cpu];

	c->u = u;
	c->id = cpu;
	c->vcpu = virq_ioctl(u->vfd, KVM_CREATE_VCPU, cpu);
	if (c->vcpu < 0)
		return -errno;
	/* virq's LAPIC needs the guest's CPUID as KVM's does: the timer modes
	 * the guest may pick (periodic, TSC deadline) and x2APIC follow it. */
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[256];
	} cpuid = { .c.nent = 256 };

	if (ioctl(vmm_vcpu_fd(vm, cpu), KVM_GET_CPUID2, &cpuid) < 0)
		return -errno;
	if (virq_ioctl(c->vcpu, KVM_SET_CPUID2, &cpuid) < 0)
		return -errno;
	/* virq's APs wait for INIT/SIPI as KVM's do (KVM_MP_STATE_UNINITIALIZED);
	 * the VMM parks their threads until accept_events() starts them. */
	if (virq_vcpu_set_event_fn(c->vcpu, us_event, c) < 0)
		return -EINVAL;
	if (cpu == vmm_ncpus(vm) - 1) {
		if (pthread_create(&u->timer, NULL, us_timer_main, u))
			return -EAGAIN;
		u->timer_running = true;
	}
	return 0;
}

static int us_set_line(struct vmm *vm, uint32_t gsi, int level)
{
	return vb_set_line(us_of(vm)->vfd, gsi, level);
}

static int us_signal_msi(struct vmm *vm, uint64_t addr, uint32_t data)
{
	return vb_signal_msi(us_of(vm)->vfd, addr, data);
}

static int us_irqfd(struct vmm *vm, uint32_t gsi, int fd, int resamplefd)
{
	return vb_irqfd(us_of(vm)->vfd, gsi, fd, resamplefd);
}

static int us_pio(struct vmm *vm, int cpu, uint16_t port, void *data, int size, bool write)
{
	(void)cpu;
	return vb_pic_pio(us_of(vm)->vfd, port, data, size, write);
}

static int us_mmio(struct vmm *vm, int cpu, uint64_t addr, void *data, int size, bool write)
{
	struct userspace *u = us_of(vm);
	int vcpu = u->cpu[cpu].vcpu;
	uint32_t off;

	if (addr < VB_LAPIC_BASE || addr >= VB_LAPIC_BASE + VB_MMIO_PAGE)
		return vb_ioapic_mmio(u->vfd, addr, data, size, write);
	off = (uint32_t)(addr - VB_LAPIC_BASE);
	return vb_claimed(write ? virq_lapic_write(vcpu, off, data, (unsigned)size)
				: virq_lapic_read(vcpu, off, data, (unsigned)size));
}

/* The interrupt MSRs: 1 done, 0 #GP (virq says so, or it is not virq's). */
static int us_msr(struct vmm *vm, int cpu, uint32_t index, uint64_t *data, bool write)
{
	int vcpu = us_of(vm)->cpu[cpu].vcpu;
	int r = write ? virq_msr_write(vcpu, index, *data) : virq_msr_read(vcpu, index, data);

	if (r == 0)
		return 1;
	if (r == 1 || r == -EOPNOTSUPP)
		return 0;
	return r;
}

/* Inject what virq's LAPIC (and, through LVT0, the PIC) has for the vCPU. */
static int us_pre_run(struct vmm *vm, int cpu)
{
	return vb_inject(vmm_vcpu_fd(vm, cpu), vmm_vcpu_run(vm, cpu), virq_vcpu_has_interrupt,
			 virq_vcpu_ack_interrupt, us_of(vm)->cpu[cpu].vcpu);
}

/* HLT with interrupts enabled ends when virq has an interrupt to give. */
static int us_hlt(struct vmm *vm, int cpu)
{
	return virq_vcpu_has_interrupt(us_of(vm)->cpu[cpu].vcpu) == 1 ? VMM_HLT_RESUME : VMM_HLT_WAIT;
}

/* INIT and STARTUP IPIs virq's LAPIC took for the vCPU. */
static int us_accept_events(struct vmm *vm, int cpu)
{
	uint8_t vector = 0;
	int r = virq_vcpu_accept_events(us_of(vm)->cpu[cpu].vcpu, &vector);

	if (r < 0)
		return r;
	return (r & VIRQ_ACCEPT_INIT ? VMM_EVENT_INIT : 0) |
	       (r & VIRQ_ACCEPT_SIPI ? VMM_EVENT_SIPI | vector : 0);
}

static void us_destroy(struct vmm *vm)
{
	struct userspace *u = us_of(vm);

	if (!u)
		return;
	if (u->timer_running) {
		atomic_store(&u->stop, true);
		pthread_join(u->timer, NULL);
	}
	for (int i = 0; i < MAX_CPUS; i++)
		if (u->cpu[i].u && u->cpu[i].vcpu >= 0)
			virq_close(u->cpu[i].vcpu);
	if (u->vfd >= 0)
		virq_close(u->vfd);
	if (u->sys >= 0)
		virq_close(u->sys);
	free(u);
	vmm_set_backend_data(vm, NULL);
}

const struct vmm_backend vmm_backend_userspace = {
	.name = "userspace",
	.lapic_in_kernel = false,
	.create = us_create,
	.vcpu_init = us_vcpu_init,
	.set_line = us_set_line,
	.signal_msi = us_signal_msi,
	.irqfd = us_irqfd,
	.pio = us_pio,
	.mmio = us_mmio,
	.msr = us_msr,
	.pre_run = us_pre_run,
	.hlt = us_hlt,
	.accept_events = us_accept_events,
	.destroy = us_destroy,
};
