/* SPDX-License-Identifier: MIT */
/*
 * x86_state.c - the x86 sections of the VM state blob (src/core/state.c,
 * docs/state-format.md): the PIC pair and the IOAPIC, and per vCPU the
 * LAPIC, its two MSRs and the pending events.  Everything goes through the
 * same paths as KVM_GET/SET_IRQCHIP, KVM_GET/SET_MSRS, KVM_GET/SET_LAPIC and
 * KVM_GET/SET_VCPU_EVENTS, so a restore validates exactly as they do; the
 * MP state is saved raw, pending INIT/SIPI included, without taking them.
 */
#include <string.h>

#include "lapic.h"
#include "x86.h"

/* One vCPU's record; 8-byte multiple, documented in docs/state-format.md. */
struct x86_vcpu_record {
	uint32_t vcpu_id;
	uint32_t flags; /* X86_REC_MP, or 0 (older blobs) */
	uint64_t apic_base;
	uint64_t tsc_deadline;
	uint32_t mp_state; /* with X86_REC_MP, else 0 */
	uint32_t mp_flags; /* X86_MP_*, with X86_REC_MP, else 0 */
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
};
_Static_assert(sizeof(struct x86_vcpu_record) == 1120, "the documented record size");

#define MSR_IA32_APICBASE 0x1b
#define MSR_IA32_TSC_DEADLINE 0x6e0
/* The record carries mp_state and mp_flags. */
#define X86_REC_MP (1u << 0)

const uint32_t x86_state_sections[2] = { VIRQ_SECTION_X86_IRQCHIP, VIRQ_SECTION_X86_VCPU };

struct two_msrs {
	struct kvm_msrs h;
	struct kvm_msr_entry e[2];
};

static long save_vcpu(struct virq_vcpu *vcpu, struct x86_vcpu_record *rec)
{
	const struct virq_arch_ops *arch = vcpu->vm->arch;
	struct x86_vcpu *xv = x86_vcpu_of(vcpu);
	struct two_msrs m;
	long r;

	memset(rec, 0, sizeof(*rec));
	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 2;
	m.e[0].index = MSR_IA32_APICBASE;
	m.e[1].index = MSR_IA32_TSC_DEADLINE;
	rec->vcpu_id = vcpu->vcpu_id;
	r = arch->vcpu_ioctl(vcpu, KVM_GET_MSRS, &m);
	if (r != 2)
		return r < 0 ? r : -EIO;
	rec->apic_base = m.e[0].data;
	rec->tsc_deadline = m.e[1].data;
	r = arch->vcpu_ioctl(vcpu, KVM_GET_LAPIC, &rec->lapic);
	if (!r)
		r = arch->vcpu_ioctl(vcpu, KVM_GET_VCPU_EVENTS, &rec->events);
	if (r)
		return r;
	/* The vector a later STARTUP or SIPI_RECEIVED uses, as QEMU keeps it. */
	rec->events.sipi_vector = x86_lapic_sipi_vector(xv->apic);
	rec->events.flags |= KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	rec->flags = X86_REC_MP;
	x86_vcpu_mp_save(xv, &rec->mp_state, &rec->mp_flags);
	return 0;
}

long x86_state_save(struct virq_vm *vm, uint32_t type, void *buf, size_t size, uint32_t *count)
{
	struct x86_vm *xvm = x86_vm_of(vm);
	size_t need;

	*count = 0;
	if (type == VIRQ_SECTION_X86_IRQCHIP) {
		if (!x86_irqchip_full(xvm))
			return 0;
		need = 3 * sizeof(struct kvm_irqchip);
		if (buf && size >= need) {
			struct kvm_irqchip *c = buf;

			for (uint32_t i = 0; i < 3; i++) {
				long r;

				memset(&c[i], 0, sizeof(c[i]));
				c[i].chip_id = i;
				r = vm->arch->vm_ioctl(vm, KVM_GET_IRQCHIP, &c[i]);
				if (r)
					return r;
			}
		}
		*count = 3;
		return (long)need;
	}
	if (type == VIRQ_SECTION_X86_VCPU) {
		uint32_t n = x86_irqchip_in_kernel(xvm) ? virq_vm_nr_vcpus(vm) : 0;

		need = (size_t)n * sizeof(struct x86_vcpu_record);
		if (buf && size >= need) {
			struct x86_vcpu_record *rec = buf;

			for (uint32_t i = 0; i < n; i++) {
				struct virq_vcpu *vcpu = virq_vm_vcpu(vm, i);
				long r = vcpu ? save_vcpu(vcpu, &rec[i]) : -EIO;

				if (r)
					return r;
			}
		}
		*count = n;
		return (long)need;
	}
	return -EINVAL;
}

int x86_state_check(struct virq_vm *vm, uint32_t type, const void *payload, uint32_t count,
		    uint32_t size)
{
	struct x86_vm *xvm = x86_vm_of(vm);
	size_t rec_size = type == VIRQ_SECTION_X86_IRQCHIP ? sizeof(struct kvm_irqchip)
							    : sizeof(struct x86_vcpu_record);

	/* The records must fit the payload the core copied. */
	if ((uint64_t)count * rec_size > size)
		return -EINVAL;

	if (type == VIRQ_SECTION_X86_IRQCHIP) {
		const struct kvm_irqchip *c = payload;
		unsigned seen = 0;

		if (!count)
			return 0;
		if (count != 3)
			return -EINVAL;
		if (!x86_irqchip_full(xvm))
			return -ENXIO; /* KVM_SET_IRQCHIP's answer */
		for (uint32_t i = 0; i < 3; i++) {
			if (c[i].chip_id > 2 || (seen & (1u << c[i].chip_id)))
				return -EINVAL;
			seen |= 1u << c[i].chip_id;
		}
		return 0;
	}
	if (type == VIRQ_SECTION_X86_VCPU) {
		const struct x86_vcpu_record *rec = payload;

		if (count && !x86_irqchip_in_kernel(xvm))
			return -ENXIO; /* KVM_SET_LAPIC's answer */
		for (uint32_t i = 0; i < count; i++) {
			if ((rec[i].flags & ~X86_REC_MP) || !virq_vm_vcpu_by_id(vm, rec[i].vcpu_id))
				return -EINVAL;
			if (rec[i].flags & X86_REC_MP) {
				if (x86_vcpu_mp_check(rec[i].mp_state, rec[i].mp_flags))
					return -EINVAL;
			} else if (rec[i].mp_state || rec[i].mp_flags) {
				return -EINVAL;
			}
			for (uint32_t j = 0; j < i; j++)
				if (rec[j].vcpu_id == rec[i].vcpu_id)
					return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

/* QEMU's order: the MSRs (APIC_BASE decides the LAPIC's mode), the LAPIC,
 * then the events; then the MP state (older blobs leave it alone). */
static int restore_vcpu(struct virq_vcpu *vcpu, const struct x86_vcpu_record *rec)
{
	const struct virq_arch_ops *arch = vcpu->vm->arch;
	struct kvm_lapic_state lapic = rec->lapic;
	struct kvm_vcpu_events events = rec->events;
	struct two_msrs m;
	long r;

	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 2;
	m.e[0].index = MSR_IA32_APICBASE;
	m.e[0].data = rec->apic_base;
	m.e[1].index = MSR_IA32_TSC_DEADLINE;
	m.e[1].data = rec->tsc_deadline;
	r = arch->vcpu_ioctl(vcpu, KVM_SET_MSRS, &m);
	if (r != 2)
		return r < 0 ? (int)r : -EINVAL;
	r = arch->vcpu_ioctl(vcpu, KVM_SET_LAPIC, &lapic);
	if (!r)
		r = arch->vcpu_ioctl(vcpu, KVM_SET_VCPU_EVENTS, &events);
	if (!r && (rec->flags & X86_REC_MP))
		x86_vcpu_mp_restore(x86_vcpu_of(vcpu), rec->mp_state, rec->mp_flags);
	return (int)r;
}

int x86_state_restore(struct virq_vm *vm, uint32_t type, const void *payload, uint32_t count)
{
	if (type == VIRQ_SECTION_X86_IRQCHIP) {
		const struct kvm_irqchip *c = payload;

		for (uint32_t i = 0; i < count; i++) {
			struct kvm_irqchip chip = c[i];
			long r = vm->arch->vm_ioctl(vm, KVM_SET_IRQCHIP, &chip);

			if (r)
				return (int)r;
		}
		return 0;
	}
	if (type == VIRQ_SECTION_X86_VCPU) {
		const struct x86_vcpu_record *rec = payload;

		for (uint32_t i = 0; i < count; i++) {
			struct virq_vcpu *vcpu = virq_vm_vcpu_by_id(vm, rec[i].vcpu_id);
			int r = vcpu ? restore_vcpu(vcpu, &rec[i]) : -EINVAL;

			if (r)
				return r;
		}
		return 0;
	}
	return -EINVAL;
}
