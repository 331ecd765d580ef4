/* SPDX-License-Identifier: MIT */
/*
 * scenario.c - parser of the scenario language (docs/scenarios.md).
 *
 * A line holds one operation: its name, then fields as key=value (or one
 * bare value for the operation's main field).  `#` starts a comment.  Lines
 * starting with `entry` continue the operation above them (the entries of
 * KVM_SET_GSI_ROUTING and virq_route_set).  Values are numbers (decimal,
 * 0x hex, negative, with an optional ns/us/ms/s unit), constants of
 * <linux/kvm.h> (full name, or without the prefix the field implies:
 * type=MSI, irqchip=IOAPIC, cap=SPLIT_IRQCHIP), several of those joined by
 * `|`, vector sets {0x40, 0x41}, or identifiers the operation interprets
 * (eventfd names, errno names).  Every error names file:line:col.
 */
#include "scenario.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

#define K SCF_KERNEL
#define G SCF_GUEST
#define N SCF_NATIVE
#define T SCF_TOOL

#define ENTRY_KEYS                                                                                 \
	"gsi! type! flags irqchip pin address_lo address_hi data devid ind_addr summary_addr "    \
	"ind_offset summary_offset adapter_id vcpu sint port priority"

const struct sc_spec sc_specs[] = {
	{ "KVM_CREATE_VM", SC_KVM_CREATE_VM, K, "", NULL,
	  "start over with a new VM (one exists before line 1; vCPUs go with the old one)" },
	{ "KVM_CHECK_EXTENSION", SC_KVM_CHECK_EXTENSION, K, "cap! on", "cap",
	  "ask for a capability on the VM (on=system: on the /dev/kvm handle)" },
	{ "KVM_CREATE_IRQCHIP", SC_KVM_CREATE_IRQCHIP, K, "", NULL,
	  "create the PIC pair, the IOAPIC and the default routing" },
	{ "KVM_ENABLE_CAP", SC_KVM_ENABLE_CAP, K, "cap! flags args args[0] args[1] args[2] args[3]",
	  "cap", "enable a VM capability (KVM_CAP_SPLIT_IRQCHIP args=24, KVM_CAP_X2APIC_API args=3)" },
	{ "KVM_CREATE_VCPU", SC_KVM_CREATE_VCPU, K, "id", "id", "create the vCPU with this id" },
	{ "KVM_IRQ_LINE", SC_KVM_IRQ_LINE, K, "irq! level!", NULL, "set a GSI's line level" },
	{ "KVM_IRQ_LINE_STATUS", SC_KVM_IRQ_LINE_STATUS, K, "irq! level!", NULL,
	  "set a GSI's line level; the result is the status" },
	{ "KVM_SIGNAL_MSI", SC_KVM_SIGNAL_MSI, K, "address_lo address_hi data! flags devid", NULL,
	  "inject an MSI; the result is the number of vCPUs" },
	{ "KVM_SET_GSI_ROUTING", SC_KVM_SET_GSI_ROUTING, K | SCF_ENTRIES, "flags", NULL,
	  "replace the routing table with the `entry` lines that follow (none: empty table)" },
	{ "KVM_IRQFD", SC_KVM_IRQFD, K, "fd! gsi! flags resamplefd", NULL,
	  "bind an eventfd to a GSI (flags=DEASSIGN|RESAMPLE)" },
	{ "KVM_GET_LAPIC", SC_KVM_GET_LAPIC, K, "vcpu!", "vcpu", "read a vCPU's LAPIC state" },
	{ "KVM_SET_LAPIC", SC_KVM_SET_LAPIC, K | SCF_FREEKEYS, "vcpu!", NULL,
	  "read the LAPIC state, change the named registers (svr=0x1ff irr={0x40} reg[0x80]=0x10), "
	  "write it back" },
	{ "KVM_GET_IRQCHIP", SC_KVM_GET_IRQCHIP, K, "chip!", "chip",
	  "read a chip (PIC_MASTER, PIC_SLAVE, IOAPIC)" },
	{ "KVM_SET_IRQCHIP", SC_KVM_SET_IRQCHIP, K | SCF_FREEKEYS, "chip!", NULL,
	  "read a chip, change the named fields (imr=0xff, redir[16]=0x10040, redir[16].mask=0), "
	  "write it back" },
	{ "KVM_GET_MSRS", SC_KVM_GET_MSRS, K, "vcpu! index!", NULL,
	  "read one MSR (0x1b APIC_BASE, 0x6e0 TSC_DEADLINE, 0x800-0x8ff x2APIC)" },
	{ "KVM_SET_MSRS", SC_KVM_SET_MSRS, K, "vcpu! index! data!", NULL, "write one MSR" },
	{ "KVM_SET_CPUID2", SC_KVM_SET_CPUID2, K, "vcpu! x2apic tsc_deadline", NULL,
	  "give the vCPU a CPUID with leaf 1's x2APIC and TSC-deadline bits as asked (0 or 1)" },
	{ "KVM_INTERRUPT", SC_KVM_INTERRUPT, K, "vcpu! irq!", NULL,
	  "queue an external interrupt (no in-kernel LAPIC)" },
	{ "KVM_NMI", SC_KVM_NMI, K, "vcpu!", "vcpu", "queue an NMI" },

	{ "eventfd", SC_EVENTFD, K, "name! semaphore initval", "name",
	  "create an eventfd and call it NAME (non-blocking)" },
	{ "write", SC_WRITE, K, "name! value", "name", "write VALUE (1) to an eventfd" },
	{ "read", SC_READ, K, "name!", "name",
	  "read an eventfd; the result is its count (-1/EAGAIN when zero)" },
	{ "close", SC_CLOSE, K, "name!", "name", "close an eventfd" },

	{ "mmio_write", SC_MMIO_WRITE, G, "vcpu addr! value! len", NULL,
	  "guest MMIO write to the LAPIC page (0xfee00000) or the IOAPIC (0xfec00000)" },
	{ "mmio_read", SC_MMIO_READ, G, "vcpu addr! len", NULL, "guest MMIO read; the result is the value" },
	{ "ioapic_write", SC_IOAPIC_WRITE, G, "reg! value!", NULL,
	  "guest writes IOREGSEL=REG, then IOWIN=VALUE (reg 0x10+2*pin is the low half of an entry)" },
	{ "ioapic_read", SC_IOAPIC_READ, G, "reg!", "reg", "guest writes IOREGSEL=REG, reads IOWIN" },
	{ "pio_write", SC_PIO_WRITE, G, "port! value! len", NULL,
	  "guest OUT to the PICs (0x20 0x21 0xa0 0xa1) or the ELCR (0x4d0 0x4d1)" },
	{ "pio_read", SC_PIO_READ, G, "port! len", "port", "guest IN; the result is the value" },
	{ "wrmsr", SC_WRMSR, G, "vcpu index! value!", NULL,
	  "guest WRMSR (result 1: #GP)" },
	{ "rdmsr", SC_RDMSR, G, "vcpu index!", NULL, "guest RDMSR; the result is the value" },
	{ "has_interrupt", SC_HAS_INTERRUPT, G, "vcpu", "vcpu",
	  "can the vCPU take an interrupt now? (1 or 0)" },
	{ "ack", SC_ACK, G, "vcpu", "vcpu",
	  "the vCPU acknowledges (INTA): the result is the vector, -1/EAGAIN if none" },
	{ "eoi", SC_EOI, G, "vcpu", "vcpu",
	  "the guest writes the LAPIC EOI register: the result is the vector ended" },
	{ "clock", SC_CLOCK, G, "advance!", "advance",
	  "advance the VM clock (advance=1ms) and fire expired timers" },

	{ "virq_route_set", SC_VIRQ_ROUTE_SET, N | SCF_ENTRIES, "gsi!", "gsi",
	  "replace one GSI's routes with the `entry` lines that follow (none: remove)" },
	{ "trigger", SC_TRIGGER, N, "name!", "name",
	  "inject through an irqfd-bound eventfd without a system call (virq_irqfd_trigger)" },
	{ "save", SC_SAVE, N, "name! what", "name", "save the VM's state (virq_vm_save) as NAME" },
	{ "restore", SC_RESTORE, N, "name!", "name", "restore the state saved as NAME" },

	{ "section", SC_SECTION, T | SCF_REST, "", NULL, "print a heading" },
	{ "print", SC_PRINT, T | SCF_REST, "", NULL, "print a line of narration" },
	{ "state", SC_STATE, T, "what", "what",
	  "print the state (what=pic,ioapic,lapic,routing; default all)" },
	{ "expect", SC_EXPECT, T | SCF_FREEKEYS, "", "ok",
	  "check the last result (ret=1, errno=EINVAL, ok) or state (lapic[1].irr={0x40})" },
};
const unsigned sc_nr_specs = sizeof(sc_specs) / sizeof(sc_specs[0]);

#undef K
#undef G
#undef N
#undef T

/* The <linux/kvm.h> prefix implied by a field, for short constant names. */
static const char *key_prefix(const char *key)
{
	if (!strcmp(key, "cap"))
		return "KVM_CAP_";
	if (!strcmp(key, "type"))
		return "KVM_IRQ_ROUTING_";
	if (!strcmp(key, "irqchip") || !strcmp(key, "chip"))
		return "KVM_IRQCHIP_";
	if (!strcmp(key, "flags"))
		return "KVM_IRQFD_FLAG_";
	if (!strncmp(key, "args", 4))
		return "KVM_X2APIC_API_";
	return NULL;
}

struct parser {
	const char *file;
	int line;
	const char *lstart; /* start of the current line */
	char *err;
	size_t errlen;
};

static int perr(struct parser *p, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int perr(struct parser *p, const char *at, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->err, p->errlen, "%s:%d:%d: ", p->file, p->line, (int)(at - p->lstart) + 1);

	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_ident_start(int c)
{
	return isalpha(c) || c == '_';
}

static bool is_ident(int c)
{
	return isalnum(c) || c == '_';
}

/* One atom of a value: number with unit, or constant/identifier. */
static int parse_atom(struct parser *p, const char *key, const char *s, const char *e,
		      struct sc_value *v)
{
	char buf[128];
	size_t len = (size_t)(e - s);

	if (len == 0)
		return perr(p, s, "missing value for '%s'", key);
	if (len >= sizeof(buf))
		return perr(p, s, "value too long");
	memcpy(buf, s, len);
	buf[len] = 0;
	if (isdigit((unsigned char)buf[0]) || buf[0] == '-') {
		char *end;
		long long mul = 1;

		errno = 0;
		v->kind = SC_V_NUM;
		v->num = strtoll(buf, &end, 0);
		if (errno == ERANGE && buf[0] != '-') {
			/* 64-bit values above LLONG_MAX (redirection entries). */
			errno = 0;
			v->num = (long long)strtoull(buf, &end, 0);
		}
		if (errno || end == buf)
			return perr(p, s, "bad number '%s'", buf);
		if (!strcmp(end, "ns"))
			mul = 1;
		else if (!strcmp(end, "us"))
			mul = 1000;
		else if (!strcmp(end, "ms"))
			mul = 1000000;
		else if (!strcmp(end, "s"))
			mul = 1000000000;
		else if (*end)
			return perr(p, s, "bad number '%s' (units: ns us ms s)", buf);
		v->num *= mul;
		return 0;
	}
	if (!is_ident_start((unsigned char)buf[0]))
		return perr(p, s, "bad value '%s'", buf);
	for (size_t i = 1; i < len; i++)
		if (!is_ident(buf[i]) && buf[i] != ',')
			return perr(p, s + i, "bad character '%c' in '%s'", buf[i], buf);
	if (kvm_name_lookup(buf, key_prefix(key), &v->num) ||
	    (!strcmp(key, "flags") && kvm_name_lookup(buf, "KVM_", &v->num))) {
		v->kind = SC_V_NUM;
		return 0;
	}
	if (!strncmp(buf, "KVM_", 4))
		return perr(p, s, "unknown constant '%s' (not in <linux/kvm.h>)", buf);
	v->kind = SC_V_NAME;
	v->name = strdup(buf);
	return v->name ? 0 : perr(p, s, "out of memory");
}

static int parse_set(struct parser *p, const char *s, const char *e, struct sc_value *v)
{
	const char *q = s + 1;

	v->kind = SC_V_SET;
	memset(v->set, 0, sizeof(v->set));
	if (e[-1] != '}')
		return perr(p, e, "missing '}'");
	e--;
	for (;;) {
		char *end;
		unsigned long n;

		while (q < e && (isspace((unsigned char)*q) || *q == ','))
			q++;
		if (q >= e)
			return 0;
		errno = 0;
		n = strtoul(q, &end, 0);
		if (end == q || errno || n > 255 || end > e)
			return perr(p, q, "a vector set holds numbers 0-255: {0x40, 0x41}");
		v->set[n / 32] |= 1u << (n % 32);
		q = end;
	}
}

/* A value: atoms joined by '|', or a set. */
static int parse_value_at(struct parser *p, const char *key, const char *s, const char *e,
			  struct sc_value *v)
{
	memset(v, 0, sizeof(*v));
	if (s < e && *s == '{')
		return parse_set(p, s, e, v);
	for (const char *a = s;;) {
		const char *bar = memchr(a, '|', (size_t)(e - a));
		struct sc_value part;

		memset(&part, 0, sizeof(part));
		if (parse_atom(p, key, a, bar ? bar : e, &part))
			return -1;
		if (part.kind == SC_V_NAME && (bar || a != s)) {
			free(part.name);
			return perr(p, a, "'|' joins numbers and <linux/kvm.h> constants only");
		}
		if (part.kind == SC_V_NAME) {
			*v = part;
			return 0;
		}
		v->kind = SC_V_NUM;
		v->num |= part.num;
		if (!bar)
			return 0;
		a = bar + 1;
	}
}

int sc_parse_value(const char *key, const char *text, struct sc_value *v, char *err, size_t errlen)
{
	struct parser p = { .file = "value", .line = 1, .lstart = text, .err = err, .errlen = errlen };

	return parse_value_at(&p, key, text, text + strlen(text), v);
}

static void free_args(struct sc_args *a)
{
	for (int i = 0; i < a->n; i++) {
		free(a->a[i].key);
		free(a->a[i].v.name);
	}
	free(a->a);
	a->a = NULL;
	a->n = 0;
}

/* Is @key among the space-separated @keys (with an optional '!')? */
static bool key_allowed(const char *keys, const char *key, size_t klen)
{
	for (const char *k = keys; *k;) {
		size_t n = strcspn(k, " ");
		size_t m = (n && k[n - 1] == '!') ? n - 1 : n;

		if (m == klen && !strncmp(k, key, klen))
			return true;
		k += n;
		while (*k == ' ')
			k++;
	}
	return false;
}

/* Fields of one line: key=value ..., or a bare value for @positional. */
static int parse_fields(struct parser *p, const char *s, const char *keys, const char *positional,
			bool freekeys, struct sc_args *out)
{
	bool first = true;

	for (;;) {
		const char *ks, *ke, *vs, *ve;
		struct sc_arg *na;
		char *key;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			return 0;
		ks = s;
		/* Key: identifier with optional [index] and .member parts. */
		while (*s && (is_ident((unsigned char)*s) || *s == '[' || *s == ']' || *s == '.'))
			s++;
		ke = s;
		if (*s != '=') {
			/* A bare value: the positional field. */
			const char *e = ks;

			if (*e == '{') {
				e = strchr(e, '}');
				e = e ? e + 1 : ks + strlen(ks);
			} else {
				while (*e && !isspace((unsigned char)*e))
					e++;
			}
			if (!positional || !first)
				return perr(p, ks, "expected key=value, found '%.*s'", (int)(e - ks), ks);
			vs = ks;
			ve = e;
			ks = positional;
			ke = positional + strlen(positional);
			s = e;
		} else {
			if (ke == ks)
				return perr(p, ks, "missing key before '='");
			vs = ++s;
			if (*s == '{') {
				const char *c = strchr(s, '}');

				s = c ? c + 1 : s + strlen(s);
			} else {
				while (*s && !isspace((unsigned char)*s))
					s++;
			}
			ve = s;
			if (!freekeys && !key_allowed(keys, ks, (size_t)(ke - ks)))
				return perr(p, ks, "unknown field '%.*s' (fields: %s)", (int)(ke - ks), ks,
					    *keys ? keys : "none");
		}
		first = false;
		for (int i = 0; i < out->n; i++)
			if (strlen(out->a[i].key) == (size_t)(ke - ks) &&
			    !strncmp(out->a[i].key, ks, (size_t)(ke - ks)))
				return perr(p, ks, "field '%.*s' given twice", (int)(ke - ks), ks);
		na = realloc(out->a, sizeof(*na) * (size_t)(out->n + 1));
		if (!na)
			return perr(p, ks, "out of memory");
		out->a = na;
		key = strndup(ks, (size_t)(ke - ks));
		if (!key)
			return perr(p, ks, "out of memory");
		na[out->n] = (struct sc_arg){ .key = key,
					      .col = (int)((ks == positional ? vs : ks) - p->lstart) + 1,
					      .vcol = (int)(vs - p->lstart) + 1 };
		out->n++;
		if (parse_value_at(p, key, vs, ve, &na[out->n - 1].v))
			return -1;
	}
}

static int check_required(struct parser *p, const char *at, const char *keys, const struct sc_args *a)
{
	for (const char *k = keys; *k;) {
		size_t n = strcspn(k, " ");

		if (n && k[n - 1] == '!') {
			bool found = false;

			for (int i = 0; i < a->n; i++)
				if (strlen(a->a[i].key) == n - 1 && !strncmp(a->a[i].key, k, n - 1))
					found = true;
			if (!found)
				return perr(p, at, "missing field '%.*s'", (int)(n - 1), k);
		}
		k += n;
		while (*k == ' ')
			k++;
	}
	return 0;
}

static const struct sc_spec *find_spec(const char *name, size_t len)
{
	for (unsigned i = 0; i < sc_nr_specs; i++)
		if (strlen(sc_specs[i].name) == len && !strncmp(sc_specs[i].name, name, len))
			return &sc_specs[i];
	return NULL;
}

/* Cut the comment and the trailing blanks off a line (in place). */
static void strip_line(char *l)
{
	char *h = strchr(l, '#');
	size_t n;

	if (h)
		*h = 0;
	n = strlen(l);
	while (n && isspace((unsigned char)l[n - 1]))
		l[--n] = 0;
}

static int parse_line(struct parser *p, struct sc_script *sc, char *l)
{
	const char *s = l, *name;
	const struct sc_spec *spec;
	struct sc_op *op, *nops;

	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return 0;
	name = s;
	while (*s && !isspace((unsigned char)*s))
		s++;

	if ((size_t)(s - name) == 5 && !strncmp(name, "entry", 5)) {
		struct sc_entry *ne;

		op = sc->nops ? &sc->ops[sc->nops - 1] : NULL;
		if (!op || !(op->spec->flags & SCF_ENTRIES))
			return perr(p, name, "'entry' continues KVM_SET_GSI_ROUTING or virq_route_set, "
					     "and there is none above it");
		ne = realloc(op->entries, sizeof(*ne) * (size_t)(op->nentries + 1));
		if (!ne)
			return perr(p, name, "out of memory");
		op->entries = ne;
		ne = &op->entries[op->nentries++];
		memset(ne, 0, sizeof(*ne));
		ne->line = p->line;
		ne->text = strdup(name);
		if (!ne->text)
			return perr(p, name, "out of memory");
		if (parse_fields(p, s, ENTRY_KEYS, NULL, false, &ne->args))
			return -1;
		return check_required(p, name, ENTRY_KEYS, &ne->args);
	}

	spec = find_spec(name, (size_t)(s - name));
	if (!spec) {
		return perr(p, name, "unknown operation '%.*s'; `virq help scenario` lists them",
			    (int)(s - name), name);
	}
	nops = realloc(sc->ops, sizeof(*nops) * (size_t)(sc->nops + 1));
	if (!nops)
		return perr(p, name, "out of memory");
	sc->ops = nops;
	op = &sc->ops[sc->nops++];
	memset(op, 0, sizeof(*op));
	op->spec = spec;
	op->line = p->line;
	op->col = (int)(name - p->lstart) + 1;
	op->text = strdup(name);
	if (!op->text)
		return perr(p, name, "out of memory");
	if (spec->flags & SCF_REST) {
		while (isspace((unsigned char)*s))
			s++;
		op->rest = strdup(s);
		return op->rest ? 0 : perr(p, s, "out of memory");
	}
	if (parse_fields(p, s, spec->keys, spec->positional, spec->flags & SCF_FREEKEYS, &op->args))
		return -1;
	if (spec->kind == SC_EXPECT && op->args.n == 0)
		return perr(p, s, "expect needs at least one check: ret=N, errno=E, ok, or a state path");
	return check_required(p, name, spec->keys, &op->args);
}

int sc_parse(const char *file, const char *text, struct sc_script *out, char *err, size_t errlen)
{
	struct parser p = { .file = file, .err = err, .errlen = errlen };
	const char *s = text;

	memset(out, 0, sizeof(*out));
	out->file = strdup(file);
	if (!out->file) {
		snprintf(err, errlen, "%s: out of memory", file);
		return -1;
	}
	while (*s) {
		size_t n = strcspn(s, "\n");
		char *l = strndup(s, n);
		int r;

		p.line++;
		if (!l) {
			snprintf(err, errlen, "%s:%d: out of memory", file, p.line);
			sc_free(out);
			return -1;
		}
		p.lstart = l;
		strip_line(l);
		r = parse_line(&p, out, l);
		free(l);
		if (r) {
			sc_free(out);
			return -1;
		}
		s += n;
		if (*s == '\n')
			s++;
	}
	return 0;
}

void sc_free(struct sc_script *s)
{
	for (int i = 0; i < s->nops; i++) {
		struct sc_op *op = &s->ops[i];

		free(op->text);
		free(op->rest);
		free_args(&op->args);
		for (int j = 0; j < op->nentries; j++) {
			free_args(&op->entries[j].args);
			free(op->entries[j].text);
		}
		free(op->entries);
	}
	free(s->ops);
	free(s->file);
	memset(s, 0, sizeof(*s));
}

const struct sc_arg *sc_arg(const struct sc_args *args, const char *key)
{
	for (int i = 0; i < args->n; i++)
		if (!strcmp(args->a[i].key, key))
			return &args->a[i];
	return NULL;
}

long long sc_num(const struct sc_args *args, const char *key, long long def)
{
	const struct sc_arg *a = sc_arg(args, key);

	return a && a->v.kind == SC_V_NUM ? a->v.num : def;
}
