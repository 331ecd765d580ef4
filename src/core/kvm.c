/* SPDX-License-Identifier: MIT */
/*
 * kvm.c - the KVM-ABI face: virq_open(), virq_ioctl(), virq_close(), and
 * the generic part of the system, VM and vCPU ioctls (virt/kvm/kvm_main.c
 * in the kernel).  Architecture-specific requests go to the arch ops.
 *
 * Injection requests (KVM_IRQ_LINE, KVM_IRQ_LINE_STATUS, KVM_SIGNAL_MSI)
 * run inside an RCU read-side section without touching the VM's reference
 * count, so concurrent injectors share no written cache line here.  Every
 * other request takes a reference for its duration.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "virq-config.h"

struct virq_system {
	struct virq_obj obj;
	const struct virq_arch_ops *arch;
};

#define KVM_API_VERSION_VALUE 12

const char *virq_version(void)
{
	return VIRQ_VERSION;
}

const struct virq_arch_ops *virq_arch_lookup(enum virq_arch arch, int *err)
{
	switch (arch) {
	case VIRQ_ARCH_HOST: /* x86 is the only one built so far */
	case VIRQ_ARCH_X86:
		return &virq_x86_ops;
	case VIRQ_ARCH_ARM:
	case VIRQ_ARCH_IA64:
	case VIRQ_ARCH_S390:
		*err = -ENODEV; /* in the ABI, not built yet */
		return NULL;
	}
	*err = -EINVAL;
	return NULL;
}

/* Runs after a grace period (virq_obj_put). */
static void system_release(struct virq_obj *obj)
{
	free(container_of(obj, struct virq_system, obj));
}

int virq_open(enum virq_arch arch)
{
	const struct virq_arch_ops *ops;
	struct virq_system *sys;
	int err = 0, h;

	ops = virq_arch_lookup(arch, &err);
	if (!ops)
		return virq_err(err);
	sys = calloc(1, sizeof(*sys));
	if (!sys)
		return virq_err(-ENOMEM);
	virq_obj_init(&sys->obj, VIRQ_OBJ_SYSTEM, system_release);
	sys->arch = ops;
	h = virq_handle_install(&sys->obj);
	if (h < 0) {
		free(sys);
		return virq_err(h);
	}
	return h;
}

int virq_close(int fd)
{
	int r = virq_handle_remove(fd);

	return r < 0 ? virq_err(r) : 0;
}

/* ---- KVM_CHECK_EXTENSION ------------------------------------------------ */

static int check_extension(const struct virq_arch_ops *arch, struct virq_vm *vm, long cap)
{
	switch (cap) {
	case KVM_CAP_IRQ_ROUTING:
		return (int)(vm ? virq_vm_gsi_limit(vm) : arch->max_irq_routes);
	case KVM_CAP_SIGNAL_MSI:
		return arch->signal_msi ? 1 : 0;
	case KVM_CAP_CHECK_EXTENSION_VM:
	case KVM_CAP_ENABLE_CAP_VM:
		return 1;
	case KVM_CAP_MAX_VCPUS:
		return (int)(vm ? vm->max_vcpus : arch->max_vcpus);
	case KVM_CAP_MAX_VCPU_ID:
		return (int)arch->max_vcpu_ids;
	case KVM_CAP_NR_VCPUS: {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		return n < 1 ? 1 : (n > (long)arch->max_vcpus ? (int)arch->max_vcpus : (int)n);
	}
	default:
		return arch->check_extension(vm, cap);
	}
}

/* ---- system handle -------------------------------------------------------- */

static long system_ioctl(struct virq_system *sys, unsigned int req, unsigned long arg)
{
	switch (req) {
	case KVM_GET_API_VERSION:
		return arg ? -EINVAL : KVM_API_VERSION_VALUE;
	case KVM_CREATE_VM:
		return virq_vm_create(sys->arch, arg);
	case KVM_CHECK_EXTENSION:
		return check_extension(sys->arch, NULL, (long)arg);
	case KVM_GET_VCPU_MMAP_SIZE:
		return arg ? -EINVAL : 3 * 4096;
	default:
		/* kvm_arch_dev_ioctl() answers EINVAL for requests it lacks. */
		return -EINVAL;
	}
}

/* ---- VM handle -------------------------------------------------------------- */

static long vm_irq_line(struct virq_vm *vm, unsigned int req, void *argp)
{
	struct kvm_irq_level irq_event;
	int r;

	if (!argp)
		return -EFAULT;
	memcpy(&irq_event, argp, sizeof(irq_event));
	r = vm->arch->irq_line(vm, &irq_event, req == KVM_IRQ_LINE_STATUS);
	if (r)
		return r;
	if (req == KVM_IRQ_LINE_STATUS)
		memcpy(argp, &irq_event, sizeof(irq_event));
	return 0;
}

static long vm_signal_msi(struct virq_vm *vm, void *argp)
{
	struct kvm_msi msi;

	if (!argp)
		return -EFAULT;
	memcpy(&msi, argp, sizeof(msi));
	if (!vm->arch->signal_msi || !vm->arch->irqchip_in_kernel(vm) ||
	    (msi.flags & ~KVM_MSI_VALID_DEVID))
		return -EINVAL;
	/* A raw -1 ("no destination") reaches the caller as EPERM, as in
	 * the kernel, because -1 == -EPERM. */
	return vm->arch->signal_msi(vm, &msi);
}

static long vm_set_gsi_routing(struct virq_vm *vm, void *argp)
{
	struct kvm_irq_routing routing;

	if (!argp)
		return -EFAULT;
	memcpy(&routing, argp, sizeof(routing));
	if (!vm->arch->can_set_irq_routing(vm))
		return -EINVAL;
	if (routing.nr > virq_vm_gsi_limit(vm))
		return -EINVAL;
	if (routing.flags)
		return -EINVAL;
	/* No copy: virq_set_irq_routing() reads each entry once per pass and
	 * stays memory-safe if the caller rewrites them meanwhile (the kernel
	 * copies because it must; the outcome for a racing caller is the
	 * same: some mix of the values it wrote). */
	return virq_set_irq_routing(vm, ((struct kvm_irq_routing *)argp)->entries, routing.nr,
				    routing.flags);
}

static long vm_irqfd(struct virq_vm *vm, void *argp)
{
	struct kvm_irqfd args;

	if (!argp)
		return -EFAULT;
	memcpy(&args, argp, sizeof(args));
	return virq_irqfd_ioctl(vm, &args);
}

static long vm_enable_cap(struct virq_vm *vm, void *argp)
{
	struct kvm_enable_cap cap;

	if (!argp)
		return -EFAULT;
	memcpy(&cap, argp, sizeof(cap));
	if (cap.flags)
		return -EINVAL;
	return vm->arch->vm_enable_cap(vm, &cap);
}

static bool vm_fast_request(unsigned int req)
{
	return req == KVM_IRQ_LINE || req == KVM_IRQ_LINE_STATUS || req == KVM_SIGNAL_MSI;
}

static long vm_fast_ioctl(struct virq_vm *vm, unsigned int req, void *argp)
{
	if (req == KVM_SIGNAL_MSI)
		return vm_signal_msi(vm, argp);
	return vm_irq_line(vm, req, argp);
}

static long vm_ioctl(struct virq_vm *vm, unsigned int req, unsigned long arg)
{
	void *argp = (void *)arg;

	switch (req) {
	case KVM_CREATE_VCPU:
		return virq_vcpu_create(vm, arg);
	case KVM_ENABLE_CAP:
		return vm_enable_cap(vm, argp);
	case KVM_SET_GSI_ROUTING:
		return vm_set_gsi_routing(vm, argp);
	case KVM_IRQFD:
		return vm_irqfd(vm, argp);
	case KVM_CHECK_EXTENSION:
		return check_extension(vm->arch, vm, (long)arg);
	default:
		return vm->arch->vm_ioctl(vm, req, argp);
	}
}

/* ---- vCPU handle ------------------------------------------------------------ */

static long vcpu_ioctl(struct virq_vcpu *vcpu, unsigned int req, unsigned long arg)
{
	/* kvm_vcpu_ioctl() rejects foreign ioctl types with EINVAL. */
	if (_IOC_TYPE(req) != KVMIO)
		return -EINVAL;
	return vcpu->vm->arch->vcpu_ioctl(vcpu, req, (void *)arg);
}

/* ---- the entry point ---------------------------------------------------------- */

int virq_ioctl(int fd, unsigned long request, ...)
{
	unsigned int req = (unsigned int)request; /* the kernel truncates too */
	struct virq_obj *obj;
	unsigned long arg;
	va_list ap;
	long r;

	va_start(ap, request);
	arg = va_arg(ap, unsigned long);
	va_end(ap);

	rcu_read_lock();
	obj = virq_handle_lookup_rcu(fd);
	if (!obj) {
		rcu_read_unlock();
		return virq_err(-EBADF);
	}
	if (obj->type == VIRQ_OBJ_VM && vm_fast_request(req)) {
		r = vm_fast_ioctl(container_of(obj, struct virq_vm, obj), req, (void *)arg);
		rcu_read_unlock();
		return r < 0 ? virq_err((int)r) : (int)r;
	}
	rcu_read_unlock();

	obj = virq_handle_get(fd);
	if (!obj)
		return virq_err(-EBADF);
	switch (obj->type) {
	case VIRQ_OBJ_SYSTEM:
		r = system_ioctl(container_of(obj, struct virq_system, obj), req, arg);
		break;
	case VIRQ_OBJ_VM:
		r = vm_ioctl(container_of(obj, struct virq_vm, obj), req, arg);
		break;
	case VIRQ_OBJ_VCPU:
		r = vcpu_ioctl(container_of(obj, struct virq_vcpu, obj), req, arg);
		break;
	default:
		r = -ENOTTY;
		break;
	}
	virq_obj_put(obj);
	return r < 0 ? virq_err((int)r) : (int)r;
}

/* ---- generic native calls ------------------------------------------------------- */

/* The object behind @fd with a reference, if it has @type. */
static struct virq_obj *get_typed(int fd, enum virq_obj_type type)
{
	struct virq_obj *obj = virq_handle_get(fd);

	if (obj && obj->type != type) {
		virq_obj_put(obj);
		obj = NULL;
	}
	return obj;
}

struct virq_vm *virq_vm_get(int fd)
{
	struct virq_obj *obj = get_typed(fd, VIRQ_OBJ_VM);

	return obj ? container_of(obj, struct virq_vm, obj) : NULL;
}

struct virq_vcpu *virq_vcpu_get(int fd)
{
	struct virq_obj *obj = get_typed(fd, VIRQ_OBJ_VCPU);

	return obj ? container_of(obj, struct virq_vcpu, obj) : NULL;
}

int virq_vcpu_set_event_fn(int vcpu_fd, virq_event_fn fn, void *opaque)
{
	struct virq_vcpu *vcpu = virq_vcpu_get(vcpu_fd);
	int r;

	if (!vcpu)
		return -EBADF;
	r = virq_vcpu_set_event_sink(vcpu, fn, opaque);
	virq_obj_put(&vcpu->obj);
	return r;
}

int virq_vm_set_trace_fn(int vm_fd, virq_trace_fn fn, void *opaque)
{
	struct virq_vm *vm = virq_vm_get(vm_fd);
	int r;

	if (!vm)
		return -EBADF;
	/* Wait below for emitters still using the old pair, so the caller may
	 * free its opaque on return; that wait cannot run inside a read-side
	 * section (a trace or event callback). */
	if (rcu_read_ongoing()) {
		virq_obj_put(&vm->obj);
		return -EDEADLK;
	}
	r = virq_trace_sink_set(&vm->trace, fn, opaque);
	virq_obj_put(&vm->obj);
	if (r == 0)
		synchronize_rcu();
	return r;
}

int virq_vm_set_clock(int vm_fd, virq_clock_fn fn, void *opaque)
{
	struct virq_vm *vm = virq_vm_get(vm_fd);
	int r = 0;

	if (!vm)
		return -EBADF;
	if (!fn) {
		r = -EINVAL;
	} else {
		pthread_mutex_lock(&vm->lock);
		if (vm->created_vcpus) {
			r = -EBUSY;
		} else {
			vm->clock = fn;
			vm->clock_opaque = opaque;
		}
		pthread_mutex_unlock(&vm->lock);
	}
	virq_obj_put(&vm->obj);
	return r;
}

int64_t virq_vm_poll_timers(int vm_fd)
{
	struct virq_vm *vm = virq_vm_get(vm_fd);
	int64_t r;

	if (!vm)
		return -EBADF;
	r = vm->arch->poll_timers(vm);
	virq_obj_put(&vm->obj);
	return r;
}

int virq_vcpu_has_interrupt(int vcpu_fd)
{
	struct virq_vcpu *vcpu = virq_vcpu_get(vcpu_fd);
	int r;

	if (!vcpu)
		return -EBADF;
	r = vcpu->vm->arch->vcpu_has_interrupt(vcpu);
	virq_obj_put(&vcpu->obj);
	return r;
}

int virq_vcpu_ack_interrupt(int vcpu_fd)
{
	struct virq_vcpu *vcpu = virq_vcpu_get(vcpu_fd);
	int r;

	if (!vcpu)
		return -EBADF;
	r = vcpu->vm->arch->vcpu_ack_interrupt(vcpu);
	virq_obj_put(&vcpu->obj);
	return r;
}

int virq_vcpu_eoi(int vcpu_fd)
{
	struct virq_vcpu *vcpu = virq_vcpu_get(vcpu_fd);
	int r;

	if (!vcpu)
		return -EBADF;
	r = vcpu->vm->arch->vcpu_eoi(vcpu);
	virq_obj_put(&vcpu->obj);
	return r;
}
