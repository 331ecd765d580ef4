/* SPDX-License-Identifier: MIT */
/*
 * hw.h - the built-in guest's view of the machine: ports, the xAPIC, the
 * IOAPIC, the 8259s, the VMM's test devices, and the interrupt plumbing.
 *
 * Plain integer instructions only: the CPU may be an instruction emulator
 * without SSE, x87, int3 or int n (docs/vmm.md).
 */
#ifndef GUEST_HW_H
#define GUEST_HW_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#define MAX_CPUS	16
#define STACK_SIZE	8192	/* entry.S: CPU n's stack is stacks[n] */

/* xAPIC registers, offsets from LAPIC_BASE. */
#define LAPIC_BASE	0xfee00000u
#define LAPIC_ID	0x020
#define LAPIC_TPR	0x080
#define LAPIC_EOI	0x0b0
#define LAPIC_LDR	0x0d0
#define LAPIC_DFR	0x0e0
#define LAPIC_SVR	0x0f0
#define LAPIC_ICR_LO	0x300
#define LAPIC_ICR_HI	0x310
#define LAPIC_SELF_IPI	0x3f0	/* x2APIC only */
#define LAPIC_LVT_TIMER	0x320
#define LAPIC_LVT0	0x350
#define LAPIC_TMICT	0x380
#define LAPIC_TDCR	0x3e0

#define APIC_MASKED	(1u << 16)
#define APIC_LEVEL	(1u << 15)	/* trigger mode, in LVTs and redirection entries */
#define APIC_ASSERT	(1u << 14)	/* ICR level: always set for fixed IPIs */
#define APIC_REMOTE_IRR	(1u << 14)	/* IOAPIC redirection entry, read only */
#define APIC_LOGICAL	(1u << 11)
#define APIC_DM_LOWEST	(1u << 8)
#define APIC_DM_EXTINT	(7u << 8)
#define APIC_DM_INIT	(5u << 8)
#define APIC_DM_STARTUP	(6u << 8)
#define APIC_ALL_BUT_SELF (3u << 18)	/* ICR destination shorthand */
#define APIC_TIMER_PERIODIC (1u << 17)

/* MSI address: destination in bits 19:12, bit 2 logical destination mode. */
#define MSI_ADDR(dest)	(0xfee00000u | (uint32_t)(dest) << 12)
#define MSI_ADDR_LOGICAL (1u << 2)

struct frame {			/* what entry.S pushes, lowest address first */
	uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;
	uint32_t vector, error;
	uint32_t eip, cs, eflags;	/* pushed by the CPU */
};

typedef void handler_fn(struct frame *f);

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdmsr(uint32_t index)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index));
	return (uint64_t)hi << 32 | lo;
}

static inline void wrmsr(uint32_t index, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(index), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
			 : "memory");
}

static inline void sti(void)
{
	__asm__ volatile("sti" : : : "memory");
}

static inline void cli(void)
{
	__asm__ volatile("cli" : : : "memory");
}

/* sti's one-instruction shadow makes "sti; hlt" wake on any interrupt. */
static inline void sti_hlt(void)
{
	__asm__ volatile("sti; hlt" : : : "memory");
}

/* Console (COM1) and the end of the run. */
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void debug_exit(uint32_t value) __attribute__((noreturn));
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Descriptor tables. */
void gdt_load(void);
void idt_init(void);		/* BSP, once */
void idt_load(void);
void set_handler(unsigned vector, handler_fn *fn);
extern volatile uint32_t unexpected_vector;	/* 0x100 | vector, 0 if none */

/* Local APIC: xAPIC MMIO, or MSRs once this CPU called x2apic_enable(). */
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);
unsigned cpu_id(void);			/* from the stack pointer */
bool x2apic_offered(void);		/* CPUID.1:ECX.x2APIC */
void x2apic_enable(void);
void lapic_enable(void);
void lapic_eoi(void);
void send_ipi(unsigned dest, uint32_t icr_lo);

/* IOAPIC: redirection entries by pin; @lo is the low dword. */
void ioapic_route(unsigned pin, uint32_t lo, unsigned dest);
uint32_t ioapic_redir_lo(unsigned pin);

/* The dual 8259: bases 0x20 and 0x28, slave on IRQ 2. */
void pic_init(void);
void pic_mask(uint8_t master, uint8_t slave);
void pic_eoi(unsigned irq);

/* The VMM's devices (docs/vmm.md). */
void set_line(unsigned line, int level);
void send_msi(uint32_t addr, uint32_t data);
uint64_t fw_cfg_read(uint16_t key, unsigned len);
/* The resample test device: a level line on an irqfd with a resamplefd. */
void resample_attach(unsigned gsi);
void resample_add(uint32_t events);
uint32_t resample_take(void);	/* the count before taking one; 0: none */
/* The latency probe (virq vm --measure). */
void probe_hit(uint32_t kind);
void probe_mark(void);

#endif
