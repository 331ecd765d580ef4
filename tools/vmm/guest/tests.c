/* SPDX-License-Identifier: MIT */
/*
 * tests.c - the built-in guest: interrupt delivery tests, run by the BSP.
 *
 * Only the BSP prints, in program order, so the output is the same on
 * every run.  Handlers print nothing: they record what they saw in seen[]
 * and the BSP, after a bounded wait, prints it.  The test list and the
 * output are described in docs/vmm.md; tests/vmm/builtin.expected holds
 * the output for two vCPUs.
 *
 * Spurious level-triggered deliveries: a vector of a level-triggered
 * IOAPIC pin that arrives after the guest lowered the line is counted, not
 * handled and not printed.  Real IOAPICs can do this (an EOI racing with
 * the line going low), and the emulating KVM on the project's machines
 * does it after every level interrupt (KVM's LAPIC keeps the vector in IRR
 * while the guest handles it).  One per test is allowed; with the command
 * line word "strict" (virq vm --append strict) any is a failure.
 */
#include "hw.h"

#define MB_BOOT_MAGIC	0x2badb002
#define MBI_MEMORY	(1u << 0)	/* mem_lower and mem_upper are valid */
#define MBI_CMDLINE	(1u << 2)

struct mb_info {		/* the start of the multiboot information */
	uint32_t flags;
	uint32_t mem_lower;	/* KiB below 1 MiB */
	uint32_t mem_upper;	/* KiB above 1 MiB */
	uint32_t boot_device;
	uint32_t cmdline;	/* physical address of a C string */
};

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_RAM_SIZE	0x03
#define FW_CFG_NB_CPUS	0x05

#define VEC_EDGE	0x40	/* IOAPIC pin 16, edge */
#define VEC_LEVEL	0x41	/* IOAPIC pin 17, level, EOI with the line high */
#define VEC_MASKED	0x42	/* IOAPIC pin 18, level, masked at first */
#define VEC_RESAMPLE	0x43	/* IOAPIC pin 19, level, the resample device */
#define VEC_PIC_MASTER	0x23	/* 8259 IRQ 3 */
#define VEC_PIC_SLAVE	0x2a	/* 8259 IRQ 10 */
#define VEC_MSI_BSP	0x50
#define VEC_MSI_AP	0x51
#define VEC_MSI_LOWEST	0x52
#define VEC_IPI		0x60	/* BSP -> APIC 1 */
#define VEC_IPI_REPLY	0x61	/* APIC 1 -> BSP, from its handler */
#define VEC_IPI_ALL	0x62	/* all but self */
#define VEC_X2_SELF	0x64	/* x2APIC SELF IPI register */
#define VEC_X2_IPI	0x65	/* x2APIC ICR MSR, BSP -> APIC 1 */
#define VEC_TIMER	0x70
#define VEC_PROBE_EDGE	0x80	/* --measure: IOAPIC pin 20, edge */
#define VEC_PROBE_MSI	0x81	/* --measure: MSI to APIC 0 */
#define VEC_PROBE_IRQFD	0x82	/* --measure: IOAPIC pin 19, the resample device */

#define RESAMPLE_EVENTS	5
#define MEASURE_SAMPLES	200	/* per kind of injection */

/* The latency probe's kinds (tools/vmm/probe.c). */
enum { PROBE_BASELINE, PROBE_EDGE, PROBE_MSI, PROBE_IRQFD };

/*
 * Bounded waits are counted in loop iterations: there is no calibrated
 * clock.  An emulated guest runs a few million instructions a second, so
 * WAIT_LOOPS is seconds there and milliseconds on hardware; SETTLE_LOOPS,
 * used to see that nothing more arrives, is a few tens of milliseconds
 * under emulation.
 */
#define WAIT_LOOPS	3000000
#define SETTLE_LOOPS	20000

/* What the handlers saw, per vector. */
struct seen {
	uint32_t count;
	uint32_t cpus;		/* bit n: CPU n took it */
	uint32_t cpu;		/* the last CPU */
};

static volatile struct seen seen[256];
static volatile uint32_t ap_ready;	/* bit n: AP n is set up */
static volatile uint32_t idt_ready;
static volatile uint32_t timer_periodic;
static volatile uint32_t timer_ticks;	/* periodic ticks */
static volatile uint8_t line_high[24];	/* what we drive on each GSI */
static volatile uint32_t spurious;	/* level vectors after the line fell */
static uint32_t spurious_allowed;	/* per test; 0 when "strict" */
static bool measuring;			/* "measure": run the latency loops */

static void record(struct frame *f)
{
	unsigned cpu = cpu_id();

	__atomic_fetch_add(&seen[f->vector].count, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_or(&seen[f->vector].cpus, 1u << cpu, __ATOMIC_SEQ_CST);
	seen[f->vector].cpu = cpu;
}

/* Drive a GSI, remembering its level first so that handlers can tell a
 * delivery of a line already lowered. */
static void line(unsigned gsi, int level)
{
	line_high[gsi] = (uint8_t)level;
	set_line(gsi, level);
}

/* ---- handlers ---- */

static void on_fixed(struct frame *f)
{
	record(f);
	lapic_eoi();
}

/*
 * Pin 17: the first delivery EOIs with the line still high, so the IOAPIC
 * must deliver again; the second lowers the line first.  Pin 18: lower,
 * then EOI, as a driver does.
 */
static void on_level(struct frame *f)
{
	unsigned pin = f->vector == VEC_LEVEL ? 17 : 18;

	if (!line_high[pin]) {
		spurious++;
		lapic_eoi();
		return;
	}
	record(f);
	if (pin == 18 || seen[VEC_LEVEL].count >= 2)
		line(pin, 0);
	lapic_eoi();
}

/*
 * The resample device: take one event, then EOI; the EOI lowers the line
 * and the device raises it again while events are left.  A delivery with
 * no event to take is a spurious level-triggered delivery.
 */
static void on_resample(struct frame *f)
{
	if (!resample_take()) {
		spurious++;
		lapic_eoi();
		return;
	}
	record(f);
	lapic_eoi();
}

/* --measure: tell the probe first thing, then as the handlers above. */
static void on_probe(struct frame *f)
{
	static const uint8_t kind[] = { PROBE_EDGE, PROBE_MSI, PROBE_IRQFD };

	probe_hit(kind[f->vector - VEC_PROBE_EDGE]);
	if (f->vector == VEC_PROBE_IRQFD && !resample_take()) {
		lapic_eoi();
		return;
	}
	record(f);
	lapic_eoi();
}

/* ExtINT interrupts never enter the LAPIC's ISR: the EOI goes to the 8259. */
static void on_pic(struct frame *f)
{
	unsigned irq = f->vector - 0x20;	/* bases 0x20 and 0x28: IRQ 0-15 */

	record(f);
	line(irq, 0);
	pic_eoi(irq);
}

static void on_ipi(struct frame *f)
{
	record(f);
	send_ipi(0, APIC_ASSERT | VEC_IPI_REPLY);
	lapic_eoi();
}

/*
 * A tick that fired before the third tick's handler masked the LVT is
 * already in IRR and still arrives (the guest may be slow: an emulated
 * CPU on a loaded host).  Such late ticks are not counted.
 */
static void on_timer(struct frame *f)
{
	if (timer_periodic && timer_ticks >= 3) {
		lapic_eoi();
		return;
	}
	record(f);
	if (timer_periodic && ++timer_ticks == 3) {
		lapic_write(LAPIC_LVT_TIMER, APIC_MASKED | APIC_TIMER_PERIODIC | VEC_TIMER);
		lapic_write(LAPIC_TMICT, 0);
	}
	lapic_eoi();
}

static void install_handlers(void)
{
	static const uint8_t fixed[] = { VEC_EDGE, VEC_MSI_BSP, VEC_MSI_AP, VEC_MSI_LOWEST,
					 VEC_IPI_REPLY, VEC_IPI_ALL, VEC_X2_SELF, VEC_X2_IPI };

	for (unsigned i = 0; i < sizeof(fixed); i++)
		set_handler(fixed[i], on_fixed);
	set_handler(VEC_LEVEL, on_level);
	set_handler(VEC_MASKED, on_level);
	set_handler(VEC_RESAMPLE, on_resample);
	set_handler(VEC_PROBE_EDGE, on_probe);
	set_handler(VEC_PROBE_MSI, on_probe);
	set_handler(VEC_PROBE_IRQFD, on_probe);
	set_handler(VEC_PIC_MASTER, on_pic);
	set_handler(VEC_PIC_SLAVE, on_pic);
	set_handler(VEC_IPI, on_ipi);
	set_handler(VEC_TIMER, on_timer);
}

/* ---- waiting and checking ---- */

static void settle(void)
{
	for (volatile uint32_t i = 0; i < SETTLE_LOOPS; i++)
		;
}

static void wait_count(unsigned vector, uint32_t n, const char *what)
{
	for (uint32_t i = 0; i < WAIT_LOOPS; i++)
		if (seen[vector].count >= n)
			return;
	fail("%s: timeout waiting for vector 0x%x (%u of %u)", what, vector, seen[vector].count, n);
}

/* Exactly @n deliveries of @vector, also after a pause. */
static void expect_count(unsigned vector, uint32_t n, const char *what)
{
	wait_count(vector, n, what);
	settle();
	if (seen[vector].count != n)
		fail("%s: vector 0x%x delivered %u times, want %u", what, vector,
		     seen[vector].count, n);
}

/* After each test: no vector without a handler, few spurious ones. */
static void no_strays(const char *test)
{
	if (unexpected_vector)
		fail("%s: unexpected vector 0x%x", test, unexpected_vector & 0xff);
	if (spurious > spurious_allowed)
		fail("%s: %u spurious level-triggered deliveries", test, spurious);
	spurious = 0;
}

/* ---- the tests ---- */

static void test_ioapic_edge(void)
{
	ioapic_route(16, VEC_EDGE, 0);
	line(16, 1);
	line(16, 0);
	expect_count(VEC_EDGE, 1, "ioapic edge");
	printf("ioapic edge pin 16: vector 0x%x on cpu %u, once\n", VEC_EDGE, seen[VEC_EDGE].cpu);
	ioapic_route(16, APIC_MASKED, 0);
}

static void test_ioapic_level(void)
{
	ioapic_route(17, APIC_LEVEL | VEC_LEVEL, 0);
	line(17, 1);
	wait_count(VEC_LEVEL, 1, "ioapic level");
	printf("ioapic level pin 17: vector 0x%x on cpu %u, eoi with the line high\n", VEC_LEVEL,
	       seen[VEC_LEVEL].cpu);
	expect_count(VEC_LEVEL, 2, "ioapic level re-delivery");
	printf("ioapic level pin 17: delivered again after the eoi, line lowered\n");
	if (ioapic_redir_lo(17) & APIC_REMOTE_IRR)
		fail("ioapic level pin 17: remote irr still set after the last eoi");
	printf("ioapic level pin 17: remote irr clear, 2 deliveries\n");
	ioapic_route(17, APIC_MASKED, 0);
}

static void test_ioapic_masked(void)
{
	ioapic_route(18, APIC_MASKED | APIC_LEVEL | VEC_MASKED, 0);
	line(18, 1);
	settle();
	if (seen[VEC_MASKED].count)
		fail("ioapic masked pin 18: delivered while masked");
	printf("ioapic masked pin 18: nothing delivered\n");
	ioapic_route(18, APIC_LEVEL | VEC_MASKED, 0);
	expect_count(VEC_MASKED, 1, "ioapic unmask");
	printf("ioapic masked pin 18: unmasked, vector 0x%x on cpu %u\n", VEC_MASKED,
	       seen[VEC_MASKED].cpu);
	ioapic_route(18, APIC_MASKED, 0);
}

/*
 * A level line driven through an irqfd with a resamplefd: each EOI
 * resamples, and the device thread raises the line again while events are
 * left, so the guest sees one interrupt per event and none after.
 */
static void test_resample(void)
{
	ioapic_route(19, APIC_LEVEL | VEC_RESAMPLE, 0);
	resample_attach(19);
	resample_add(RESAMPLE_EVENTS);
	expect_count(VEC_RESAMPLE, RESAMPLE_EVENTS, "irqfd resample");
	printf("irqfd resample pin 19: vector 0x%x on cpu %u, %u deliveries\n", VEC_RESAMPLE,
	       seen[VEC_RESAMPLE].cpu, seen[VEC_RESAMPLE].count);
	if (resample_take())
		fail("irqfd resample pin 19: an event was never delivered");
	if (ioapic_redir_lo(19) & APIC_REMOTE_IRR)
		fail("irqfd resample pin 19: remote irr still set after the last eoi");
	printf("irqfd resample pin 19: remote irr clear, no event left\n");
	ioapic_route(19, APIC_MASKED, 0);
}

/* IOAPIC pins 3 and 10 stay masked (as at reset): only the 8259 sees them. */
static void test_pic(void)
{
	cli();		/* ICW1 clears the masks until OCW1 sets them again */
	pic_init();
	pic_mask((uint8_t)~(1u << 2 | 1u << 3), (uint8_t)~(1u << (10 - 8)));
	sti();
	lapic_write(LAPIC_LVT0, APIC_DM_EXTINT);
	line(3, 1);
	expect_count(VEC_PIC_MASTER, 1, "pic irq 3");
	printf("pic master irq 3: vector 0x%x on cpu %u\n", VEC_PIC_MASTER, seen[VEC_PIC_MASTER].cpu);
	line(10, 1);
	expect_count(VEC_PIC_SLAVE, 1, "pic irq 10");
	printf("pic slave irq 10: vector 0x%x on cpu %u\n", VEC_PIC_SLAVE, seen[VEC_PIC_SLAVE].cpu);
	pic_mask(0xff, 0xff);
}

static void test_msi(unsigned ncpus)
{
	uint32_t mask = ncpus >= 8 ? 0xff : (1u << ncpus) - 1;

	send_msi(MSI_ADDR(0), VEC_MSI_BSP);
	expect_count(VEC_MSI_BSP, 1, "msi to apic 0");
	printf("msi fixed to apic 0: vector 0x%x on cpu %u\n", VEC_MSI_BSP, seen[VEC_MSI_BSP].cpu);
	if (ncpus >= 2) {
		send_msi(MSI_ADDR(1), VEC_MSI_AP);
		expect_count(VEC_MSI_AP, 1, "msi to apic 1");
		printf("msi fixed to apic 1: vector 0x%x on cpu %u\n", VEC_MSI_AP,
		       seen[VEC_MSI_AP].cpu);
	}
	/* Which CPU wins is KVM's choice (vector hashing here): print it. */
	send_msi(MSI_ADDR(mask) | MSI_ADDR_LOGICAL, APIC_DM_LOWEST | VEC_MSI_LOWEST);
	expect_count(VEC_MSI_LOWEST, 1, "msi lowest priority");
	printf("msi lowest priority to logical 0x%x: vector 0x%x on cpu %u\n", mask, VEC_MSI_LOWEST,
	       seen[VEC_MSI_LOWEST].cpu);
}

static void test_ipi(unsigned ncpus)
{
	uint32_t cpus;

	send_ipi(1, APIC_ASSERT | VEC_IPI);
	expect_count(VEC_IPI, 1, "ipi to apic 1");
	expect_count(VEC_IPI_REPLY, 1, "ipi reply");
	printf("ipi fixed to apic 1: vector 0x%x on cpu %u\n", VEC_IPI, seen[VEC_IPI].cpu);
	printf("ipi reply from cpu %u: vector 0x%x on cpu %u\n", seen[VEC_IPI].cpu, VEC_IPI_REPLY,
	       seen[VEC_IPI_REPLY].cpu);

	send_ipi(0, APIC_ALL_BUT_SELF | APIC_ASSERT | VEC_IPI_ALL);
	expect_count(VEC_IPI_ALL, ncpus - 1, "ipi all-but-self");
	cpus = seen[VEC_IPI_ALL].cpus;
	if (cpus & 1)
		fail("ipi all-but-self: the sender took it");
	printf("ipi all-but-self: vector 0x%x on cpus", VEC_IPI_ALL);
	for (unsigned c = 0; c < ncpus; c++)
		if (cpus & 1u << c)
			printf(" %u", c);
	printf("\n");
}

/* Divide by 1; KVM's APIC bus runs at 1 GHz, so these are 0.1 and 1 ms. */
static void test_timer(void)
{
	lapic_write(LAPIC_TDCR, 0xb);
	lapic_write(LAPIC_LVT_TIMER, VEC_TIMER);
	lapic_write(LAPIC_TMICT, 100000);
	expect_count(VEC_TIMER, 1, "lapic timer one-shot");
	printf("lapic timer one-shot: 1 tick\n");

	timer_periodic = 1;
	lapic_write(LAPIC_LVT_TIMER, APIC_TIMER_PERIODIC | VEC_TIMER);
	lapic_write(LAPIC_TMICT, 1000000);
	expect_count(VEC_TIMER, 1 + 3, "lapic timer periodic");
	if (!(lapic_read(LAPIC_LVT_TIMER) & APIC_MASKED))
		fail("lapic timer periodic: not masked after 3 ticks");
	printf("lapic timer periodic: %u ticks, then masked\n", timer_ticks);
}

/*
 * The BSP switches to x2APIC mode (its APIC registers become MSRs: in
 * userspace mode every access is an MSR exit to virq) and sends a self
 * IPI and an IPI to APIC 1, which stays in xAPIC mode.  Last, because
 * going back to xAPIC mode takes a reset of the APIC.
 */
static void test_x2apic(unsigned ncpus)
{
	if (!x2apic_offered()) {
		printf("x2apic: not offered by CPUID\n");
		return;
	}
	x2apic_enable();
	printf("x2apic: enabled on cpu %u, id %u from msr 0x802\n", cpu_id(), lapic_read(LAPIC_ID));
	lapic_write(LAPIC_SELF_IPI, VEC_X2_SELF);
	expect_count(VEC_X2_SELF, 1, "x2apic self ipi");
	printf("x2apic self ipi: vector 0x%x on cpu %u\n", VEC_X2_SELF, seen[VEC_X2_SELF].cpu);
	if (ncpus >= 2) {
		send_ipi(1, APIC_ASSERT | VEC_X2_IPI);
		expect_count(VEC_X2_IPI, 1, "x2apic ipi to apic 1");
		printf("x2apic ipi to apic 1: vector 0x%x on cpu %u\n", VEC_X2_IPI,
		       seen[VEC_X2_IPI].cpu);
	}
}

/* ---- --measure ---- */

/* Sleep until @vector was seen @n times: an idle guest waiting for I/O. */
static void hlt_until(unsigned vector, uint32_t n)
{
	cli();
	while (seen[vector].count < n) {
		sti_hlt();	/* sti's shadow: no wake-up is lost */
		cli();
	}
	sti();
}

/*
 * The VMM times each injection to the handler's probe_hit() (probe.c).
 * The baseline is a port write followed by another: one exit and entry.
 */
static void measure(void)
{
	uint32_t i;

	for (i = 0; i < MEASURE_SAMPLES; i++) {
		probe_mark();
		probe_hit(PROBE_BASELINE);
	}
	ioapic_route(20, VEC_PROBE_EDGE, 0);
	for (i = 0; i < MEASURE_SAMPLES; i++) {
		line(20, 1);
		hlt_until(VEC_PROBE_EDGE, i + 1);
		line(20, 0);
	}
	ioapic_route(20, APIC_MASKED, 0);
	for (i = 0; i < MEASURE_SAMPLES; i++) {
		send_msi(MSI_ADDR(0), VEC_PROBE_MSI);
		hlt_until(VEC_PROBE_MSI, i + 1);
	}
	ioapic_route(19, APIC_LEVEL | VEC_PROBE_IRQFD, 0);
	resample_add(MEASURE_SAMPLES);
	hlt_until(VEC_PROBE_IRQFD, MEASURE_SAMPLES);
	ioapic_route(19, APIC_MASKED, 0);
	spurious = 0;	/* counted, not checked: the loops only time */
	printf("measure: %u samples of each injection\n", MEASURE_SAMPLES);
}

/* ---- start-up ---- */

#define TRAMPOLINE	0x8000		/* entry.S; the STARTUP vector is 0x08 */
extern const char trampoline_start[], trampoline_end[];

void guest_ap_main(void) __attribute__((noreturn));

static void __attribute__((noreturn)) ap_main(void)
{
	while (!idt_ready)
		;
	idt_load();
	lapic_enable();
	__atomic_fetch_or(&ap_ready, 1u << cpu_id(), __ATOMIC_SEQ_CST);
	for (;;)
		sti_hlt();
}

/* An AP out of the trampoline: the kernel's GDT, then as every AP. */
void guest_ap_main(void)
{
	gdt_load();
	ap_main();
}

static void pause_loops(uint32_t n)
{
	for (volatile uint32_t i = 0; i < n; i++)
		;
}

/*
 * The MP start-up sequence, to every AP at once: INIT (assert, then the
 * level de-assert, which the LAPIC ignores), then two STARTUP IPIs; the
 * second is dropped by an AP the first one started.
 */
static void start_aps(void)
{
	volatile uint8_t *dst = (volatile uint8_t *)TRAMPOLINE;

	for (const char *p = trampoline_start; p < trampoline_end; p++)
		*dst++ = (uint8_t)*p;
	send_ipi(0, APIC_ALL_BUT_SELF | APIC_LEVEL | APIC_ASSERT | APIC_DM_INIT);
	send_ipi(0, APIC_ALL_BUT_SELF | APIC_LEVEL | APIC_DM_INIT);
	pause_loops(1000);
	for (int i = 0; i < 2; i++) {
		send_ipi(0, APIC_ALL_BUT_SELF | APIC_ASSERT | APIC_DM_STARTUP | TRAMPOLINE >> 12);
		pause_loops(1000);
	}
}

/*
 * INIT and STARTUP to an AP that runs (it idles in sti; hlt): the INIT
 * resets it, the STARTUP restarts it in real mode, and it comes back
 * through the trampoline as at boot.
 */
static void test_restart_ap(void)
{
	__atomic_fetch_and(&ap_ready, ~2u, __ATOMIC_SEQ_CST);
	send_ipi(1, APIC_LEVEL | APIC_ASSERT | APIC_DM_INIT);
	send_ipi(1, APIC_LEVEL | APIC_DM_INIT);
	pause_loops(1000);
	send_ipi(1, APIC_ASSERT | APIC_DM_STARTUP | TRAMPOLINE >> 12);
	for (uint32_t i = 0; i < WAIT_LOOPS && !(ap_ready & 2); i++)
		;
	if (!(ap_ready & 2))
		fail("cpu 1: timeout waiting for it to restart");
	printf("cpu 1: restarted by init and startup\n");
}

static void wait_for_aps(unsigned ncpus)
{
	uint32_t want = (1u << ncpus) - 2;	/* every CPU but the BSP */

	for (uint32_t i = 0; i < WAIT_LOOPS && ap_ready != want; i++)
		;
	for (unsigned c = 1; c < ncpus; c++) {
		if (!(ap_ready & 1u << c))
			fail("cpu %u: timeout waiting for it to start", c);
		printf("cpu %u: ready\n", c);
	}
}

/* Is @word a blank-separated word of @s? */
static bool has_word(const char *s, const char *word)
{
	while (*s) {
		const char *w = word;

		while (*s == ' ')
			s++;
		while (*w && *s == *w)
			s++, w++;
		if (!*w && (*s == ' ' || !*s))
			return true;
		while (*s && *s != ' ')
			s++;
	}
	return false;
}

/* The multiboot info and fw_cfg must agree on the RAM size. */
static unsigned boot(uint32_t magic, const struct mb_info *mbi)
{
	uint32_t sig = (uint32_t)fw_cfg_read(FW_CFG_SIGNATURE, 4);
	unsigned ncpus = (unsigned)fw_cfg_read(FW_CFG_NB_CPUS, 2);
	uint32_t mib = (uint32_t)(fw_cfg_read(FW_CFG_RAM_SIZE, 8) >> 20);

	if (magic != MB_BOOT_MAGIC)
		fail("entered with eax 0x%x, not the multiboot magic", magic);
	if (!(mbi->flags & MBI_MEMORY) || mbi->mem_upper / 1024 + 1 != mib)
		fail("multiboot info: flags 0x%x, upper memory %u KiB for %u MiB", mbi->flags,
		     mbi->mem_upper, mib);
	if (sig != ('Q' | 'E' << 8 | 'M' << 16 | 'U' << 24))
		fail("fw_cfg signature 0x%x, not QEMU", sig);
	if (ncpus < 1 || ncpus > MAX_CPUS)
		fail("fw_cfg reports %u cpus", ncpus);
	spurious_allowed = 1;
	if ((mbi->flags & MBI_CMDLINE) && has_word((const char *)mbi->cmdline, "strict"))
		spurious_allowed = 0;
	measuring = (mbi->flags & MBI_CMDLINE) && has_word((const char *)mbi->cmdline, "measure");
	printf("virq test guest: %u cpus, %u MiB\n", ncpus, mib);
	return ncpus;
}

void guest_main(uint32_t magic, uint32_t mbi);

void guest_main(uint32_t magic, uint32_t mbi)
{
	unsigned ncpus, total = 0;

	gdt_load();
	if (cpu_id() != 0)
		ap_main();

	idt_init();
	install_handlers();
	idt_load();
	idt_ready = 1;
	ncpus = boot(magic, (const struct mb_info *)mbi);
	lapic_enable();
	if (ncpus > 1)
		start_aps();
	wait_for_aps(ncpus);
	sti();

	test_ioapic_edge();
	no_strays("ioapic edge");
	test_ioapic_level();
	no_strays("ioapic level");
	test_ioapic_masked();
	no_strays("ioapic masked");
	test_resample();
	no_strays("irqfd resample");
	test_pic();
	no_strays("pic");
	test_msi(ncpus);
	no_strays("msi");
	if (ncpus >= 2) {
		test_ipi(ncpus);
		no_strays("ipi");
	}
	test_timer();
	no_strays("lapic timer");
	if (ncpus >= 2) {
		test_restart_ap();
		no_strays("restart");
	}
	if (measuring)		/* before x2APIC mode, so EOIs stay MMIO writes */
		measure();
	test_x2apic(ncpus);
	no_strays("x2apic");

	for (unsigned v = 0x20; v < 256; v++)
		if (v < VEC_PROBE_EDGE || v > VEC_PROBE_IRQFD)
			total += seen[v].count;
	printf("done: %u interrupts handled\n", total);
	debug_exit(0);
}
