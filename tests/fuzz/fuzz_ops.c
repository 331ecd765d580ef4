/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ops.c - bytes in, operations out: every entry point of virq fed
 * with hostile arguments (ioctls with random structs, guest register
 * accesses of any width at any offset, random state restores, routing
 * tables, clock jumps, acknowledge and EOI).  The only property checked
 * is the one virq promises for any input: no crash, no sanitizer report,
 * no leak, and calls keep answering.
 *
 * Built two ways: with libFuzzer (-DVIRQ_LIBFUZZER, scripts/fuzz.sh), and
 * as a plain program that feeds a fixed number of seeded random inputs,
 * which runs in the test suite under ASan/UBSan.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virq/virq.h"

struct input {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct input *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		v |= (uint64_t)(in->n ? *in->p : 0) << (8 * i);
		if (in->n) {
			in->p++;
			in->n--;
		}
	}
	return v;
}

static void fill(struct input *in, void *buf, size_t len)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)take(in, 1);
}

struct clock {
	uint64_t ns;
};

static uint64_t clock_read(void *opaque)
{
	return ((struct clock *)opaque)->ns;
}

/* Bumped by callbacks on the caller's thread and on irqfd delivery threads. */
static _Atomic unsigned event_count;

static void on_event(void *opaque, int fd, const struct virq_event *ev)
{
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = 0x40 };

	(void)fd;
	unsigned c = atomic_fetch_add(&event_count, 1);

	/* Re-enter from the callback now and then, as a VMM may. */
	if (ev->type == VIRQ_EVENT_KICK && (c & 63) == 63)
		virq_ioctl(*(int *)opaque, KVM_SIGNAL_MSI, &msi);
}

static const unsigned widths[] = { 0, 1, 2, 3, 4, 8, 16 };

static void run_one(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct clock clk = { .ns = 1 };
	int sys, vm, vcpu[4] = { -1, -1, -1, -1 };
	unsigned mode = (unsigned)take(&in, 1), nvcpu = 1 + (unsigned)take(&in, 1) % 4;
	/* Two eventfds and a pipe end, for KVM_IRQFD. */
	int efd[3] = { eventfd(0, EFD_NONBLOCK), eventfd(0, 0), -1 }, pfd[2];

	if (pipe(pfd) == 0) {
		efd[2] = pfd[0];
		close(pfd[1]);
	}

	sys = virq_open(VIRQ_ARCH_X86);
	if (sys < 0)
		abort();
	vm = virq_ioctl(sys, KVM_CREATE_VM, 0);
	if (vm < 0)
		abort();
	virq_vm_set_clock(vm, clock_read, &clk);
	if (mode % 3 == 1) {
		virq_ioctl(vm, KVM_CREATE_IRQCHIP);
	} else if (mode % 3 == 2) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };

		virq_ioctl(vm, KVM_ENABLE_CAP, &cap);
	}
	if (mode & 4) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_X2APIC_API, .args = { take(&in, 1) & 0xf } };

		virq_ioctl(vm, KVM_ENABLE_CAP, &cap);
	}
	for (unsigned i = 0; i < nvcpu; i++) {
		vcpu[i] = virq_ioctl(vm, KVM_CREATE_VCPU, (unsigned long)(take(&in, 1) % 8));
		if (vcpu[i] >= 0)
			virq_vcpu_set_event_fn(vcpu[i], on_event, &vm);
	}

	for (unsigned steps = 0; in.n && steps < 512; steps++) {
		unsigned op = (unsigned)take(&in, 1);
		int v = vcpu[op >> 6];
		uint8_t buf[16];

		switch (op % 25) {
		case 0: {
			struct kvm_irq_level l = { .irq = (uint32_t)take(&in, 1) % 40, .level = (uint32_t)take(&in, 1) & 1 };

			virq_ioctl(vm, (op & 32) ? KVM_IRQ_LINE_STATUS : KVM_IRQ_LINE, &l);
			break;
		}
		case 1: {
			struct kvm_msi m;

			fill(&in, &m, sizeof(m));
			if (op & 32)
				m.address_lo = 0xfee00000 | (m.address_lo & 0xfffff);
			virq_ioctl(vm, KVM_SIGNAL_MSI, &m);
			break;
		}
		case 2:
			fill(&in, buf, sizeof(buf));
			virq_lapic_write(v, (uint32_t)take(&in, 2) & 0xfff, buf,
					 widths[take(&in, 1) % (sizeof(widths) / sizeof(widths[0]))]);
			break;
		case 3:
			virq_lapic_read(v, (uint32_t)take(&in, 2), buf,
					widths[take(&in, 1) % (sizeof(widths) / sizeof(widths[0]))]);
			break;
		case 4:
			fill(&in, buf, sizeof(buf));
			virq_ioapic_write(vm, (uint32_t)take(&in, 1), buf,
					  widths[take(&in, 1) % (sizeof(widths) / sizeof(widths[0]))]);
			break;
		case 5:
			virq_ioapic_read(vm, (uint32_t)take(&in, 1), buf,
					 widths[take(&in, 1) % (sizeof(widths) / sizeof(widths[0]))]);
			break;
		case 6: {
			static const uint16_t ports[] = { 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x40 };
			uint16_t port = ports[take(&in, 1) % 7];
			unsigned len = widths[take(&in, 1) % (sizeof(widths) / sizeof(widths[0]))];

			fill(&in, buf, sizeof(buf));
			if (op & 32)
				virq_pio_write(vm, port, buf, len);
			else
				virq_pio_read(vm, port, buf, len);
			break;
		}
		case 7: {
			static const uint32_t base[] = { 0x800, 0x1b, 0x6e0, 0x10 };
			uint32_t msr = base[take(&in, 1) % 4] + ((op & 32) ? (uint32_t)take(&in, 1) : 0);
			uint64_t val = take(&in, 8);

			if (op & 128)
				virq_msr_write(v, msr, val);
			else
				virq_msr_read(v, msr, &val);
			break;
		}
		case 8:
			virq_vcpu_has_interrupt(v);
			virq_vcpu_ack_interrupt(v);
			break;
		case 9:
			virq_vcpu_eoi(v);
			break;
		case 10: {
			struct kvm_lapic_state s;

			virq_ioctl(v, KVM_GET_LAPIC, &s);
			for (unsigned k = (unsigned)take(&in, 1) % 16; k; k--)
				s.regs[take(&in, 2) % sizeof(s.regs)] = (char)take(&in, 1);
			virq_ioctl(v, KVM_SET_LAPIC, &s);
			break;
		}
		case 11: {
			struct kvm_irqchip c;

			memset(&c, 0, sizeof(c));
			c.chip_id = (uint32_t)take(&in, 1) % 4;
			virq_ioctl(vm, KVM_GET_IRQCHIP, &c);
			fill(&in, &c.chip, 32 + take(&in, 1) % 200);
			virq_ioctl(vm, KVM_SET_IRQCHIP, &c);
			break;
		}
		case 12: {
			struct {
				struct kvm_irq_routing h;
				struct kvm_irq_routing_entry e[8];
			} r;

			memset(&r, 0, sizeof(r));
			r.h.nr = (uint32_t)take(&in, 1) % 9;
			for (unsigned k = 0; k < r.h.nr; k++) {
				r.e[k].gsi = (uint32_t)take(&in, 1) % 48;
				r.e[k].type = 1 + (uint32_t)take(&in, 1) % 5;
				r.e[k].flags = (take(&in, 1) & 7) == 0;
				fill(&in, &r.e[k].u, 16);
				if (r.e[k].type == KVM_IRQ_ROUTING_IRQCHIP) {
					r.e[k].u.irqchip.irqchip %= 4;
					r.e[k].u.irqchip.pin %= 26;
				}
			}
			virq_ioctl(vm, KVM_SET_GSI_ROUTING, &r);
			break;
		}
		case 13:
			clk.ns += take(&in, 4) * (op & 32 ? 1000 : 1);
			virq_vm_poll_timers(vm);
			break;
		case 14: {
			struct kvm_vcpu_events e;

			fill(&in, &e, sizeof(e));
			virq_ioctl(v, KVM_SET_VCPU_EVENTS, &e);
			virq_ioctl(v, KVM_GET_VCPU_EVENTS, &e);
			if (op & 32) {
				struct kvm_mp_state mp = { .mp_state = (uint32_t)take(&in, 1) % 12 };
				uint8_t vec;

				virq_ioctl(v, (op & 128) ? KVM_SET_MP_STATE : KVM_GET_MP_STATE, &mp);
				virq_vcpu_accept_events(v, &vec);
			}
			break;
		}
		case 15: {
			struct {
				struct kvm_msrs h;
				struct kvm_msr_entry e[2];
			} m;

			memset(&m, 0, sizeof(m));
			m.h.nmsrs = (uint32_t)take(&in, 1) % 3;
			for (unsigned k = 0; k < m.h.nmsrs; k++) {
				m.e[k].index = (op & 32) ? 0x800 + (uint32_t)take(&in, 1) : 0x1b;
				m.e[k].data = take(&in, 8);
			}
			virq_ioctl(v, (op & 128) ? KVM_SET_MSRS : KVM_GET_MSRS, &m);
			break;
		}
		case 16: {
			struct kvm_interrupt irq = { .irq = (uint32_t)take(&in, 2) % 300 };

			virq_ioctl(v, KVM_INTERRUPT, &irq);
			virq_ioctl(v, KVM_NMI);
			break;
		}
		case 17: {
			uint32_t icr = (uint32_t)take(&in, 4), dest = (uint32_t)take(&in, 4);

			virq_lapic_write(v, 0x310, &dest, 4);
			virq_lapic_write(v, 0x300, &icr, 4);
			virq_msr_write(v, 0x830, ((uint64_t)dest << 32) | icr);
			break;
		}
		case 18: {
			/* A valid, enabled LAPIC makes deliveries likelier. */
			uint32_t svr = 0x1ff, lvt = (uint32_t)take(&in, 4);

			virq_lapic_write(v, 0xf0, &svr, 4);
			virq_lapic_write(v, 0x320 + 0x10 * (uint32_t)(take(&in, 1) % 7), &lvt, 4);
			virq_lapic_write(v, 0x380, &lvt, 4);
			break;
		}
		case 19: {
			/* One-GSI edits: valid-looking and hostile entries. */
			struct kvm_irq_routing_entry e[4];
			uint32_t gsi = (uint32_t)take(&in, 1) % 48, nr = (uint32_t)take(&in, 1) % 5;

			memset(e, 0, sizeof(e));
			for (unsigned k = 0; k < nr; k++) {
				e[k].gsi = (take(&in, 1) & 15) ? gsi : (uint32_t)take(&in, 4);
				e[k].type = 1 + (uint32_t)take(&in, 1) % 5;
				e[k].flags = (take(&in, 1) & 7) == 0;
				fill(&in, &e[k].u, 16);
				if (e[k].type == KVM_IRQ_ROUTING_IRQCHIP) {
					e[k].u.irqchip.irqchip %= 4;
					e[k].u.irqchip.pin %= 26;
				}
			}
			virq_route_set(vm, (op & 128) ? (uint32_t)take(&in, 4) : gsi, e, nr);
			virq_route_get(vm, gsi, e, (uint32_t)take(&in, 1) % 5);
			break;
		}
		case 20: {
			struct virq_route_batch *b;
			struct kvm_irq_routing_entry e;

			if (virq_route_batch_begin(vm, &b))
				break;
			for (unsigned k = (unsigned)take(&in, 1) % 6; k; k--) {
				memset(&e, 0, sizeof(e));
				e.gsi = (uint32_t)take(&in, 1) % 48;
				e.type = KVM_IRQ_ROUTING_MSI;
				e.u.msi.address_lo = 0xfee00000 | ((uint32_t)take(&in, 1) << 12);
				e.u.msi.address_hi = (take(&in, 1) & 7) == 0;
				e.u.msi.data = (uint32_t)take(&in, 2);
				virq_route_batch_set(b, e.gsi, &e, (take(&in, 1) & 3) != 0);
			}
			if (op & 32)
				virq_route_batch_abort(b);
			else
				virq_route_batch_commit(b);
			break;
		}
		case 21: {
			static const uint32_t limits[] = { 0, 4095, 4096, 8192, 1u << 20, (1u << 20) + 1 };
			struct kvm_irq_routing_entry e[4];
			struct virq_route_stats st[2];

			if (op & 32)
				virq_vm_set_gsi_limit(vm, limits[take(&in, 1) % 6]);
			virq_routing_get(vm, e, (uint32_t)take(&in, 1) % 5);
			virq_route_stats(vm, (uint32_t)take(&in, 1) % 48, st, (uint32_t)take(&in, 1) % 3);
			break;
		}
		case 22: {
			/* Save, damage a few bytes, restore. */
			static uint8_t blob[8192];
			long n = virq_vm_save(vm, blob, sizeof(blob), (unsigned)take(&in, 1) & 7);

			if (n < 0 || n > (long)sizeof(blob))
				break;
			for (unsigned k = (unsigned)take(&in, 1) % 4; k; k--)
				blob[take(&in, 2) % (uint64_t)n] = (uint8_t)take(&in, 1);
			virq_vm_restore(vm, blob, (size_t)(n - (long)(take(&in, 1) % 3 == 0 ? take(&in, 1) % (uint64_t)(n + 1) : 0)));
			break;
		}
		case 23: {
			/* irqfd with real eventfds (and fds that are not eventfds). */
			struct kvm_irqfd f;
			uint64_t one = 1;

			memset(&f, 0, sizeof(f));
			f.fd = efd[take(&in, 1) % 3];
			f.resamplefd = efd[take(&in, 1) % 3];
			f.gsi = (uint32_t)take(&in, 1) % 48;
			f.flags = (uint32_t)take(&in, 1) % 5;
			virq_ioctl(vm, KVM_IRQFD, &f);
			if (efd[0] >= 0 && write(efd[0], &one, sizeof(one)) < 0)
				break;
			virq_irqfd_trigger(vm, efd[take(&in, 1) % 3]);
			if (op & 32) {
				virq_irqfd_set_mode(vm, (int)(take(&in, 1) % 3));
				virq_irqfd_dispatch(vm);
			}
			break;
		}
		default:
			virq_ioctl((op & 32) ? vm : v, (unsigned long)take(&in, 4), NULL);
			break;
		}
	}

	for (unsigned i = 0; i < nvcpu; i++)
		if (vcpu[i] >= 0)
			virq_close(vcpu[i]);
	virq_close(vm);
	virq_close(sys);
	for (unsigned i = 0; i < 3; i++)
		if (efd[i] >= 0)
			close(efd[i]);
}

#ifdef VIRQ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run_one(data, size);
	return 0;
}
#else
/* Seeded random inputs: deterministic, so a failure reproduces. */
int main(int argc, char **argv)
{
	unsigned long iterations = argc > 1 ? strtoul(argv[1], NULL, 0) : 3000;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x5eed;
	static uint8_t buf[4096];

	for (unsigned long it = 0; it < iterations; it++) {
		size_t n = 16 + (size_t)(seed % sizeof(buf));

		for (size_t i = 0; i < n; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			buf[i] = (uint8_t)(seed >> 56);
		}
		run_one(buf, n);
	}
	printf("fuzz_ops: %lu inputs, %u events, no failure\n", iterations, atomic_load(&event_count));
	return 0;
}
#endif
