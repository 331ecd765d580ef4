/* SPDX-License-Identifier: MIT */
/*
 * vm.c - VM and vCPU objects: creation, lookup, destruction.
 *
 * As in KVM, a vCPU handle holds a reference on its VM, and vCPUs are
 * destroyed together with the VM.  Destruction waits for an RCU grace
 * period first, because injection paths look objects up without taking
 * references.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"

static uint64_t monotonic_ns(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void vm_release(struct virq_obj *obj)
{
	struct virq_vm *vm = container_of(obj, struct virq_vm, obj);
	uint32_t n = virq_vm_nr_vcpus(vm);

	/* virq_obj_put() already waited for injections that found the
	 * handle before it was removed.  irqfds go first: their delivery
	 * thread injects into everything below. */
	virq_irqfds_destroy(vm);
	for (uint32_t i = 0; i < n; i++) {
		struct virq_vcpu *vcpu = vm->vcpus[i];

		vm->arch->vcpu_destroy(vcpu);
		free(atomic_load(&vcpu->event_sink));
		free(vcpu);
	}
	vm->arch->vm_destroy(vm);
	virq_trace_sink_destroy(&vm->trace);
	virq_routing_free(atomic_load(&vm->routing));
	virq_ack_notifiers_destroy(vm);
	pthread_mutex_destroy(&vm->lock);
	free(vm->vcpus);
	free(vm);
}

int virq_vm_create(const struct virq_arch_ops *arch, unsigned long type)
{
	struct virq_vm *vm = calloc(1, sizeof(*vm));
	int r;

	if (!vm)
		return -ENOMEM;
	virq_obj_init(&vm->obj, VIRQ_OBJ_VM, vm_release);
	vm->arch = arch;
	vm->max_vcpus = arch->max_vcpus;
	vm->gsi_limit = arch->max_irq_routes;
	vm->clock = monotonic_ns;
	pthread_mutex_init(&vm->lock, NULL);
	vm->vcpus = calloc(vm->max_vcpus, sizeof(*vm->vcpus));
	r = vm->vcpus ? virq_ack_notifiers_init(vm) : -ENOMEM;
	if (!r)
		r = arch->vm_init(vm, type);
	if (r) {
		virq_ack_notifiers_destroy(vm);
		free(vm->vcpus);
		pthread_mutex_destroy(&vm->lock);
		free(vm);
		return r;
	}
	/* The handle number is known before anyone can look the VM up, so
	 * events always carry it. */
	r = virq_handle_reserve();
	if (r < 0) {
		virq_obj_put(&vm->obj);
		return r;
	}
	vm->trace.vm_fd = r;
	virq_handle_commit(r, &vm->obj);
	return r;
}

int virq_vm_set_max_vcpus(int vm_fd, uint32_t nr)
{
	struct virq_vm *vm = virq_vm_get(vm_fd);
	struct virq_vcpu **vcpus;
	int r = 0;

	if (!vm)
		return -EBADF;
	if (!nr || nr > vm->arch->vcpus_limit) {
		virq_obj_put(&vm->obj);
		return -EINVAL;
	}
	/* Allocated outside the lock; swapped only while no vCPU exists, so
	 * no reader can be indexing the old array (nr_vcpus is still 0). */
	vcpus = calloc(nr, sizeof(*vcpus));
	pthread_mutex_lock(&vm->lock);
	if (!vcpus) {
		r = -ENOMEM;
	} else if (vm->created_vcpus) {
		r = -EBUSY;
	} else {
		struct virq_vcpu **old = vm->vcpus;

		vm->vcpus = vcpus;
		vm->max_vcpus = nr;
		vcpus = old;
	}
	pthread_mutex_unlock(&vm->lock);
	free(vcpus);
	virq_obj_put(&vm->obj);
	return r;
}

struct virq_vcpu *virq_vm_vcpu_by_id(struct virq_vm *vm, uint32_t id)
{
	uint32_t n = virq_vm_nr_vcpus(vm);

	/* Fast path: ids usually equal creation indexes. */
	if (id < n && vm->vcpus[id]->vcpu_id == id)
		return vm->vcpus[id];
	for (uint32_t i = 0; i < n; i++)
		if (vm->vcpus[i]->vcpu_id == id)
			return vm->vcpus[i];
	return NULL;
}

static void vcpu_release(struct virq_obj *obj)
{
	struct virq_vcpu *vcpu = container_of(obj, struct virq_vcpu, obj);

	/* The vCPU lives as long as its VM; the handle only pins the VM.
	 * The handle number is dead now: no callback may carry it. */
	virq_vcpu_set_event_sink(vcpu, NULL, NULL);
	virq_obj_put(&vcpu->vm->obj);
}

/* KVM_CREATE_VCPU, in the order of kvm_vm_ioctl_create_vcpu(). */
int virq_vcpu_create(struct virq_vm *vm, unsigned long id)
{
	struct virq_vcpu *vcpu;
	uint32_t idx;
	int r;

	if (id >= vm->arch->max_vcpu_ids)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->created_vcpus >= vm->max_vcpus) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	r = vm->arch->vcpu_precreate(vm, (uint32_t)id);
	if (r) {
		pthread_mutex_unlock(&vm->lock);
		return r;
	}
	vm->created_vcpus++;
	pthread_mutex_unlock(&vm->lock);

	r = -ENOMEM;
	vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		goto undo_count;
	virq_obj_init(&vcpu->obj, VIRQ_OBJ_VCPU, vcpu_release);
	vcpu->vm = vm;
	vcpu->vcpu_id = (uint32_t)id;

	pthread_mutex_lock(&vm->lock);
	if (virq_vm_vcpu_by_id(vm, (uint32_t)id)) {
		r = -EEXIST;
		goto unlock_free;
	}
	idx = virq_vm_nr_vcpus(vm);
	vcpu->vcpu_idx = idx;
	r = vm->arch->vcpu_init(vcpu);
	if (r)
		goto unlock_free;
	/* The handle number is taken first but becomes usable only once the
	 * vCPU is online, so no call can reach a half-created vCPU. */
	r = virq_handle_reserve();
	if (r < 0) {
		vm->arch->vcpu_destroy(vcpu);
		goto unlock_free;
	}
	vcpu->handle = r;
	virq_obj_get(&vm->obj); /* the vCPU handle pins the VM */
	vm->vcpus[idx] = vcpu;
	atomic_store_explicit(&vm->nr_vcpus, idx + 1, memory_order_release);
	virq_handle_commit(vcpu->handle, &vcpu->obj);
	vm->arch->vcpu_postcreate(vcpu);
	pthread_mutex_unlock(&vm->lock);
	return vcpu->handle;

unlock_free:
	pthread_mutex_unlock(&vm->lock);
	free(vcpu);
undo_count:
	pthread_mutex_lock(&vm->lock);
	vm->created_vcpus--;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void virq_vcpu_event(struct virq_vcpu *vcpu, uint32_t type, uint32_t vector)
{
	struct virq_event ev = { .type = type, .vcpu_id = vcpu->vcpu_id, .vector = vector };
	struct virq_event_sink *sink;

	if (!atomic_load_explicit(&vcpu->event_sink, memory_order_relaxed))
		return;
	rcu_read_lock();
	sink = atomic_load_explicit(&vcpu->event_sink, memory_order_acquire);
	if (sink)
		sink->fn(sink->opaque, vcpu->handle, &ev);
	rcu_read_unlock();
}

static void sink_free_rcu(struct rcu_head *head)
{
	free(container_of(head, struct virq_event_sink, rcu));
}

int virq_vcpu_set_event_sink(struct virq_vcpu *vcpu, virq_event_fn fn, void *opaque)
{
	struct virq_event_sink *sink = NULL, *old;

	if (fn) {
		sink = calloc(1, sizeof(*sink));
		if (!sink)
			return -ENOMEM;
		sink->fn = fn;
		sink->opaque = opaque;
	}
	old = atomic_exchange(&vcpu->event_sink, sink);
	if (old)
		call_rcu(&old->rcu, sink_free_rcu); /* kicks in flight may hold it */
	return 0;
}
