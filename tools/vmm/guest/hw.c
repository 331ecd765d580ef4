/* SPDX-License-Identifier: MIT */
/*
 * hw.c - the built-in guest's hardware helpers (hw.h).
 */
#include "hw.h"

#define COM1		0x3f8
#define DEBUG_EXIT	0xf4
#define FW_CFG_SEL	0x510
#define FW_CFG_DATA	0x511
#define TESTDEV_IRQ	0x2000
#define MSI_PORT	0x2100
#define RESAMPLE_PORT	0x2200
#define PROBE_PORT	0x2300

#define IOAPIC_BASE	0xfec00000u
#define IOAPIC_REGSEL	0x00
#define IOAPIC_WIN	0x10
#define IOAPIC_REDIR(pin) (0x10 + 2 * (pin))

#define PIC_MASTER	0x20
#define PIC_SLAVE	0xa0
#define PIC_EOI		0x20	/* OCW2: non-specific EOI */

#define SEL_CODE	0x08
#define SEL_DATA	0x10

/* GCC may call these for struct copies even when freestanding. */
void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);

void *memset(void *d, int c, unsigned long n)
{
	volatile uint8_t *p = d;

	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	volatile uint8_t *p = d;
	const uint8_t *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

/* ---- console ---- */

/* The VMM's UART is always ready to send, so we skip polling LSR. */
static void putc(char c)
{
	outb(COM1, (uint8_t)c);
}

static void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

static void put_uint(uint32_t v, unsigned base)
{
	char buf[12];
	int i = 0;

	do {
		buf[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (i)
		putc(buf[--i]);
}

/* %u %d %x %s %c, and %% */
static void vprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			putc(*fmt);
			continue;
		}
		switch (*++fmt) {
		case 'u':
			put_uint(va_arg(ap, uint32_t), 10);
			break;
		case 'd': {
			int v = va_arg(ap, int);

			if (v < 0)
				putc('-');
			put_uint(v < 0 ? -(uint32_t)v : (uint32_t)v, 10);
			break;
		}
		case 'x':
			put_uint(va_arg(ap, uint32_t), 16);
			break;
		case 's':
			puts(va_arg(ap, const char *));
			break;
		case 'c':
			putc((char)va_arg(ap, int));
			break;
		case '%':
			putc('%');
			break;
		default:
			return;
		}
	}
}

void printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

void debug_exit(uint32_t value)
{
	outl(DEBUG_EXIT, value);
	for (;;) {		/* the VMM stops us; never run on */
		cli();
		__asm__ volatile("hlt");
	}
}

void fail(const char *fmt, ...)
{
	va_list ap;

	puts("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putc('\n');
	debug_exit(1);
}

/* ---- descriptor tables ---- */

struct dt_ptr {
	uint16_t limit;
	uint32_t base;
} __attribute__((packed));

/* Flat 4 GiB code and data, accessed bits preset so the CPU never writes. */
static const uint64_t gdt[3] = {
	0,
	0x00cf9b000000ffffull,	/* SEL_CODE: execute/read */
	0x00cf93000000ffffull,	/* SEL_DATA: read/write */
};

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t zero;
	uint8_t type;		/* 0x8e: present, DPL 0, 32-bit interrupt gate */
	uint16_t offset_hi;
} __attribute__((packed));

static struct idt_gate idt[256];
static handler_fn *handlers[256];
volatile uint32_t unexpected_vector;
extern const char isr_stubs[];

void gdt_load(void)
{
	struct dt_ptr p = { sizeof(gdt) - 1, (uint32_t)gdt };

	__asm__ volatile("lgdt %0\n\t"
			 "ljmp %1, $1f\n"
			 "1:\tmovw %w2, %%ds\n\t"
			 "movw %w2, %%es\n\t"
			 "movw %w2, %%fs\n\t"
			 "movw %w2, %%gs\n\t"
			 "movw %w2, %%ss"
			 : : "m"(p), "i"(SEL_CODE), "r"(SEL_DATA) : "memory");
}

void idt_init(void)
{
	for (unsigned v = 0; v < 256; v++) {
		uint32_t a = (uint32_t)(isr_stubs + 16 * v);

		idt[v] = (struct idt_gate){ (uint16_t)a, SEL_CODE, 0, 0x8e, (uint16_t)(a >> 16) };
	}
}

void idt_load(void)
{
	struct dt_ptr p = { sizeof(idt) - 1, (uint32_t)idt };

	__asm__ volatile("lidt %0" : : "m"(p));
}

void set_handler(unsigned vector, handler_fn *fn)
{
	handlers[vector] = fn;
}

void isr_dispatch(struct frame *f);

void isr_dispatch(struct frame *f)
{
	if (f->vector < 32) {
		printf("exception %u at eip 0x%x (error 0x%x) on cpu %u\n", f->vector, f->eip,
		       f->error, cpu_id());
		fail("exception %u", f->vector);
	}
	if (handlers[f->vector]) {
		handlers[f->vector](f);
		return;
	}
	/* Recorded for the BSP to report; 0xff is the spurious vector,
	 * which is not in service and must not be EOIed. */
	unexpected_vector = 0x100 | f->vector;
	if (f->vector != 0xff)
		lapic_eoi();
}

/* ---- local APIC ---- */

#define MSR_APIC_BASE	0x1b
#define  APIC_BASE_X2APIC (1u << 10)	/* EXTD */
#define MSR_X2APIC(reg)	(0x800 + ((reg) >> 4))
#define MSR_X2APIC_ICR	0x830

static volatile uint32_t x2apic_cpus;	/* bit n: CPU n is in x2APIC mode */

static bool in_x2apic(void)
{
	return x2apic_cpus & 1u << cpu_id();
}

/* xAPIC MMIO, or the x2APIC MSR of the same register (the ID is then
 * not shifted: x2APIC IDs are 32 bits). */
uint32_t lapic_read(uint32_t reg)
{
	if (in_x2apic())
		return (uint32_t)rdmsr(MSR_X2APIC(reg));
	return *(volatile uint32_t *)(LAPIC_BASE + reg);
}

void lapic_write(uint32_t reg, uint32_t v)
{
	if (in_x2apic())
		wrmsr(MSR_X2APIC(reg), v);
	else
		*(volatile uint32_t *)(LAPIC_BASE + reg) = v;
}

/*
 * Which CPU this is, from the stack (entry.S gives CPU n the n-th stack):
 * no APIC access, so it works in either APIC mode and in handlers.
 */
extern char stacks[];

unsigned cpu_id(void)
{
	uint32_t sp;

	__asm__ volatile("movl %%esp, %0" : "=r"(sp));
	return (sp - (uint32_t)stacks) / STACK_SIZE;
}

bool x2apic_offered(void)
{
	uint32_t a = 1, b, c = 0, d;

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return c & (1u << 21);
}

/* xAPIC -> x2APIC: set EXTD with the APIC enabled (SDM 10.12.5). */
void x2apic_enable(void)
{
	uint32_t flags;

	/* No handler may run between the switch and the bit: it would EOI
	 * through MMIO, which x2APIC mode ignores. */
	__asm__ volatile("pushfl; popl %0; cli" : "=r"(flags) : : "memory");
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_X2APIC);
	__atomic_fetch_or(&x2apic_cpus, 1u << cpu_id(), __ATOMIC_SEQ_CST);
	if (flags & (1u << 9))
		sti();
}

/*
 * Software-enable (SVR bit 8, spurious vector 0xff), accept every
 * priority, and join flat logical mode with one bit per APIC ID.
 */
void lapic_enable(void)
{
	lapic_write(LAPIC_SVR, 0x1ff);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_DFR, 0xffffffff);
	lapic_write(LAPIC_LDR, 1u << (24 + cpu_id()));
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

/* Writing the low half sends; KVM delivers at once, so no busy wait.
 * In x2APIC mode the ICR is one MSR with the destination in bits 63:32. */
void send_ipi(unsigned dest, uint32_t icr_lo)
{
	if (in_x2apic()) {
		wrmsr(MSR_X2APIC_ICR, (uint64_t)dest << 32 | icr_lo);
		return;
	}
	lapic_write(LAPIC_ICR_HI, dest << 24);
	lapic_write(LAPIC_ICR_LO, icr_lo);
}

/* ---- IOAPIC ---- */

static uint32_t ioapic_read(uint32_t reg)
{
	*(volatile uint32_t *)(IOAPIC_BASE + IOAPIC_REGSEL) = reg;
	return *(volatile uint32_t *)(IOAPIC_BASE + IOAPIC_WIN);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(IOAPIC_BASE + IOAPIC_REGSEL) = reg;
	*(volatile uint32_t *)(IOAPIC_BASE + IOAPIC_WIN) = v;
}

/* High dword first, so the entry never fires to a stale destination. */
void ioapic_route(unsigned pin, uint32_t lo, unsigned dest)
{
	ioapic_write(IOAPIC_REDIR(pin) + 1, dest << 24);
	ioapic_write(IOAPIC_REDIR(pin), lo);
}

uint32_t ioapic_redir_lo(unsigned pin)
{
	return ioapic_read(IOAPIC_REDIR(pin));
}

/* ---- 8259 ---- */

void pic_init(void)
{
	outb(PIC_MASTER, 0x11);		/* ICW1: edge, cascade, ICW4 follows */
	outb(PIC_MASTER + 1, 0x20);	/* ICW2: vectors 0x20-0x27 */
	outb(PIC_MASTER + 1, 0x04);	/* ICW3: a slave on IRQ 2 */
	outb(PIC_MASTER + 1, 0x01);	/* ICW4: 8086 mode, normal EOI */
	outb(PIC_SLAVE, 0x11);
	outb(PIC_SLAVE + 1, 0x28);	/* vectors 0x28-0x2f */
	outb(PIC_SLAVE + 1, 0x02);	/* slave identity 2 */
	outb(PIC_SLAVE + 1, 0x01);
}

void pic_mask(uint8_t master, uint8_t slave)
{
	outb(PIC_MASTER + 1, master);	/* OCW1 */
	outb(PIC_SLAVE + 1, slave);
}

/* A slave IRQ is in service on both chips: EOI the slave, then the master. */
void pic_eoi(unsigned irq)
{
	if (irq >= 8)
		outb(PIC_SLAVE, PIC_EOI);
	outb(PIC_MASTER, PIC_EOI);
}

/* ---- the VMM's devices ---- */

void set_line(unsigned line, int level)
{
	outb((uint16_t)(TESTDEV_IRQ + line), (uint8_t)level);
}

void send_msi(uint32_t addr, uint32_t data)
{
	outl(MSI_PORT, addr);
	outl(MSI_PORT + 4, 0);
	outl(MSI_PORT + 8, data);	/* sends */
}

void resample_attach(unsigned gsi)
{
	outl(RESAMPLE_PORT, gsi);
}

void resample_add(uint32_t events)
{
	outl(RESAMPLE_PORT + 4, events);
}

uint32_t resample_take(void)
{
	return inl(RESAMPLE_PORT + 4);
}

void probe_hit(uint32_t kind)
{
	outl(PROBE_PORT, kind);
}

void probe_mark(void)
{
	outl(PROBE_PORT + 4, 0);
}

uint64_t fw_cfg_read(uint16_t key, unsigned len)
{
	uint64_t v = 0;

	outw(FW_CFG_SEL, key);
	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)inb(FW_CFG_DATA) << (8 * i);
	return v;
}
