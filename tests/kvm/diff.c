/* SPDX-License-Identifier: MIT */
/*
 * diff.c - differential test: identical operation sequences on the kernel's
 * /dev/kvm and on virq; every return value, errno, KVM_IRQ_LINE_STATUS
 * status, and the state read back with KVM_GET_IRQCHIP (chips 0, 1, 2),
 * KVM_GET_LAPIC (TMCCT zeroed), KVM_GET_VCPU_EVENTS and IA32_APIC_BASE is
 * compared after every operation.
 *
 * Usage: test_kvm_diff [-s SEED] [-n COUNT] [--only I] [-v] [--self] [--facts]
 *                      [--family NAME]
 *   -s SEED     seed of the random sequences (default 0x5eed)
 *   -n COUNT    number of random sequences (default 2000)
 *   --only I    run only random sequence I (with its operation log)
 *   -v          print every operation and both results
 *   --self      compare the kernel with itself (checks the harness)
 *   --facts     print what the kernel returns for the hand-written cases
 *   --family F  run only the family F (reset, errno, caps, lines, msi,
 *               routing, random)
 *   --mask P    triage: drop divergences whose operation or detail line
 *               contains P (e.g. "PPR", "APIC_BASE=0x100") so that the next
 *               cause shows; a run with masks never passes
 *
 * Exit: 0 no divergence, 1 divergences, 77 /dev/kvm unusable (skip).
 */
#include "kvmops.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------- */
/* Deliberate differences (documented in docs/kvm-differences.md)          */
/* ---------------------------------------------------------------------- */

/*
 * A divergence whose operation text contains @op and whose description
 * contains @what is reported as "allowed" with @reason, and not counted.
 * Every entry must point at a paragraph of docs/kvm-differences.md.
 */
static const struct allowed_difference {
	const char *op;
	const char *what;
	const char *reason;
} allow_list[] = {
	/*
	 * docs/kvm-differences.md "Scope: virq is the interrupt subsystem only",
	 * Capabilities: caps outside interrupt delivery read 0 in virq.  Only
	 * the value 0 is allowed, and only for these caps.
	 */
#define NOT_IRQ_CAP(name) { "KVM_CHECK_EXTENSION " name, "virq 0\n", \
	"kvm-differences.md, Capabilities: not interrupt delivery, reads 0 in virq" }
	NOT_IRQ_CAP("HLT"), NOT_IRQ_CAP("USER_MEMORY"), NOT_IRQ_CAP("PIT"),
	NOT_IRQ_CAP("IOEVENTFD"), NOT_IRQ_CAP("DEBUGREGS"), NOT_IRQ_CAP("XSAVE"),
	NOT_IRQ_CAP("XCRS"), NOT_IRQ_CAP("NOP_IO_DELAY"), NOT_IRQ_CAP("SET_GUEST_DEBUG"),
	NOT_IRQ_CAP("READONLY_MEM"), NOT_IRQ_CAP("GET_MSR_FEATURES"),
	NOT_IRQ_CAP("PMU_EVENT_FILTER"), NOT_IRQ_CAP("EXCEPTION_PAYLOAD"),
	NOT_IRQ_CAP("IMMEDIATE_EXIT"), NOT_IRQ_CAP("ENABLE_CAP"), NOT_IRQ_CAP("MCE"),
	NOT_IRQ_CAP("DISABLE_QUIRKS"), NOT_IRQ_CAP("HALT_POLL"),
	NOT_IRQ_CAP("COALESCED_MMIO"), NOT_IRQ_CAP("SYNC_MMU"),
#undef NOT_IRQ_CAP
	/* Same document: MP_STATE needs INIT/SIPI processing (not complete yet);
	 * REINJECT_CONTROL belongs to the PIT, which virq does not model. */
	{ "KVM_CHECK_EXTENSION MP_STATE", "virq 0\n",
	  "kvm-differences.md, Capabilities: KVM_SET_MP_STATE and INIT/SIPI processing not offered yet" },
	{ "KVM_CHECK_EXTENSION REINJECT_CONTROL", "virq 0\n",
	  "kvm-differences.md, Capabilities: PIT ioctl, not interrupt routing" },
	/* Same document: IRQFD and IRQFD_RESAMPLE read 0 until irqfd lands (issue 3). */
	{ "KVM_CHECK_EXTENSION IRQFD", "virq 0\n",
	  "kvm-differences.md, Capabilities: irqfd not implemented yet (issue 3)" },
	{ NULL, NULL, NULL },
};

/* ---------------------------------------------------------------------- */
/* Global state                                                            */
/* ---------------------------------------------------------------------- */

static const struct kvm_backend *B[2];
static bool g_verbose, g_facts, g_self;
static uint64_t g_seed = 0x5eed;

struct family_stats {
	unsigned seqs, ops, divs, allowed, masked;
};

/* --mask PATTERN: triage aid, see usage(). */
#define MAX_MASKS 16
static const char *g_masks[MAX_MASKS];
static int g_nmasks;
static struct family_stats g_total, g_fam;

#define LOG_LINES 48
static struct {
	const char *family;
	char name[96];
	unsigned step;
	bool diverged;
	bool stateless;   /* queries only: report every divergence, keep going */
	char log[LOG_LINES][340];
	unsigned nlog;
} seq;

static void seq_begin(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void seq_begin(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(seq.name, sizeof seq.name, fmt, ap);
	va_end(ap);
	seq.step = 0;
	seq.diverged = false;
	seq.stateless = false;
	seq.nlog = 0;
	g_fam.seqs++;
	if (g_verbose || g_facts)
		printf("\n### %s/%s\n", seq.family, seq.name);
}

static void logop(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logop(const char *fmt, ...)
{
	va_list ap;
	char *line = seq.log[seq.nlog++ % LOG_LINES];
	int n;

	n = snprintf(line, sizeof seq.log[0], "#%u ", seq.step);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof seq.log[0] - n, fmt, ap);
	va_end(ap);
}

static bool masked_line(const char *line, size_t len)
{
	for (int i = 0; i < g_nmasks; i++) {
		const char *m = g_masks[i];
		size_t ml = strlen(m);
		for (size_t j = 0; j + ml <= len; j++)
			if (!memcmp(line + j, m, ml))
				return true;
	}
	return false;
}

/*
 * Report a divergence; @details is the decoded, field-level description,
 * one line per field.  Lines matching a --mask pattern are dropped (and
 * counted); if nothing is left, the sequence goes on.
 */
static void diverge(const char *op, const char *details)
{
	const struct allowed_difference *a;
	char kept[4096];
	size_t nk = 0;
	const char *p = details;

	kept[0] = 0;
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p + 1) : strlen(p);
		if (!masked_line(p, len) && !masked_line(op, strlen(op)) && nk + len < sizeof kept) {
			memcpy(kept + nk, p, len);
			nk += len;
			kept[nk] = 0;
		}
		p += len;
	}
	if (nk == 0) {
		g_fam.masked++;
		if (g_verbose)
			printf("  masked divergence at %s:\n%s", op, details);
		return;
	}
	for (a = allow_list; a->op; a++) {
		if (strstr(op, a->op) && strstr(kept, a->what)) {
			g_fam.allowed++;
			if (g_verbose)
				printf("  allowed difference %s/%s at %s (%s)\n", seq.family,
				       seq.name, op, a->reason);
			if (!seq.stateless)
				seq.diverged = true;
			return;
		}
	}
	g_fam.divs++;
	printf("DIVERGENCE %s/%s (seed 0x%" PRIx64 ", step %u): %s\n%s", seq.family,
	       seq.name, g_seed, seq.step, op, kept);
	if (seq.stateless)
		return;
	seq.diverged = true;
	printf("  operation log (last %u):\n", seq.nlog < LOG_LINES ? seq.nlog : LOG_LINES);
	for (unsigned i = seq.nlog > LOG_LINES ? seq.nlog - LOG_LINES : 0; i < seq.nlog; i++)
		printf("    %s\n", seq.log[i % LOG_LINES]);
}

/* ---------------------------------------------------------------------- */
/* Pairs of machines and the lock-step ioctl                               */
/* ---------------------------------------------------------------------- */

struct pair {
	struct machine m[2];
	bool ok;
};

enum target { T_SYS, T_VM, T_VCPU };

/* Flags of pioctl(). */
#define P_VAL     0x01  /* arg is a value, not a pointer */
#define P_CMP_OUT 0x02  /* compare the output bytes (if both succeeded) */
#define P_NEWFD   0x04  /* the return value is a new fd/handle: compare its sign */
#define P_LAPIC   0x08  /* output is a kvm_lapic_state: zero TMCCT first */

static int target_fd(const struct machine *m, enum target t, int idx)
{
	switch (t) {
	case T_SYS: return m->sys;
	case T_VM: return m->vm;
	case T_VCPU: return idx < m->nvcpus ? m->vcpu[idx] : -1;
	}
	return -1;
}

static const char *req_name(unsigned long req)
{
	switch (req) {
#define R(x) case x: return #x
	R(KVM_GET_API_VERSION); R(KVM_CREATE_VM); R(KVM_CHECK_EXTENSION);
	R(KVM_CREATE_VCPU); R(KVM_CREATE_IRQCHIP); R(KVM_IRQ_LINE);
	R(KVM_IRQ_LINE_STATUS); R(KVM_GET_IRQCHIP); R(KVM_SET_IRQCHIP);
	R(KVM_GET_LAPIC); R(KVM_SET_LAPIC); R(KVM_SIGNAL_MSI);
	R(KVM_SET_GSI_ROUTING); R(KVM_ENABLE_CAP); R(KVM_NMI); R(KVM_INTERRUPT);
	R(KVM_GET_VCPU_EVENTS); R(KVM_SET_VCPU_EVENTS); R(KVM_GET_MSRS);
	R(KVM_SET_MSRS); R(KVM_SET_CPUID2); R(KVM_GET_SUPPORTED_CPUID);
	R(KVM_GET_VCPU_MMAP_SIZE); R(KVM_IRQFD);
#undef R
	}
	return "ioctl?";
}

static void describe_out_diff(FILE *f, unsigned long req, int idx, const void *k,
			      const void *v, size_t len)
{
	int n = 0;

	if (req == KVM_GET_IRQCHIP) {
		const struct kvm_irqchip *a = k, *b = v;
		if (a->chip_id == 2)
			n = decode_ioapic_diff(f, &a->chip.ioapic, &b->chip.ioapic);
		else if (a->chip_id < 2)
			n = decode_pic_diff(f, a->chip_id, &a->chip.pic, &b->chip.pic);
	} else if (req == KVM_GET_LAPIC) {
		n = decode_lapic_diff(f, idx, k, v);
	} else if (req == KVM_GET_VCPU_EVENTS) {
		n = decode_events_diff(f, idx, k, v);
	} else if (req == KVM_IRQ_LINE_STATUS) {
		const struct kvm_irq_level *a = k, *b = v;
		fprintf(f, "    status: kernel %d virq %d\n", a->status, b->status);
		n = 1;
	} else if (req == KVM_GET_MSRS) {
		const struct kvm_msrs *a = k, *b = v;
		for (unsigned i = 0; i < a->nmsrs && i < 4; i++)
			if (a->entries[i].data != b->entries[i].data) {
				fprintf(f, "    MSR 0x%x: kernel 0x%llx virq 0x%llx\n",
					a->entries[i].index,
					(unsigned long long)a->entries[i].data,
					(unsigned long long)b->entries[i].data);
				n++;
			}
	}
	if (n == 0)
		decode_bytes_diff(f, "output", k, v, len);
}

/*
 * Run @req on both machines of @p with identical copies of @arg (@len bytes;
 * 0 with P_VAL for integer arguments), compare, and leave the kernel's
 * output in @arg.  Returns the kernel's result.
 */
static struct kres pioctl(struct pair *p, enum target t, int idx, unsigned long req,
			  void *arg, size_t len, unsigned flags, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));
static struct kres pioctl(struct pair *p, enum target t, int idx, unsigned long req,
			  void *arg, size_t len, unsigned flags, const char *fmt, ...)
{
	static uint8_t buf[2][65536];
	struct kres r[2];
	char desc[320];
	va_list ap;
	int n;

	if (t == T_VCPU)
		n = snprintf(desc, sizeof desc, "vcpu%d: ", idx);
	else
		n = snprintf(desc, sizeof desc, "%s: ", t == T_SYS ? "sys" : "vm");
	n += snprintf(desc + n, sizeof desc - n, "%s", req_name(req));
	if (fmt && *fmt) {
		n += snprintf(desc + n, sizeof desc - n, " ");
		va_start(ap, fmt);
		vsnprintf(desc + n, sizeof desc - n, fmt, ap);
		va_end(ap);
	}
	if (seq.diverged) {
		r[0].ret = -1;
		r[0].err = ECANCELED;
		return r[0];
	}
	seq.step++;
	g_fam.ops++;

	for (int i = 0; i < 2; i++) {
		int fd = target_fd(&p->m[i], t, idx);
		void *a = arg;
		if (!(flags & P_VAL) && len) {
			memcpy(buf[i], arg, len);
			a = buf[i];
		}
		if (fd < 0) {
			r[i].ret = -1;
			r[i].err = EBADF;
			continue;
		}
		r[i] = kb_ioctl(B[i], fd, req, a);
	}
	logop("%s -> %s", desc, kres_str(r[0]));
	if (g_verbose || g_facts) {
		printf("  %-60s kernel %s", desc, kres_str(r[0]));
		if (!g_facts)
			printf("  %s %s", B[1]->name, kres_str(r[1]));
		if (req == KVM_IRQ_LINE_STATUS && r[0].ret == 0)
			printf("  status %d", ((struct kvm_irq_level *)buf[0])->status);
		if (req == KVM_GET_MSRS && r[0].ret >= 1)
			printf("  data 0x%llx", (unsigned long long)((struct kvm_msrs *)buf[0])->entries[0].data);
		printf("\n");
	}

	bool same;
	if (flags & P_NEWFD)
		same = (r[0].ret >= 0) == (r[1].ret >= 0) &&
		       (r[0].ret >= 0 || r[0].err == r[1].err);
	else
		same = kres_eq(r[0], r[1]);
	if (!same) {
		char det[256];
		snprintf(det, sizeof det, "    return: kernel %s virq %s\n", kres_str(r[0]),
			 kres_str(r[1]));
		diverge(desc, det);
	} else if ((flags & P_CMP_OUT) && r[0].ret >= 0 && len) {
		if (flags & P_LAPIC) {
			memset(buf[0] + LAPIC_TMCCT, 0, 4);
			memset(buf[1] + LAPIC_TMCCT, 0, 4);
		}
		if (memcmp(buf[0], buf[1], len)) {
			char *det = NULL;
			size_t dlen = 0;
			FILE *f = open_memstream(&det, &dlen);
			if (f) {
				describe_out_diff(f, req, idx, buf[0], buf[1], len);
				fclose(f);
			}
			diverge(desc, det ? det : "    output differs\n");
			free(det);
		}
	}
	if (!(flags & P_VAL) && len)
		memcpy(arg, buf[0], len);
	/* New handles on both sides are closed by the caller via pclose_new(). */
	if ((flags & P_NEWFD) && !same) {
		for (int i = 0; i < 2; i++)
			if (r[i].ret >= 0)
				B[i]->close(r[i].ret);
		r[0].ret = -1;
		r[0].err = ECANCELED;
	}
	return r[0];
}

static void pair_destroy(struct pair *p)
{
	km_destroy(&p->m[0]);
	km_destroy(&p->m[1]);
	p->ok = false;
}

/* Build both machines with @s and compare every building step. */
static bool pair_create(struct pair *p, const struct km_shape *s)
{
	bool ok[2];

	memset(p, 0, sizeof *p);
	for (int i = 0; i < 2; i++)
		ok[i] = km_create(&p->m[i], B[i], s);
	logop("create %s", km_shape_str(s));
	g_fam.ops += p->m[0].nsteps;
	if (g_verbose || g_facts)
		for (int j = 0; j < p->m[0].nsteps; j++)
			printf("  create step %-44s kernel %s%s%s\n", p->m[0].step[j].what,
			       kres_str(p->m[0].step[j].r), g_facts ? "" : "  virq ",
			       g_facts ? "" : (j < p->m[1].nsteps ? kres_str(p->m[1].step[j].r) : "-"));
	for (int j = 0; j < p->m[0].nsteps || j < p->m[1].nsteps; j++) {
		struct kres a = p->m[0].step[j].r, b = p->m[1].step[j].r;
		bool fdstep = !strcmp(p->m[0].step[j].what, "open") ||
			      !strcmp(p->m[0].step[j].what, "KVM_CREATE_VM") ||
			      !strcmp(p->m[0].step[j].what, "KVM_CREATE_VCPU");
		bool same;
		if (j >= p->m[0].nsteps || j >= p->m[1].nsteps) {
			char det[200];
			snprintf(det, sizeof det, "    kernel took %d steps, virq %d\n",
				 p->m[0].nsteps, p->m[1].nsteps);
			diverge("create", det);
			break;
		}
		if (fdstep)
			same = (a.ret >= 0) == (b.ret >= 0) && (a.ret >= 0 || a.err == b.err);
		else
			same = kres_eq(a, b);
		if (!same) {
			char op[120], det[200];
			snprintf(op, sizeof op, "create %s step %d %s", km_shape_str(s), j,
				 p->m[0].step[j].what);
			snprintf(det, sizeof det, "    return: kernel %s virq %s\n", kres_str(a),
				 kres_str(b));
			diverge(op, det);
			break;
		}
	}
	p->ok = ok[0] && ok[1];
	if (!ok[0] || !ok[1]) {
		if (ok[0] != ok[1] && !seq.diverged)
			diverge("create", ok[0] ? "    virq could not create the VM\n"
					       : "    kernel could not create the VM\n");
		pair_destroy(p);
		return false;
	}
	return !seq.diverged;
}

/* ---------------------------------------------------------------------- */
/* Common operations                                                       */
/* ---------------------------------------------------------------------- */

#define MSR_IA32_APICBASE 0x1b

struct msrbuf {
	struct kvm_msrs h;
	struct kvm_msr_entry e[1];
};

static struct kres get_apic_base(struct pair *p, int v, uint64_t *out)
{
	struct msrbuf mb = { .h.nmsrs = 1, .e[0].index = MSR_IA32_APICBASE };
	struct kres r = pioctl(p, T_VCPU, v, KVM_GET_MSRS, &mb, sizeof mb, P_CMP_OUT, "APIC_BASE");
	if (out)
		*out = mb.e[0].data;
	return r;
}

static struct kres set_apic_base(struct pair *p, int v, uint64_t val)
{
	struct msrbuf mb = { .h.nmsrs = 1, .e[0].index = MSR_IA32_APICBASE, .e[0].data = val };
	return pioctl(p, T_VCPU, v, KVM_SET_MSRS, &mb, sizeof mb, 0, "APIC_BASE=0x%llx",
		      (unsigned long long)val);
}

static struct kres get_irqchip(struct pair *p, uint32_t chip, struct kvm_irqchip *out)
{
	struct kvm_irqchip c;
	struct kres r;

	memset(&c, 0, sizeof c);
	c.chip_id = chip;
	r = pioctl(p, T_VM, 0, KVM_GET_IRQCHIP, &c, sizeof c, P_CMP_OUT, "chip %u", chip);
	if (out)
		*out = c;
	return r;
}

static struct kres get_lapic(struct pair *p, int v, struct kvm_lapic_state *out)
{
	struct kvm_lapic_state s;
	struct kres r;

	memset(&s, 0, sizeof s);
	r = pioctl(p, T_VCPU, v, KVM_GET_LAPIC, &s, sizeof s, P_CMP_OUT | P_LAPIC, "%s", "");
	if (out)
		*out = s;
	return r;
}

static struct kres irq_line(struct pair *p, uint32_t gsi, uint32_t level, bool status, int *st)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };
	struct kres r = pioctl(p, T_VM, 0, status ? KVM_IRQ_LINE_STATUS : KVM_IRQ_LINE, &l,
			       sizeof l, P_CMP_OUT, "gsi %u level %u", gsi, level);
	if (st)
		*st = l.status;
	return r;
}

static struct kres signal_msi(struct pair *p, uint32_t addr_lo, uint32_t addr_hi, uint32_t data,
			      uint32_t flags)
{
	struct kvm_msi m = { .address_lo = addr_lo, .address_hi = addr_hi, .data = data,
			     .flags = flags };
	return pioctl(p, T_VM, 0, KVM_SIGNAL_MSI, &m, sizeof m, 0,
		      "addr 0x%x:%08x data 0x%x flags 0x%x", addr_hi, addr_lo, data, flags);
}

/* Compare all readable interrupt state of the pair. */
static void compare_state(struct pair *p, bool with_events)
{
	const struct km_shape *s = &p->m[0].shape;

	if (seq.diverged)
		return;
	if (s->irqchip == KM_IRQCHIP_FULL) {
		for (uint32_t c = 0; c < 3; c++)
			get_irqchip(p, c, NULL);
	}
	for (int v = 0; v < p->m[0].nvcpus; v++) {
		if (p->m[0].vcpu[v] < 0)
			continue;
		get_lapic(p, v, NULL);
		if (with_events) {
			struct kvm_vcpu_events ev;
			memset(&ev, 0, sizeof ev);
			pioctl(p, T_VCPU, v, KVM_GET_VCPU_EVENTS, &ev, sizeof ev, P_CMP_OUT, "%s", "");
			get_apic_base(p, v, NULL);
		}
	}
}

static struct km_shape shape(enum km_irqchip chip, int n)
{
	struct km_shape s;

	memset(&s, 0, sizeof s);
	s.irqchip = chip;
	s.nvcpus = n;
	for (int i = 0; i < n; i++)
		s.ids[i] = i;
	return s;
}

/* Software-enable the LAPIC of vCPU @v with the given ID/LDR/DFR/TPR. */
static void lapic_enable(struct pair *p, int v, uint32_t id, uint32_t ldr, uint32_t dfr,
			 uint32_t tpr)
{
	struct kvm_lapic_state s;

	if (get_lapic(p, v, &s).ret < 0)
		return;
	lapic_set_reg(&s, 0x20, id << 24);
	lapic_set_reg(&s, 0xd0, ldr);
	lapic_set_reg(&s, 0xe0, dfr);
	lapic_set_reg(&s, 0x80, tpr);
	lapic_set_reg(&s, 0xf0, 0x1ff);
	pioctl(p, T_VCPU, v, KVM_SET_LAPIC, &s, sizeof s, 0, "enable id %u ldr 0x%x dfr 0x%x tpr 0x%x",
	       id, ldr, dfr, tpr);
}

/* Program IOAPIC pin @pin with redirection entry @rte. */
static void ioapic_set_pin(struct pair *p, int pin, uint64_t rte)
{
	struct kvm_irqchip c;

	if (get_irqchip(p, 2, &c).ret < 0)
		return;
	c.chip.ioapic.redirtbl[pin].bits = rte;
	pioctl(p, T_VM, 0, KVM_SET_IRQCHIP, &c, sizeof c, 0, "ioapic pin %d = 0x%llx", pin,
	       (unsigned long long)rte);
}

/* Put the PICs in the state a BIOS leaves them in (base 0x08/0x70 ...). */
static void pic_init(struct pair *p, uint8_t base_m, uint8_t base_s, uint8_t imr_m,
		     uint8_t imr_s, uint8_t elcr_m, uint8_t elcr_s)
{
	for (uint32_t chip = 0; chip < 2; chip++) {
		struct kvm_irqchip c;
		if (get_irqchip(p, chip, &c).ret < 0)
			return;
		c.chip.pic.irq_base = chip ? base_s : base_m;
		c.chip.pic.imr = chip ? imr_s : imr_m;
		c.chip.pic.init4 = 1;
		c.chip.pic.elcr = chip ? elcr_s : elcr_m;
		pioctl(p, T_VM, 0, KVM_SET_IRQCHIP, &c, sizeof c, 0, "pic %u base 0x%x imr 0x%x elcr 0x%x",
		       chip, c.chip.pic.irq_base, c.chip.pic.imr, c.chip.pic.elcr);
	}
}

/* ---------------------------------------------------------------------- */
/* Families                                                                */
/* ---------------------------------------------------------------------- */

static void family_begin(const char *name)
{
	seq.family = name;
	memset(&g_fam, 0, sizeof g_fam);
}

static void family_end(void)
{
	printf("family %-8s: %5u sequences, %7u operations, %u divergences", seq.family,
	       g_fam.seqs, g_fam.ops, g_fam.divs);
	if (g_fam.allowed)
		printf(", %u allowed differences", g_fam.allowed);
	if (g_fam.masked)
		printf(", %u masked (--mask)", g_fam.masked);
	printf("\n");
	g_total.seqs += g_fam.seqs;
	g_total.ops += g_fam.ops;
	g_total.divs += g_fam.divs;
	g_total.allowed += g_fam.allowed;
	g_total.masked += g_fam.masked;
	fflush(stdout);
}

static void dump_reset_state(struct pair *p)
{
	struct kvm_irqchip c;
	struct kvm_lapic_state l;

	if (!g_facts)
		return;
	if (p->m[0].shape.irqchip == KM_IRQCHIP_FULL) {
		for (uint32_t chip = 0; chip < 3; chip++) {
			memset(&c, 0, sizeof c);
			c.chip_id = chip;
			if (kb_ioctl(B[0], p->m[0].vm, KVM_GET_IRQCHIP, &c).ret == 0) {
				printf("  chip %u:\n", chip);
				if (chip < 2)
					dump_pic(stdout, &c.chip.pic);
				else
					dump_ioapic(stdout, &c.chip.ioapic);
			}
		}
	}
	for (int v = 0; v < p->m[0].nvcpus; v++) {
		memset(&l, 0, sizeof l);
		if (kb_ioctl(B[0], p->m[0].vcpu[v], KVM_GET_LAPIC, &l).ret == 0) {
			printf("  LAPIC vcpu%d (id %u) non-zero words:\n", v, p->m[0].shape.ids[v]);
			dump_lapic(stdout, &l);
		}
	}
}

static void fam_reset(void)
{
	static const enum km_irqchip modes[] = { KM_IRQCHIP_NONE, KM_IRQCHIP_FULL, KM_IRQCHIP_SPLIT };
	static const int counts[] = { 1, 2, 4 };
	struct pair p;

	family_begin("reset");
	for (size_t m = 0; m < 3; m++) {
		for (size_t c = 0; c < 3; c++) {
			struct km_shape s = shape(modes[m], counts[c]);
			seq_begin("%s", km_shape_str(&s));
			if (!pair_create(&p, &s))
				continue;
			dump_reset_state(&p);
			if (modes[m] != KM_IRQCHIP_FULL)
				get_irqchip(&p, 0, NULL);
			compare_state(&p, true);
			pair_destroy(&p);
		}
	}
	/* x2APIC CPUID and the X2APIC_API flags change nothing at reset. */
	for (int k = 0; k < 4; k++) {
		struct km_shape s = shape(k & 1 ? KM_IRQCHIP_SPLIT : KM_IRQCHIP_FULL, 2);
		s.cpuid = KM_CPUID_X2APIC;
		s.x2apic_api = k >= 2;
		s.x2apic_flags = 3;
		seq_begin("%s", km_shape_str(&s));
		if (!pair_create(&p, &s))
			continue;
		dump_reset_state(&p);
		compare_state(&p, true);
		pair_destroy(&p);
	}
	/* Sparse vCPU ids. */
	{
		struct km_shape s = shape(KM_IRQCHIP_FULL, 3);
		s.ids[0] = 0;
		s.ids[1] = 5;
		s.ids[2] = 254;
		seq_begin("%s", km_shape_str(&s));
		if (pair_create(&p, &s)) {
			dump_reset_state(&p);
			compare_state(&p, true);
			pair_destroy(&p);
		}
	}
	family_end();
}

static void fam_caps(void)
{
	static const struct {
		const char *name;
		long cap;
	} caps[] = {
#define C(x) { #x, KVM_CAP_##x }
		C(IRQCHIP), C(HLT), C(USER_MEMORY), C(IRQ_ROUTING), C(IRQ_INJECT_STATUS),
		C(ASSIGN_DEV_IRQ), C(MP_STATE), C(PIT), C(PIT2), C(PIT_STATE2), C(IRQFD),
		C(IRQFD_RESAMPLE), C(IOEVENTFD), C(SET_BOOT_CPU_ID), C(VCPU_EVENTS),
		C(DEBUGREGS), C(XSAVE), C(XCRS), C(SIGNAL_MSI), C(MSI_DEVID),
		C(TSC_DEADLINE_TIMER), C(SPLIT_IRQCHIP), C(X2APIC_API), C(NR_VCPUS),
		C(MAX_VCPUS), C(MAX_VCPU_ID), C(HYPERV), C(HYPERV_SYNIC), C(HYPERV_SYNIC2),
		C(XEN_HVM), C(ARM_IRQ_LINE_LAYOUT_2), C(IOAPIC_POLARITY_IGNORED),
		C(EXT_CPUID), C(NOP_IO_DELAY), C(SET_GUEST_DEBUG), C(READONLY_MEM),
		C(GET_MSR_FEATURES), C(PMU_EVENT_FILTER), C(EXCEPTION_PAYLOAD),
		C(IMMEDIATE_EXIT), C(ENABLE_CAP), C(CHECK_EXTENSION_VM),
		C(MULTI_ADDRESS_SPACE), C(USER_NMI), C(REINJECT_CONTROL), C(IRQ_MPIC),
		C(S390_IRQCHIP), C(ARM_PSCI), C(MCE), C(DISABLE_QUIRKS),
		C(DISABLE_QUIRKS2), C(HALT_POLL), C(COALESCED_MMIO), C(SYNC_MMU),
#undef C
		{ "bogus 0x7fffffff", 0x7fffffff },
		{ "bogus -1", -1 },
		{ "bogus 100000", 100000 },
	};
	static const enum km_irqchip modes[] = { KM_IRQCHIP_NONE, KM_IRQCHIP_FULL, KM_IRQCHIP_SPLIT };
	struct pair p;

	family_begin("caps");
	seq_begin("system handle");
	seq.stateless = true;
	{
		struct km_shape s = shape(KM_IRQCHIP_NONE, 0);
		if (pair_create(&p, &s)) {
			pioctl(&p, T_SYS, 0, KVM_GET_API_VERSION, NULL, 0, P_VAL, "%s", "");
			for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
				pioctl(&p, T_SYS, 0, KVM_CHECK_EXTENSION, (void *)caps[i].cap, 0,
				       P_VAL, "%s", caps[i].name);
			pioctl(&p, T_SYS, 0, 0xae99, NULL, 0, P_VAL, "unknown 0xae99");
			pioctl(&p, T_SYS, 0, KVM_CREATE_IRQCHIP, NULL, 0, P_VAL, "on sys");
			pair_destroy(&p);
		}
	}
	for (size_t m = 0; m < 3; m++) {
		struct km_shape s = shape(modes[m], 1);
		seq_begin("vm handle %s", km_shape_str(&s));
		if (!pair_create(&p, &s))
			continue;
		seq.stateless = true;
		for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
			pioctl(&p, T_VM, 0, KVM_CHECK_EXTENSION, (void *)caps[i].cap, 0, P_VAL,
			       "%s", caps[i].name);
		pioctl(&p, T_VM, 0, KVM_GET_API_VERSION, NULL, 0, P_VAL, "on vm");
		pioctl(&p, T_VCPU, 0, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_IRQCHIP, 0, P_VAL,
		       "on vcpu IRQCHIP");
		pioctl(&p, T_VCPU, 0, 0xae99, NULL, 0, P_VAL, "unknown on vcpu");
		pioctl(&p, T_VM, 0, 0xae99, NULL, 0, P_VAL, "unknown on vm");
		pair_destroy(&p);
	}
	family_end();
}

static void fam_errno(void)
{
	struct pair p;
	struct km_shape s;
	struct kvm_enable_cap cap;
	struct {
		struct kvm_irq_routing h;
		struct kvm_irq_routing_entry e[3];
	} rt;

	family_begin("errno");

	seq_begin("no irqchip");
	s = shape(KM_IRQCHIP_NONE, 1);
	if (pair_create(&p, &s)) {
		int st;
		struct kvm_irq_routing r = { 0 };
		irq_line(&p, 0, 1, false, NULL);
		irq_line(&p, 0, 1, true, &st);
		get_irqchip(&p, 0, NULL);
		get_irqchip(&p, 2, NULL);
		get_irqchip(&p, 3, NULL);
		get_lapic(&p, 0, NULL);
		{
			struct kvm_lapic_state l;
			memset(&l, 0, sizeof l);
			pioctl(&p, T_VCPU, 0, KVM_SET_LAPIC, &l, sizeof l, 0, "zeros");
		}
		signal_msi(&p, 0xfee00000, 0, 0x30, 0);
		pioctl(&p, T_VM, 0, KVM_SET_GSI_ROUTING, &r, sizeof r, 0, "nr 0");
		{
			struct kvm_interrupt in = { .irq = 0x30 };
			pioctl(&p, T_VCPU, 0, KVM_INTERRUPT, &in, sizeof in, 0, "0x30");
			pioctl(&p, T_VCPU, 0, KVM_INTERRUPT, &in, sizeof in, 0, "0x30 again");
			in.irq = 256;
			pioctl(&p, T_VCPU, 0, KVM_INTERRUPT, &in, sizeof in, 0, "256");
		}
		pioctl(&p, T_VCPU, 0, KVM_NMI, NULL, 0, P_VAL, "%s", "");
		compare_state(&p, true);
		pair_destroy(&p);
	}

	seq_begin("split irqchip");
	s = shape(KM_IRQCHIP_SPLIT, 1);
	if (pair_create(&p, &s)) {
		struct kvm_interrupt in = { .irq = 0x30 };
		get_irqchip(&p, 0, NULL);
		get_irqchip(&p, 2, NULL);
		get_irqchip(&p, 7, NULL);
		irq_line(&p, 4, 1, true, NULL);
		irq_line(&p, 30, 1, true, NULL);
		pioctl(&p, T_VM, 0, KVM_CREATE_IRQCHIP, NULL, 0, P_VAL, "after split");
		memset(&cap, 0, sizeof cap);
		cap.cap = KVM_CAP_SPLIT_IRQCHIP;
		cap.args[0] = 24;
		pioctl(&p, T_VM, 0, KVM_ENABLE_CAP, &cap, sizeof cap, 0, "SPLIT_IRQCHIP again");
		pioctl(&p, T_VCPU, 0, KVM_INTERRUPT, &in, sizeof in, 0, "0x30");
		pioctl(&p, T_VCPU, 0, KVM_INTERRUPT, &in, sizeof in, 0, "0x30 again");
		in.irq = 300;
		pioctl(&p, T_VCPU, 0, KVM_INTERRUPT, &in, sizeof in, 0, "300");
		compare_state(&p, true);
		pair_destroy(&p);
	}

	seq_begin("split irqchip before vcpu variants");
	s = shape(KM_IRQCHIP_NONE, 0);
	if (pair_create(&p, &s)) {
		memset(&cap, 0, sizeof cap);
		cap.cap = KVM_CAP_SPLIT_IRQCHIP;
		cap.args[0] = 4097;
		pioctl(&p, T_VM, 0, KVM_ENABLE_CAP, &cap, sizeof cap, 0, "SPLIT_IRQCHIP 4097");
		cap.args[0] = 4096;
		pioctl(&p, T_VM, 0, KVM_ENABLE_CAP, &cap, sizeof cap, 0, "SPLIT_IRQCHIP 4096");
		pioctl(&p, T_VM, 0, KVM_CREATE_IRQCHIP, NULL, 0, P_VAL, "after split");
		pair_destroy(&p);
	}
	s = shape(KM_IRQCHIP_NONE, 1);
	if (pair_create(&p, &s)) {
		memset(&cap, 0, sizeof cap);
		cap.cap = KVM_CAP_SPLIT_IRQCHIP;
		cap.args[0] = 24;
		pioctl(&p, T_VM, 0, KVM_ENABLE_CAP, &cap, sizeof cap, 0, "SPLIT_IRQCHIP after vcpu");
		pair_destroy(&p);
	}

	seq_begin("full irqchip");
	s = shape(KM_IRQCHIP_FULL, 1);
	if (pair_create(&p, &s)) {
		struct kvm_interrupt in = { .irq = 0x30 };
		struct kvm_irqchip c;
		get_irqchip(&p, 3, NULL);
		get_irqchip(&p, 0xffffffff, NULL);
		memset(&c, 0, sizeof c);
		c.chip_id = 3;
		pioctl(&p, T_VM, 0, KVM_SET_IRQCHIP, &c, sizeof c, 0, "chip 3");
		pioctl(&p, T_VM, 0, KVM_CREATE_IRQCHIP, NULL, 0, P_VAL, "twice");
		memset(&cap, 0, sizeof cap);
		cap.cap = KVM_CAP_SPLIT_IRQCHIP;
		cap.args[0] = 24;
		pioctl(&p, T_VM, 0, KVM_ENABLE_CAP, &cap, sizeof cap, 0, "SPLIT after full");
		pioctl(&p, T_VCPU, 0, KVM_INTERRUPT, &in, sizeof in, 0, "0x30");
		irq_line(&p, 24, 1, true, NULL);
		irq_line(&p, 4095, 1, true, NULL);
		irq_line(&p, 4096, 1, true, NULL);
		irq_line(&p, 0xffffffff, 0, true, NULL);
		signal_msi(&p, 0xfee00000, 0, 0x30, 2);
		signal_msi(&p, 0xfee00000, 0, 0x30, 1);
		signal_msi(&p, 0xfee00000, 0, 0x30, 0x80000000);
		compare_state(&p, true);
		pair_destroy(&p);
	}

	seq_begin("create irqchip after vcpu");
	s = shape(KM_IRQCHIP_NONE, 1);
	if (pair_create(&p, &s)) {
		pioctl(&p, T_VM, 0, KVM_CREATE_IRQCHIP, NULL, 0, P_VAL, "after vcpu");
		pair_destroy(&p);
	}

	seq_begin("vcpu ids");
	s = shape(KM_IRQCHIP_FULL, 1);
	if (pair_create(&p, &s)) {
		static const long ids[] = { 0, 1, 1, 1023, 1024, 4095, 4096, -1, 0x7fffffff, 254, 255 };
		for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
			struct kres r[2];
			seq.step++;
			g_fam.ops++;
			for (int b = 0; b < 2; b++) {
				r[b] = kb_ioctl(B[b], p.m[b].vm, KVM_CREATE_VCPU, (void *)ids[i]);
			}
			logop("vm: KVM_CREATE_VCPU %ld -> %s", ids[i], kres_str(r[0]));
			if (g_verbose || g_facts)
				printf("  %-60s kernel %s%s%s\n", "vm: KVM_CREATE_VCPU", kres_str(r[0]),
				       g_facts ? "" : "  virq ", g_facts ? "" : kres_str(r[1]));
			if (g_facts)
				printf("    (id %ld)\n", ids[i]);
			if ((r[0].ret >= 0) != (r[1].ret >= 0) ||
			    (r[0].ret < 0 && r[0].err != r[1].err)) {
				char op[64], det[128];
				snprintf(op, sizeof op, "vm: KVM_CREATE_VCPU %ld", ids[i]);
				snprintf(det, sizeof det, "    return: kernel %s virq %s\n",
					 kres_str(r[0]), kres_str(r[1]));
				if (!seq.diverged)
					diverge(op, det);
			}
			for (int b = 0; b < 2; b++)
				if (r[b].ret >= 0)
					B[b]->close(r[b].ret);
		}
		pair_destroy(&p);
	}

	seq_begin("x2apic api flags");
	s = shape(KM_IRQCHIP_FULL, 0);
	if (pair_create(&p, &s)) {
		static const uint64_t flags[] = { 4, 0x100, 1ull << 63, 0, 3 };
		memset(&cap, 0, sizeof cap);
		cap.cap = KVM_CAP_X2APIC_API;
		for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
			cap.args[0] = flags[i];
			pioctl(&p, T_VM, 0, KVM_ENABLE_CAP, &cap, sizeof cap, 0, "X2APIC_API 0x%llx",
			       (unsigned long long)flags[i]);
		}
		cap.cap = 0x7fff;
		pioctl(&p, T_VM, 0, KVM_ENABLE_CAP, &cap, sizeof cap, 0, "unknown cap");
		pair_destroy(&p);
	}

	seq_begin("gsi routing errors");
	s = shape(KM_IRQCHIP_FULL, 1);
	if (pair_create(&p, &s)) {
#define RT(n_, fl_, what) do { rt.h.nr = n_; rt.h.flags = fl_; \
		pioctl(&p, T_VM, 0, KVM_SET_GSI_ROUTING, &rt, sizeof rt, 0, "%s", what); } while (0)
		memset(&rt, 0, sizeof rt);
		RT(0, 1, "flags 1");
		RT(4097, 0, "nr 4097");
		rt.e[0].gsi = 4096;
		rt.e[0].type = KVM_IRQ_ROUTING_IRQCHIP;
		RT(1, 0, "gsi 4096");
		rt.e[0].gsi = 3;
		rt.e[0].u.irqchip.irqchip = 0;
		rt.e[0].u.irqchip.pin = 8;
		RT(1, 0, "pic master pin 8");
		rt.e[0].u.irqchip.irqchip = 1;
		RT(1, 0, "pic slave pin 8");
		rt.e[0].u.irqchip.irqchip = 2;
		rt.e[0].u.irqchip.pin = 24;
		RT(1, 0, "ioapic pin 24");
		rt.e[0].u.irqchip.irqchip = 3;
		rt.e[0].u.irqchip.pin = 0;
		RT(1, 0, "chip 3");
		rt.e[0].u.irqchip.irqchip = 2;
		rt.e[0].flags = 1;
		RT(1, 0, "irqchip flags 1");
		rt.e[0].flags = 0;
		rt.e[1] = rt.e[0];
		RT(2, 0, "duplicate irqchip same chip");
		rt.e[1].u.irqchip.irqchip = 0;
		rt.e[1].u.irqchip.pin = 3;
		RT(2, 0, "pic + ioapic on one gsi (ok)");
		rt.e[1].type = KVM_IRQ_ROUTING_MSI;
		memset(&rt.e[1].u, 0, sizeof rt.e[1].u);
		rt.e[1].u.msi.address_lo = 0xfee00000;
		rt.e[1].u.msi.data = 0x31;
		RT(2, 0, "irqchip + msi on one gsi");
		rt.e[1].gsi = 40;
		rt.e[1].flags = KVM_MSI_VALID_DEVID;
		RT(2, 0, "msi VALID_DEVID (ok)");
		rt.e[1].flags = 2;
		RT(2, 0, "msi flags 2");
		rt.e[1].flags = 0;
		rt.e[1].type = KVM_IRQ_ROUTING_HV_SINT;
		RT(2, 0, "hv_sint");
		rt.e[1].type = KVM_IRQ_ROUTING_XEN_EVTCHN;
		RT(2, 0, "xen evtchn");
		rt.e[1].type = KVM_IRQ_ROUTING_S390_ADAPTER;
		RT(2, 0, "s390 adapter");
		rt.e[1].type = 99;
		RT(2, 0, "type 99");
		rt.e[1].type = KVM_IRQ_ROUTING_MSI;
		rt.e[1].u.msi.address_hi = 0x1;
		RT(2, 0, "msi address_hi 1 (no x2apic api)");
		RT(0, 0, "nr 0 (ok)");
		irq_line(&p, 3, 1, true, NULL);
		irq_line(&p, 3, 0, true, NULL);
		compare_state(&p, false);
		pair_destroy(&p);
	}
	seq_begin("gsi routing split");
	s = shape(KM_IRQCHIP_SPLIT, 1);
	s.x2apic_api = true;
	s.x2apic_flags = 3;
	if (pair_create(&p, &s)) {
		memset(&rt, 0, sizeof rt);
		rt.e[0].gsi = 3;
		rt.e[0].type = KVM_IRQ_ROUTING_IRQCHIP;
		rt.e[0].u.irqchip.irqchip = 2;
		rt.e[0].u.irqchip.pin = 3;
		RT(1, 0, "irqchip in split mode");
		rt.e[0].type = KVM_IRQ_ROUTING_MSI;
		memset(&rt.e[0].u, 0, sizeof rt.e[0].u);
		rt.e[0].u.msi.address_lo = 0xfee00000;
		rt.e[0].u.msi.address_hi = 0x1;
		rt.e[0].u.msi.data = 0x31;
		RT(1, 0, "msi address_hi 1 with x2apic format");
		rt.e[0].u.msi.address_hi = 0x100;
		RT(1, 0, "msi address_hi 0x100 with x2apic format (ok)");
		signal_msi(&p, 0xfee00000, 0x1, 0x31, 0);
		signal_msi(&p, 0xfee00000, 0x100, 0x31, 0);
		irq_line(&p, 3, 1, true, NULL);
		irq_line(&p, 3, 0, true, NULL);
		irq_line(&p, 4, 1, true, NULL);
		compare_state(&p, false);
		pair_destroy(&p);
	}
#undef RT
	seq_begin("handles");
	s = shape(KM_IRQCHIP_FULL, 1);
	if (pair_create(&p, &s)) {
		/* GET_LAPIC on a VM handle, GET_IRQCHIP on a vCPU handle. */
		struct kvm_lapic_state l;
		struct kvm_irqchip c;
		memset(&l, 0, sizeof l);
		memset(&c, 0, sizeof c);
		pioctl(&p, T_VM, 0, KVM_GET_LAPIC, &l, sizeof l, 0, "on vm");
		pioctl(&p, T_VCPU, 0, KVM_GET_IRQCHIP, &c, sizeof c, 0, "on vcpu");
		pioctl(&p, T_SYS, 0, KVM_GET_IRQCHIP, &c, sizeof c, 0, "on sys");
		pioctl(&p, T_SYS, 0, KVM_CREATE_VCPU, (void *)1, 0, P_VAL, "on sys");
		pair_destroy(&p);
	}
	family_end();
}

/* IOAPIC, PIC and RTC line behaviour in full mode. */
static void fam_lines(void)
{
	static const int counts[] = { 1, 2, 4 };
	struct pair p;

	family_begin("lines");
	for (size_t c = 0; c < 3; c++) {
		struct km_shape s = shape(KM_IRQCHIP_FULL, counts[c]);
		int st;

		seq_begin("lines at reset %dcpu", counts[c]);
		if (!pair_create(&p, &s))
			continue;
		/* Reset: PIC masked? IOAPIC masked: status per route. */
		for (uint32_t gsi = 0; gsi < 26; gsi++) {
			irq_line(&p, gsi, 1, true, &st);
			irq_line(&p, gsi, 1, true, &st);
			irq_line(&p, gsi, 0, true, &st);
		}
		compare_state(&p, true);
		pair_destroy(&p);

		seq_begin("ioapic edge+level %dcpu", counts[c]);
		if (!pair_create(&p, &s))
			continue;
		for (int v = 0; v < counts[c]; v++)
			lapic_enable(&p, v, v, 1u << (24 + v), 0xffffffff, 0);
		ioapic_set_pin(&p, 4, 0x0000000000000031ull);              /* edge, phys dest 0 */
		ioapic_set_pin(&p, 5, 0x0000000000008032ull);              /* level */
		ioapic_set_pin(&p, 6, 0x0f00000000000833ull);              /* logical, mask 0xf */
		ioapic_set_pin(&p, 7, 0xff00000000000934ull);              /* lowest prio, logical */
		ioapic_set_pin(&p, 9, 0xff00000000000035ull);              /* phys broadcast */
		ioapic_set_pin(&p, 10, 0x0300000000000036ull);             /* absent dest */
		ioapic_set_pin(&p, 11, 0x000000000000a037ull);             /* level, active low */
		ioapic_set_pin(&p, 16, 0x0000000000010038ull);             /* masked edge */
		ioapic_set_pin(&p, 17, 0x0000000000000400ull);             /* NMI */
		ioapic_set_pin(&p, 18, 0x0000000000000700ull);             /* ExtINT */
		compare_state(&p, true);
		for (int round = 0; round < 3; round++) {
			for (uint32_t gsi = 4; gsi < 19; gsi++) {
				irq_line(&p, gsi, 1, true, &st);
				compare_state(&p, false);
				irq_line(&p, gsi, 0, true, &st);
				compare_state(&p, false);
			}
		}
		/* Level pin with remote IRR: raise again, lower, raise. */
		irq_line(&p, 5, 1, true, &st);
		irq_line(&p, 5, 1, true, &st);
		irq_line(&p, 5, 0, true, &st);
		irq_line(&p, 5, 1, true, &st);
		compare_state(&p, true);
		/* Clear remote IRR via SET_IRQCHIP while the line is high: re-injected. */
		ioapic_set_pin(&p, 5, 0x0000000000008032ull);
		compare_state(&p, true);
		irq_line(&p, 5, 0, true, &st);
		irq_line(&p, 5, 1, true, &st);
		compare_state(&p, true);
		/* Unmask the masked pin while asserted. */
		irq_line(&p, 16, 1, true, &st);
		ioapic_set_pin(&p, 16, 0x0000000000008038ull);
		compare_state(&p, true);
		pair_destroy(&p);

		seq_begin("pic %dcpu", counts[c]);
		if (!pair_create(&p, &s))
			continue;
		pic_init(&p, 0x08, 0x70, 0x00, 0x00, 0x00, 0x00);
		compare_state(&p, true);
		for (uint32_t gsi = 0; gsi < 16; gsi++) {
			irq_line(&p, gsi, 1, true, &st);
			irq_line(&p, gsi, 1, true, &st);
			compare_state(&p, false);
			irq_line(&p, gsi, 0, true, &st);
			compare_state(&p, false);
		}
		/* Level-triggered via ELCR, and masked lines. */
		pic_init(&p, 0x20, 0x28, 0xa5, 0x0f, 0xf8 & 0x28, 0xde & 0x0e);
		for (uint32_t gsi = 0; gsi < 16; gsi++) {
			irq_line(&p, gsi, 1, true, &st);
			compare_state(&p, false);
		}
		for (uint32_t gsi = 0; gsi < 16; gsi++) {
			irq_line(&p, gsi, 0, true, &st);
			compare_state(&p, false);
		}
		/* LVT0 ExtINT on an enabled LAPIC. */
		lapic_enable(&p, 0, 0, 0x01000000, 0xffffffff, 0);
		irq_line(&p, 3, 1, true, &st);
		compare_state(&p, true);
		pair_destroy(&p);

		seq_begin("rtc gsi8 %dcpu", counts[c]);
		if (!pair_create(&p, &s))
			continue;
		for (int v = 0; v < counts[c]; v++)
			lapic_enable(&p, v, v, 1u << (24 + v), 0xffffffff, 0);
		ioapic_set_pin(&p, 8, 0x0000000000000028ull);
		for (int i = 0; i < 4; i++) {
			irq_line(&p, 8, 1, true, &st);
			irq_line(&p, 8, 0, true, &st);
			compare_state(&p, false);
		}
		/* Broadcast RTC: several destinations pending. */
		ioapic_set_pin(&p, 8, 0xff00000000000029ull);
		for (int i = 0; i < 3; i++) {
			irq_line(&p, 8, 1, false, NULL);
			irq_line(&p, 8, 0, true, &st);
			compare_state(&p, false);
		}
		/* Level RTC. */
		ioapic_set_pin(&p, 8, 0x000000000000802aull);
		irq_line(&p, 8, 1, true, &st);
		irq_line(&p, 8, 0, true, &st);
		irq_line(&p, 8, 1, true, &st);
		compare_state(&p, true);
		pair_destroy(&p);
	}
	family_end();
}

/* MSI delivery: every destination shape. */
static void fam_msi(void)
{
	static const enum km_irqchip modes[] = { KM_IRQCHIP_FULL, KM_IRQCHIP_SPLIT };
	struct pair p;

	family_begin("msi");
	for (size_t m = 0; m < 2; m++) {
		struct km_shape s = shape(modes[m], 4);

		seq_begin("msi disabled lapics %s", km_shape_str(&s));
		if (!pair_create(&p, &s))
			continue;
		signal_msi(&p, 0xfee00000, 0, 0x30, 0);
		signal_msi(&p, 0xfee0f000, 0, 0x30, 0);
		signal_msi(&p, 0xfeeff000, 0, 0x30, 0);
		signal_msi(&p, 0xfee00000, 0, 0x430, 0);  /* NMI */
		signal_msi(&p, 0xfee00000, 0, 0x330, 0);  /* mode 3 */
		compare_state(&p, true);
		pair_destroy(&p);

		seq_begin("msi enabled %s", km_shape_str(&s));
		if (!pair_create(&p, &s))
			continue;
		for (int v = 0; v < 4; v++)
			lapic_enable(&p, v, v, 1u << (24 + v), 0xffffffff, v * 0x10);
		for (uint32_t dest = 0; dest < 6; dest++)
			signal_msi(&p, 0xfee00000 | dest << 12, 0, 0x40 + dest, 0);
		signal_msi(&p, 0xfee00000, 0, 0x40, 0);   /* repeat while in IRR */
		signal_msi(&p, 0xfeeff000, 0, 0x50, 0);   /* physical broadcast */
		signal_msi(&p, 0xfee03004, 0, 0x51, 0);   /* logical 0x03 */
		signal_msi(&p, 0xfee0f004, 0, 0x52, 0);   /* logical 0x0f */
		signal_msi(&p, 0xfeeff004, 0, 0x53, 0);   /* logical broadcast */
		signal_msi(&p, 0xfee0f00c, 0, 0x154, 0);  /* lowest priority, logical */
		signal_msi(&p, 0xfee0f00c, 0, 0x155, 0);
		signal_msi(&p, 0xfee0f00c, 0, 0x156, 0);
		signal_msi(&p, 0xfee00008, 0, 0x157, 0);  /* lowest priority, physical (RH) */
		signal_msi(&p, 0xfee0000c, 0, 0x158, 0);
		signal_msi(&p, 0xfee01000, 0, 0x0459, 0); /* NMI */
		signal_msi(&p, 0xfee01000, 0, 0x0200, 0); /* SMI */
		signal_msi(&p, 0xfee01000, 0, 0x0500, 0); /* INIT */
		signal_msi(&p, 0xfee01000, 0, 0x0600, 0); /* SIPI */
		signal_msi(&p, 0xfee02000, 0, 0x0700, 0); /* ExtINT */
		signal_msi(&p, 0xfee02000, 0, 0x0330, 0); /* mode 3 */
		signal_msi(&p, 0xfee02000, 0, 0xc05a, 0); /* level assert */
		signal_msi(&p, 0xfee02000, 0, 0x805b, 0); /* level deassert */
		signal_msi(&p, 0xfee02000, 0, 0x0005, 0); /* vector < 16 */
		signal_msi(&p, 0xfee02000, 0x12345600, 0x5c, 0); /* address_hi ignored */
		signal_msi(&p, 0xfed02000, 0, 0x5d, 0);   /* not in the APIC window */
		compare_state(&p, true);
		pair_destroy(&p);

		seq_begin("msi mixed enable %s", km_shape_str(&s));
		if (!pair_create(&p, &s))
			continue;
		lapic_enable(&p, 1, 1, 0x02000000, 0xffffffff, 0);
		lapic_enable(&p, 3, 3, 0x08000000, 0xffffffff, 0);
		signal_msi(&p, 0xfeeff000, 0, 0x60, 0);
		signal_msi(&p, 0xfee0f004, 0, 0x61, 0);
		signal_msi(&p, 0xfee0f00c, 0, 0x162, 0);
		signal_msi(&p, 0xfee00000, 0, 0x63, 0);
		signal_msi(&p, 0xfee01000, 0, 0x64, 0);
		compare_state(&p, true);
		/* Cluster mode. */
		lapic_enable(&p, 0, 0, 0x11000000, 0x0fffffff, 0);
		lapic_enable(&p, 1, 1, 0x12000000, 0x0fffffff, 0);
		lapic_enable(&p, 2, 2, 0x21000000, 0x0fffffff, 0);
		lapic_enable(&p, 3, 3, 0x22000000, 0x0fffffff, 0);
		signal_msi(&p, 0xfee13004, 0, 0x65, 0);
		signal_msi(&p, 0xfee23004, 0, 0x66, 0);
		signal_msi(&p, 0xfeef3004, 0, 0x67, 0);
		signal_msi(&p, 0xfee1300c, 0, 0x168, 0);
		compare_state(&p, true);
		/* Duplicate APIC IDs. */
		lapic_enable(&p, 2, 1, 0x04000000, 0xffffffff, 0);
		signal_msi(&p, 0xfee01000, 0, 0x69, 0);
		signal_msi(&p, 0xfee00000, 0, 0x6a, 0);
		compare_state(&p, true);
		/* Hardware-disabled LAPIC (APIC_BASE enable bit clear). */
		set_apic_base(&p, 3, 0xfee00000);
		signal_msi(&p, 0xfee03000, 0, 0x6b, 0);
		signal_msi(&p, 0xfeeff000, 0, 0x6c, 0);
		set_apic_base(&p, 3, 0xfee00800);
		compare_state(&p, true);
		pair_destroy(&p);

		/* x2APIC mode with the X2APIC API. */
		for (int api = 0; api < 3; api++) {
			struct km_shape sx = s;
			sx.cpuid = KM_CPUID_X2APIC;
			sx.x2apic_api = api > 0;
			sx.x2apic_flags = api == 2 ? 3 : 1;
			seq_begin("msi x2apic %s", km_shape_str(&sx));
			if (!pair_create(&p, &sx))
				continue;
			for (int v = 0; v < 4; v++) {
				set_apic_base(&p, v, 0xfee00c00 | (v == 0 ? 0x100 : 0));
				get_apic_base(&p, v, NULL);
			}
			compare_state(&p, true);
			for (int v = 0; v < 4; v++) {
				struct kvm_lapic_state l;
				if (get_lapic(&p, v, &l).ret < 0)
					continue;
				lapic_set_reg(&l, 0xf0, 0x1ff);
				pioctl(&p, T_VCPU, v, KVM_SET_LAPIC, &l, sizeof l, 0, "enable (x2apic)");
			}
			compare_state(&p, true);
			signal_msi(&p, 0xfee00000, 0, 0x70, 0);
			signal_msi(&p, 0xfee01000, 0, 0x71, 0);
			signal_msi(&p, 0xfee00000, 0x100, 0x72, 0);
			signal_msi(&p, 0xfee00000, 0x200, 0x73, 0);
			signal_msi(&p, 0xfee00000, 0xffffff00, 0x74, 0);
			signal_msi(&p, 0xfeeff000, 0, 0x75, 0);
			signal_msi(&p, 0xfee00000, 0x1, 0x76, 0);
			signal_msi(&p, 0xfee01004, 0, 0x77, 0);   /* logical cluster 0 bit 0 */
			signal_msi(&p, 0xfee0300c, 0, 0x178, 0);
			compare_state(&p, true);
			pair_destroy(&p);
		}
	}
	{
		struct km_shape s = shape(KM_IRQCHIP_FULL, 0);
		seq_begin("msi no vcpu");
		if (pair_create(&p, &s)) {
			signal_msi(&p, 0xfee00000, 0, 0x30, 0);
			signal_msi(&p, 0xfeeff000, 0, 0x30, 0);
			pair_destroy(&p);
		}
	}
	family_end();
}

/* Routing tables: valid tables, then lines through them. */
static void fam_routing(void)
{
	struct pair p;
	struct km_shape s;
	struct {
		struct kvm_irq_routing h;
		struct kvm_irq_routing_entry e[8];
	} rt;
	int st;

	family_begin("routing");
	seq_begin("full custom table");
	s = shape(KM_IRQCHIP_FULL, 2);
	if (pair_create(&p, &s)) {
		lapic_enable(&p, 0, 0, 0x01000000, 0xffffffff, 0);
		lapic_enable(&p, 1, 1, 0x02000000, 0xffffffff, 0);
		ioapic_set_pin(&p, 3, 0x0000000000000041ull);
		ioapic_set_pin(&p, 12, 0x0100000000008042ull);
		pic_init(&p, 0x20, 0x28, 0, 0, 0, 0);
		memset(&rt, 0, sizeof rt);
		rt.h.nr = 6;
		rt.e[0] = (struct kvm_irq_routing_entry){ .gsi = 3, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = 2, .pin = 3 } };
		rt.e[1] = (struct kvm_irq_routing_entry){ .gsi = 3, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = 0, .pin = 3 } };
		rt.e[2] = (struct kvm_irq_routing_entry){ .gsi = 30, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = 2, .pin = 12 } };
		rt.e[3] = (struct kvm_irq_routing_entry){ .gsi = 31, .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = 0xfee01000, .data = 0x43 } };
		rt.e[4] = (struct kvm_irq_routing_entry){ .gsi = 32, .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = 0xfee05000, .data = 0x44 } };
		rt.e[5] = (struct kvm_irq_routing_entry){ .gsi = 33, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = 1, .pin = 2 } };
		pioctl(&p, T_VM, 0, KVM_SET_GSI_ROUTING, &rt, sizeof rt, 0, "custom 6");
		for (uint32_t gsi = 0; gsi < 36; gsi++) {
			irq_line(&p, gsi, 1, true, &st);
			irq_line(&p, gsi, 0, true, &st);
		}
		compare_state(&p, true);
		/* Back to an empty table. */
		rt.h.nr = 0;
		pioctl(&p, T_VM, 0, KVM_SET_GSI_ROUTING, &rt, sizeof rt, 0, "empty");
		irq_line(&p, 3, 1, true, &st);
		irq_line(&p, 0, 1, true, &st);
		compare_state(&p, true);
		pair_destroy(&p);
	}
	seq_begin("split msi table");
	s = shape(KM_IRQCHIP_SPLIT, 2);
	if (pair_create(&p, &s)) {
		lapic_enable(&p, 0, 0, 0x01000000, 0xffffffff, 0);
		memset(&rt, 0, sizeof rt);
		rt.h.nr = 3;
		rt.e[0] = (struct kvm_irq_routing_entry){ .gsi = 0, .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = 0xfee00000, .data = 0x45 } };
		rt.e[1] = (struct kvm_irq_routing_entry){ .gsi = 5, .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = 0xfee00000, .data = 0xc046 } };
		rt.e[2] = (struct kvm_irq_routing_entry){ .gsi = 40, .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = 0xfee01000, .data = 0x47 } };
		pioctl(&p, T_VM, 0, KVM_SET_GSI_ROUTING, &rt, sizeof rt, 0, "split 3");
		for (uint32_t gsi = 0; gsi < 42; gsi += 1) {
			irq_line(&p, gsi, 1, true, &st);
			irq_line(&p, gsi, 0, true, &st);
		}
		compare_state(&p, true);
		pair_destroy(&p);
	}
	family_end();
}

/* ---------------------------------------------------------------------- */
/* Random sequences                                                        */
/* ---------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rn(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static bool chance(unsigned pct)
{
	return rn(100) < pct;
}

static uint32_t rnd_vector(void)
{
	return chance(5) ? rn(256) : 0x20 + rn(0xe0);
}

static void rnd_set_lapic(struct pair *p, int v)
{
	struct kvm_lapic_state l;
	static const uint32_t lvt_dm[] = { 0, 0, 0x200, 0x400, 0x700, 0x500 };

	if (get_lapic(p, v, &l).ret < 0)
		return;
	if (chance(70))
		lapic_set_reg(&l, 0x20, (chance(80) ? (uint32_t)v : rn(8)) << 24);
	if (chance(60)) {
		uint32_t ldr = chance(60) ? (1u << (24 + rn(8)))
					  : ((rn(16) << 28) | (1u << (24 + rn(4))));
		lapic_set_reg(&l, 0xd0, ldr);
		lapic_set_reg(&l, 0xe0, chance(70) ? 0xffffffff : 0x0fffffff);
	}
	switch (rn(4)) {
	case 0: lapic_set_reg(&l, 0xf0, 0xff); break;
	case 1: lapic_set_reg(&l, 0xf0, 0x100 | rnd_vector() | (chance(20) ? 0x1000 : 0)); break;
	default: lapic_set_reg(&l, 0xf0, 0x1ff); break;
	}
	lapic_set_reg(&l, 0x80, chance(60) ? 0 : rn(256));
	if (chance(50)) {
		lapic_set_reg(&l, 0x350, (chance(50) ? 0x10000 : 0) | lvt_dm[rn(6)] |
			      (chance(30) ? 0x8000 : 0) | rnd_vector());
		lapic_set_reg(&l, 0x360, (chance(50) ? 0x10000 : 0) | lvt_dm[rn(6)] | rnd_vector());
		lapic_set_reg(&l, 0x370, (chance(50) ? 0x10000 : 0) | rnd_vector());
		lapic_set_reg(&l, 0x340, (chance(50) ? 0x10000 : 0) | lvt_dm[rn(4)] | rnd_vector());
		lapic_set_reg(&l, 0x330, 0x10000 | rnd_vector());
	}
	lapic_set_reg(&l, 0x320, 0x10000 | (rn(3) << 17) | rnd_vector());   /* masked timer */
	lapic_set_reg(&l, 0x380, 0);
	lapic_set_reg(&l, 0x3e0, rn(16) & 0xb);
	for (int k = 0; k < 8; k++) {
		uint32_t irr = 0, isr = 0, tmr = 0;
		if (chance(25))
			irr = (uint32_t)rnd() & (uint32_t)rnd() & (uint32_t)rnd();
		if (chance(10))
			isr = 1u << rn(32);
		if (chance(20))
			tmr = (uint32_t)rnd() & (uint32_t)rnd();
		if (k == 0) {
			irr &= 0xffff0000;
			isr &= 0xffff0000;
		}
		lapic_set_reg(&l, 0x200 + 16 * k, irr);
		lapic_set_reg(&l, 0x100 + 16 * k, isr);
		lapic_set_reg(&l, 0x180 + 16 * k, tmr);
	}
	{
		char isr[64], irr[64];
		int ni = 0, nr = 0;
		isr[0] = irr[0] = 0;
		for (int k = 7; k >= 0; k--) {
			uint32_t a = lapic_reg(&l, 0x100 + 16 * k), b = lapic_reg(&l, 0x200 + 16 * k);
			if (a && ni < 48)
				ni += snprintf(isr + ni, sizeof isr - ni, " %d:%08x", k, a);
			if (b && nr < 48)
				nr += snprintf(irr + nr, sizeof irr - nr, " %d:%08x", k, b);
		}
		pioctl(p, T_VCPU, v, KVM_SET_LAPIC, &l, sizeof l, 0,
		       "random (id 0x%x ldr 0x%x dfr 0x%x spiv 0x%x tpr 0x%x lvt0 0x%x isr[%s] irr[%s])",
		       lapic_reg(&l, 0x20), lapic_reg(&l, 0xd0), lapic_reg(&l, 0xe0),
		       lapic_reg(&l, 0xf0), lapic_reg(&l, 0x80), lapic_reg(&l, 0x350), isr, irr);
	}
}

static uint64_t rnd_rte(void)
{
	static const uint64_t dms[] = { 0, 0, 0, 1, 1, 4, 7, 2, 5 };
	uint64_t e = rnd_vector();
	bool level = chance(40);

	e |= dms[rn(9)] << 8;
	e |= (uint64_t)chance(30) << 11;
	e |= (uint64_t)chance(20) << 13;
	e |= (uint64_t)level << 15;
	if (level && chance(20))
		e |= 1ull << 14;
	e |= (uint64_t)chance(25) << 16;
	e |= (uint64_t)(chance(15) ? 0xff : chance(50) ? rn(6) : 1u << rn(8)) << 56;
	return e;
}

static void rnd_set_irqchip(struct pair *p)
{
	struct kvm_irqchip c;
	uint32_t chip = rn(3);

	if (get_irqchip(p, chip, &c).ret < 0)
		return;
	if (chip < 2) {
		struct kvm_pic_state *s = &c.chip.pic;
		static const uint8_t bases[] = { 0x08, 0x20, 0x28, 0x70, 0x30 };
		s->irr = chance(50) ? (uint8_t)rnd() : 0;
		s->imr = chance(40) ? 0 : (uint8_t)rnd();
		s->isr = chance(15) ? (uint8_t)(1u << rn(8)) : 0;
		s->priority_add = chance(80) ? 0 : rn(8);
		s->irq_base = bases[rn(5)];
		s->read_reg_select = chance(50);
		s->special_mask = chance(10);
		s->auto_eoi = chance(20);
		s->init4 = 1;
		s->elcr = (uint8_t)rnd() & s->elcr_mask;
		s->last_irr = chance(50) ? s->irr : 0;
	} else {
		struct kvm_ioapic_state *s = &c.chip.ioapic;
		if (chance(30))
			s->id = rn(16);
		s->ioregsel = chance(80) ? s->ioregsel : rn(0x40);
		s->irr = chance(30) ? ((uint32_t)rnd() & (uint32_t)rnd() & 0xffffff) : 0;
		for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
			if (chance(60))
				s->redirtbl[i].bits = rnd_rte();
	}
	pioctl(p, T_VM, 0, KVM_SET_IRQCHIP, &c, sizeof c, 0, "random chip %u", chip);
}

static void rnd_set_routing(struct pair *p, bool split)
{
	struct {
		struct kvm_irq_routing h;
		struct kvm_irq_routing_entry e[48];
	} rt;
	uint8_t used[64] = { 0 };  /* bit0 pic0, bit1 pic1, bit2 ioapic, bit3 exclusive */
	uint32_t n = 0, want = rn(40);
	bool bad = chance(8);

	memset(&rt, 0, sizeof rt);
	for (uint32_t i = 0; i < want && n < 48; i++) {
		struct kvm_irq_routing_entry *e = &rt.e[n];
		uint32_t gsi = chance(70) ? rn(24) : rn(64);
		if (used[gsi] & 8)
			continue;
		e->gsi = gsi;
		if (!split && chance(65)) {
			uint32_t chip = gsi < 16 && chance(50) ? (gsi < 8 ? 0 : 1) : chance(80) ? 2 : rn(2);
			if (used[gsi] & (1u << chip))
				continue;
			e->type = KVM_IRQ_ROUTING_IRQCHIP;
			e->u.irqchip.irqchip = chip;
			e->u.irqchip.pin = chip == 2 ? rn(24) : rn(8);
			used[gsi] |= 1u << chip;
		} else {
			if (used[gsi])
				continue;
			e->type = KVM_IRQ_ROUTING_MSI;
			e->u.msi.address_lo = 0xfee00000 | (chance(20) ? 0xff : rn(6)) << 12 |
					      (chance(30) ? 4 : 0) | (chance(20) ? 8 : 0);
			e->u.msi.data = rnd_vector() | (chance(20) ? 0x100 : 0) |
					(chance(30) ? 0xc000 : 0);
			if (chance(10))
				e->flags = KVM_MSI_VALID_DEVID;
			used[gsi] |= 8;
		}
		n++;
	}
	if (bad && n) {
		struct kvm_irq_routing_entry *e = &rt.e[rn(n)];
		switch (rn(4)) {
		case 0: e->flags = 4; break;
		case 1: e->gsi = 4096 + rn(10); break;
		case 2: e->type = 9; break;
		default: rt.h.flags = 1; break;
		}
	}
	rt.h.nr = n;
	pioctl(p, T_VM, 0, KVM_SET_GSI_ROUTING, &rt, sizeof rt, 0, "random %u entries%s", n,
	       bad ? " (one bad)" : "");
}

static void rnd_msi(struct pair *p)
{
	static const uint32_t dms[] = { 0, 0, 0, 0, 1, 1, 4, 2, 5, 6, 7, 3 };
	uint32_t dest = chance(15) ? 0xff : chance(70) ? rn(6) : (uint32_t)(1u << rn(8));
	uint32_t lo = 0xfee00000 | dest << 12 | (chance(30) ? 4 : 0) | (chance(20) ? 8 : 0);
	uint32_t hi = chance(10) ? (chance(50) ? rn(4) << 8 : rn(256)) : 0;
	uint32_t data = rnd_vector() | dms[rn(12)] << 8 | (chance(20) ? 0x8000 : 0) |
			(chance(80) ? 0x4000 : 0);
	uint32_t flags = chance(5) ? (chance(50) ? 1 : 2u << rn(4)) : 0;

	if (chance(3))
		lo = 0xfed00000 | (lo & 0xfffff);
	signal_msi(p, lo, hi, data, flags);
}

static void rnd_events(struct pair *p, int v)
{
	struct kvm_vcpu_events ev;

	memset(&ev, 0, sizeof ev);
	if (pioctl(p, T_VCPU, v, KVM_GET_VCPU_EVENTS, &ev, sizeof ev, P_CMP_OUT, "%s", "").ret < 0)
		return;
	ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
	ev.nmi.pending = chance(50);
	ev.nmi.injected = chance(20);
	ev.nmi.masked = chance(30);
	if (chance(30)) {
		ev.interrupt.injected = 1;
		ev.interrupt.nr = rnd_vector();
	} else {
		ev.interrupt.injected = 0;
	}
	pioctl(p, T_VCPU, v, KVM_SET_VCPU_EVENTS, &ev, sizeof ev, 0,
	       "nmi p%u i%u m%u intr %u/0x%x", ev.nmi.pending, ev.nmi.injected, ev.nmi.masked,
	       ev.interrupt.injected, ev.interrupt.nr);
}

static void rnd_shape(struct km_shape *s)
{
	uint32_t r = rn(100);

	memset(s, 0, sizeof *s);
	s->irqchip = r < 55 ? KM_IRQCHIP_FULL : r < 88 ? KM_IRQCHIP_SPLIT : KM_IRQCHIP_NONE;
	s->nvcpus = 1 + rn(4);
	if (chance(20)) {
		uint32_t id = rn(3);
		for (int i = 0; i < s->nvcpus; i++) {
			s->ids[i] = id;
			id += 1 + rn(3);
		}
	} else {
		for (int i = 0; i < s->nvcpus; i++)
			s->ids[i] = i;
	}
	if (chance(25)) {
		s->x2apic_api = true;
		s->x2apic_flags = 1 + rn(3);
	}
	s->cpuid = chance(30) ? KM_CPUID_X2APIC : chance(20) ? KM_CPUID_PLAIN : KM_CPUID_NONE;
}

static void random_sequence(uint64_t index, unsigned nops)
{
	static const uint64_t bases[] = { 0xfee00900, 0xfee00800, 0xfee00d00, 0xfee00c00, 0,
					  0xfee00400, 0xfee00500, 0xfec00800, 0xfee00900 | (1ull << 40) };
	struct km_shape s;
	struct pair p;

	rng_state = g_seed * 0x2545f4914f6cdd1dull + index * 0x9e3779b97f4a7c15ull + 1;
	rnd();
	rnd_shape(&s);
	seq_begin("#%" PRIu64 " %s", index, km_shape_str(&s));
	if (!pair_create(&p, &s))
		return;
	int n = p.m[0].nvcpus;
	bool chip = s.irqchip != KM_IRQCHIP_NONE;
	/* Start with most LAPICs enabled, so that deliveries land. */
	if (chip)
		for (int v = 0; v < n; v++)
			if (chance(75))
				lapic_enable(&p, v, s.ids[v] & 0xff, 1u << (24 + (v & 7)), 0xffffffff, 0);
	if (s.irqchip == KM_IRQCHIP_FULL && chance(60))
		for (int pin = 0; pin < 24; pin++)
			if (chance(50))
				ioapic_set_pin(&p, pin, rnd_rte());
	for (unsigned i = 0; i < nops && !seq.diverged; i++) {
		int v = rn(n);
		uint32_t op = rn(100);
		if (op < 25) {
			uint32_t gsi = chance(85) ? rn(24) : rn(48);
			irq_line(&p, gsi, chance(55) ? 1 : 0, chance(80), NULL);
		} else if (op < 45) {
			rnd_msi(&p);
		} else if (op < 53) {
			if (s.irqchip == KM_IRQCHIP_FULL || chance(10))
				rnd_set_irqchip(&p);
			else
				rnd_msi(&p);
		} else if (op < 63) {
			rnd_set_lapic(&p, v);
		} else if (op < 68) {
			rnd_set_routing(&p, s.irqchip != KM_IRQCHIP_FULL);
		} else if (op < 74) {
			set_apic_base(&p, v, bases[rn(sizeof bases / sizeof bases[0])] |
				      (chance(50) && v == 0 ? 0x100 : 0));
		} else if (op < 78) {
			get_apic_base(&p, v, NULL);
		} else if (op < 83) {
			pioctl(&p, T_VCPU, v, KVM_NMI, NULL, 0, P_VAL, "%s", "");
		} else if (op < 88) {
			struct kvm_interrupt in = { .irq = chance(95) ? rn(256) : 256 + rn(100) };
			pioctl(&p, T_VCPU, v, KVM_INTERRUPT, &in, sizeof in, 0, "0x%x", in.irq);
		} else if (op < 93) {
			rnd_events(&p, v);
		} else if (op < 96) {
			get_irqchip(&p, chance(80) ? rn(3) : rn(10), NULL);
		} else {
			/* Enable/disable a LAPIC outright. */
			if (chip)
				lapic_enable(&p, v, s.ids[v] & 0xff, 1u << (24 + rn(8)),
					     0xffffffff, rn(3) * 0x20);
		}
		if (!seq.diverged)
			compare_state(&p, chance(30) || i + 1 == nops);
	}
	pair_destroy(&p);
}

static void fam_random(unsigned count, long only)
{
	family_begin("random");
	if (only >= 0) {
		random_sequence((uint64_t)only, 24);
	} else {
		for (unsigned i = 0; i < count; i++)
			random_sequence(i, 8 + (unsigned)(i % 25));
	}
	family_end();
}

/* ---------------------------------------------------------------------- */

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [-s SEED] [-n COUNT] [--only I] [-v] [--self] [--facts] [--family F]\n"
		"          [--mask PATTERN]...\n",
		argv0);
}

static bool fam_on(const char *only, const char *name)
{
	return !only || !strcmp(only, name);
}

int main(int argc, char **argv)
{
	unsigned count = 2000;
	long only = -1;
	const char *family = NULL;
	struct timespec t0, t1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-s") && i + 1 < argc)
			g_seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			count = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = strtol(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--family") && i + 1 < argc)
			family = argv[++i];
		else if (!strcmp(argv[i], "--mask") && i + 1 < argc && g_nmasks < MAX_MASKS)
			g_masks[g_nmasks++] = argv[++i];
		else if (!strcmp(argv[i], "-v"))
			g_verbose = true;
		else if (!strcmp(argv[i], "--self"))
			g_self = true;
		else if (!strcmp(argv[i], "--facts"))
			g_facts = g_self = true;
		else {
			usage(argv[0]);
			return 2;
		}
	}
	if (only >= 0) {
		g_verbose = true;
		family = "random";
	}

	/* Skip when the oracle is not usable. */
	{
		struct kres r = kb_open(&kvm_backend_kernel);
		if (r.ret < 0) {
			printf("SKIP: cannot open /dev/kvm: %s\n", strerror(r.err));
			return 77;
		}
		struct kres vm = kb_ioctl(&kvm_backend_kernel, r.ret, KVM_CREATE_VM, (void *)0);
		if (vm.ret < 0) {
			printf("SKIP: KVM_CREATE_VM on /dev/kvm failed: %s\n", strerror(vm.err));
			close(r.ret);
			return 77;
		}
		close(vm.ret);
		close(r.ret);
	}
	if (!km_cpuid_init())
		printf("note: KVM_GET_SUPPORTED_CPUID failed; KVM_SET_CPUID2 shapes run without CPUID\n");

	B[0] = &kvm_backend_kernel;
	if (g_self) {
		B[1] = &kvm_backend_kernel;
	} else if (!kvm_backend_virq_linked()) {
		printf("SKIP: built with DIFF_KERNEL_ONLY (no libvirq) "
		       "(run with --self to check the harness against the kernel alone)\n");
		return 77;
	} else {
		B[1] = &kvm_backend_virq;
	}
	printf("diff: %s vs %s, seed 0x%" PRIx64 ", %u random sequences\n", B[0]->name,
	       g_self ? "kernel (self)" : B[1]->name, g_seed, count);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (fam_on(family, "reset"))
		fam_reset();
	if (fam_on(family, "caps"))
		fam_caps();
	if (fam_on(family, "errno"))
		fam_errno();
	if (fam_on(family, "lines"))
		fam_lines();
	if (fam_on(family, "msi"))
		fam_msi();
	if (fam_on(family, "routing"))
		fam_routing();
	if (fam_on(family, "random") && !g_facts)
		fam_random(count, only);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	printf("diff: %u sequences, %u operations, %u divergences", g_total.seqs, g_total.ops,
	       g_total.divs);
	if (g_total.allowed)
		printf(", %u allowed differences", g_total.allowed);
	if (g_total.masked)
		printf(", %u masked by --mask (NOT a clean run)", g_total.masked);
	printf(" (%.1f s)\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (g_total.masked)
		return 1;
	return g_total.divs ? 1 : 0;
}
