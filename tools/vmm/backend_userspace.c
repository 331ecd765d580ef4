/* SPDX-License-Identifier: MIT */
/*
 * backend_userspace.c - `--irqchip userspace`: KVM has no irqchip at all;
 * virq models the PICs, the IOAPIC and every local APIC, as a hypervisor
 * other than KVM would use it.
 *
 *   guest LAPIC/IOAPIC MMIO, PIC ports -> exits -> virq_lapic_*, virq_ioapic_*, virq_pio_*
 *   an interrupt becomes deliverable   -> virq's event callback -> vmm_kick()
 *   before each KVM_RUN                -> virq_vcpu_ack_interrupt() -> KVM_INTERRUPT
 *   HLT                                -> sleep until virq has something for the vCPU
 *   LAPIC timers                       -> a thread polls virq_vm_poll_timers()
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
#include "virq/virq.h"

#define LAPIC_BASE 0xfee00000ull
#define IOAPIC_BASE 0xfec00000ull
#define MMIO_PAGE 0x1000ull
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
	/* The kernel's APs wait for INIT/SIPI; the built-in guest starts them
	 * all at once, so every vCPU is runnable here as it is in KVM. */
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
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };

	if (virq_ioctl(us_of(vm)->vfd, KVM_IRQ_LINE_STATUS, &irq) < 0)
		return -errno;
	return irq.status < 0 ? 0 : irq.status;
}

static int us_signal_msi(struct vmm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data };
	int r = virq_ioctl(us_of(vm)->vfd, KVM_SIGNAL_MSI, &msi);

	return r < 0 && errno != EPERM ? -errno : (r < 0 ? 0 : r);
}

static int us_pio(struct vmm *vm, int cpu, uint16_t port, void *data, int size, bool write)
{
	int vfd = us_of(vm)->vfd, r;

	(void)cpu;
	if (port != 0x20 && port != 0x21 && port != 0xa0 && port != 0xa1 && port != 0x4d0 && port != 0x4d1)
		return 0;
	r = write ? virq_pio_write(vfd, port, data, (unsigned)size) : virq_pio_read(vfd, port, data, (unsigned)size);
	return r < 0 ? r : 1;
}

static int us_mmio(struct vmm *vm, int cpu, uint64_t addr, void *data, int size, bool write)
{
	struct userspace *u = us_of(vm);
	uint32_t off;
	int r;

	if (addr >= LAPIC_BASE && addr < LAPIC_BASE + MMIO_PAGE) {
		off = (uint32_t)(addr - LAPIC_BASE);
		r = write ? virq_lapic_write(u->cpu[cpu].vcpu, off, data, (unsigned)size)
			  : virq_lapic_read(u->cpu[cpu].vcpu, off, data, (unsigned)size);
	} else if (addr >= IOAPIC_BASE && addr < IOAPIC_BASE + MMIO_PAGE) {
		off = (uint32_t)(addr - IOAPIC_BASE);
		r = write ? virq_ioapic_write(u->vfd, off, data, (unsigned)size)
			  : virq_ioapic_read(u->vfd, off, data, (unsigned)size);
	} else {
		return 0;
	}
	/* What the chip refuses (a bad size or offset) reads as unclaimed. */
	if (r == -EINVAL || r == -EOPNOTSUPP)
		return 0;
	return r < 0 ? r : 1;
}

/* Inject what virq's LAPIC (and, through LVT0, the PIC) has for the vCPU. */
static int us_pre_run(struct vmm *vm, int cpu)
{
	struct userspace *u = us_of(vm);
	struct kvm_run *run = vmm_vcpu_run(vm, cpu);
	int vcpu = u->cpu[cpu].vcpu, v;

	run->request_interrupt_window = 0;
	if (virq_vcpu_has_interrupt(vcpu) != 1)
		return 0;
	if (!run->ready_for_interrupt_injection || !run->if_flag) {
		run->request_interrupt_window = 1;
		return 0;
	}
	v = virq_vcpu_ack_interrupt(vcpu);
	if (v >= 0) {
		struct kvm_interrupt irq = { .irq = (uint32_t)v };

		if (ioctl(vmm_vcpu_fd(vm, cpu), KVM_INTERRUPT, &irq) < 0)
			return -errno;
	}
	return 0;
}

/* HLT with interrupts enabled ends when virq has an interrupt to give. */
static int us_hlt(struct vmm *vm, int cpu)
{
	return virq_vcpu_has_interrupt(us_of(vm)->cpu[cpu].vcpu) == 1 ? VMM_HLT_RESUME : VMM_HLT_WAIT;
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
	.pio = us_pio,
	.mmio = us_mmio,
	.pre_run = us_pre_run,
	.hlt = us_hlt,
	.destroy = us_destroy,
};
