/* SPDX-License-Identifier: MIT */
/*
 * trace.c - the trace callback, the event and field names, and the
 * formatter that prints each event as the kernel's TP_printk does.
 *
 * The formats are those of Linux 6.18 (the "print fmt" lines of
 * /sys/kernel/tracing/events/kvm/<name>/format on this machine): the same
 * words, the same number bases, the same symbolic decodes.  Where the
 * kernel prints a value through __print_symbolic() and the value has no
 * name, it prints it as 0x%lx; so do we.
 *
 * This file depends on nothing else of virq (the device models' unit
 * tests link it with stubs for the rest); virq_vm_set_trace_fn() lives
 * in kvm.c with the other per-handle setters.
 */
#include <stdio.h>
#include <stdlib.h>

#include "virq-int.h"

struct virq_trace_cb {
	virq_trace_fn fn;
	void *opaque;
	struct rcu_head rcu;
};

/* ---- names, generated from the list ---------------------------------------- */

struct trace_desc {
	const char *name;
	uint32_t nr;
	const char *field[VIRQ_TRACE_MAX_FIELDS];
};

#define DESC(ev, ...) \
	[VIRQ_TRACE_##ev] = { #ev, VIRQ_TR_NARGS(__VA_ARGS__), { VIRQ_TR_MAP(VIRQ_TR_NAME, __VA_ARGS__) } },
static const struct trace_desc trace_desc[VIRQ_TRACE_NR] = { VIRQ_TRACE_EVENTS(DESC) };
#undef DESC

const char *virq_trace_name(uint32_t id)
{
	return id < VIRQ_TRACE_NR ? trace_desc[id].name : NULL;
}

const char *virq_trace_field_name(uint32_t id, unsigned i)
{
	if (id >= VIRQ_TRACE_NR || i >= trace_desc[id].nr)
		return NULL;
	return trace_desc[id].field[i];
}

/* ---- the callback ------------------------------------------------------------- */

void virq_trace_emit(const struct virq_trace_sink *sink, uint32_t id, int32_t vcpu_id, uint32_t nr,
		     const uint64_t *field)
{
	struct virq_trace_event ev = {
		.id = id,
		.nr_fields = nr,
		.vm_fd = sink->vm_fd,
		.vcpu_id = vcpu_id,
	};
	struct virq_trace_cb *cb;

	for (uint32_t i = 0; i < nr; i++)
		ev.field[i] = field[i];
	/* Nested inside an injection's read-side section or not: the pair
	 * stays alive until we leave. */
	rcu_read_lock();
	cb = atomic_load_explicit(&((struct virq_trace_sink *)sink)->cb, memory_order_acquire);
	if (cb)
		cb->fn(cb->opaque, &ev);
	rcu_read_unlock();
}

static void cb_free_rcu(struct rcu_head *head)
{
	free(container_of(head, struct virq_trace_cb, rcu));
}

int virq_trace_sink_set(struct virq_trace_sink *sink, virq_trace_fn fn, void *opaque)
{
	struct virq_trace_cb *cb = NULL, *old;

	if (fn) {
		cb = calloc(1, sizeof(*cb));
		if (!cb)
			return -ENOMEM;
		cb->fn = fn;
		cb->opaque = opaque;
	}
	old = atomic_exchange(&sink->cb, cb);
	/* Emitters in flight may still hold it; never wait for them here
	 * (the caller may itself be inside a read-side section). */
	if (old)
		call_rcu(&old->rcu, cb_free_rcu);
	return 0;
}

void virq_trace_sink_destroy(struct virq_trace_sink *sink)
{
	free(atomic_exchange(&sink->cb, NULL));
}

/* ---- the formatter: one function per event, as its TP_printk ----------------- */

typedef int (*trace_fmt_fn)(char *buf, size_t size, const uint64_t *f);

/* kvm_deliver_mode: the 3-bit delivery mode of an RTE, MSI or ICR. */
static const char *const deliver_mode[8] = {
	"Fixed", "LowPrio", "SMI", "Res3", "NMI", "INIT", "SIPI", "ExtINT",
};

/* kvm_apic_dst_shorthand. */
static const char *const dst_shorthand[4] = { "dst", "self", "all", "all-but-self" };

/* kvm_trace_symbol_apic: the registers the kernel names. */
static const struct {
	uint32_t reg;
	const char *name;
} apic_regs[] = {
	{ 0x20, "APIC_ID" },      { 0x30, "APIC_LVR" },      { 0x80, "APIC_TASKPRI" },
	{ 0x90, "APIC_ARBPRI" },  { 0xa0, "APIC_PROCPRI" },  { 0xb0, "APIC_EOI" },
	{ 0xc0, "APIC_RRR" },     { 0xd0, "APIC_LDR" },      { 0xe0, "APIC_DFR" },
	{ 0xf0, "APIC_SPIV" },    { 0x100, "APIC_ISR" },     { 0x180, "APIC_TMR" },
	{ 0x200, "APIC_IRR" },    { 0x280, "APIC_ESR" },     { 0x300, "APIC_ICR" },
	{ 0x310, "APIC_ICR2" },   { 0x320, "APIC_LVTT" },    { 0x330, "APIC_LVTTHMR" },
	{ 0x340, "APIC_LVTPC" },  { 0x350, "APIC_LVT0" },    { 0x360, "APIC_LVT1" },
	{ 0x370, "APIC_LVTERR" }, { 0x380, "APIC_TMICT" },   { 0x390, "APIC_TMCCT" },
	{ 0x3e0, "APIC_TDCR" },   { 0x3f0, "APIC_SELF_IPI" }, { 0x400, "APIC_EFEAT" },
	{ 0x410, "APIC_ECTRL" },
};

/* kvm_irqchips. */
static const char *const irqchips[3] = { "PIC master", "PIC slave", "IOAPIC" };

static const char *onoff(uint64_t v, const char *yes, const char *no)
{
	return v ? yes : no;
}

static int fmt_kvm_set_irq(char *buf, size_t size, const uint64_t *f)
{
	return snprintf(buf, size, "gsi %u level %d source %d", (uint32_t)f[0], (int32_t)f[1],
			(int32_t)f[2]);
}

/* The redirection-table entry part shared by the two IOAPIC events. */
#define RTE_FMT "dst %x vec %u (%s|%s|%s%s)"
#define RTE_ARGS(e)                                                                                \
	(uint8_t)((e) >> 56), (uint8_t)(e), deliver_mode[((e) >> 8) & 7],                          \
		onoff((e) & (1u << 11), "logical", "physical"), onoff((e) & (1u << 15), "level", "edge"), \
		onoff((e) & (1u << 16), "|masked", "")

static int fmt_kvm_ioapic_set_irq(char *buf, size_t size, const uint64_t *f)
{
	return snprintf(buf, size, "pin %u " RTE_FMT "%s", (uint32_t)f[1], RTE_ARGS(f[0]),
			onoff(f[2], " (coalesced)", ""));
}

static int fmt_kvm_ioapic_delayed_eoi_inj(char *buf, size_t size, const uint64_t *f)
{
	return snprintf(buf, size, RTE_FMT, RTE_ARGS(f[0]));
}

static int fmt_kvm_msi_set_irq(char *buf, size_t size, const uint64_t *f)
{
	uint64_t address = f[0], data = f[1];
	/* The 8-bit destination plus, in the x2APIC format, the high bits. */
	uint64_t dst = (uint8_t)(address >> 12) | ((address >> 32) & 0xffffff00u);

	return snprintf(buf, size, "dst %llx vec %u (%s|%s|%s%s)", (unsigned long long)dst, (uint8_t)data,
			deliver_mode[(data >> 8) & 7], onoff(address & (1u << 2), "logical", "physical"),
			onoff(data & (1u << 15), "level", "edge"), onoff(address & (1u << 3), "|rh", ""));
}

static int fmt_kvm_ack_irq(char *buf, size_t size, const uint64_t *f)
{
	uint32_t chip = (uint32_t)f[0];

	if (chip < ARRAY_SIZE(irqchips))
		return snprintf(buf, size, "irqchip %s pin %u", irqchips[chip], (uint32_t)f[1]);
	return snprintf(buf, size, "irqchip 0x%x pin %u", chip, (uint32_t)f[1]);
}

static int fmt_kvm_apic(char *buf, size_t size, const uint64_t *f)
{
	const char *rw = onoff(f[0], "write", "read");
	uint32_t reg = (uint32_t)f[1];

	for (size_t i = 0; i < ARRAY_SIZE(apic_regs); i++)
		if (apic_regs[i].reg == reg)
			return snprintf(buf, size, "apic_%s %s = 0x%llx", rw, apic_regs[i].name,
					(unsigned long long)f[2]);
	return snprintf(buf, size, "apic_%s 0x%x = 0x%llx", rw, reg, (unsigned long long)f[2]);
}

static int fmt_kvm_inj_virq(char *buf, size_t size, const uint64_t *f)
{
	return snprintf(buf, size, "%s 0x%x%s", onoff(f[1], "Soft/INTn", "IRQ"), (uint32_t)f[0],
			onoff(f[2], " [reinjected]", ""));
}

static int fmt_kvm_pic_set_irq(char *buf, size_t size, const uint64_t *f)
{
	unsigned pin = (uint8_t)f[1];
	/* The kernel tests elcr/imr with (1 << pin) on a u8 pin. */
	uint64_t bit = pin < 64 ? 1ull << pin : 0;

	return snprintf(buf, size, "chip %u pin %u (%s%s)%s", (uint8_t)f[0], pin,
			onoff((uint8_t)f[2] & bit, "level", "edge"), onoff((uint8_t)f[3] & bit, "|masked", ""),
			onoff(f[4], " (coalesced)", ""));
}

static int fmt_kvm_apic_ipi(char *buf, size_t size, const uint64_t *f)
{
	uint32_t icr = (uint32_t)f[0];

	return snprintf(buf, size, "dst %x vec %u (%s|%s|%s|%s|%s)", (uint32_t)f[1], (uint8_t)icr,
			deliver_mode[(icr >> 8) & 7], onoff(icr & (1u << 11), "logical", "physical"),
			onoff(icr & (1u << 14), "assert", "de-assert"), onoff(icr & (1u << 15), "level", "edge"),
			dst_shorthand[(icr >> 18) & 3]);
}

static int fmt_kvm_apic_accept_irq(char *buf, size_t size, const uint64_t *f)
{
	return snprintf(buf, size, "apicid %x vec %u (%s|%s)", (uint32_t)f[0], (uint8_t)f[3],
			deliver_mode[((uint16_t)f[1] >> 8) & 7], onoff((uint16_t)f[2], "level", "edge"));
}

static int fmt_kvm_eoi(char *buf, size_t size, const uint64_t *f)
{
	return snprintf(buf, size, "apicid %x vector %d", (uint32_t)f[0], (int32_t)f[1]);
}

static int fmt_virq_irqfd_inject(char *buf, size_t size, const uint64_t *f)
{
	return snprintf(buf, size, "gsi %u%s", (uint32_t)f[0], onoff(f[1], " (resample)", ""));
}

static int fmt_virq_route_update(char *buf, size_t size, const uint64_t *f)
{
	return snprintf(buf, size, "gsi %u nr %u", (uint32_t)f[0], (uint32_t)f[1]);
}

static int fmt_virq_set_gsi_routing(char *buf, size_t size, const uint64_t *f)
{
	return snprintf(buf, size, "nr %u", (uint32_t)f[0]);
}

/* Every event of the list needs its fmt_<name> here, or the build fails. */
#define FMT(ev, ...) [VIRQ_TRACE_##ev] = fmt_##ev,
static const trace_fmt_fn trace_fmt[VIRQ_TRACE_NR] = { VIRQ_TRACE_EVENTS(FMT) };
#undef FMT

int virq_trace_format(const struct virq_trace_event *ev, char *buf, size_t size)
{
	if (!ev || ev->id >= VIRQ_TRACE_NR)
		return -EINVAL;
	if (!buf)
		size = 0;
	return trace_fmt[ev->id](buf, size, ev->field);
}
