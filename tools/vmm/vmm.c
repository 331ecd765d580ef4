/* SPDX-License-Identifier: MIT */
/*
 * vmm.c - `virq vm`: VM and vCPU set-up, the vCPU threads and their run
 * loop, exit dispatch, and the kick that brings a vCPU out of KVM_RUN.
 *
 * One thread per vCPU runs KVM_RUN in a loop; the main thread only waits
 * for the end (a debug-exit write, a fatal exit, or the timeout).  What
 * the guest's devices do is in devices.c, how an image is loaded in
 * loader.c, and who delivers interrupts in the irqchip backend
 * (backend.h).  docs/vmm.md describes the machine the guest sees.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vm.h"
#include "vmm.h"

#define SIG_KICK		SIGUSR1
#define HLT_WAIT_BOUND_US	10000	/* a lost kick costs at most this */
#define MB_BOOT_MAGIC		0x2badb002	/* EAX at a multiboot entry */
#define TSS_ADDR		0xfffbd000	/* 3 pages VMX uses for real mode */

struct vmm_opts {
	const char	*irqchip;
	int		cpus;
	int		mem_mb;
	int		timeout;	/* seconds; 0: none */
	const char	*append;
	bool		measure;	/* --measure: the latency probe */
	const char	*dump;		/* --dump-guest FILE */
	const char	*image;		/* NULL: the built-in guest */
};

static const char usage_vm[] =
	"usage: virq vm [OPTIONS] [IMAGE]\n"
	"\n"
	"Run a guest on /dev/kvm with an interrupt controller chosen by --irqchip.\n"
	"Without IMAGE, run the built-in test guest, which exercises the IOAPIC, the\n"
	"PIC, MSIs, IPIs and the LAPIC timer and prints what it saw on COM1.  IMAGE\n"
	"is a multiboot (v1) ELF32 kernel, for example a kvm-unit-tests x86 test.\n"
	"\n"
	"  -i, --irqchip MODE   kernel (all chips in KVM, the default), split (LAPICs in\n"
	"                       KVM, PIC and IOAPIC in virq) or userspace (all in virq)\n"
	"  -c, --cpus N         vCPUs, 1-16 (default 2)\n"
	"  -m, --mem MIB        guest RAM in MiB, 4-3072 (default 64)\n"
	"  -t, --timeout SEC    stop and fail after SEC seconds, 0 for never (default 30)\n"
	"  -a, --append TEXT    the multiboot command line\n"
	"      --measure        time interrupts from injection to the guest's handler\n"
	"                       (the built-in guest runs its latency loops) and print\n"
	"                       the table after the run\n"
	"      --dump-guest FILE  write the built-in guest's ELF to FILE and exit\n"
	"  -h, --help           this help\n"
	"\n"
	"Devices: COM1 (0x3f8, to stdout), debug exit (0xf4), fw_cfg (0x510), the\n"
	"IRQ test device (0x2000 + line), the MSI test port (0x2100), the resample\n"
	"test device (0x2200) and the latency probe (0x2300); see docs/vmm.md.\n"
	"Exit status: the built-in guest's verdict (0 pass, 1 fail); for an IMAGE,\n"
	"QEMU's isa-debug-exit rule, (value << 1) | 1.  1 also for a triple fault or\n"
	"the timeout, 2 bad usage, 3 no /dev/kvm, 4 system error or a mode not built.\n";

/* ---- accessors for backends (backend.h) ---- */

int vmm_vm_fd(const struct vmm *vm)
{
	return vm->vm_fd;
}

int vmm_vcpu_fd(const struct vmm *vm, int cpu)
{
	return vm->vcpus[cpu].fd;
}

struct kvm_run *vmm_vcpu_run(const struct vmm *vm, int cpu)
{
	return vm->vcpus[cpu].run;
}

int vmm_ncpus(const struct vmm *vm)
{
	return vm->ncpus;
}

void *vmm_backend_data(const struct vmm *vm)
{
	return vm->backend_data;
}

void vmm_set_backend_data(struct vmm *vm, void *data)
{
	vm->backend_data = data;
}

/* ---- kicks, waits and the end of the run ---- */

/* The signal only has to interrupt KVM_RUN; the handler has nothing to do. */
static void kick_handler(int sig)
{
}

/*
 * immediate_exit covers a vCPU about to enter KVM_RUN (KVM checks it on
 * entry), the signal one already inside.  The vCPU clears immediate_exit
 * before it looks for work, so a kick is never lost between the two.
 */
void vmm_kick(struct vmm *vm, int cpu)
{
	struct vmm_vcpu *vc = &vm->vcpus[cpu];

	pthread_mutex_lock(&vc->lock);
	vc->kicked = true;
	pthread_cond_signal(&vc->cond);
	if (vc->run)
		__atomic_store_n(&vc->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	/* Under the lock: the thread is not joined (and gone) meanwhile. */
	if (vc->started && !pthread_equal(vc->thread, pthread_self()))
		pthread_kill(vc->thread, SIG_KICK);
	pthread_mutex_unlock(&vc->lock);
}

static struct timespec deadline_after_us(long us)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += us / 1000000;
	ts.tv_nsec += (us % 1000000) * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

int vmm_vcpu_wait(struct vmm *vm, int cpu, long timeout_us)
{
	struct vmm_vcpu *vc = &vm->vcpus[cpu];
	struct timespec end = deadline_after_us(timeout_us < 0 ? 0 : timeout_us);
	bool kicked;

	pthread_mutex_lock(&vc->lock);
	while (!vc->kicked) {
		if (timeout_us < 0)
			pthread_cond_wait(&vc->cond, &vc->lock);
		else if (pthread_cond_timedwait(&vc->cond, &vc->lock, &end) == ETIMEDOUT)
			break;
	}
	kicked = vc->kicked;
	vc->kicked = false;
	pthread_mutex_unlock(&vc->lock);
	return kicked;
}

bool vmm_stopping(struct vmm *vm)
{
	return __atomic_load_n(&vm->done, __ATOMIC_SEQ_CST);
}

void vmm_stop(struct vmm *vm, int status)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->done) {
		vm->status = status;
		__atomic_store_n(&vm->done, true, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&vm->done_cond);
	}
	pthread_mutex_unlock(&vm->lock);
	for (int i = 0; i < vm->ncpus; i++)
		vmm_kick(vm, i);
}

static void init_cond_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

/* ---- reporting ---- */

static int sys_failed(const char *what, int cpu)
{
	int e = errno;

	if (cpu >= 0)
		fprintf(stderr, "virq vm: vCPU %d: %s: %s\n", cpu, what, strerror(e));
	else
		fprintf(stderr, "virq vm: %s: %s\n", what, strerror(e));
	return -e;
}

static int hook_failed(struct vmm *vm, const char *hook, int cpu, int err)
{
	fprintf(stderr, "virq vm: vCPU %d: irqchip %s: %s: %s\n", cpu, vm->backend->name, hook,
		strerror(-err));
	vmm_stop(vm, VMM_EXIT_SYSTEM);
	return err;
}

static void print_segment(const char *name, const struct kvm_segment *s)
{
	fprintf(stderr, "  %-3s sel 0x%04x base 0x%08llx limit 0x%08x type 0x%x\n", name, s->selector,
		(unsigned long long)s->base, s->limit, s->type);
}

/* Registers of a vCPU that is not in KVM_RUN, for a post-mortem. */
static void print_registers(struct vmm_vcpu *vc)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vc->fd, KVM_GET_REGS, &r) < 0 || ioctl(vc->fd, KVM_GET_SREGS, &s) < 0) {
		sys_failed("KVM_GET_REGS/SREGS", vc->id);
		return;
	}
	fprintf(stderr, "  rip 0x%08llx rsp 0x%08llx rflags 0x%08llx cr0 0x%llx cr3 0x%llx cr4 0x%llx\n"
		"  rax 0x%08llx rbx 0x%08llx rcx 0x%08llx rdx 0x%08llx rsi 0x%08llx rdi 0x%08llx\n",
		r.rip, r.rsp, r.rflags, s.cr0, s.cr3, s.cr4, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi);
	print_segment("cs", &s.cs);
	print_segment("ss", &s.ss);
	fprintf(stderr, "  gdt 0x%08llx/0x%x idt 0x%08llx/0x%x\n", (unsigned long long)s.gdt.base,
		s.gdt.limit, (unsigned long long)s.idt.base, s.idt.limit);
}

/* ---- exits ---- */

static int pio_one(struct vmm_vcpu *vc, uint16_t port, uint8_t *data, int size, bool write)
{
	struct vmm *vm = vc->vm;
	int r = vmm_devices_pio(vm, vc->id, port, data, size, write);

	if (r == 0 && vm->backend->pio) {
		r = vm->backend->pio(vm, vc->id, port, data, size, write);
		if (r < 0)
			return hook_failed(vm, "pio", vc->id, r);
	}
	if (r == 0 && !write)
		memset(data, 0xff, (size_t)size);	/* nothing there: a floating bus */
	return 0;
}

static int exit_io(struct vmm_vcpu *vc)
{
	struct kvm_run *run = vc->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;

	/* count > 1 for a string instruction (rep outsb/insb). */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		int r = pio_one(vc, run->io.port, data, run->io.size, write);

		if (r < 0)
			return r;
	}
	return 0;
}

static int exit_mmio(struct vmm_vcpu *vc)
{
	struct vmm *vm = vc->vm;
	struct kvm_run *run = vc->run;
	int r = 0;

	if (vm->backend->mmio) {
		r = vm->backend->mmio(vm, vc->id, run->mmio.phys_addr, run->mmio.data,
				      (int)run->mmio.len, run->mmio.is_write);
		if (r < 0)
			return hook_failed(vm, "mmio", vc->id, r);
	}
	if (r == 0 && !run->mmio.is_write)
		memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
	return 0;
}

/* An MSR the backend filtered; msr.error = 1 makes KVM inject #GP. */
static int exit_msr(struct vmm_vcpu *vc, bool write)
{
	struct vmm *vm = vc->vm;
	struct kvm_run *run = vc->run;
	uint64_t data = run->msr.data;
	int r = 0;

	if (vm->backend->msr) {
		r = vm->backend->msr(vm, vc->id, run->msr.index, &data, write);
		if (r < 0)
			return hook_failed(vm, "msr", vc->id, r);
	}
	run->msr.error = r ? 0 : 1;
	if (r && !write)
		run->msr.data = data;
	return 0;
}

/*
 * Only without an in-kernel LAPIC does HLT reach us.  Clearing the kick
 * flag before asking the backend means a kick sent after its answer is
 * seen by the wait.
 */
static int accept_events(struct vmm_vcpu *vc);

static int exit_hlt(struct vmm_vcpu *vc)
{
	struct vmm *vm = vc->vm;
	int r = VMM_HLT_RESUME;

	pthread_mutex_lock(&vc->lock);
	vc->kicked = false;
	pthread_mutex_unlock(&vc->lock);
	if (vm->backend->hlt) {
		r = vm->backend->hlt(vm, vc->id);
		if (r < 0)
			return hook_failed(vm, "hlt", vc->id, r);
	}
	/* An INIT or STARTUP IPI ends the HLT too (the kick it sent may be
	 * the one just cleared). */
	if (r == VMM_HLT_WAIT && vm->backend->accept_events) {
		if (accept_events(vc) < 0)
			return -EIO;
		if (vc->parked)
			r = VMM_HLT_RESUME;
	}
	if (r == VMM_HLT_WAIT && !vmm_stopping(vm))
		vmm_vcpu_wait(vm, vc->id, HLT_WAIT_BOUND_US);
	return 0;
}

static int exit_fatal(struct vmm_vcpu *vc, const char *what, int status)
{
	fprintf(stderr, "virq vm: vCPU %d: %s\n", vc->id, what);
	print_registers(vc);
	vmm_stop(vc->vm, status);
	return -EIO;
}

static int exit_internal_error(struct vmm_vcpu *vc)
{
	struct kvm_run *run = vc->run;

	fprintf(stderr, "virq vm: vCPU %d: KVM internal error, suberror %u", vc->id,
		run->internal.suberror);
	for (uint32_t i = 0; i < run->internal.ndata && i < 16; i++)
		fprintf(stderr, " 0x%llx", (unsigned long long)run->internal.data[i]);
	fprintf(stderr, "\n");
	return exit_fatal(vc, "stopped by an internal error (often an instruction the "
			  "emulator lacks)", VMM_EXIT_SYSTEM);
}

static int handle_exit(struct vmm_vcpu *vc)
{
	struct vmm *vm = vc->vm;
	struct kvm_run *run = vc->run;
	char what[96];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return exit_io(vc);
	case KVM_EXIT_MMIO:
		return exit_mmio(vc);
	case KVM_EXIT_HLT:
		return exit_hlt(vc);
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		return exit_msr(vc, run->exit_reason == KVM_EXIT_X86_WRMSR);
	case KVM_EXIT_IRQ_WINDOW_OPEN:
	case KVM_EXIT_INTR:
		return 0;	/* pre_run injects before the next entry */
	case KVM_EXIT_IOAPIC_EOI:
		if (vm->backend->ioapic_eoi) {
			int r = vm->backend->ioapic_eoi(vm, vc->id, run->eoi.vector);

			if (r < 0)
				return hook_failed(vm, "ioapic_eoi", vc->id, r);
		}
		return 0;
	case KVM_EXIT_SHUTDOWN:
		return exit_fatal(vc, "triple fault (KVM_EXIT_SHUTDOWN)", VMM_EXIT_FAILED);
	case KVM_EXIT_SYSTEM_EVENT:
		snprintf(what, sizeof(what), "system event %u (shutdown, reset or crash)",
			 run->system_event.type);
		return exit_fatal(vc, what, VMM_EXIT_FAILED);
	case KVM_EXIT_INTERNAL_ERROR:
		return exit_internal_error(vc);
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "KVM_EXIT_FAIL_ENTRY, hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return exit_fatal(vc, what, VMM_EXIT_SYSTEM);
	default:
		snprintf(what, sizeof(what), "unexpected exit reason %u", run->exit_reason);
		return exit_fatal(vc, what, VMM_EXIT_SYSTEM);
	}
}

/* ---- vCPU threads ---- */

static int set_real_mode_start(struct vmm_vcpu *vc, uint8_t vector)
{
	struct kvm_sregs s;
	struct kvm_regs r = { .rflags = 2 };

	if (ioctl(vc->fd, KVM_GET_SREGS, &s) < 0)
		return sys_failed("KVM_GET_SREGS", vc->id);
	s.cs.selector = (uint16_t)(vector << 8);
	s.cs.base = (uint64_t)vector << 12;
	if (ioctl(vc->fd, KVM_SET_SREGS, &s) < 0)
		return sys_failed("KVM_SET_SREGS", vc->id);
	if (ioctl(vc->fd, KVM_SET_REGS, &r) < 0)
		return sys_failed("KVM_SET_REGS", vc->id);
	return 0;
}

/*
 * INIT: the vCPU's registers as KVM created them (KVM's kvm_vcpu_reset()
 * for the state the guest can see: segments, control registers, EFER,
 * descriptor tables, general registers; no pending event).  A PIO or MMIO
 * read whose exit was handled is completed first (KVM_RUN with
 * immediate_exit), so it cannot land in the new state.
 */
static int set_init_state(struct vmm_vcpu *vc)
{
	struct kvm_regs r = { .rflags = 2, .rip = 0xfff0 };
	struct kvm_vcpu_events ev;

	__atomic_store_n(&vc->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (ioctl(vc->fd, KVM_RUN, 0) == 0 || (errno != EINTR && errno != EAGAIN))
		return sys_failed("KVM_RUN to complete an exit before INIT", vc->id);
	__atomic_store_n(&vc->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	if (ioctl(vc->fd, KVM_SET_SREGS, &vc->reset_sregs) < 0)
		return sys_failed("KVM_SET_SREGS", vc->id);
	if (ioctl(vc->fd, KVM_SET_REGS, &r) < 0)
		return sys_failed("KVM_SET_REGS", vc->id);
	if (ioctl(vc->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return sys_failed("KVM_GET_VCPU_EVENTS", vc->id);
	memset(&ev.exception, 0, sizeof(ev.exception));
	memset(&ev.interrupt, 0, sizeof(ev.interrupt));
	memset(&ev.nmi, 0, sizeof(ev.nmi));
	ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
	if (ioctl(vc->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return sys_failed("KVM_SET_VCPU_EVENTS", vc->id);
	return 0;
}

/*
 * Without an in-kernel LAPIC, INIT and STARTUP IPIs are the backend's: an
 * INIT resets and parks the vCPU, a STARTUP IPI to a parked vCPU starts it
 * in real mode.  Returns 0 or -errno (the VM is stopped).
 */
static int accept_events(struct vmm_vcpu *vc)
{
	struct vmm *vm = vc->vm;
	int r;

	if (!vm->backend->accept_events)
		return 0;
	r = vm->backend->accept_events(vm, vc->id);
	if (r < 0)
		return hook_failed(vm, "accept_events", vc->id, r);
	if (r & VMM_EVENT_INIT) {
		if (vc->id == 0)
			return exit_fatal(vc, "INIT to the BSP: a reset, which virq vm does not do",
					  VMM_EXIT_FAILED);
		if (set_init_state(vc) < 0) {
			vmm_stop(vm, VMM_EXIT_SYSTEM);
			return -EIO;
		}
		vc->parked = true;
	}
	if ((r & VMM_EVENT_SIPI) && vc->parked) {
		vc->parked = false;
		return set_real_mode_start(vc, (uint8_t)r);
	}
	return 0;
}

static int run_once(struct vmm_vcpu *vc)
{
	struct vmm *vm = vc->vm;
	int r;

	if (vm->backend->pre_run) {
		r = vm->backend->pre_run(vm, vc->id);
		if (r < 0)
			return hook_failed(vm, "pre_run", vc->id, r);
	}
	if (ioctl(vc->fd, KVM_RUN, 0) < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;	/* kicked */
		r = sys_failed("KVM_RUN", vc->id);
		vmm_stop(vm, VMM_EXIT_SYSTEM);
		return r;
	}
	return handle_exit(vc);
}

static void *vcpu_thread(void *arg)
{
	struct vmm_vcpu *vc = arg;
	struct vmm *vm = vc->vm;

	/* Wait until every thread exists, so that kicks can reach them all. */
	pthread_mutex_lock(&vm->lock);
	while (!vm->go && !vm->done)
		pthread_cond_wait(&vm->done_cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);

	for (;;) {
		/* Clear before looking for work: see vmm_kick(). */
		__atomic_store_n(&vc->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (vmm_stopping(vm) || accept_events(vc) < 0)
			break;
		if (vc->parked) {	/* a kick may bring its STARTUP IPI */
			vmm_vcpu_wait(vm, vc->id, HLT_WAIT_BOUND_US);
			continue;
		}
		if (run_once(vc) < 0)
			break;
	}
	return NULL;
}

/* ---- set-up ---- */

static int get_supported_cpuid(struct vmm *vm, struct kvm_cpuid2 **out)
{
	for (unsigned n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return sys_failed("KVM_GET_SUPPORTED_CPUID", -1);
	}
	return -E2BIG;
}

/* The APIC ID the guest reads from CPUID must be the LAPIC's: the vCPU id. */
static int set_cpuid(struct vmm_vcpu *vc, const struct kvm_cpuid2 *supported)
{
	size_t size = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	int r = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, size);
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffff) | (uint32_t)vc->id << 24;
		else if (e->function == 0xb || e->function == 0x1f)
			e->edx = (uint32_t)vc->id;
	}
	if (ioctl(vc->fd, KVM_SET_CPUID2, c) < 0)
		r = sys_failed("KVM_SET_CPUID2", vc->id);
	free(c);
	return r;
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type)
{
	*s = (struct kvm_segment){
		.limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .db = 1, .s = 1, .g = 1,
	};
}

/* Multiboot's machine state: flat 32-bit protected mode, paging off,
 * interrupts off, EAX the magic, EBX the info.  GDTR is the guest's job. */
static int set_protected_mode_start(struct vmm_vcpu *vc, const struct vmm_boot *boot)
{
	struct kvm_sregs s;
	struct kvm_regs r = {
		.rip = boot->entry, .rflags = 2, .rax = MB_BOOT_MAGIC, .rbx = boot->mbi,
	};

	if (ioctl(vc->fd, KVM_GET_SREGS, &s) < 0)
		return sys_failed("KVM_GET_SREGS", vc->id);
	flat_segment(&s.cs, 0x08, 0xb);		/* code, execute/read, accessed */
	flat_segment(&s.ds, 0x10, 0x3);		/* data, read/write, accessed */
	s.es = s.fs = s.gs = s.ss = s.ds;
	s.cr0 = 0x11;				/* PE | ET */
	s.cr4 = 0;
	s.efer = 0;
	if (ioctl(vc->fd, KVM_SET_SREGS, &s) < 0)
		return sys_failed("KVM_SET_SREGS", vc->id);
	if (ioctl(vc->fd, KVM_SET_REGS, &r) < 0)
		return sys_failed("KVM_SET_REGS", vc->id);
	return 0;
}

static int create_vcpu(struct vmm *vm, int id, const struct kvm_cpuid2 *cpuid)
{
	struct vmm_vcpu *vc = &vm->vcpus[id];
	void *run;
	int r;

	vc->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (vc->fd < 0)
		return sys_failed("KVM_CREATE_VCPU", id);
	run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vc->fd, 0);
	if (run == MAP_FAILED)
		return sys_failed("mmap of kvm_run", id);
	vc->run = run;
	if (ioctl(vc->fd, KVM_GET_SREGS, &vc->reset_sregs) < 0)
		return sys_failed("KVM_GET_SREGS", id);
	if ((r = set_cpuid(vc, cpuid)))
		return r;
	if (vm->backend->vcpu_init && (r = vm->backend->vcpu_init(vm, id)) < 0) {
		fprintf(stderr, "virq vm: vCPU %d: irqchip %s: vcpu_init: %s\n", id, vm->backend->name,
			strerror(-r));
		return r;
	}
	return 0;
}

/*
 * Only the BSP starts, at the multiboot entry point.  The APs wait for
 * INIT and STARTUP IPIs: in KVM when it has the LAPICs, else parked here
 * until the backend's accept_events() reports them.
 */
static int start_state(struct vmm *vm, struct vmm_vcpu *vc, const struct vmm_boot *boot)
{
	if (vc->id == 0)
		return set_protected_mode_start(vc, boot);
	vc->parked = !vm->backend->lapic_in_kernel;
	return 0;
}

static int open_kvm(struct vmm *vm)
{
	int v;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		fprintf(stderr, "virq vm: cannot open /dev/kvm: %s (virq vm needs KVM to run a guest)\n",
			strerror(errno));
		return VMM_EXIT_NOKVM;
	}
	v = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (v < 0) {
		fprintf(stderr, "virq vm: /dev/kvm: KVM_GET_API_VERSION: %s\n", strerror(errno));
		return VMM_EXIT_NOKVM;
	}
	if (v != KVM_API_VERSION) {
		fprintf(stderr, "virq vm: /dev/kvm speaks API version %d, not %d\n", v, KVM_API_VERSION);
		return VMM_EXIT_NOKVM;
	}
	return 0;
}

static int create_vm(struct vmm *vm)
{
	struct kvm_userspace_memory_region slot = { 0 };
	int r;

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return sys_failed("KVM_CREATE_VM", -1);
	r = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r < 0)
		return sys_failed("KVM_GET_VCPU_MMAP_SIZE", -1);
	vm->run_size = (size_t)r;
	/* VMX without unrestricted guest runs real mode (APs after SIPI)
	 * through a TSS in guest-physical pages we must keep unused. */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0 &&
	    ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, TSS_ADDR) < 0)
		return sys_failed("KVM_SET_TSS_ADDR", -1);
	slot.memory_size = vm->mem_size;
	slot.userspace_addr = (uintptr_t)vm->mem;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		return sys_failed("KVM_SET_USER_MEMORY_REGION", -1);
	if ((r = vm->backend->create(vm)) < 0) {
		fprintf(stderr, "virq vm: irqchip %s: create: %s\n", vm->backend->name, strerror(-r));
		return r;
	}
	vm->backend_created = true;
	return 0;
}

/* RAM and the image first: a bad image is a usage error, KVM or not. */
static int setup(struct vmm *vm, const uint8_t *image, size_t size, const char *cmdline)
{
	struct kvm_cpuid2 *cpuid = NULL;
	struct vmm_boot boot;
	char err[256];
	int r;

	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		sys_failed("mmap of guest RAM", -1);
		return VMM_EXIT_SYSTEM;
	}
	if (vmm_load_multiboot(vm, image, size, cmdline, &boot, err, sizeof(err)) < 0) {
		fprintf(stderr, "virq vm: %s: %s\n", vm->builtin ? "built-in guest" : "IMAGE", err);
		return VMM_EXIT_USAGE;
	}
	if ((r = open_kvm(vm)))
		return r;
	if (create_vm(vm) < 0)
		return VMM_EXIT_SYSTEM;
	if (get_supported_cpuid(vm, &cpuid) < 0)
		return VMM_EXIT_SYSTEM;
	for (int i = 0; i < vm->ncpus && !r; i++) {
		r = create_vcpu(vm, i, cpuid);
		if (!r)
			r = start_state(vm, &vm->vcpus[i], &boot);
	}
	free(cpuid);
	return r ? VMM_EXIT_SYSTEM : 0;
}

/* ---- the run ---- */

static void report_timeout(struct vmm *vm, int timeout)
{
	fprintf(stderr, "virq vm: timeout: the guest did not finish in %d s\n", timeout);
	for (int i = 0; i < vm->ncpus; i++) {
		fprintf(stderr, " vCPU %d:\n", i);
		print_registers(&vm->vcpus[i]);
	}
}

static int run(struct vmm *vm, int timeout)
{
	struct timespec end = deadline_after_us((long)timeout * 1000000);
	bool timed_out = false;
	int i, r = 0;

	for (i = 0; i < vm->ncpus; i++) {
		r = pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
		if (r) {
			fprintf(stderr, "virq vm: pthread_create: %s\n", strerror(r));
			vmm_stop(vm, VMM_EXIT_SYSTEM);
			break;
		}
		pthread_mutex_lock(&vm->vcpus[i].lock);
		vm->vcpus[i].started = true;
		pthread_mutex_unlock(&vm->vcpus[i].lock);
	}
	pthread_mutex_lock(&vm->lock);
	vm->go = true;
	pthread_cond_broadcast(&vm->done_cond);
	while (!vm->done && !timed_out) {
		if (!timeout)
			pthread_cond_wait(&vm->done_cond, &vm->lock);
		else if (pthread_cond_timedwait(&vm->done_cond, &vm->lock, &end) == ETIMEDOUT)
			timed_out = true;
	}
	pthread_mutex_unlock(&vm->lock);
	if (timed_out)
		vmm_stop(vm, VMM_EXIT_FAILED);
	for (i = 0; i < vm->ncpus; i++) {
		struct vmm_vcpu *vc = &vm->vcpus[i];

		if (!vc->started)
			continue;
		pthread_join(vc->thread, NULL);
		pthread_mutex_lock(&vc->lock);
		vc->started = false;	/* kicks from other threads now skip it */
		pthread_mutex_unlock(&vc->lock);
	}
	if (timed_out && vm->status == VMM_EXIT_FAILED) {
		vmm_devices_flush(vm);
		report_timeout(vm, timeout);
	}
	return vm->status;
}

static struct vmm *vm_alloc(const struct vmm_opts *o, const struct vmm_backend *backend)
{
	struct vmm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->ncpus = o->cpus;
	vm->mem_size = (uint64_t)o->mem_mb << 20;
	vm->builtin = !o->image;
	vm->backend = backend;
	pthread_mutex_init(&vm->lock, NULL);
	init_cond_monotonic(&vm->done_cond);
	for (int i = 0; i < vm->ncpus; i++) {
		struct vmm_vcpu *vc = &vm->vcpus[i];

		vc->vm = vm;
		vc->id = i;
		vc->fd = -1;
		pthread_mutex_init(&vc->lock, NULL);
		init_cond_monotonic(&vc->cond);
	}
	vmm_devices_init(vm);
	vmm_resample_init(vm);
	vmm_probe_init(vm, o->measure);
	return vm;
}

static void vm_free(struct vmm *vm)
{
	vmm_resample_stop(vm);	/* no irqfd writes into a destroyed backend */
	if (vm->backend_created && vm->backend->destroy)
		vm->backend->destroy(vm);
	vmm_devices_fini(vm);
	vmm_resample_fini(vm);
	vmm_probe_fini(vm);
	for (int i = 0; i < vm->ncpus; i++) {
		struct vmm_vcpu *vc = &vm->vcpus[i];

		if (vc->run)
			munmap(vc->run, vm->run_size);
		if (vc->fd >= 0)
			close(vc->fd);
		pthread_mutex_destroy(&vc->lock);
		pthread_cond_destroy(&vc->cond);
	}
	if (vm->mem)
		munmap(vm->mem, vm->mem_size);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->done_cond);
	free(vm);
}

/* ---- the command ---- */

static int read_file(const char *path, uint8_t **out, size_t *size)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	if (!f || fstat(fileno(f), &st) < 0) {
		fprintf(stderr, "virq vm: cannot open %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return VMM_EXIT_USAGE;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (1 << 30)) {
		fprintf(stderr, "virq vm: %s: not a regular file of at most 1 GiB\n", path);
		fclose(f);
		return VMM_EXIT_USAGE;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		fprintf(stderr, "virq vm: cannot read %s\n", path);
		free(buf);
		fclose(f);
		return VMM_EXIT_SYSTEM;
	}
	fclose(f);
	*out = buf;
	*size = (size_t)st.st_size;
	return 0;
}

static int dump_guest(const char *path)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(vmm_guest_elf, 1, vmm_guest_elf_size, f) != vmm_guest_elf_size) {
		fprintf(stderr, "virq vm: cannot write %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return VMM_EXIT_SYSTEM;
	}
	if (fclose(f)) {
		fprintf(stderr, "virq vm: cannot write %s: %s\n", path, strerror(errno));
		return VMM_EXIT_SYSTEM;
	}
	return VMM_EXIT_OK;
}

static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "virq vm: %s ('%s')\n\n%s", what, arg, usage_vm);
	return VMM_EXIT_USAGE;
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

/* Returns -1 to go on, or the exit status (--help, bad usage). */
static int parse_opts(int argc, char **argv, struct vmm_opts *o)
{
	static const struct option lo[] = {
		{ "irqchip", required_argument, NULL, 'i' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "append", required_argument, NULL, 'a' },
		{ "measure", no_argument, NULL, 'M' },
		{ "dump-guest", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+i:c:m:t:a:h", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (strcmp(optarg, "kernel") && strcmp(optarg, "split") &&
			    strcmp(optarg, "userspace"))
				return bad_usage("--irqchip takes kernel, split or userspace", optarg);
			o->irqchip = optarg;
			break;
		case 'c':
			if (!parse_int(optarg, 1, VMM_MAX_CPUS, &o->cpus))
				return bad_usage("--cpus takes 1 to 16", optarg);
			break;
		case 'm':
			if (!parse_int(optarg, 4, VMM_MAX_MEM_MB, &o->mem_mb))
				return bad_usage("--mem takes 4 to 3072 (MiB)", optarg);
			break;
		case 't':
			if (!parse_int(optarg, 0, 86400, &o->timeout))
				return bad_usage("--timeout takes 0 to 86400 (seconds)", optarg);
			break;
		case 'a':
			o->append = optarg;
			break;
		case 'M':
			o->measure = true;
			break;
		case 'D':
			o->dump = optarg;
			break;
		case 'h':
			fputs(usage_vm, stdout);
			return VMM_EXIT_OK;
		default:
			fprintf(stderr, "\n%s", usage_vm);
			return VMM_EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return bad_usage("vm takes one IMAGE; extra argument", argv[optind + 1]);
	o->image = optind < argc ? argv[optind] : NULL;
	return -1;
}

static int install_kick_handler(void)
{
	struct sigaction sa = { .sa_handler = kick_handler, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIG_KICK, &sa, NULL) < 0)
		return sys_failed("sigaction", -1);
	return 0;
}

int vmm_main(int argc, char **argv)
{
	struct vmm_opts o = { .irqchip = "kernel", .cpus = 2, .mem_mb = 64, .timeout = 30 };
	const struct vmm_backend *backend;
	const uint8_t *image = vmm_guest_elf;
	size_t size = vmm_guest_elf_size;
	uint8_t *file = NULL;
	char cmdline[4200];	/* the loader takes up to 4095 bytes */
	struct vmm *vm;
	int r;

	if ((r = parse_opts(argc, argv, &o)) >= 0)
		return r;
	if (o.measure) {
		/* The built-in guest runs its latency loops on this word. */
		if ((size_t)snprintf(cmdline, sizeof(cmdline), "%s%smeasure", o.append ? o.append : "",
				     o.append ? " " : "") >= sizeof(cmdline))
			return bad_usage("--append is too long", o.append);
		o.append = cmdline;
	}
	if (o.dump)
		return dump_guest(o.dump);
	backend = vmm_backend_lookup(o.irqchip);
	if (!backend) {
		fprintf(stderr, "virq vm: irqchip mode %s: not built yet\n", o.irqchip);
		return VMM_EXIT_SYSTEM;
	}
	if (o.image) {
		if ((r = read_file(o.image, &file, &size)))
			return r;
		image = file;
	}
	if (install_kick_handler() < 0) {
		free(file);
		return VMM_EXIT_SYSTEM;
	}
	vm = vm_alloc(&o, backend);
	if (!vm) {
		free(file);
		fprintf(stderr, "virq vm: out of memory\n");
		return VMM_EXIT_SYSTEM;
	}
	r = setup(vm, image, size, o.append);
	free(file);
	if (!r) {
		r = run(vm, o.timeout);
		vmm_probe_report(vm, stdout);	/* whatever the status: an IMAGE never exits 0 */
	}
	vm_free(vm);
	fflush(stdout);
	return r;
}
