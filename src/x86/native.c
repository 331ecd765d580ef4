/* SPDX-License-Identifier: MIT */
/*
 * native.c - the x86 guest-side native calls of virq.h: what the kernel
 * does when the guest touches its interrupt controllers, offered to a VMM
 * or CPU emulator that traps those accesses itself.
 */
#include "ioapic.h"
#include "lapic.h"
#include "pic.h"
#include "x86.h"

/* Resolve a vCPU handle of an x86 VM; NULL if not one. */
static struct x86_vcpu *get_xvcpu(int fd)
{
	struct virq_vcpu *vcpu = virq_vcpu_get(fd);

	if (vcpu && vcpu->vm->arch != &virq_x86_ops) {
		virq_obj_put(&vcpu->obj);
		vcpu = NULL;
	}
	return vcpu ? x86_vcpu_of(vcpu) : NULL;
}

static struct x86_vm *get_xvm(int fd)
{
	struct virq_vm *vm = virq_vm_get(fd);

	if (vm && vm->arch != &virq_x86_ops) {
		virq_obj_put(&vm->obj);
		vm = NULL;
	}
	return vm ? x86_vm_of(vm) : NULL;
}

static void put_xvcpu(struct x86_vcpu *xv)
{
	virq_obj_put(&xv->vcpu->obj);
}

static void put_xvm(struct x86_vm *xvm)
{
	virq_obj_put(&xvm->vm->obj);
}

static int lapic_access(int vcpu_fd, uint32_t offset, void *data, unsigned len, bool write)
{
	struct x86_vcpu *xv = get_xvcpu(vcpu_fd);
	int r;

	if (!xv)
		return -EBADF;
	if (!data || !len) {
		r = -EINVAL;
	} else if (!xv->apic) {
		r = -ENXIO;
	} else {
		x86_vcpu_enter(xv);
		r = write ? x86_lapic_mmio_write(xv->apic, offset, data, len)
			  : x86_lapic_mmio_read(xv->apic, offset, data, len);
		if (write)
			x86_recalculate_apic_map(xv->xvm);
	}
	put_xvcpu(xv);
	return r;
}

int virq_lapic_read(int vcpu_fd, uint32_t offset, void *data, unsigned len)
{
	return lapic_access(vcpu_fd, offset, data, len, false);
}

int virq_lapic_write(int vcpu_fd, uint32_t offset, const void *data, unsigned len)
{
	return lapic_access(vcpu_fd, offset, (void *)data, len, true);
}

static int ioapic_access(int vm_fd, uint32_t offset, void *data, unsigned len, bool write)
{
	struct x86_vm *xvm = get_xvm(vm_fd);
	int r;

	if (!xvm)
		return -EBADF;
	if (!data || !len)
		r = -EINVAL;
	else if (!x86_irqchip_full(xvm))
		r = -ENXIO;
	else {
		x86_kicks_hold(xvm);
		r = write ? x86_ioapic_mmio_write(xvm->ioapic, offset, data, len)
			  : x86_ioapic_mmio_read(xvm->ioapic, offset, data, len);
		x86_kicks_release();
	}
	put_xvm(xvm);
	return r;
}

int virq_ioapic_read(int vm_fd, uint32_t offset, void *data, unsigned len)
{
	return ioapic_access(vm_fd, offset, data, len, false);
}

int virq_ioapic_write(int vm_fd, uint32_t offset, const void *data, unsigned len)
{
	return ioapic_access(vm_fd, offset, (void *)data, len, true);
}

static int pio_access(int vm_fd, uint16_t port, void *data, unsigned len, bool write)
{
	struct x86_vm *xvm = get_xvm(vm_fd);
	int r;

	if (!xvm)
		return -EBADF;
	if (!data || !len)
		r = -EINVAL;
	else if (!x86_irqchip_full(xvm))
		r = -ENXIO;
	else {
		x86_kicks_hold(xvm);
		r = write ? x86_pic_pio_write(xvm->pic, port, data, len)
			  : x86_pic_pio_read(xvm->pic, port, data, len);
		x86_kicks_release();
	}
	put_xvm(xvm);
	return r;
}

int virq_pio_read(int vm_fd, uint16_t port, void *data, unsigned len)
{
	return pio_access(vm_fd, port, data, len, false);
}

int virq_pio_write(int vm_fd, uint16_t port, const void *data, unsigned len)
{
	return pio_access(vm_fd, port, (void *)data, len, true);
}

static bool is_x2apic_msr(uint32_t index)
{
	return index >= APIC_BASE_MSR && index <= APIC_BASE_MSR + 0xff;
}

int virq_msr_read(int vcpu_fd, uint32_t index, uint64_t *value)
{
	struct x86_vcpu *xv = get_xvcpu(vcpu_fd);
	int r;

	if (!xv)
		return -EBADF;
	if (!value) {
		r = -EINVAL;
	} else if (index != MSR_IA32_APICBASE && index != MSR_IA32_TSC_DEADLINE && !is_x2apic_msr(index)) {
		r = -EOPNOTSUPP;
	} else if (!xv->apic) {
		r = -ENXIO;
	} else {
		x86_vcpu_enter(xv);
		r = 0;
		if (index == MSR_IA32_APICBASE)
			*value = x86_lapic_get_base(xv->apic);
		else if (index == MSR_IA32_TSC_DEADLINE)
			*value = x86_lapic_get_tscdeadline(xv->apic);
		else
			r = x86_lapic_msr_read(xv->apic, index, value);
	}
	put_xvcpu(xv);
	return r;
}

int virq_msr_write(int vcpu_fd, uint32_t index, uint64_t value)
{
	struct x86_vcpu *xv = get_xvcpu(vcpu_fd);
	int r;

	if (!xv)
		return -EBADF;
	if (index != MSR_IA32_APICBASE && index != MSR_IA32_TSC_DEADLINE && !is_x2apic_msr(index)) {
		r = -EOPNOTSUPP;
	} else if (!xv->apic) {
		r = -ENXIO;
	} else {
		x86_vcpu_enter(xv);
		r = 0;
		if (index == MSR_IA32_APICBASE)
			r = x86_lapic_set_base(xv->apic, value, false);
		else if (index == MSR_IA32_TSC_DEADLINE)
			x86_lapic_set_tscdeadline(xv->apic, value);
		else
			r = x86_lapic_msr_write(xv->apic, index, value, false);
		x86_recalculate_apic_map(xv->xvm);
	}
	put_xvcpu(xv);
	return r;
}

/* ---- INIT and STARTUP ------------------------------------------------------ */

int virq_vcpu_accept_events(int vcpu_fd, uint8_t *sipi_vector)
{
	struct x86_vcpu *xv = get_xvcpu(vcpu_fd);
	int r;

	if (!xv)
		return -EBADF;
	r = sipi_vector ? x86_vcpu_accept_events(xv, sipi_vector) : -EINVAL;
	put_xvcpu(xv);
	return r;
}

/* ---- local APICs elsewhere (ext_bus.c) ------------------------------------ */

int virq_vm_set_apic_bus(int vm_fd, const struct virq_apic_bus *bus, void *opaque)
{
	struct x86_vm *xvm = get_xvm(vm_fd);
	int r;

	if (!xvm)
		return -EBADF;
	r = x86_ext_bus_install(xvm, bus, opaque);
	put_xvm(xvm);
	return r;
}

int virq_ioapic_eoi(int vm_fd, uint32_t vector)
{
	struct x86_vm *xvm = get_xvm(vm_fd);
	int r = 0;

	if (!xvm)
		return -EBADF;
	if (vector > 255) {
		r = -EINVAL;
	} else if (!x86_irqchip_full(xvm)) {
		r = -ENXIO;
	} else {
		/* kvm_ioapic_update_eoi() for a level-triggered vector; the
		 * RTC's EOI tracking needs a vCPU and does not apply here. */
		x86_kicks_hold(xvm);
		x86_ioapic_update_eoi(xvm->ioapic, 0, false, (int)vector, 1);
		x86_kicks_release();
	}
	put_xvm(xvm);
	return r;
}

static int pic_intr(int vm_fd, bool ack)
{
	struct x86_vm *xvm = get_xvm(vm_fd);
	int r;

	if (!xvm)
		return -EBADF;
	if (!x86_irqchip_full(xvm)) {
		r = -ENXIO;
	} else if (!ack) {
		r = x86_pic_output(xvm->pic);
	} else if (!x86_pic_output(xvm->pic)) {
		r = -EAGAIN;
	} else {
		x86_kicks_hold(xvm);
		r = x86_pic_read_irq(xvm->pic) & 0xff; /* KVM_INTERRUPT takes a u8 */
		x86_kicks_release();
	}
	put_xvm(xvm);
	return r;
}

int virq_pic_has_interrupt(int vm_fd)
{
	return pic_intr(vm_fd, false);
}

int virq_pic_ack_interrupt(int vm_fd)
{
	return pic_intr(vm_fd, true);
}
