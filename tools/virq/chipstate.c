/* SPDX-License-Identifier: MIT */
/*
 * chipstate.c - read, print, look up and compare the interrupt-controller
 * state of a VM (see chipstate.h).
 *
 * Every field is described once, in the tables below: its name (the path
 * component and the JSON key), where it lives in the struct it is read
 * from, its width and how it is shown.  The human tables, the JSON, the
 * path lookup and the diff all walk the same tables.
 */
#include "chipstate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MSR_IA32_APICBASE 0x1b
#define APIC_BASE_BSP     (1ull << 8)
#define APIC_BASE_EXTD    (1ull << 10)
#define APIC_BASE_ENABLE  (1ull << 11)
#define LAPIC_REGS_SIZE   0x400
#define RTE_RESET         0x10000ull /* masked, everything else 0 */

/* ---- the field tables ----------------------------------------------------------------- */

enum fkind {
	FK_U8,     /* a byte at .off of the base */
	FK_U32,    /* a 32-bit word at .off */
	FK_U64,    /* a 64-bit word at .off */
	FK_BITS,   /* bits [.off, .off + .bits) of the 64-bit word at the base */
	FK_VECSET, /* eight 32-bit LAPIC registers 0x10 apart from .off: bit v = vector v */
};

enum {
	FF_DEC = 1,    /* a count, a flag or a small enum: decimal */
	FF_NODIFF = 2, /* differs legitimately between implementations */
	FF_FLAG = 4,   /* print: a boolean, listed by name when set */
	FF_RAW = 8,    /* the whole word: diffed only if no subfield differs */
	FF_STR = 16,   /* JSON: a "0x..." string (may not fit a double) */
	FF_WO = 32,    /* a write-only register (EOI): named, writable, but not shown */
};

struct field {
	const char *name;          /* path component and JSON key */
	const char *label;         /* print: a shorter heading (NULL: the name) */
	uint32_t off;              /* byte offset in the base; FK_BITS: first bit */
	uint8_t kind;              /* enum fkind */
	uint8_t bits;              /* FK_BITS: width */
	uint8_t digits;            /* print: hex digits (0: as many as needed) */
	uint8_t line;              /* print: the line or column group (0: none) */
	uint16_t flags;            /* FF_* */
	uint16_t have;             /* 1 + offset of the bool saying it was read (0: always) */
	uint32_t rtype;            /* route fields: only for this route type (0: any) */
	const char *const *names;  /* print: names of the values */
	unsigned nnames;
};

#define MSIZE(t, m)   sizeof(((t *)0)->m)
#define KIND(t, m)    (MSIZE(t, m) == 1 ? FK_U8 : MSIZE(t, m) == 4 ? FK_U32 : FK_U64)
#define SF(nm, t, m)  .name = (nm), .off = offsetof(t, m), .kind = KIND(t, m)
#define HAVE(t, m)    (offsetof(t, m) + 1)
#define NAMES(a)      .names = (a), .nnames = sizeof(a) / sizeof((a)[0])
#define NFIELDS(a)    (sizeof(a) / sizeof((a)[0]))

static const char *const dm_names[8] = { "fixed", "lowest", "smi",   "rsvd3",
					 "nmi",   "init",   "rsvd6", "extint" };
static const char *const destmode_names[2] = { "phys", "logical" };
static const char *const trig_names[2] = { "edge", "level" };
static const char *const pol_names[2] = { "high", "low" };
static const char *const bool_names[2] = { "-", "1" };

/* struct kvm_pic_state.  Line 1: registers; line 2: state and flags. */
#define PIC(m, ...) { SF(#m, struct kvm_pic_state, m), __VA_ARGS__ }
static const struct field pic_fields[] = {
	PIC(irr, .line = 1, .digits = 2),
	PIC(imr, .line = 1, .digits = 2),
	PIC(isr, .line = 1, .digits = 2),
	PIC(elcr, .line = 1, .digits = 2),
	PIC(elcr_mask, .line = 1, .digits = 2),
	PIC(irq_base, .line = 1, .digits = 2),
	PIC(last_irr, .line = 1, .digits = 2),
	PIC(priority_add, .line = 2, .flags = FF_DEC),
	PIC(init_state, .line = 2, .flags = FF_DEC),
	PIC(read_reg_select, .line = 2, .flags = FF_DEC),
	PIC(poll, .line = 2, .flags = FF_DEC | FF_FLAG),
	PIC(special_mask, .line = 2, .flags = FF_DEC | FF_FLAG),
	PIC(auto_eoi, .line = 2, .flags = FF_DEC | FF_FLAG),
	PIC(rotate_on_auto_eoi, .line = 2, .flags = FF_DEC | FF_FLAG),
	PIC(special_fully_nested_mode, .line = 2, .flags = FF_DEC | FF_FLAG),
	PIC(init4, .line = 2, .flags = FF_DEC | FF_FLAG),
};

/* struct kvm_ioapic_state, outside the redirection table. */
#define IOA(m, ...) { SF(#m, struct kvm_ioapic_state, m), .line = 1, __VA_ARGS__ }
static const struct field ioapic_fields[] = {
	IOA(id),
	IOA(base_address),
	IOA(ioregsel, .digits = 2),
	IOA(irr, .digits = 8),
};

/* A redirection table entry; the order is the column order of the table. */
#define RTE(nm, lo, w, ...) { .name = (nm), .off = (lo), .bits = (w), .kind = FK_BITS, __VA_ARGS__ }
static const struct field rte_fields[] = {
	RTE("vector", 0, 8, .digits = 2),
	RTE("delivery_mode", 8, 3, .label = "mode", .flags = FF_DEC, NAMES(dm_names)),
	RTE("dest_mode", 11, 1, .label = "destmode", .flags = FF_DEC, NAMES(destmode_names)),
	RTE("dest_id", 56, 8, .label = "dest", .digits = 2),
	RTE("trig_mode", 15, 1, .label = "trig", .flags = FF_DEC, NAMES(trig_names)),
	RTE("polarity", 13, 1, .label = "pol", .flags = FF_DEC, NAMES(pol_names)),
	RTE("mask", 16, 1, .flags = FF_DEC, NAMES(bool_names)),
	RTE("remote_irr", 14, 1, .label = "rirr", .flags = FF_DEC, NAMES(bool_names)),
	RTE("delivery_status", 12, 1, .label = "ds", .flags = FF_DEC, NAMES(bool_names)),
	{ .name = "raw", .kind = FK_U64, .digits = 16, .flags = FF_RAW | FF_STR },
};
#define RTE_RAW (&rte_fields[NFIELDS(rte_fields) - 1])

/*
 * A vCPU's LAPIC (base: struct cs_vcpu; registers at their xAPIC offsets).
 * Lines: 1 identity and configuration, 2 priorities and ICR, 3 LVT,
 * 4 timer, 5 vector sets.
 */
#define LREG(nm, reg, ln, dg, ...)                                                                   \
	{ .name = (nm), .off = offsetof(struct cs_vcpu, lapic.regs) + (reg), .kind = FK_U32, .line = (ln), \
	  .digits = (dg), .have = HAVE(struct cs_vcpu, have_lapic), __VA_ARGS__ }
#define LSET(nm, reg)                                                                           \
	{ .name = (nm), .off = offsetof(struct cs_vcpu, lapic.regs) + (reg), .kind = FK_VECSET, \
	  .line = 5, .have = HAVE(struct cs_vcpu, have_lapic) }
static const struct field lapic_fields[] = {
	LREG("id", 0x20, 1, 8),
	LREG("version", 0x30, 1, 0),
	LREG("ldr", 0xd0, 1, 8),
	LREG("dfr", 0xe0, 1, 8),
	LREG("svr", 0xf0, 1, 0),
	LREG("esr", 0x280, 1, 0),
	LREG("tpr", 0x80, 2, 2),
	LREG("apr", 0x90, 2, 2),
	LREG("ppr", 0xa0, 2, 2),
	LREG("eoi", 0xb0, 0, 0, .flags = FF_WO),
	LREG("icr", 0x300, 2, 8),
	LREG("icr2", 0x310, 2, 8),
	LREG("lvt_cmci", 0x2f0, 3, 0, .label = "cmci"),
	LREG("lvt_timer", 0x320, 3, 0, .label = "timer"),
	LREG("lvt_thermal", 0x330, 3, 0, .label = "thermal"),
	LREG("lvt_pmc", 0x340, 3, 0, .label = "pmc"),
	LREG("lvt_lint0", 0x350, 3, 0, .label = "lint0"),
	LREG("lvt_lint1", 0x360, 3, 0, .label = "lint1"),
	LREG("lvt_error", 0x370, 3, 0, .label = "error"),
	LREG("tmict", 0x380, 4, 0),
	LREG("tmcct", 0x390, 4, 0, .flags = FF_NODIFF),
	LREG("tdcr", 0x3e0, 4, 0),
	LSET("irr", 0x200),
	LSET("isr", 0x100),
	LSET("tmr", 0x180),
	{ SF("apic_base", struct cs_vcpu, apic_base), .digits = 8,
	  .have = HAVE(struct cs_vcpu, have_apic_base) },
};
static const char *const lapic_line_prefix[] = { NULL, "", "", "lvt", "timer", "" };

/* struct kvm_vcpu_events (base: struct cs_vcpu). */
#define EV(nm, m, ...)                                                                          \
	{ SF(nm, struct cs_vcpu, events.m), .line = 1, .have = HAVE(struct cs_vcpu, have_events), \
	  __VA_ARGS__ }
static const struct field event_fields[] = {
	EV("exception_injected", exception.injected, .flags = FF_DEC),
	EV("exception_nr", exception.nr, .digits = 2),
	EV("exception_has_error_code", exception.has_error_code, .flags = FF_DEC),
	EV("exception_pending", exception.pending, .flags = FF_DEC),
	EV("exception_error_code", exception.error_code),
	EV("interrupt_injected", interrupt.injected, .flags = FF_DEC),
	EV("interrupt_nr", interrupt.nr, .digits = 2),
	EV("interrupt_soft", interrupt.soft, .flags = FF_DEC),
	EV("interrupt_shadow", interrupt.shadow, .flags = FF_DEC),
	EV("nmi_injected", nmi.injected, .flags = FF_DEC),
	EV("nmi_pending", nmi.pending, .flags = FF_DEC),
	EV("nmi_masked", nmi.masked, .flags = FF_DEC),
	EV("sipi_vector", sipi_vector, .digits = 2),
	EV("smi_smm", smi.smm, .flags = FF_DEC),
	EV("smi_pending", smi.pending, .flags = FF_DEC),
	EV("smi_inside_nmi", smi.smm_inside_nmi, .flags = FF_DEC),
	EV("smi_latched_init", smi.latched_init, .flags = FF_DEC),
};

/* A route (base: struct cs_route).  Line 1: the counters (table columns). */
#define RT(nm, m, ty, ...) { SF(nm, struct cs_route, e.m), .rtype = (ty), __VA_ARGS__ }
#define CNT(nm, m, lb)                                                                   \
	{ SF(nm, struct cs_route, st.m), .label = (lb), .line = 1, .flags = FF_DEC, \
	  .have = HAVE(struct cs_route, have_stats) }
static const struct field route_fields[] = {
	RT("type", type, 0, .flags = FF_DEC),
	RT("flags", flags, 0),
	RT("irqchip", u.irqchip.irqchip, KVM_IRQ_ROUTING_IRQCHIP, .flags = FF_DEC),
	RT("pin", u.irqchip.pin, KVM_IRQ_ROUTING_IRQCHIP, .flags = FF_DEC),
	RT("address_lo", u.msi.address_lo, KVM_IRQ_ROUTING_MSI, .digits = 8),
	RT("address_hi", u.msi.address_hi, KVM_IRQ_ROUTING_MSI, .digits = 8),
	RT("data", u.msi.data, KVM_IRQ_ROUTING_MSI),
	RT("devid", u.msi.devid, KVM_IRQ_ROUTING_MSI),
	RT("vcpu", u.hv_sint.vcpu, KVM_IRQ_ROUTING_HV_SINT, .flags = FF_DEC),
	RT("sint", u.hv_sint.sint, KVM_IRQ_ROUTING_HV_SINT, .flags = FF_DEC),
	CNT("delivered", delivered, NULL),
	CNT("coalesced", coalesced, NULL),
	CNT("masked", masked, NULL),
	CNT("no_destination", no_destination, "no_dest"),
};

static const struct field count_field = { .name = "count", .flags = FF_DEC };

/* For cs_assign's read-only messages. */
#define CS_WRITABLE "pic[N].<field>, ioapic.<field>, ioapic.redir[N][.<field>], lapic[ID].<reg>"

static const char *route_type_name(uint32_t type)
{
	static const char *const n[] = { NULL, "irqchip", "msi", "s390_adapter", "hv_sint", "xen_evtchn" };

	return type < sizeof(n) / sizeof(n[0]) && n[type] ? n[type] : "unknown";
}

/* ---- reading a field ---------------------------------------------------------------- */

static bool field_have(const struct field *f, const void *base)
{
	bool h;

	if (!f->have)
		return true;
	memcpy(&h, (const char *)base + f->have - 1, sizeof(h));
	return h;
}

static uint32_t rd32(const void *p)
{
	uint32_t x;

	memcpy(&x, p, sizeof(x));
	return x;
}

static void field_get(const struct field *f, const void *base, struct cs_value *v)
{
	const unsigned char *p = (const unsigned char *)base + (f->kind == FK_BITS ? 0 : f->off);
	uint64_t x;

	memset(v, 0, sizeof(*v));
	v->kind = CS_V_INT;
	switch (f->kind) {
	case FK_U8:
		v->u = *p;
		break;
	case FK_U32:
		v->u = rd32(p);
		break;
	case FK_U64:
		memcpy(&v->u, p, sizeof(v->u));
		break;
	case FK_BITS:
		memcpy(&x, p, sizeof(x));
		v->u = (x >> f->off) & ((f->bits < 64 ? 1ull << f->bits : 0) - 1);
		break;
	case FK_VECSET:
		v->kind = CS_V_VECSET;
		for (int i = 0; i < 8; i++)
			v->set[i] = rd32(p + 0x10 * i);
		break;
	}
}

/* The width of a field in bits (FK_VECSET: 0, it takes a set). */
static unsigned field_width(const struct field *f)
{
	switch (f->kind) {
	case FK_U8:
		return 8;
	case FK_U32:
		return 32;
	case FK_U64:
		return 64;
	case FK_BITS:
		return f->bits;
	default:
		return 0;
	}
}

/* Store @v (of the field's kind, fitting its width) into the field. */
static void field_put(const struct field *f, void *base, const struct cs_value *v)
{
	unsigned char *p = (unsigned char *)base + (f->kind == FK_BITS ? 0 : f->off);
	uint32_t w32 = (uint32_t)v->u;
	uint64_t x, m;

	switch (f->kind) {
	case FK_U8:
		*p = (uint8_t)v->u;
		break;
	case FK_U32:
		memcpy(p, &w32, sizeof(w32));
		break;
	case FK_U64:
		memcpy(p, &v->u, sizeof(v->u));
		break;
	case FK_BITS:
		m = (f->bits < 64 ? (1ull << f->bits) - 1 : ~0ull) << f->off;
		memcpy(&x, p, sizeof(x));
		x = (x & ~m) | ((v->u << f->off) & m);
		memcpy(p, &x, sizeof(x));
		break;
	case FK_VECSET:
		for (int i = 0; i < 8; i++)
			memcpy(p + 0x10 * i, &v->set[i], sizeof(v->set[i]));
		break;
	}
}

static bool route_field_applies(const struct field *f, const struct cs_route *r)
{
	return !f->rtype || f->rtype == r->e.type;
}

/* ---- formatting ----------------------------------------------------------------------- */

/* A bounded string builder. */
struct sbuf {
	char *p;
	size_t len, n;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (!b->len || b->n >= b->len - 1)
		return;
	va_start(ap, fmt);
	r = vsnprintf(b->p + b->n, b->len - b->n, fmt, ap);
	va_end(ap);
	if (r > 0)
		b->n = (size_t)r < b->len - b->n ? b->n + (size_t)r : b->len - 1;
}

static void sb_init(struct sbuf *b, char *p, size_t len)
{
	b->p = p;
	b->len = len;
	b->n = 0;
	if (len)
		p[0] = 0;
}

static void fmt_set(struct sbuf *b, const uint32_t set[8], bool json)
{
	bool first = true;

	sb_printf(b, json ? "[" : "{");
	for (unsigned vec = 0; vec < 256; vec++) {
		if (!(set[vec / 32] & (1u << (vec % 32))))
			continue;
		if (json)
			sb_printf(b, "%s%u", first ? "" : ", ", vec);
		else
			sb_printf(b, "%s0x%02x", first ? "" : ", ", vec);
		first = false;
	}
	sb_printf(b, json ? "]" : "}");
}

enum fmt_style {
	FMT_PLAIN,  /* cs_value_str and diffs: 0x40, 7, {0x40} */
	FMT_PRETTY, /* tables: names and padded hex */
	FMT_JSON,
};

static void fmt_value(const struct field *f, const struct cs_value *v, enum fmt_style st, char *buf,
		      size_t len)
{
	struct sbuf b;

	sb_init(&b, buf, len);
	if (v->kind == CS_V_VECSET) {
		fmt_set(&b, v->set, st == FMT_JSON);
		return;
	}
	if (st == FMT_JSON) {
		if (f && (f->flags & FF_STR))
			sb_printf(&b, "\"0x%0*" PRIx64 "\"", (int)f->digits, v->u);
		else
			sb_printf(&b, "%" PRIu64, v->u);
	} else if (st == FMT_PRETTY && f && f->names && v->u < f->nnames) {
		sb_printf(&b, "%s", f->names[v->u]);
	} else if (f && (f->flags & FF_DEC)) {
		sb_printf(&b, "%" PRIu64, v->u);
	} else {
		sb_printf(&b, "0x%0*" PRIx64, st == FMT_PRETTY && f ? (int)f->digits : 0, v->u);
	}
}

static void fmt_field(const struct field *f, const void *base, enum fmt_style st, char *buf, size_t len)
{
	struct cs_value v;

	field_get(f, base, &v);
	fmt_value(f, &v, st, buf, len);
}

/* "a, b, c" of the names of a table, for error messages. */
static void list_names(struct sbuf *b, const struct field *fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sb_printf(b, "%s%s", i ? ", " : "", fs[i].name);
}

/* ---- reading the state ------------------------------------------------------------------ */

static int read_routing(struct chipstate *s, int vm_fd)
{
	struct kvm_irq_routing_entry *e = NULL;
	struct virq_route_stats *st;
	long n = virq_routing_get(vm_fd, NULL, 0);
	uint32_t cap;

	if (n < 0)
		return 0;
	for (;;) {
		cap = (uint32_t)n;
		e = calloc(cap ? cap : 1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		n = virq_routing_get(vm_fd, e, cap);
		if (n < 0) {
			free(e);
			return 0;
		}
		if ((unsigned long)n <= cap)
			break;
		free(e); /* the table grew in between */
	}
	s->routes = calloc(n ? (size_t)n : 1, sizeof(*s->routes));
	st = calloc(n ? (size_t)n : 1, sizeof(*st));
	if (!s->routes || !st) {
		free(s->routes);
		s->routes = NULL;
		free(st);
		free(e);
		return -ENOMEM;
	}
	s->nroutes = (uint32_t)n;
	for (uint32_t i = 0; i < s->nroutes; i++)
		s->routes[i].e = e[i];
	free(e);
	for (uint32_t i = 0, cnt; i < s->nroutes; i += cnt) {
		uint32_t gsi = s->routes[i].e.gsi;

		for (cnt = 1; i + cnt < s->nroutes && s->routes[i + cnt].e.gsi == gsi; cnt++)
			;
		if (virq_route_stats(vm_fd, gsi, st, cnt) != (int)cnt)
			continue; /* changed meanwhile: no counters */
		for (uint32_t k = 0; k < cnt; k++) {
			s->routes[i + k].st = st[k];
			s->routes[i + k].have_stats = true;
		}
	}
	free(st);
	s->have_routing = true;
	return 0;
}

int cs_read(struct chipstate *s, cs_ioctl_fn ioctl_fn, bool is_virq, int vm_fd, const int *vcpu_fds,
	    const uint32_t *vcpu_ids, int nvcpus)
{
	struct kvm_irqchip chip;
	bool pic_ok = true;

	memset(s, 0, sizeof(*s));
	if (nvcpus < 0 || nvcpus > CS_MAX_VCPUS)
		return -EINVAL;
	for (uint32_t id = KVM_IRQCHIP_PIC_MASTER; id <= KVM_IRQCHIP_IOAPIC; id++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = id;
		if (ioctl_fn(vm_fd, KVM_GET_IRQCHIP, &chip) < 0) {
			if (id != KVM_IRQCHIP_IOAPIC)
				pic_ok = false;
			continue;
		}
		if (id == KVM_IRQCHIP_IOAPIC) {
			s->ioapic = chip.chip.ioapic;
			s->have_ioapic = true;
		} else {
			s->pic[id] = chip.chip.pic;
		}
	}
	s->have_pic = pic_ok;
	if (!pic_ok)
		memset(s->pic, 0, sizeof(s->pic));

	s->nvcpus = nvcpus;
	for (int i = 0; i < nvcpus; i++) {
		struct cs_vcpu *v = &s->vcpu[i];
		union {
			struct kvm_msrs h;
			unsigned char buf[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
		} msrs;

		v->fd = vcpu_fds[i];
		v->id = vcpu_ids[i];
		v->have_lapic = ioctl_fn(v->fd, KVM_GET_LAPIC, &v->lapic) == 0;
		if (!v->have_lapic)
			memset(&v->lapic, 0, sizeof(v->lapic));
		memset(&msrs, 0, sizeof(msrs));
		msrs.h.nmsrs = 1;
		msrs.h.entries[0].index = MSR_IA32_APICBASE;
		if (ioctl_fn(v->fd, KVM_GET_MSRS, &msrs) == 1) {
			v->apic_base = msrs.h.entries[0].data;
			v->have_apic_base = true;
		}
		v->have_events = ioctl_fn(v->fd, KVM_GET_VCPU_EVENTS, &v->events) == 0;
		if (!v->have_events)
			memset(&v->events, 0, sizeof(v->events));
	}
	return is_virq ? read_routing(s, vm_fd) : 0;
}

void cs_free(struct chipstate *s)
{
	free(s->routes);
	s->routes = NULL;
	s->nroutes = 0;
	s->have_routing = false;
}

int cs_dup(struct chipstate *dst, const struct chipstate *src)
{
	*dst = *src;
	dst->routes = NULL;
	if (!src->have_routing)
		return 0;
	dst->routes = calloc(src->nroutes ? src->nroutes : 1, sizeof(*dst->routes));
	if (!dst->routes) {
		dst->have_routing = false;
		dst->nroutes = 0;
		return -ENOMEM;
	}
	if (src->nroutes)
		memcpy(dst->routes, src->routes, src->nroutes * sizeof(*dst->routes));
	return 0;
}

int cs_parse_what(const char *text, unsigned *what)
{
	static const struct {
		const char *name;
		unsigned bits;
	} names[] = {
		{ "pic", CS_PIC },	 { "ioapic", CS_IOAPIC }, { "lapic", CS_LAPIC },
		{ "routing", CS_ROUTING }, { "all", CS_ALL },
	};
	unsigned w = 0;
	const char *p = text;

	if (!text || !*text)
		return -1;
	for (;;) {
		size_t len = strcspn(p, ",");
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == len && !strncmp(p, names[i].name, len))
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return -1;
		w |= names[i].bits;
		if (!p[len])
			break;
		p += len + 1;
	}
	*what = w;
	return 0;
}

/* ---- lookup ----------------------------------------------------------------------------- */

const struct cs_vcpu *cs_find_vcpu(const struct chipstate *s, uint32_t id)
{
	for (int i = 0; i < s->nvcpus; i++)
		if (s->vcpu[i].id == id)
			return &s->vcpu[i];
	return NULL;
}

/* The first route of @gsi and how many it has. */
static uint32_t find_routes(const struct chipstate *s, uint32_t gsi, const struct cs_route **first)
{
	uint32_t i = 0, n = 0;

	while (i < s->nroutes && s->routes[i].e.gsi != gsi)
		i++;
	while (i + n < s->nroutes && s->routes[i + n].e.gsi == gsi)
		n++;
	*first = n ? &s->routes[i] : NULL;
	return n;
}

enum ns { NS_PIC, NS_IOAPIC, NS_REDIR, NS_LAPIC, NS_VCPU, NS_ROUTE_COUNT, NS_ROUTE };

/* A parsed path. */
struct ref {
	enum ns ns;
	uint64_t i, j; /* PIC, pin, vCPU id or GSI; route index */
	const struct field *f;
	struct field synth; /* lapic[ID].reg[OFF] */
};

static size_t ident_len(const char *p)
{
	size_t n = 0;

	while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9') ||
	       p[n] == '_')
		n++;
	return n;
}

static bool tok_is(const char *p, size_t len, const char *word)
{
	return strlen(word) == len && !strncmp(p, word, len);
}

/* "[N]", N decimal or 0x-hex. */
static int parse_index(const char **pp, uint64_t *out)
{
	const char *p = *pp;
	char *end;
	int base = 10;

	if (*p != '[')
		return -1;
	p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (!(*p >= '0' && *p <= '9') && !(base == 16 && *p && strchr("abcdefABCDEF", *p)))
		return -1;
	errno = 0;
	*out = strtoull(p, &end, base);
	if (errno || *end != ']')
		return -1;
	*pp = end + 1;
	return 0;
}

static const struct field *find_field(const struct field *fs, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (tok_is(name, len, fs[i].name))
			return &fs[i];
	return NULL;
}

/* @p is at a field name that must end the path: find it in @fs or explain. */
static int want_field(const char **pp, const struct field *fs, size_t n, const char *what, const char *extra,
		      const struct field **out, struct sbuf *err)
{
	const char *p = *pp;
	size_t len = ident_len(p);

	*out = len ? find_field(fs, n, p, len) : NULL;
	if (*out && !p[len]) {
		*pp = p + len;
		return 0;
	}
	if (*out) {
		sb_printf(err, "unexpected '%s' after %s '%.*s'", p + len, what, (int)len, p);
		return -1;
	}
	sb_printf(err, "unknown %s '%s' (valid: ", what, p);
	list_names(err, fs, n);
	sb_printf(err, "%s%s)", extra ? ", " : "", extra ? extra : "");
	return -1;
}

static int parse_path(const char *path, struct ref *r, struct sbuf *err)
{
	const char *p = path;
	size_t len = ident_len(p);
	const char *head = p;

	memset(r, 0, sizeof(*r));
	p += len;
	if (tok_is(head, len, "pic")) {
		r->ns = NS_PIC;
		if (parse_index(&p, &r->i) || *p++ != '.')
			goto syntax;
		if (r->i > 1) {
			sb_printf(err, "no PIC %" PRIu64 " (0 is the master, 1 the slave)", r->i);
			return -1;
		}
		return want_field(&p, pic_fields, NFIELDS(pic_fields), "PIC field", NULL, &r->f, err);
	}
	if (tok_is(head, len, "ioapic")) {
		if (*p++ != '.')
			goto syntax;
		len = ident_len(p);
		if (tok_is(p, len, "redir") && p[len] == '[') {
			r->ns = NS_REDIR;
			p += len;
			if (parse_index(&p, &r->i))
				goto syntax;
			if (r->i >= KVM_IOAPIC_NUM_PINS) {
				sb_printf(err, "no IOAPIC pin %" PRIu64 " (pins 0-%d)", r->i,
					  KVM_IOAPIC_NUM_PINS - 1);
				return -1;
			}
			if (!*p) {
				r->f = RTE_RAW;
				return 0;
			}
			if (*p++ != '.')
				goto syntax;
			return want_field(&p, rte_fields, NFIELDS(rte_fields), "redirection entry field",
					  NULL, &r->f, err);
		}
		r->ns = NS_IOAPIC;
		return want_field(&p, ioapic_fields, NFIELDS(ioapic_fields), "IOAPIC field", "redir[N]",
				  &r->f, err);
	}
	if (tok_is(head, len, "lapic")) {
		r->ns = NS_LAPIC;
		if (parse_index(&p, &r->i) || *p++ != '.')
			goto syntax;
		len = ident_len(p);
		if (tok_is(p, len, "reg") && p[len] == '[') {
			uint64_t off;

			p += len;
			if (parse_index(&p, &off) || *p)
				goto syntax;
			if (off >= LAPIC_REGS_SIZE || off % 4) {
				sb_printf(err,
					  "LAPIC register offset 0x%" PRIx64
					  " is not a 4-byte aligned offset below 0x%x",
					  off, LAPIC_REGS_SIZE);
				return -1;
			}
			r->synth = (struct field){
				.name = "reg",
				.off = (uint32_t)(offsetof(struct cs_vcpu, lapic.regs) + off),
				.kind = FK_U32,
				.have = HAVE(struct cs_vcpu, have_lapic),
			};
			r->f = &r->synth;
			return 0;
		}
		return want_field(&p, lapic_fields, NFIELDS(lapic_fields), "LAPIC register", "reg[OFF]",
				  &r->f, err);
	}
	if (tok_is(head, len, "vcpu")) {
		r->ns = NS_VCPU;
		if (parse_index(&p, &r->i) || *p++ != '.')
			goto syntax;
		return want_field(&p, event_fields, NFIELDS(event_fields), "vCPU event field", NULL, &r->f,
				  err);
	}
	if (tok_is(head, len, "route")) {
		if (parse_index(&p, &r->i))
			goto syntax;
		if (*p == '.') {
			p++;
			r->ns = NS_ROUTE_COUNT;
			r->f = &count_field;
			if (strcmp(p, "count")) {
				sb_printf(err, "unknown route field '%s' "
					       "(route[GSI].count, route[GSI][I].<field>)",
					  p);
				return -1;
			}
			return 0;
		}
		r->ns = NS_ROUTE;
		if (parse_index(&p, &r->j) || *p++ != '.')
			goto syntax;
		return want_field(&p, route_fields, NFIELDS(route_fields), "route field", NULL, &r->f, err);
	}
	sb_printf(err, "unknown path '%s' (valid: pic[N].<field>, ioapic.<field>, ioapic.redir[N].<field>, "
		       "lapic[ID].<reg>, vcpu[ID].<field>, route[GSI].count, route[GSI][I].<field>)",
		  path);
	return -1;
syntax:
	sb_printf(err, "bad path '%s' (indices are [N], decimal or 0x-hex; fields follow a '.')", path);
	return -1;
}

/* Where the field of a PIC, IOAPIC, LAPIC or vCPU-event path lives in @s,
 * or NULL with a message if that part is absent. */
static const void *locate(const struct chipstate *s, const struct ref *r, struct sbuf *err)
{
	const struct cs_vcpu *v;

	switch (r->ns) {
	case NS_PIC:
		if (!s->have_pic) {
			sb_printf(err, "no PIC in this VM");
			return NULL;
		}
		return &s->pic[r->i];
	case NS_IOAPIC:
	case NS_REDIR:
		if (!s->have_ioapic) {
			sb_printf(err, "no IOAPIC in this VM");
			return NULL;
		}
		return r->ns == NS_IOAPIC ? (const void *)&s->ioapic : (const void *)&s->ioapic.redirtbl[r->i];
	case NS_LAPIC:
	case NS_VCPU:
		v = r->i <= UINT32_MAX ? cs_find_vcpu(s, (uint32_t)r->i) : NULL;
		if (!v) {
			sb_printf(err, "no vCPU with id %" PRIu64, r->i);
			return NULL;
		}
		if (!field_have(r->f, v)) {
			if (r->f->have == HAVE(struct cs_vcpu, have_lapic))
				sb_printf(err, "vCPU %u has no LAPIC state (no in-kernel LAPIC)", v->id);
			else if (r->f->have == HAVE(struct cs_vcpu, have_apic_base))
				sb_printf(err, "vCPU %u: IA32_APIC_BASE could not be read", v->id);
			else
				sb_printf(err, "vCPU %u: KVM_GET_VCPU_EVENTS failed", v->id);
			return NULL;
		}
		return v;
	default:
		return NULL;
	}
}

static int fetch(const struct chipstate *s, const struct ref *r, struct cs_value *out, struct sbuf *err)
{
	const struct cs_route *rt;
	const void *base;
	uint32_t n;

	switch (r->ns) {
	case NS_ROUTE_COUNT:
	case NS_ROUTE:
		if (!s->have_routing) {
			sb_printf(err, "no routing table (only virq can read it back)");
			return -1;
		}
		n = r->i <= UINT32_MAX ? find_routes(s, (uint32_t)r->i, &rt) : 0;
		if (r->ns == NS_ROUTE_COUNT) {
			memset(out, 0, sizeof(*out));
			out->kind = CS_V_INT;
			out->u = n;
			return 0;
		}
		if (r->j >= n) {
			sb_printf(err, "GSI %" PRIu64 " has %u route%s: no route[%" PRIu64 "][%" PRIu64 "]",
				  r->i, n, n == 1 ? "" : "s", r->i, r->j);
			return -1;
		}
		rt += r->j;
		if (!route_field_applies(r->f, rt)) {
			sb_printf(err, "route[%" PRIu64 "][%" PRIu64 "] is an %s route: it has no '%s'", r->i,
				  r->j, route_type_name(rt->e.type), r->f->name);
			return -1;
		}
		if (!field_have(r->f, rt)) {
			sb_printf(err, "no counters for route[%" PRIu64 "][%" PRIu64 "]", r->i, r->j);
			return -1;
		}
		base = rt;
		break;
	default:
		base = locate(s, r, err);
		if (!base)
			return -1;
		break;
	}
	field_get(r->f, base, out);
	return 0;
}

int cs_lookup(const struct chipstate *s, const char *path, struct cs_value *out, char *err, size_t errlen)
{
	struct ref r;
	struct sbuf e;

	sb_init(&e, err, err ? errlen : 0);
	if (parse_path(path, &r, &e) || fetch(s, &r, out, &e))
		return -1;
	return 0;
}

int cs_assign(struct chipstate *s, const char *path, const struct cs_value *v, char *err, size_t errlen)
{
	struct ref r;
	struct sbuf e;
	const void *base;
	unsigned width;

	sb_init(&e, err, err ? errlen : 0);
	if (parse_path(path, &r, &e))
		return -1;
	switch (r.ns) {
	case NS_VCPU:
		sb_printf(&e, "%s is read-only (vCPU events; writable: %s)", path, CS_WRITABLE);
		return -1;
	case NS_ROUTE:
	case NS_ROUTE_COUNT:
		sb_printf(&e, "%s is read-only (the routing table; writable: %s)", path, CS_WRITABLE);
		return -1;
	default:
		break;
	}
	if (r.f->have == HAVE(struct cs_vcpu, have_apic_base)) {
		sb_printf(&e, "%s is read-only (the IA32_APIC_BASE MSR, not LAPIC state; writable: %s)", path,
			  CS_WRITABLE);
		return -1;
	}
	base = locate(s, &r, &e);
	if (!base)
		return -1;
	if (r.f->kind == FK_VECSET && v->kind != CS_V_VECSET) {
		sb_printf(&e, "%s is a vector set: {0x40, 0x41} or {}", path);
		return -1;
	}
	if (r.f->kind != FK_VECSET && v->kind != CS_V_INT) {
		sb_printf(&e, "%s is a number, not a vector set", path);
		return -1;
	}
	width = field_width(r.f);
	if (v->kind == CS_V_INT && width < 64 && v->u >> width) {
		sb_printf(&e, "0x%" PRIx64 " does not fit %s (%u bits: at most 0x%" PRIx64 ")", v->u, path,
			  width, ((uint64_t)1 << width) - 1);
		return -1;
	}
	/* @s is the caller's, writable: the const is locate()'s, shared with cs_lookup(). */
	field_put(r.f, (void *)(uintptr_t)base, v);
	return 0;
}

const char *cs_lapic_reg_name(uint32_t offset)
{
	const uint32_t regs = offsetof(struct cs_vcpu, lapic.regs);

	for (size_t i = 0; i < NFIELDS(lapic_fields); i++) {
		const struct field *f = &lapic_fields[i];
		uint32_t at = f->off - regs;

		if (f->have != HAVE(struct cs_vcpu, have_lapic))
			continue;
		if (f->kind == FK_U32 && offset == at)
			return f->name;
		if (f->kind == FK_VECSET && offset >= at && offset < at + 0x80 && !((offset - at) % 0x10))
			return f->name;
	}
	return NULL;
}

void cs_value_str(const struct cs_value *v, const char *path, char *buf, size_t len)
{
	struct ref r;
	struct sbuf e;
	const struct field *f = NULL;

	sb_init(&e, NULL, 0);
	if (path && !parse_path(path, &r, &e))
		f = r.f;
	fmt_value(f, v, FMT_PLAIN, buf, len);
}

bool cs_value_eq(const struct cs_value *a, const struct cs_value *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == CS_V_VECSET)
		return !memcmp(a->set, b->set, sizeof(a->set));
	return a->u == b->u;
}

/* ---- human tables ------------------------------------------------------------------------ */

/* A table of strings printed with aligned columns. */
#define TCELL 80
struct tbl {
	size_t ncols, nrows, cap;
	char (*cell)[TCELL];
};

static char *tbl_cell(struct tbl *t, size_t row, size_t col)
{
	return t->cell[row * t->ncols + col];
}

/* Add a row; NULL if out of memory. */
static bool tbl_row(struct tbl *t)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		void *p = realloc(t->cell, cap * t->ncols * sizeof(*t->cell));

		if (!p)
			return false;
		t->cell = p;
		t->cap = cap;
	}
	memset(t->cell[t->nrows * t->ncols], 0, t->ncols * sizeof(*t->cell));
	t->nrows++;
	return true;
}

/* The last non-empty cell of a row (0 if none). */
static size_t tbl_last(struct tbl *t, size_t row)
{
	size_t c = t->ncols;

	while (c > 1 && !tbl_cell(t, row, c - 1)[0])
		c--;
	return c - 1;
}

/* Aligned columns.  The last non-empty cell of a row ends it: it is not
 * padded and does not widen its column (a row can leave the columns on
 * its right empty and run on in one text). */
static void tbl_print(FILE *f, struct tbl *t, const char *indent)
{
	size_t w[16] = { 0 };

	for (size_t r = 0; r < t->nrows; r++) {
		size_t last = tbl_last(t, r);

		for (size_t c = 0; c < last && c < 16; c++)
			if (strlen(tbl_cell(t, r, c)) > w[c])
				w[c] = strlen(tbl_cell(t, r, c));
	}
	for (size_t r = 0; r < t->nrows; r++) {
		size_t last = tbl_last(t, r);

		fputs(indent, f);
		for (size_t c = 0; c <= last; c++) {
			if (c == last)
				fputs(tbl_cell(t, r, c), f);
			else
				fprintf(f, "%-*s  ", (int)(c < 16 ? w[c] : 0), tbl_cell(t, r, c));
		}
		fputc('\n', f);
	}
	free(t->cell);
	t->cell = NULL;
	t->nrows = t->cap = 0;
}

/*
 * The fields of @line as "name value" pairs, the first after @lead, the
 * others after @sep; with @nonzero
 * only those that are not 0; FF_FLAG fields as a list of the set ones.
 * Returns how many were printed.
 */
static int print_line(FILE *f, const struct field *fs, size_t n, const void *base, unsigned line,
		      bool nonzero, const char *lead, const char *sep)
{
	char buf[TCELL * 4];
	int printed = 0, flags = 0, set = 0;

	for (size_t i = 0; i < n; i++) {
		const struct field *fl = &fs[i];
		struct cs_value v;

		if (fl->line != line || !field_have(fl, base))
			continue;
		if (fl->flags & FF_FLAG) {
			flags++;
			continue;
		}
		field_get(fl, base, &v);
		if (nonzero && v.kind == CS_V_INT && !v.u)
			continue;
		fmt_value(fl, &v, FMT_PRETTY, buf, sizeof(buf));
		fprintf(f, "%s%s %s", printed ? sep : lead, fl->label ? fl->label : fl->name, buf);
		printed++;
	}
	if (!flags)
		return printed;
	fprintf(f, "%sflags:", printed ? sep : lead);
	for (size_t i = 0; i < n; i++) {
		struct cs_value v;

		if (fs[i].line != line || !(fs[i].flags & FF_FLAG))
			continue;
		field_get(&fs[i], base, &v);
		if (!v.u)
			continue;
		if (v.u == 1)
			fprintf(f, " %s", fs[i].name);
		else
			fprintf(f, " %s=%" PRIu64, fs[i].name, v.u);
		set++;
	}
	if (!set)
		fputs(" -", f);
	return printed + 1;
}

static void print_pic(FILE *f, const struct chipstate *s)
{
	if (!s->have_pic) {
		fprintf(f, "PIC  absent (no in-kernel PIC: split or no irqchip)\n");
		return;
	}
	for (int i = 0; i < 2; i++) {
		fprintf(f, "PIC %-6s ", i ? "slave" : "master");
		print_line(f, pic_fields, NFIELDS(pic_fields), &s->pic[i], 1, false, " ", " ");
		fprintf(f, "\n            ");
		print_line(f, pic_fields, NFIELDS(pic_fields), &s->pic[i], 2, false, "", " ");
		fputc('\n', f);
	}
}

/* "0-15, 17-23" */
static void fmt_pins(struct sbuf *b, uint32_t pins)
{
	bool first = true;

	for (int p = 0; p < KVM_IOAPIC_NUM_PINS; p++) {
		int q = p;

		if (!(pins & (1u << p)))
			continue;
		while (q + 1 < KVM_IOAPIC_NUM_PINS && (pins & (1u << (q + 1))))
			q++;
		if (q == p)
			sb_printf(b, "%s%d", first ? "" : ", ", p);
		else
			sb_printf(b, "%s%d-%d", first ? "" : ", ", p, q);
		first = false;
		p = q;
	}
}

static void print_ioapic(FILE *f, const struct chipstate *s)
{
	const size_t nf = NFIELDS(rte_fields);
	struct tbl t = { .ncols = nf + 1 };
	uint32_t elided = 0;
	char buf[160];
	struct sbuf b;

	if (!s->have_ioapic) {
		fprintf(f, "IOAPIC  absent (no in-kernel IOAPIC: split or no irqchip)\n");
		return;
	}
	fprintf(f, "IOAPIC ");
	print_line(f, ioapic_fields, NFIELDS(ioapic_fields), &s->ioapic, 1, false, " ", " ");
	fputc('\n', f);
	if (!tbl_row(&t))
		goto oom;
	snprintf(tbl_cell(&t, 0, 0), TCELL, "pin");
	for (size_t c = 0; c < nf; c++) {
		const struct field *fl = &rte_fields[c];

		snprintf(tbl_cell(&t, 0, c + 1), TCELL, "%s", fl->label ? fl->label : fl->name);
	}
	for (int pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++) {
		const void *e = &s->ioapic.redirtbl[pin];

		if (s->ioapic.redirtbl[pin].bits == RTE_RESET && !(s->ioapic.irr & (1u << pin))) {
			elided |= 1u << pin;
			continue;
		}
		if (!tbl_row(&t))
			goto oom;
		snprintf(tbl_cell(&t, t.nrows - 1, 0), TCELL, "%d", pin);
		for (size_t c = 0; c < nf; c++)
			fmt_field(&rte_fields[c], e, FMT_PRETTY, tbl_cell(&t, t.nrows - 1, c + 1), TCELL);
	}
	if (t.nrows > 1)
		tbl_print(f, &t, "  ");
	free(t.cell);
	if (elided) {
		sb_init(&b, buf, sizeof(buf));
		fmt_pins(&b, elided);
		fprintf(f, "  (%d masked pins at reset value not shown: %s)\n", __builtin_popcount(elided),
			buf);
	}
	return;
oom:
	free(t.cell);
	fprintf(f, "  (out of memory)\n");
}

static uint32_t decoded_apic_id(const struct cs_vcpu *v)
{
	uint32_t id = rd32(v->lapic.regs + 0x20);

	return v->have_apic_base && (v->apic_base & APIC_BASE_EXTD) ? id : id >> 24;
}

static void print_vcpu(FILE *f, const struct cs_vcpu *v)
{
	fprintf(f, "vCPU %u ", v->id);
	if (v->have_lapic)
		fprintf(f, " apic id %u ", decoded_apic_id(v));
	else
		fprintf(f, " no LAPIC ");
	if (v->have_apic_base) {
		uint64_t b = v->apic_base;

		fprintf(f, " apic_base 0x%08" PRIx64 " (%s%s%s)", b,
			b & APIC_BASE_ENABLE ? "enabled" : "disabled", b & APIC_BASE_BSP ? ", BSP" : "",
			!(b & APIC_BASE_ENABLE) ? "" : b & APIC_BASE_EXTD ? ", x2APIC" : ", xAPIC");
	} else {
		fprintf(f, " apic_base ?");
	}
	fputc('\n', f);
	for (unsigned line = 1; v->have_lapic && line < NFIELDS(lapic_line_prefix); line++) {
		const char *prefix = lapic_line_prefix[line];

		fprintf(f, "  %s", prefix);
		print_line(f, lapic_fields, NFIELDS(lapic_fields), v, line, false, *prefix ? " " : "",
			   line == 5 ? "  " : " ");
		fputc('\n', f);
	}
	if (v->have_events) {
		fprintf(f, "  events");
		if (!print_line(f, event_fields, NFIELDS(event_fields), v, 1, true, " ", " "))
			fprintf(f, " none");
		fputc('\n', f);
	}
}

static void route_target(const struct kvm_irq_routing_entry *e, char *buf, size_t len)
{
	static const char *const chips[] = { "PIC master", "PIC slave", "IOAPIC" };
	struct sbuf b;

	sb_init(&b, buf, len);
	switch (e->type) {
	case KVM_IRQ_ROUTING_IRQCHIP:
		if (e->u.irqchip.irqchip < 3)
			sb_printf(&b, "%s pin %u", chips[e->u.irqchip.irqchip], e->u.irqchip.pin);
		else
			sb_printf(&b, "irqchip %u pin %u", e->u.irqchip.irqchip, e->u.irqchip.pin);
		break;
	case KVM_IRQ_ROUTING_MSI: {
		uint32_t lo = e->u.msi.address_lo, hi = e->u.msi.address_hi, data = e->u.msi.data;
		/* KVM_X2APIC_API_USE_32BIT_IDS: address_hi[31:8] are dest[31:8]. */
		uint32_t dest = ((lo >> 12) & 0xff) | (hi & 0xffffff00);

		if (hi)
			sb_printf(&b, "addr 0x%08x:%08x", hi, lo);
		else
			sb_printf(&b, "addr 0x%08x", lo);
		sb_printf(&b, " data 0x%x (dest %s 0x%02x%s vec 0x%02x %s %s%s)", data,
			  destmode_names[(lo >> 2) & 1], dest, hi & 0xffffff00 ? " x2APIC" : "", data & 0xff,
			  dm_names[(data >> 8) & 7], trig_names[(data >> 15) & 1], lo & 8 ? " rh" : "");
		if (e->flags & KVM_MSI_VALID_DEVID)
			sb_printf(&b, " devid 0x%x", e->u.msi.devid);
		break;
	}
	case KVM_IRQ_ROUTING_HV_SINT:
		sb_printf(&b, "vcpu %u sint %u", e->u.hv_sint.vcpu, e->u.hv_sint.sint);
		break;
	default:
		sb_printf(&b, "type %u", e->type);
		break;
	}
}

/*
 * What KVM_CREATE_IRQCHIP installs (as `virq state --what routing` after
 * it shows, and as the kernel's default routing does): GSI 0-15 go to
 * IOAPIC pin g, then to pin g % 8 of the master (0-7) or slave (8-15)
 * PIC; GSI 16-23 to IOAPIC pin g alone.  GSI 0 is IOAPIC pin 0, not 2.
 * Returns 1 if the @n routes of @gsi at @r are exactly that for a GSI
 * below 16, 2 for one of 16-23, with every counter read and 0; else 0.
 */
static int default_routes(const struct cs_route *r, uint32_t n, uint32_t gsi)
{
	const struct kvm_irq_routing_entry *e;
	uint32_t pic;

	if (gsi < 16 && n == 2)
		pic = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
	else if (gsi >= 16 && gsi < KVM_IOAPIC_NUM_PINS && n == 1)
		pic = UINT32_MAX;
	else
		return 0;
	for (uint32_t k = 0; k < n; k++) {
		e = &r[k].e;
		if (e->type != KVM_IRQ_ROUTING_IRQCHIP || e->flags || !r[k].have_stats)
			return 0;
		if (k == 0 && (e->u.irqchip.irqchip != KVM_IRQCHIP_IOAPIC || e->u.irqchip.pin != gsi))
			return 0;
		if (k == 1 && (e->u.irqchip.irqchip != pic || e->u.irqchip.pin != gsi % 8))
			return 0;
		for (size_t i = 0; i < NFIELDS(route_fields); i++) {
			struct cs_value v;

			if (route_fields[i].line != 1)
				continue;
			field_get(&route_fields[i], &r[k], &v);
			if (v.u)
				return 0;
		}
	}
	return pic == UINT32_MAX ? 2 : 1;
}

/* The number of routes of the GSI whose first route is at index @i. */
static uint32_t gsi_routes(const struct chipstate *s, uint32_t i)
{
	uint32_t n = 1;

	while (i + n < s->nroutes && s->routes[i + n].e.gsi == s->routes[i].e.gsi)
		n++;
	return n;
}

static void print_routing(FILE *f, const struct chipstate *s)
{
	const size_t nf = NFIELDS(route_fields);
	struct tbl t = { .ncols = 3 };
	size_t col;

	if (!s->have_routing) {
		fprintf(f, "Routing  not available (only virq can read the table back)\n");
		return;
	}
	fprintf(f, "Routing (%u route%s)\n", s->nroutes, s->nroutes == 1 ? "" : "s");
	if (!s->nroutes)
		return;
	for (size_t i = 0; i < nf; i++)
		if (route_fields[i].line == 1)
			t.ncols++;
	if (!tbl_row(&t))
		goto oom;
	snprintf(tbl_cell(&t, 0, 0), TCELL, "gsi");
	snprintf(tbl_cell(&t, 0, 1), TCELL, "type");
	snprintf(tbl_cell(&t, 0, 2), TCELL, "target");
	col = 3;
	for (size_t i = 0; i < nf; i++)
		if (route_fields[i].line == 1)
			snprintf(tbl_cell(&t, 0, col++), TCELL, "%s",
				 route_fields[i].label ? route_fields[i].label : route_fields[i].name);
	for (uint32_t i = 0, k = 0; i < s->nroutes; i++) {
		const struct cs_route *r = &s->routes[i];
		bool multi = (i > 0 && s->routes[i - 1].e.gsi == r->e.gsi) ||
			     (i + 1 < s->nroutes && s->routes[i + 1].e.gsi == r->e.gsi);

		k = i > 0 && s->routes[i - 1].e.gsi == r->e.gsi ? k + 1 : 0;
		if (!k) {
			/* A run of two or more GSIs with the default routes: one line. */
			uint32_t n = gsi_routes(s, i), j = i + n, last = r->e.gsi, gsis = 1;
			int kind = default_routes(r, n, r->e.gsi);

			while (kind && j < s->nroutes && s->routes[j].e.gsi == last + 1 &&
			       default_routes(&s->routes[j], gsi_routes(s, j), last + 1) == kind) {
				j += gsi_routes(s, j);
				last++;
				gsis++;
			}
			if (gsis >= 2) {
				if (!tbl_row(&t))
					goto oom;
				snprintf(tbl_cell(&t, t.nrows - 1, 0), TCELL, "%u-%u", r->e.gsi, last);
				snprintf(tbl_cell(&t, t.nrows - 1, 1), TCELL, "default");
				snprintf(tbl_cell(&t, t.nrows - 1, 2), TCELL,
					 "%s (KVM_CREATE_IRQCHIP's routes, no traffic)",
					 kind == 1 ? "PIC + IOAPIC" : "IOAPIC");
				i = j - 1;
				continue;
			}
		}
		if (!tbl_row(&t))
			goto oom;
		if (multi)
			snprintf(tbl_cell(&t, t.nrows - 1, 0), TCELL, "%u[%u]", r->e.gsi, k);
		else
			snprintf(tbl_cell(&t, t.nrows - 1, 0), TCELL, "%u", r->e.gsi);
		snprintf(tbl_cell(&t, t.nrows - 1, 1), TCELL, "%s", route_type_name(r->e.type));
		route_target(&r->e, tbl_cell(&t, t.nrows - 1, 2), TCELL);
		col = 3;
		for (size_t c = 0; c < nf; c++) {
			char *cell;

			if (route_fields[c].line != 1)
				continue;
			cell = tbl_cell(&t, t.nrows - 1, col);

			if (field_have(&route_fields[c], r))
				fmt_field(&route_fields[c], r, FMT_PRETTY, cell, TCELL);
			else
				snprintf(cell, TCELL, "-");
			col++;
		}
	}
	tbl_print(f, &t, "  ");
	return;
oom:
	free(t.cell);
	fprintf(f, "  (out of memory)\n");
}

void cs_print(FILE *f, const struct chipstate *s, unsigned what)
{
	if (what & CS_PIC)
		print_pic(f, s);
	if (what & CS_IOAPIC)
		print_ioapic(f, s);
	if (what & CS_LAPIC) {
		if (!s->nvcpus)
			fprintf(f, "vCPUs  none\n");
		for (int i = 0; i < s->nvcpus; i++)
			print_vcpu(f, &s->vcpu[i]);
	}
	if (what & CS_ROUTING)
		print_routing(f, s);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

/* "key": value pairs of the fields of @fs that are present in @base; with
 * @have_sel only the fields whose presence flag is that one. */
static void json_fields(FILE *f, const struct field *fs, size_t n, const void *base, int have_sel,
			const struct cs_route *route, bool *first)
{
	char buf[TCELL * 16];

	for (size_t i = 0; i < n; i++) {
		if ((have_sel >= 0 && fs[i].have != have_sel) || (fs[i].flags & FF_WO))
			continue;
		if (!field_have(&fs[i], base) || (route && !route_field_applies(&fs[i], route)))
			continue;
		fmt_field(&fs[i], base, FMT_JSON, buf, sizeof(buf));
		fprintf(f, "%s\"%s\": %s", *first ? "" : ", ", fs[i].name, buf);
		*first = false;
	}
}

static void json_pic(FILE *f, const struct chipstate *s)
{
	fprintf(f, "  \"pic\": ");
	if (!s->have_pic) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "[\n");
	for (int i = 0; i < 2; i++) {
		bool first = true;

		fprintf(f, "    {");
		json_fields(f, pic_fields, NFIELDS(pic_fields), &s->pic[i], -1, NULL, &first);
		fprintf(f, "}%s\n", i ? "" : ",");
	}
	fprintf(f, "  ]");
}

static void json_ioapic(FILE *f, const struct chipstate *s)
{
	bool first = true;

	fprintf(f, "  \"ioapic\": ");
	if (!s->have_ioapic) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "{");
	json_fields(f, ioapic_fields, NFIELDS(ioapic_fields), &s->ioapic, -1, NULL, &first);
	fprintf(f, ", \"redir\": [\n");
	for (int pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++) {
		first = false;
		fprintf(f, "    {\"pin\": %d", pin);
		json_fields(f, rte_fields, NFIELDS(rte_fields), &s->ioapic.redirtbl[pin], -1, NULL, &first);
		fprintf(f, "}%s\n", pin + 1 < KVM_IOAPIC_NUM_PINS ? "," : "");
	}
	fprintf(f, "  ]}");
}

static void json_vcpus(FILE *f, const struct chipstate *s)
{
	fprintf(f, "  \"vcpus\": [");
	for (int i = 0; i < s->nvcpus; i++) {
		const struct cs_vcpu *v = &s->vcpu[i];
		bool first = true;

		fprintf(f, "%s\n    {\"id\": %u, \"lapic\": ", i ? "," : "", v->id);
		if (v->have_lapic) {
			fprintf(f, "{\"apic_id\": %u, ", decoded_apic_id(v));
			json_fields(f, lapic_fields, NFIELDS(lapic_fields), v,
				    HAVE(struct cs_vcpu, have_lapic), NULL, &first);
			fprintf(f, "}");
		} else {
			fprintf(f, "null");
		}
		if (v->have_apic_base)
			fprintf(f, ", \"apic_base\": %" PRIu64, v->apic_base);
		else
			fprintf(f, ", \"apic_base\": null");
		fprintf(f, ", \"events\": ");
		if (v->have_events) {
			first = true;
			fprintf(f, "{");
			json_fields(f, event_fields, NFIELDS(event_fields), v, -1, NULL, &first);
			fprintf(f, "}");
		} else {
			fprintf(f, "null");
		}
		fprintf(f, "}");
	}
	fprintf(f, "%s]", s->nvcpus ? "\n  " : "");
}

static void json_routing(FILE *f, const struct chipstate *s)
{
	fprintf(f, "  \"routing\": ");
	if (!s->have_routing) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "[");
	for (uint32_t i = 0, k = 0; i < s->nroutes; i++) {
		const struct cs_route *r = &s->routes[i];
		bool first = false;

		k = i > 0 && s->routes[i - 1].e.gsi == r->e.gsi ? k + 1 : 0;
		fprintf(f, "%s\n    {\"gsi\": %u, \"index\": %u", i ? "," : "", r->e.gsi, k);
		json_fields(f, route_fields, NFIELDS(route_fields), r, -1, r, &first);
		fprintf(f, "}");
	}
	fprintf(f, "%s]", s->nroutes ? "\n  " : "");
}

void cs_print_json(FILE *f, const struct chipstate *s, unsigned what)
{
	void (*const parts[])(FILE *, const struct chipstate *) = { json_pic, json_ioapic, json_vcpus,
								     json_routing };
	const unsigned bits[] = { CS_PIC, CS_IOAPIC, CS_LAPIC, CS_ROUTING };
	bool first = true;

	fprintf(f, "{");
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		if (!(what & bits[i]))
			continue;
		fprintf(f, "%s\n", first ? "" : ",");
		parts[i](f, s);
		first = false;
	}
	fprintf(f, "\n}\n");
}

/* ---- diff ------------------------------------------------------------------------------------- */

struct diffctx {
	FILE *f;
	const char *an, *bn;
	int n;
};

static void dline(struct diffctx *d, const char *path, const char *va, const char *vb)
{
	fprintf(d->f, "  %s: %s %s  %s %s\n", path, d->an, va, d->bn, vb);
	d->n++;
}

static void dpresent(struct diffctx *d, const char *path, bool a, bool b)
{
	if (a != b)
		dline(d, path, a ? "present" : "absent", b ? "present" : "absent");
}

/* Compare the fields of @fs (those present on both sides; route fields of
 * the route's type) except FF_NODIFF, FF_RAW and FF_WO ones.  Returns how many differ. */
static int diff_fields(struct diffctx *d, const struct field *fs, size_t n, const void *a, const void *b,
		       const char *prefix, const struct cs_route *route)
{
	char path[128], va[TCELL * 16], vb[TCELL * 16];
	int found = 0;

	for (size_t i = 0; i < n; i++) {
		const struct field *f = &fs[i];
		struct cs_value x, y;

		if ((f->flags & (FF_NODIFF | FF_RAW | FF_WO)) || !field_have(f, a) || !field_have(f, b))
			continue;
		if (route && !route_field_applies(f, route))
			continue;
		field_get(f, a, &x);
		field_get(f, b, &y);
		if (cs_value_eq(&x, &y))
			continue;
		snprintf(path, sizeof(path), "%s.%s", prefix, f->name);
		fmt_value(f, &x, FMT_PLAIN, va, sizeof(va));
		fmt_value(f, &y, FMT_PLAIN, vb, sizeof(vb));
		dline(d, path, va, vb);
		found++;
	}
	return found;
}

static void diff_vcpu(struct diffctx *d, const struct cs_vcpu *a, const struct cs_vcpu *b)
{
	char prefix[48], path[64], va[32], vb[32];

	snprintf(prefix, sizeof(prefix), "lapic[%u]", a->id);
	dpresent(d, prefix, a->have_lapic, b->have_lapic);
	if (a->have_apic_base != b->have_apic_base) {
		snprintf(path, sizeof(path), "%s.apic_base", prefix);
		snprintf(va, sizeof(va), "0x%" PRIx64, a->apic_base);
		snprintf(vb, sizeof(vb), "0x%" PRIx64, b->apic_base);
		if (!a->have_apic_base)
			snprintf(va, sizeof(va), "absent");
		if (!b->have_apic_base)
			snprintf(vb, sizeof(vb), "absent");
		dline(d, path, va, vb);
	}
	diff_fields(d, lapic_fields, NFIELDS(lapic_fields), a, b, prefix, NULL);
	snprintf(prefix, sizeof(prefix), "vcpu[%u]", a->id);
	if (a->have_events != b->have_events) {
		snprintf(path, sizeof(path), "%s.events", prefix);
		dpresent(d, path, a->have_events, b->have_events);
	}
	diff_fields(d, event_fields, NFIELDS(event_fields), a, b, prefix, NULL);
}

static void diff_routing(struct diffctx *d, const struct chipstate *a, const struct chipstate *b)
{
	char prefix[64], va[32], vb[32];
	uint32_t ia = 0, ib = 0;

	while (ia < a->nroutes || ib < b->nroutes) {
		uint32_t gsi, ca = 0, cb = 0;

		if (ib >= b->nroutes || (ia < a->nroutes && a->routes[ia].e.gsi <= b->routes[ib].e.gsi))
			gsi = a->routes[ia].e.gsi;
		else
			gsi = b->routes[ib].e.gsi;
		while (ia + ca < a->nroutes && a->routes[ia + ca].e.gsi == gsi)
			ca++;
		while (ib + cb < b->nroutes && b->routes[ib + cb].e.gsi == gsi)
			cb++;
		if (ca != cb) {
			snprintf(prefix, sizeof(prefix), "route[%u].count", gsi);
			snprintf(va, sizeof(va), "%u", ca);
			snprintf(vb, sizeof(vb), "%u", cb);
			dline(d, prefix, va, vb);
		}
		for (uint32_t k = 0; k < ca && k < cb; k++) {
			const struct cs_route *ra = &a->routes[ia + k], *rb = &b->routes[ib + k];

			snprintf(prefix, sizeof(prefix), "route[%u][%u]", gsi, k);
			if (ra->e.type != rb->e.type) {
				diff_fields(d, route_fields, 1, ra, rb, prefix, NULL); /* just the type */
				continue;
			}
			diff_fields(d, route_fields, NFIELDS(route_fields), ra, rb, prefix, ra);
		}
		ia += ca;
		ib += cb;
	}
}

int cs_diff(FILE *f, const struct chipstate *a, const char *an, const struct chipstate *b, const char *bn,
	    unsigned what)
{
	struct diffctx d = { .f = f, .an = an, .bn = bn };
	char prefix[48];

	if (what & CS_PIC) {
		dpresent(&d, "pic", a->have_pic, b->have_pic);
		for (int i = 0; i < 2 && a->have_pic && b->have_pic; i++) {
			snprintf(prefix, sizeof(prefix), "pic[%d]", i);
			diff_fields(&d, pic_fields, NFIELDS(pic_fields), &a->pic[i], &b->pic[i], prefix,
				    NULL);
		}
	}
	if (what & CS_IOAPIC) {
		dpresent(&d, "ioapic", a->have_ioapic, b->have_ioapic);
		if (a->have_ioapic && b->have_ioapic) {
			diff_fields(&d, ioapic_fields, NFIELDS(ioapic_fields), &a->ioapic, &b->ioapic,
				    "ioapic", NULL);
			for (int pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++) {
				const void *ea = &a->ioapic.redirtbl[pin], *eb = &b->ioapic.redirtbl[pin];
				char va[32], vb[32];

				if (a->ioapic.redirtbl[pin].bits == b->ioapic.redirtbl[pin].bits)
					continue;
				snprintf(prefix, sizeof(prefix), "ioapic.redir[%d]", pin);
				if (diff_fields(&d, rte_fields, NFIELDS(rte_fields), ea, eb, prefix, NULL))
					continue;
				/* Only reserved bits differ. */
				fmt_field(RTE_RAW, ea, FMT_PLAIN, va, sizeof(va));
				fmt_field(RTE_RAW, eb, FMT_PLAIN, vb, sizeof(vb));
				dline(&d, prefix, va, vb);
			}
		}
	}
	if (what & CS_LAPIC) {
		for (int i = 0; i < a->nvcpus; i++) {
			const struct cs_vcpu *vb = cs_find_vcpu(b, a->vcpu[i].id);

			if (vb) {
				diff_vcpu(&d, &a->vcpu[i], vb);
			} else {
				snprintf(prefix, sizeof(prefix), "vcpu[%u]", a->vcpu[i].id);
				dpresent(&d, prefix, true, false);
			}
		}
		for (int i = 0; i < b->nvcpus; i++) {
			if (cs_find_vcpu(a, b->vcpu[i].id))
				continue;
			snprintf(prefix, sizeof(prefix), "vcpu[%u]", b->vcpu[i].id);
			dpresent(&d, prefix, false, true);
		}
	}
	if ((what & CS_ROUTING) && a->have_routing && b->have_routing)
		diff_routing(&d, a, b);
	return d.n;
}

/* ---------------------------------------------------------------------- */
/* The path names, from the tables (virq help state-paths)                */
/* ---------------------------------------------------------------------- */

static void print_names(FILE *f, const char *prefix, const struct field *fs, size_t n)
{
	int col = fprintf(f, "  %-20s", prefix);

	for (size_t i = 0; i < n; i++) {
		if (col + (int)strlen(fs[i].name) > 78)
			col = fprintf(f, "\n  %-20s", "");
		col += fprintf(f, " %s", fs[i].name);
	}
	fputc('\n', f);
}

void cs_print_paths(FILE *f)
{
	print_names(f, "pic[0|1].", pic_fields, NFIELDS(pic_fields));
	print_names(f, "ioapic.", ioapic_fields, NFIELDS(ioapic_fields));
	fprintf(f, "  %-20s a redirection entry (64 bits)\n", "ioapic.redir[PIN]");
	print_names(f, "ioapic.redir[PIN].", rte_fields, NFIELDS(rte_fields));
	print_names(f, "lapic[ID].", lapic_fields, NFIELDS(lapic_fields));
	fprintf(f, "  %-20s any 32-bit register by offset; isr tmr irr are vector sets\n",
		"lapic[ID].reg[OFF]");
	print_names(f, "vcpu[ID].", event_fields, NFIELDS(event_fields));
	fprintf(f, "  %-20s the number of routes of a GSI (virq only)\n", "route[GSI].count");
	print_names(f, "route[GSI][I].", route_fields, NFIELDS(route_fields));
}
