/* SPDX-License-Identifier: MIT */
/*
 * virq - the command-line face of libvirq.
 *
 *   virq [run]       run the built-in demo scenario: one interrupt down
 *                    every delivery path implemented so far, as a timeline
 *   virq version     print the library version
 *
 * The demo drives virq only through its public API: the KVM ioctls for
 * what a VMM does, the native calls for what the guest does.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virq/virq.h"

static int step;
static int failures;

static void say(const char *fmt, ...)
{
	va_list ap;

	printf("%3d  ", ++step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void check(bool ok, const char *what)
{
	if (!ok) {
		printf("     !! unexpected: %s\n", what);
		failures++;
	}
}

static int xioctl(int fd, unsigned long req, void *arg, const char *name)
{
	int r = virq_ioctl(fd, req, arg);

	if (r < 0) {
		printf("     !! %s failed: %s\n", name, strerror(errno));
		failures++;
	}
	return r;
}

struct clock {
	uint64_t ns;
};

static uint64_t clock_read(void *opaque)
{
	return ((struct clock *)opaque)->ns;
}

static void on_event(void *opaque, int vcpu_fd, const struct virq_event *ev)
{
	(void)opaque;
	(void)vcpu_fd;
	if (ev->type == VIRQ_EVENT_KICK)
		printf("          event: kick vCPU %u\n", ev->vcpu_id);
	else if (ev->type == VIRQ_EVENT_IOAPIC_EOI)
		printf("          event: vCPU %u EOI of vector %#x for the user-space IOAPIC\n", ev->vcpu_id,
		       ev->vector);
}

static void lapic_w(int vcpu, uint32_t off, uint32_t val)
{
	int r = virq_lapic_write(vcpu, off, &val, 4);

	check(r == 0, "LAPIC write");
}

static uint32_t lapic_r(int vcpu, uint32_t off)
{
	uint32_t val = 0;

	check(virq_lapic_read(vcpu, off, &val, 4) == 0, "LAPIC read");
	return val;
}

static void ioapic_w(int vm, uint32_t reg, uint32_t val)
{
	check(virq_ioapic_write(vm, 0x00, &reg, 4) == 0, "IOREGSEL write");
	check(virq_ioapic_write(vm, 0x10, &val, 4) == 0, "IOWIN write");
}

static uint32_t ioapic_r(int vm, uint32_t reg)
{
	uint32_t val = 0;

	virq_ioapic_write(vm, 0x00, &reg, 4);
	virq_ioapic_read(vm, 0x10, &val, 4);
	return val;
}

static void pio_w(int vm, uint16_t port, uint8_t val)
{
	check(virq_pio_write(vm, port, &val, 1) == 0, "port write");
}

/* The IRR of a vCPU as a list of vectors. */
static void show_irr(int vcpu, const char *who)
{
	char buf[256];
	int n = 0;

	buf[0] = 0;
	for (int v = 0; v < 256; v++)
		if (lapic_r(vcpu, 0x200 + 0x10 * (v / 32)) & (1u << (v % 32)))
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, " %#x", v);
	printf("          %s IRR:%s\n", who, n ? buf : " (empty)");
}

static int line(int vm, uint32_t gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };

	xioctl(vm, KVM_IRQ_LINE_STATUS, &l, "KVM_IRQ_LINE_STATUS");
	return l.status;
}

static int take(int vcpu, const char *who)
{
	int vec = virq_vcpu_ack_interrupt(vcpu);

	if (vec >= 0)
		say("%s acknowledges: vector %#x", who, vec);
	else
		say("%s acknowledges: nothing pending", who);
	return vec;
}

static int demo(void)
{
	struct clock clk = { .ns = 1000000 };
	int sys, vm, v0, v1, st, vec;

	printf("virq %s demo: an x86 VM with the in-kernel irqchip model and two vCPUs\n\n", virq_version());
	sys = virq_open(VIRQ_ARCH_X86);
	if (sys < 0) {
		perror("virq_open");
		return 1;
	}
	vm = xioctl(sys, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
	check(virq_vm_set_clock(vm, clock_read, &clk) == 0, "set clock");
	xioctl(vm, KVM_CREATE_IRQCHIP, NULL, "KVM_CREATE_IRQCHIP");
	say("KVM_CREATE_IRQCHIP: PIC pair, IOAPIC, default routing (GSI 0-15 -> PIC+IOAPIC, 16-23 -> IOAPIC)");
	v0 = xioctl(vm, KVM_CREATE_VCPU, (void *)0, "KVM_CREATE_VCPU");
	v1 = xioctl(vm, KVM_CREATE_VCPU, (void *)1, "KVM_CREATE_VCPU");
	virq_vcpu_set_event_fn(v0, on_event, NULL);
	virq_vcpu_set_event_fn(v1, on_event, NULL);
	say("KVM_CREATE_VCPU 0 and 1: LAPIC version %#x, SVR %#x (software-disabled)", lapic_r(v0, 0x30),
	    lapic_r(v0, 0xf0));

	/* The guest enables both LAPICs: SVR bit 8, spurious vector 0xff. */
	lapic_w(v0, 0xf0, 0x1ff);
	lapic_w(v1, 0xf0, 0x1ff);
	say("guest writes SVR = 0x1ff on both vCPUs (APIC software-enabled)");

	/* 1. IOAPIC edge pin. */
	printf("\n-- IOAPIC, edge-triggered pin 16 -> vector 0x40 on vCPU 1\n");
	ioapic_w(vm, 0x10 + 2 * 16, 0x40);
	ioapic_w(vm, 0x10 + 2 * 16 + 1, 1u << 24);
	say("guest programs redirection entry 16: %#010x %#010x", ioapic_r(vm, 0x11 + 2 * 16),
	    ioapic_r(vm, 0x10 + 2 * 16));
	st = line(vm, 16, 1);
	say("KVM_IRQ_LINE_STATUS gsi 16 level 1 -> status %d", st);
	check(st == 1, "edge delivered to one vCPU");
	st = line(vm, 16, 0);
	say("KVM_IRQ_LINE_STATUS gsi 16 level 0 -> status %d", st);
	show_irr(v1, "vCPU 1");
	vec = take(v1, "vCPU 1");
	check(vec == 0x40, "vector 0x40");
	say("vCPU 1 EOI -> ended vector %#x", virq_vcpu_eoi(v1));

	/* 2. IOAPIC level pin held high: EOI re-delivers. */
	printf("\n-- IOAPIC, level-triggered pin 17 held high: remote IRR and EOI re-delivery\n");
	ioapic_w(vm, 0x10 + 2 * 17, 0x41 | (1u << 15));
	ioapic_w(vm, 0x10 + 2 * 17 + 1, 0);
	st = line(vm, 17, 1);
	say("raise gsi 17 -> status %d; RTE now %#010x (remote IRR bit 14)", st, ioapic_r(vm, 0x10 + 2 * 17));
	vec = take(v0, "vCPU 0");
	check(vec == 0x41, "vector 0x41");
	say("vCPU 0 EOI (line still high) -> ended %#x", virq_vcpu_eoi(v0));
	show_irr(v0, "vCPU 0");
	check(virq_vcpu_has_interrupt(v0) == 1, "re-delivered after EOI");
	vec = take(v0, "vCPU 0");
	st = line(vm, 17, 0);
	say("device lowers gsi 17 (status %d), vCPU 0 EOI -> ended %#x", st, virq_vcpu_eoi(v0));
	say("RTE 17 now %#010x (remote IRR clear), vCPU 0 pending: %d", ioapic_r(vm, 0x10 + 2 * 17),
	    virq_vcpu_has_interrupt(v0));

	/* 3. PIC through LVT0 ExtINT. */
	printf("\n-- 8259 PIC: ICW1-4, IRQ 1 -> ExtINT through vCPU 0's LVT0\n");
	pio_w(vm, 0x20, 0x11);
	pio_w(vm, 0x21, 0x20);
	pio_w(vm, 0x21, 0x04);
	pio_w(vm, 0x21, 0x01);
	pio_w(vm, 0x21, 0xfd);
	say("guest initialises the master PIC: base 0x20, cascade on IRQ2, IMR 0xfd (only IRQ 1 open)");
	st = line(vm, 1, 1);
	say("KVM_IRQ_LINE gsi 1 level 1 -> status %d (PIC delivered, IOAPIC pin masked)", st);
	line(vm, 1, 0);
	vec = take(v0, "vCPU 0 (INTA via PIC)");
	check(vec == 0x21, "PIC vector 0x21");
	pio_w(vm, 0x20, 0x20);
	say("guest sends a non-specific EOI to the master PIC");

	/* 4. MSI. */
	printf("\n-- KVM_SIGNAL_MSI: fixed, physical, vector 0x50 to APIC ID 1\n");
	struct kvm_msi msi = { .address_lo = 0xfee00000 | (1u << 12), .data = 0x50 };
	st = xioctl(vm, KVM_SIGNAL_MSI, &msi, "KVM_SIGNAL_MSI");
	say("KVM_SIGNAL_MSI -> %d vCPU(s)", st);
	vec = take(v1, "vCPU 1");
	check(vec == 0x50, "MSI vector 0x50");
	virq_vcpu_eoi(v1);
	msi.address_lo = 0xfee00000 | (7u << 12);
	errno = 0;
	st = virq_ioctl(vm, KVM_SIGNAL_MSI, &msi);
	say("KVM_SIGNAL_MSI to absent APIC ID 7 -> %d (errno %d)", st, st < 0 ? errno : 0);

	/* 5. IPI. */
	printf("\n-- IPI: vCPU 0 writes ICR: fixed vector 0x60 to APIC ID 1\n");
	lapic_w(v0, 0x310, 1u << 24);
	lapic_w(v0, 0x300, 0x60);
	show_irr(v1, "vCPU 1");
	vec = take(v1, "vCPU 1");
	check(vec == 0x60, "IPI vector 0x60");
	virq_vcpu_eoi(v1);

	/* 6. LAPIC timer on the demo's clock. */
	printf("\n-- LAPIC timer, one-shot, vector 0x70, divide by 1, 1000 ticks\n");
	lapic_w(v0, 0x3e0, 0xb);
	lapic_w(v0, 0x320, 0x70);
	lapic_w(v0, 0x380, 1000);
	say("armed: TMCCT %u", lapic_r(v0, 0x390));
	clk.ns += 10000000;
	int64_t next = virq_vm_poll_timers(vm);
	say("clock advanced 10 ms; virq_vm_poll_timers -> next deadline %s",
	    next == INT64_MAX ? "none" : "armed");
	vec = take(v0, "vCPU 0");
	check(vec == 0x70, "timer vector 0x70");
	virq_vcpu_eoi(v0);

	virq_close(v1);
	virq_close(v0);
	virq_close(vm);
	virq_close(sys);
	printf("\n%s: %d steps, %d unexpected results\n", failures ? "FAILED" : "done", step, failures);
	return failures ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: virq [run]      run the built-in demo scenario\n"
		   "       virq version    print the library version\n"
		   "       virq --help     this text\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return 2;
	}
	if (optind >= argc || !strcmp(argv[optind], "run"))
		return demo();
	if (!strcmp(argv[optind], "version")) {
		printf("virq %s\n", virq_version());
		return 0;
	}
	fprintf(stderr, "virq: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return 2;
}
