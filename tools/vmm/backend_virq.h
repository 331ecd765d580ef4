/* SPDX-License-Identifier: MIT */
/*
 * backend_virq.h - what the split and userspace backends both do with
 * virq: drive lines and MSIs, claim the PIC ports and the IOAPIC page, and
 * move a pending vector into KVM_INTERRUPT.
 */
#ifndef VMM_BACKEND_VIRQ_H
#define VMM_BACKEND_VIRQ_H

#include <stdbool.h>
#include <stdint.h>

struct kvm_run;

#define VB_IOAPIC_BASE 0xfec00000ull
#define VB_LAPIC_BASE 0xfee00000ull
#define VB_MMIO_PAGE 0x1000ull

/* KVM_IRQ_LINE_STATUS on virq's VM @vfd: >= 0, or -errno. */
int vb_set_line(int vfd, uint32_t gsi, int level);
/* KVM_SIGNAL_MSI on virq's VM: >= 0 ("no destination" is 0), or -errno. */
int vb_signal_msi(int vfd, uint64_t addr, uint32_t data);
/* KVM_IRQFD with a resamplefd on virq's VM (the kernel refuses resamplefds
 * in split mode; virq does not): 0 or -errno. */
int vb_irqfd(int vfd, uint32_t gsi, int fd, int resamplefd);
/* The PIC ports: 1 handled, 0 not a PIC port, -errno (stops the VM). */
int vb_pic_pio(int vfd, uint16_t port, void *data, int size, bool write);
/* The IOAPIC page: 1 handled, 0 not ours (or refused: reads as unclaimed), -errno. */
int vb_ioapic_mmio(int vfd, uint64_t addr, void *data, int size, bool write);
/* A chip access's result as a backend hook's: refusals read as unclaimed. */
int vb_claimed(int r);
/*
 * Before KVM_RUN: if @has(@h) says an interrupt is pending, inject @ack(@h)
 * with KVM_INTERRUPT on @kvm_vcpu when the guest can take it, or ask KVM
 * for an interrupt window.  0 or -errno.
 */
int vb_inject(int kvm_vcpu, struct kvm_run *run, int (*has)(int), int (*ack)(int), int h);

#endif
