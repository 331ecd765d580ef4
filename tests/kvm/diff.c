/* SPDX-License-Identifier: MIT */
/*
 * diff.c - differential test: identical operation sequences on the kernel's
 * /dev/kvm and on virq; every return value, errno, KVM_IRQ_LINE_STATUS
 * status, and the state read back with KVM_GET_IRQCHIP (chips 0, 1, 2),
 * KVM_GET_LAPIC (TMCCT zeroed), KVM_GET_VCPU_EVENTS and IA32_APIC_BASE is
 * compared after every operation.
 *
 * Usage: test_kvm_diff [-s SEED] [-n COUNT] [--only I] [-v] [--self] [--facts]
 *                      [--family NAME] [--rtables N] [--irqfd-random N]
 *   -s SEED     seed of the random sequences (default 0x5eed)
 *   -n COUNT    number of random sequences (default 2000)
 *   --only I    run only random sequence I (with its operation log)
 *   -v          print every operation and both results
 *   --self      compare the kernel with itself (checks the harness)
 *   --facts     print what the kernel returns for the hand-written cases
 *               (with IOAPIC/PIC irr and LAPIC IRR after each read-back)
 *   --family F  run only the family F (reset, caps, errno, lines, msi,
 *               mpstate, routing, irqfd, irqfd-random, rtables, random)
 *   --rtables N       sequences of random routing tables (default 300)
 *   --irqfd-random N  random irqfd sequences (default 40)
 *   --mask P    triage: drop divergences whose operation or detail line
 *               contains P (e.g. "PPR", "APIC_BASE=0x100") so that the next
 *               cause shows; a run with masks never passes
 *
 * Families: "rtables" builds random KVM_SET_GSI_ROUTING tables, valid and
 * with defects, in full, split (various reserved pins, with and without
 * the x2APIC API) and no-irqchip VMs, and drives lines and MSIs through the
 * table in force after each; "irqfd" binds real eventfds (one per side)
 * with KVM_IRQFD and compares the state once both sides settled (see
 * settle_from()); "irqfd-random" mixes both.
 *
 * Exit: 0 no divergence, 1 divergences, 77 /dev/kvm unusable (skip).
 */
#include "kvmops.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
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
	bool keep_going;   /* the difference leaves no trace: the sequence goes on */
} allow_list[] = {
	/*
	 * docs/kvm-differences.md "Scope: virq is the interrupt subsystem only",
	 * Capabilities: caps outside interrupt delivery read 0 in virq.  Only
	 * the value 0 is allowed, and only for these caps.
	 */
#define NOT_IRQ_CAP(name) { "KVM_CHECK_EXTENSION " name, "virq 0\n", \
	"kvm-differences.md, Capabilities: not interrupt delivery, reads 0 in virq", false }
	NOT_IRQ_CAP("HLT"), NOT_IRQ_CAP("USER_MEMORY"), NOT_IRQ_CAP("PIT"),
	NOT_IRQ_CAP("IOEVENTFD"), NOT_IRQ_CAP("DEBUGREGS"), NOT_IRQ_CAP("XSAVE"),
	NOT_IRQ_CAP("XCRS"), NOT_IRQ_CAP("NOP_IO_DELAY"), NOT_IRQ_CAP("SET_GUEST_DEBUG"),
	NOT_IRQ_CAP("READONLY_MEM"), NOT_IRQ_CAP("GET_MSR_FEATURES"),
	NOT_IRQ_CAP("PMU_EVENT_FILTER"), NOT_IRQ_CAP("EXCEPTION_PAYLOAD"),
	NOT_IRQ_CAP("IMMEDIATE_EXIT"), NOT_IRQ_CAP("ENABLE_CAP"), NOT_IRQ_CAP("MCE"),
	NOT_IRQ_CAP("DISABLE_QUIRKS"), NOT_IRQ_CAP("HALT_POLL"),
	NOT_IRQ_CAP("COALESCED_MMIO"), NOT_IRQ_CAP("SYNC_MMU"),
#undef NOT_IRQ_CAP
	/* Same document: REINJECT_CONTROL belongs to the PIT, which virq does
	 * not model. */
	{ "KVM_CHECK_EXTENSION REINJECT_CONTROL", "virq 0\n",
	  "kvm-differences.md, Capabilities: PIT ioctl, not interrupt routing", false },
	/*
	 * docs/kvm-differences.md, irqfd: virq accepts resampling irqfds with
	 * the split irqchip (the kernel refuses them with EINVAL before any
	 * other check, so virq's later checks may answer instead).
	 */
	{ "KVM_IRQFD split-resample: ", "    return: kernel -1/EINVAL virq ",
	  "kvm-differences.md, irqfd: resamplefd accepted in split mode", false },
	/* Same section: a write of 0 wakes the kernel's irqfd (it injects); virq
	 * cannot see it. */
	{ "after eventfd write 0: ", "kernel ",
	  "kvm-differences.md, irqfd: a write of 0 injects in the kernel only", false },
	/* Same section: already signalled at assign, virq consumes the count;
	 * the kernel leaves it in the eventfd (the next signal reads it). */
	{ "(signalled at assign) counter", "    result: kernel ",
	  "kvm-differences.md, irqfd: already signalled at assign, count consumed", true },
	/* Same section: closing the descriptor given to KVM_IRQFD detaches in
	 * virq even while a dup keeps the eventfd open; the kernel's binding
	 * lives as long as the file. */
	{ "after closing the bound descriptor: ", "kernel ",
	  "kvm-differences.md, irqfd: closing the bound descriptor detaches", false },
	{ NULL, NULL, NULL, false },
};

/* ---------------------------------------------------------------------- */
/* Global state                                                            */
/* ---------------------------------------------------------------------- */

static const struct kvm_backend *B[2];
static bool g_verbose, g_facts, g_self;
static uint64_t g_seed = 0x5eed;
static unsigned g_rtables = 300;   /* sequences of the rtables family */
static unsigned g_irqfd_random = 40; /* sequences of the irqfd-random family */

struct family_stats {
	unsigned seqs, ops, divs, allowed, masked;
};

/* --mask PATTERN: triage aid, see usage(). */
#define MAX_MASKS 16
static const char *g_masks[MAX_MASKS];
static int g_nmasks;
static struct family_stats g_total, g_fam;

/* Prefixed to the text of every operation while set (see the allow-list). */
static const char *g_op_tag = "";

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
			if (!seq.stateless && !a->keep_going)
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
	R(KVM_GET_VCPU_MMAP_SIZE); R(KVM_IRQFD); R(KVM_GET_MP_STATE); R(KVM_SET_MP_STATE);
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
/* Large enough for a KVM_SET_GSI_ROUTING table of KVM_MAX_IRQ_ROUTES + 1 entries. */
#define PIOCTL_BUF (256 * 1024)

static struct kres vpioctl(struct pair *p, enum target t, int idx, unsigned long req,
			   void *arg, void *arg1, size_t len, unsigned flags, const char *fmt,
			   va_list ap) __attribute__((format(printf, 9, 0)));

static struct kres pioctl(struct pair *p, enum target t, int idx, unsigned long req,
			  void *arg, size_t len, unsigned flags, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));
static struct kres pioctl(struct pair *p, enum target t, int idx, unsigned long req,
			  void *arg, size_t len, unsigned flags, const char *fmt, ...)
{
	va_list ap;
	struct kres r;

	va_start(ap, fmt);
	r = vpioctl(p, t, idx, req, arg, NULL, len, flags, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * As pioctl(), but the virq side gets its own argument @arg1 (same length):
 * for KVM_IRQFD, whose eventfds are different descriptors on the two sides.
 */
static struct kres pioctl2(struct pair *p, enum target t, int idx, unsigned long req,
			   void *arg, void *arg1, size_t len, unsigned flags, const char *fmt, ...)
	__attribute__((format(printf, 9, 10)));
static struct kres pioctl2(struct pair *p, enum target t, int idx, unsigned long req,
			   void *arg, void *arg1, size_t len, unsigned flags, const char *fmt, ...)
{
	va_list ap;
	struct kres r;

	va_start(ap, fmt);
	r = vpioctl(p, t, idx, req, arg, arg1, len, flags, fmt, ap);
	va_end(ap);
	return r;
}

static struct kres vpioctl(struct pair *p, enum target t, int idx, unsigned long req,
			   void *arg, void *arg1, size_t len, unsigned flags, const char *fmt,
			   va_list ap)
{
	static uint8_t buf[2][PIOCTL_BUF];
	struct kres r[2];
	char desc[320];
	int n;

	if (t == T_VCPU)
		n = snprintf(desc, sizeof desc, "%svcpu%d: ", g_op_tag, idx);
	else
		n = snprintf(desc, sizeof desc, "%s%s: ", g_op_tag, t == T_SYS ? "sys" : "vm");
	n += snprintf(desc + n, sizeof desc - n, "%s", req_name(req));
	if (fmt && *fmt) {
		n += snprintf(desc + n, sizeof desc - n, " ");
		vsnprintf(desc + n, sizeof desc - n, fmt, ap);
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
		void *a = i && arg1 ? arg1 : arg;
		if (!(flags & P_VAL) && len) {
			if (len > PIOCTL_BUF)
				abort();
			memcpy(buf[i], a, len);
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
		if (req == KVM_GET_MP_STATE && r[0].ret == 0)
			printf("  mp_state %u", ((struct kvm_mp_state *)buf[0])->mp_state);
		if (req == KVM_GET_MSRS && r[0].ret >= 1)
			printf("  data 0x%llx", (unsigned long long)((struct kvm_msrs *)buf[0])->entries[0].data);
		if (g_facts && req == KVM_GET_IRQCHIP && r[0].ret == 0) {
			const struct kvm_irqchip *c = (const void *)buf[0];
			if (c->chip_id == 2) {
				uint32_t rirr = 0;
				for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
					rirr |= (uint32_t)((c->chip.ioapic.redirtbl[i].bits >> 14) & 1) << i;
				printf("  irr 0x%06x remote-irr 0x%06x", c->chip.ioapic.irr, rirr);
			} else if (c->chip_id < 2) {
				printf("  irr 0x%02x", c->chip.pic.irr);
			}
		}
		if (g_facts && req == KVM_GET_LAPIC && r[0].ret == 0) {
			const struct kvm_lapic_state *l = (const void *)buf[0];
			printf("  IRR");
			for (unsigned v = 0; v < 256; v++)
				if (lapic_reg(l, 0x200 + (v / 32) * 16) & (1u << (v % 32)))
					printf(" 0x%02x", v);
		}
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

static void kb_forget_pair(const struct pair *p);

static void pair_destroy(struct pair *p)
{
	kb_forget_pair(p);
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

static struct timespec g_fam_t0;

static void family_begin(const char *name)
{
	seq.family = name;
	memset(&g_fam, 0, sizeof g_fam);
	clock_gettime(CLOCK_MONOTONIC, &g_fam_t0);
}

static void family_end(void)
{
	printf("family %-8s: %5u sequences, %7u operations, %u divergences", seq.family,
	       g_fam.seqs, g_fam.ops, g_fam.divs);
	if (g_fam.allowed)
		printf(", %u allowed differences", g_fam.allowed);
	if (g_fam.masked)
		printf(", %u masked (--mask)", g_fam.masked);
	{
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		printf(" (%.1f s)\n", (double)(t.tv_sec - g_fam_t0.tv_sec) +
					 (t.tv_nsec - g_fam_t0.tv_nsec) / 1e9);
	}
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

/* ---------------------------------------------------------------------- */
/* INIT, STARTUP and the MP state                                          */
/* ---------------------------------------------------------------------- */

/* KVM_GET_MP_STATE: takes pending INIT/SIPI first, then compares. */
static struct kres get_mp(struct pair *p, int v)
{
	struct kvm_mp_state mp = { .mp_state = 0xdead };

	return pioctl(p, T_VCPU, v, KVM_GET_MP_STATE, &mp, sizeof mp, P_CMP_OUT, "%s", "");
}

static struct kres set_mp(struct pair *p, int v, uint32_t state)
{
	struct kvm_mp_state mp = { .mp_state = state };

	return pioctl(p, T_VCPU, v, KVM_SET_MP_STATE, &mp, sizeof mp, 0, "%u", state);
}

/* Physical-destination MSI with data @data (delivery mode in 10:8). */
static void msi_to(struct pair *p, uint32_t dest, uint32_t data)
{
	signal_msi(p, 0xfee00000 | dest << 12, 0, data, 0);
}

static void get_all_mp(struct pair *p)
{
	for (int v = 0; v < p->m[0].nvcpus; v++)
		get_mp(p, v);
}

static struct kres set_events(struct pair *p, int v, struct kvm_vcpu_events *e, const char *what)
{
	return pioctl(p, T_VCPU, v, KVM_SET_VCPU_EVENTS, e, sizeof *e, 0, "%s", what);
}

static void mp_init_sipi_seq(enum km_irqchip mode)
{
	struct km_shape s = shape(mode, 3);
	struct kvm_vcpu_events e;
	struct pair p;

	seq_begin("init sipi %s", km_shape_str(&s));
	if (!pair_create(&p, &s))
		return;
	get_all_mp(&p);
	/* AP: INIT is latched until GET_MP_STATE takes it, then SIPI. */
	msi_to(&p, 1, 0x500);
	compare_state(&p, true);
	get_mp(&p, 1);
	compare_state(&p, true);
	msi_to(&p, 1, 0x612);
	compare_state(&p, true);
	get_mp(&p, 1);
	compare_state(&p, true);
	/* STARTUP while RUNNABLE: dropped, and gone for a later INIT. */
	msi_to(&p, 1, 0x613);
	get_mp(&p, 1);
	msi_to(&p, 1, 0x500);
	get_mp(&p, 1);
	/* INIT supersedes a STARTUP not yet taken. */
	msi_to(&p, 1, 0x620);
	msi_to(&p, 1, 0x500);
	get_mp(&p, 1);
	/* INIT and STARTUP together; an MSI "de-assert" is still an INIT. */
	msi_to(&p, 1, 0x500);
	msi_to(&p, 1, 0x634);
	get_mp(&p, 1);
	msi_to(&p, 1, 0x8500);
	compare_state(&p, true);
	get_mp(&p, 1);
	/* BSP: LAPIC and event state reset by INIT, STARTUP dropped. */
	lapic_enable(&p, 0, 0, 0x01000000, 0xffffffff, 0x20);
	msi_to(&p, 0, 0x45);
	msi_to(&p, 0, 0xc046);
	pioctl(&p, T_VCPU, 0, KVM_NMI, NULL, 0, P_VAL, "%s", "");
	memset(&e, 0, sizeof e);
	pioctl(&p, T_VCPU, 0, KVM_GET_VCPU_EVENTS, &e, sizeof e, P_CMP_OUT, "%s", "");
	e.nmi.masked = 1;
	e.interrupt.injected = 1;
	e.interrupt.nr = 0x33;
	e.exception.injected = 1;
	e.exception.nr = 13;
	set_events(&p, 0, &e, "nmi masked, interrupt 0x33, #GP");
	compare_state(&p, true);
	msi_to(&p, 0, 0x500);
	msi_to(&p, 0, 0x677);
	compare_state(&p, true);
	get_mp(&p, 0);
	compare_state(&p, true);
	/* The BSP is whoever has IA32_APIC_BASE.BSP now. */
	set_apic_base(&p, 0, 0xfee00800);
	msi_to(&p, 0, 0x500);
	get_mp(&p, 0);
	set_apic_base(&p, 1, 0xfee00900);
	msi_to(&p, 1, 0x500);
	get_mp(&p, 1);
	compare_state(&p, true);
	/* Interrupts to a vCPU waiting for SIPI stay in the IRR. */
	msi_to(&p, 2, 0x500);
	get_mp(&p, 2);
	msi_to(&p, 2, 0x46);
	lapic_enable(&p, 2, 2, 0x04000000, 0xffffffff, 0);
	msi_to(&p, 2, 0x47);
	pioctl(&p, T_VCPU, 2, KVM_NMI, NULL, 0, P_VAL, "%s", "");
	get_mp(&p, 2);
	compare_state(&p, true);
	msi_to(&p, 2, 0x600);
	get_mp(&p, 2);
	compare_state(&p, true);
	pair_destroy(&p);
}

static void mp_set_seq(enum km_irqchip mode)
{
	struct km_shape s = shape(mode, 3);
	struct kvm_vcpu_events e;
	struct pair p;

	seq_begin("set mp state %s", km_shape_str(&s));
	if (!pair_create(&p, &s))
		return;
	for (uint32_t st = 0; st <= 12; st++) {
		set_mp(&p, 1, st);
		get_mp(&p, 1);
	}
	set_mp(&p, 1, 0xffffffff);
	get_mp(&p, 1);
	pioctl(&p, T_VCPU, 1, KVM_SET_MP_STATE, NULL, 0, P_VAL, "NULL");
	pioctl(&p, T_VCPU, 1, KVM_GET_MP_STATE, NULL, 0, P_VAL, "NULL");
	compare_state(&p, true);
	if (mode == KM_IRQCHIP_NONE) {
		pair_destroy(&p);
		return;
	}
	/* SIPI_RECEIVED with the vector KVM_SET_VCPU_EVENTS gave (never
	 * read back: GET_VCPU_EVENTS reports sipi_vector 0). */
	memset(&e, 0, sizeof e);
	pioctl(&p, T_VCPU, 2, KVM_GET_VCPU_EVENTS, &e, sizeof e, P_CMP_OUT, "%s", "");
	e.flags = KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	e.sipi_vector = 0x9a;
	set_events(&p, 2, &e, "sipi_vector 0x9a");
	pioctl(&p, T_VCPU, 2, KVM_GET_VCPU_EVENTS, &e, sizeof e, P_CMP_OUT, "%s", "");
	set_mp(&p, 2, KVM_MP_STATE_SIPI_RECEIVED);
	compare_state(&p, true);
	get_mp(&p, 2);
	set_mp(&p, 2, KVM_MP_STATE_SIPI_RECEIVED);
	set_mp(&p, 2, KVM_MP_STATE_RUNNABLE);
	get_mp(&p, 2);
	/* A pending INIT outlives SET_MP_STATE; GET with NULL takes it. */
	msi_to(&p, 1, 0x500);
	set_mp(&p, 1, KVM_MP_STATE_RUNNABLE);
	compare_state(&p, true);
	pioctl(&p, T_VCPU, 1, KVM_GET_MP_STATE, NULL, 0, P_VAL, "NULL (takes the INIT)");
	compare_state(&p, true);
	get_mp(&p, 1);
	/* SMM refused in wait-for-SIPI (and without SMM anyway). */
	memset(&e, 0, sizeof e);
	pioctl(&p, T_VCPU, 1, KVM_GET_VCPU_EVENTS, &e, sizeof e, P_CMP_OUT, "%s", "");
	e.flags = KVM_VCPUEVENT_VALID_SMM;
	e.smi.smm = 1;
	set_events(&p, 1, &e, "smm in INIT_RECEIVED");
	/* Latched INIT by KVM_SET_VCPU_EVENTS, taken by GET_MP_STATE. */
	e.smi.smm = 0;
	e.smi.latched_init = 1;
	set_events(&p, 2, &e, "latched_init");
	compare_state(&p, true);
	get_mp(&p, 2);
	compare_state(&p, true);
	/* PV kick (delivery mode 3) of a HALTED or AP_RESET_HOLD vCPU. */
	set_mp(&p, 1, KVM_MP_STATE_HALTED);
	get_mp(&p, 1);
	msi_to(&p, 1, 0x300);
	get_mp(&p, 1);
	get_mp(&p, 1);
	set_mp(&p, 1, KVM_MP_STATE_HALTED);
	get_mp(&p, 1);
	set_mp(&p, 1, KVM_MP_STATE_RUNNABLE);
	set_mp(&p, 1, KVM_MP_STATE_HALTED);
	get_mp(&p, 1);
	set_mp(&p, 1, KVM_MP_STATE_AP_RESET_HOLD);
	msi_to(&p, 1, 0x300);
	get_mp(&p, 1);
	msi_to(&p, 1, 0x500);
	get_mp(&p, 1);
	set_mp(&p, 1, KVM_MP_STATE_HALTED);
	get_mp(&p, 1);
	compare_state(&p, true);
	pair_destroy(&p);
}

/* INIT in x2APIC mode: APIC_BASE, the x2APIC ID and LDR stay. */
static void mp_x2apic_seq(enum km_irqchip mode)
{
	struct km_shape s = shape(mode, 3);
	struct pair p;

	s.cpuid = KM_CPUID_X2APIC;
	s.x2apic_api = true;
	s.x2apic_flags = 3;
	seq_begin("init x2apic %s", km_shape_str(&s));
	if (!pair_create(&p, &s))
		return;
	for (int v = 0; v < 3; v++)
		set_apic_base(&p, v, 0xfee00c00 | (v == 0 ? 0x100 : 0));
	for (int v = 0; v < 3; v++) {
		struct kvm_lapic_state l;

		if (get_lapic(&p, v, &l).ret < 0)
			continue;
		lapic_set_reg(&l, 0xf0, 0x1ff);
		lapic_set_reg(&l, 0x80, 0x30);
		pioctl(&p, T_VCPU, v, KVM_SET_LAPIC, &l, sizeof l, 0, "enable (x2apic)");
	}
	msi_to(&p, 1, 0x500);
	msi_to(&p, 2, 0x500);
	msi_to(&p, 2, 0x655);
	compare_state(&p, true);
	get_all_mp(&p);
	compare_state(&p, true);
	msi_to(&p, 1, 0x657);
	signal_msi(&p, 0xfee00000, 0x100, 0x500, 0); /* x2APIC ID 256: nobody */
	get_all_mp(&p);
	compare_state(&p, true);
	pair_destroy(&p);
}

static void fam_mpstate(void)
{
	static const enum km_irqchip modes[] = { KM_IRQCHIP_NONE, KM_IRQCHIP_FULL, KM_IRQCHIP_SPLIT };

	family_begin("mpstate");
	for (size_t m = 0; m < 3; m++) {
		if (modes[m] != KM_IRQCHIP_NONE) {
			mp_init_sipi_seq(modes[m]);
			mp_x2apic_seq(modes[m]);
		}
		mp_set_seq(modes[m]);
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

/*
 * The state a sequence starts from: a hash of (seed, family, index), so that
 * neighbouring sequences do not share a stream shifted by one draw.
 */
static void rng_seed(uint64_t family, uint64_t index)
{
	rng_state = g_seed ^ family * 0xd1b54a32d192ed03ull;
	rng_state = rnd() ^ index;
	rng_state = rnd();
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

/* KVM_GET_MP_STATE (takes pending INIT/SIPI) or KVM_SET_MP_STATE. */
static void rnd_mp(struct pair *p, int v)
{
	static const uint32_t states[] = { 0, 0, 1, 2, 3, 4, 9 };
	struct kvm_mp_state mp = { .mp_state = 0xdead };

	if (chance(60)) {
		pioctl(p, T_VCPU, v, KVM_GET_MP_STATE, &mp, sizeof mp, P_CMP_OUT, "%s", "");
		return;
	}
	mp.mp_state = chance(90) ? states[rn(7)] : rn(12);
	pioctl(p, T_VCPU, v, KVM_SET_MP_STATE, &mp, sizeof mp, 0, "%u", mp.mp_state);
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

/* ---------------------------------------------------------------------- */
/* Random routing tables (family "rtables", and the random sequences)      */
/* ---------------------------------------------------------------------- */

#define RT_MAX 4096 /* KVM_MAX_IRQ_ROUTES */

struct rtable {
	struct kvm_irq_routing h;
	struct kvm_irq_routing_entry e[RT_MAX + 1];
};

/* What the table generator knows about the VM. */
struct rt_ctx {
	enum km_irqchip mode;
	bool x2fmt;            /* X2APIC_API with USE_32BIT_IDS: x2APIC-format MSI addresses */
	int nvcpus;
	const uint32_t *ids;
	uint32_t max_entries;  /* largest valid table to build */
};

/* A generated table: @count entries present in memory, h.nr may differ. */
struct rt_info {
	uint32_t count;
	size_t len;
	char kind[96];
};

/* Defects a bad table carries (all of them -1/EINVAL in the kernel, or not). */
enum rt_defect {
	RTD_GSI_RANGE, RTD_PIC_PIN, RTD_IOAPIC_PIN, RTD_CHIP, RTD_IRQCHIP_FLAGS, RTD_MSI_FLAGS,
	RTD_TYPE, RTD_DUP_SAME_CHIP, RTD_DUP_IRQCHIP_MSI, RTD_DUP_MSI_MSI, RTD_MSI_X2_LOWBYTE,
	RTD_HDR_FLAGS, RTD_NR_OVER, RTD_NR_HUGE, RTD_IRQCHIP_IN_SPLIT, RTD_COUNT
};

static const char *const rt_defect_name[RTD_COUNT] = {
	"gsi>=4096", "pic pin>=8", "ioapic pin>=24", "chip>=3", "irqchip flags", "msi flags",
	"unknown type", "dup same chip", "dup irqchip+msi", "dup msi+msi",
	"msi address_hi low byte", "header flags", "nr 4097", "nr huge", "irqchip entry",
};

/* Routed GSIs and MSI routes of a table, to drive lines and MSIs through. */
struct rt_track {
	uint32_t gsi[48];
	int ngsi;
	struct kvm_irq_routing_entry msi[16];
	int nmsi;
};

static uint32_t rt_rnd_gsi(void)
{
	uint32_t r = rn(100);

	if (r < 55)
		return rn(24);
	if (r < 82)
		return 24 + rn(40);
	if (r < 90)
		return RT_MAX - 8 + rn(8);
	return rn(RT_MAX);
}

static void rt_msi_entry(struct kvm_irq_routing_entry *e, const struct rt_ctx *c)
{
	static const uint32_t dms[] = { 0, 0, 0, 0, 0, 1, 1, 4, 2, 5, 6, 7, 3 };
	uint32_t dest, r = rn(100);
	bool logical = false;

	if (r < 50 && c->nvcpus)
		dest = c->ids[rn((uint32_t)c->nvcpus)];
	else if (r < 62)
		dest = (uint32_t)c->nvcpus + rn(8);
	else if (r < 72)
		dest = 0xff;
	else if (r < 88) {
		dest = chance(70) ? 1u << rn(8) : rn(256);
		logical = true;
	} else {
		dest = chance(50) ? rn(256) : (uint32_t)rnd();
	}
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = 0xfee00000 | (dest & 0xff) << 12 | (logical ? 4 : 0) |
			      (chance(20) ? 8 : 0);
	if (chance(3))
		e->u.msi.address_lo = (chance(50) ? 0xfed00000 : (uint32_t)rnd() & ~0xff3u) |
				      (dest & 0xff) << 12;
	e->u.msi.address_hi = 0;
	if (c->x2fmt ? chance(60) : chance(8))
		e->u.msi.address_hi = dest & 0xffffff00;  /* x2APIC format: dest[31:8] */
	if (chance(6))
		e->u.msi.address_hi = rn(8) << 8;
	if (!c->x2fmt && chance(5))
		e->u.msi.address_hi |= 1 + rn(255);        /* ignored without the x2APIC API */
	e->u.msi.data = rnd_vector() | dms[rn(13)] << 8 | (chance(20) ? 0x8000 : 0) |
			(chance(80) ? 0x4000 : 0);
	if (chance(10)) {
		e->flags = KVM_MSI_VALID_DEVID;
		e->u.msi.devid = (uint32_t)rnd();
	} else if (chance(5)) {
		e->u.msi.devid = (uint32_t)rnd();          /* ignored without VALID_DEVID */
	}
}

static void rt_irqchip_entry(struct kvm_irq_routing_entry *e, uint32_t chip)
{
	uint32_t gsi = e->gsi;

	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->flags = 0;
	memset(&e->u, 0, sizeof e->u);
	e->u.irqchip.irqchip = chip;
	if (chip == 2)
		e->u.irqchip.pin = chance(60) && gsi < 24 ? gsi : rn(24);
	else
		e->u.irqchip.pin = chance(60) && gsi < 16 && (gsi >= 8) == (chip == 1) ? gsi & 7 : rn(8);
}

/* Garbage where the kernel reads nothing: the entry's pad, unused union words. */
static void rt_garbage(struct kvm_irq_routing_entry *e)
{
	e->pad = (uint32_t)rnd();
	for (int w = e->type == KVM_IRQ_ROUTING_MSI ? 4 : 2; w < 8; w++)
		e->u.pad[w] = (uint32_t)rnd();
}

static int rt_entry_str(char *b, size_t len, const struct kvm_irq_routing_entry *e)
{
	static const char *const chips[] = { "pic0", "pic1", "ioapic" };
	int n;

	if (e->type == KVM_IRQ_ROUTING_IRQCHIP) {
		if (e->u.irqchip.irqchip < 3)
			n = snprintf(b, len, "%u:%s/%u", e->gsi, chips[e->u.irqchip.irqchip],
				     e->u.irqchip.pin);
		else
			n = snprintf(b, len, "%u:chip%u/%u", e->gsi, e->u.irqchip.irqchip,
				     e->u.irqchip.pin);
	} else if (e->type == KVM_IRQ_ROUTING_MSI) {
		n = snprintf(b, len, "%u:msi %x:%x/%x", e->gsi, e->u.msi.address_hi,
			     e->u.msi.address_lo, e->u.msi.data);
	} else {
		n = snprintf(b, len, "%u:type%u", e->gsi, e->type);
	}
	if (e->flags && n >= 0 && (size_t)n < len)
		n += snprintf(b + n, len - n, "/f%x", e->flags);
	return n;
}

/* "3:ioapic/3 40:msi 0:fee01000/4041 ..." (as much as fits in @len). */
static void rt_table_str(char *b, size_t len, const struct rtable *t, uint32_t count)
{
	size_t n = 0;

	b[0] = 0;
	for (uint32_t i = 0; i < count && n + 40 < len; i++) {
		n += snprintf(b + n, len - n, "%s", i ? " " : "");
		n += (size_t)rt_entry_str(b + n, len - n, &t->e[i]);
	}
	if (n + 40 >= len && count)
		snprintf(b + n, len - n, " ...");
}

static void rt_track_from(struct rt_track *tr, const struct rtable *t, uint32_t count)
{
	/* Large tables: a random sample. */
	uint32_t lim = count > 48 ? 96 : count;

	memset(tr, 0, sizeof *tr);
	for (uint32_t k = 0; k < lim; k++) {
		const struct kvm_irq_routing_entry *e = &t->e[count > 48 ? rn(count) : k];
		bool seen = false;
		for (int j = 0; j < tr->ngsi; j++)
			seen |= tr->gsi[j] == e->gsi;
		if (!seen && tr->ngsi < 48)
			tr->gsi[tr->ngsi++] = e->gsi;
		if (e->type == KVM_IRQ_ROUTING_MSI && tr->nmsi < 16)
			tr->msi[tr->nmsi++] = *e;
	}
}

/* The kernel's default table: GSI 0-15 PIC + IOAPIC, 16-23 IOAPIC (full); empty otherwise. */
static void rt_track_default(struct rt_track *tr, enum km_irqchip mode)
{
	memset(tr, 0, sizeof *tr);
	if (mode == KM_IRQCHIP_FULL)
		for (uint32_t g = 0; g < 24; g++)
			tr->gsi[tr->ngsi++] = g;
}

/* Append an entry (defects only); false when the table is full. */
static struct kvm_irq_routing_entry *rt_append(struct rtable *t, uint32_t *count)
{
	struct kvm_irq_routing_entry *e;

	if (*count > RT_MAX)
		return NULL;
	e = &t->e[(*count)++];
	memset(e, 0, sizeof *e);
	return e;
}

/* Index of an entry of @type (0: any), or -1. */
static int rt_find(const struct rtable *t, uint32_t count, uint32_t type)
{
	uint32_t start = count ? rn(count) : 0;

	for (uint32_t k = 0; k < count; k++) {
		uint32_t i = (start + k) % count;
		if (!type || t->e[i].type == type)
			return (int)i;
	}
	return -1;
}

static void rt_defect(struct rtable *t, const struct rt_ctx *c, uint32_t *count, enum rt_defect d)
{
	static const uint32_t bad_types[] = { 0, KVM_IRQ_ROUTING_S390_ADAPTER, KVM_IRQ_ROUTING_HV_SINT,
					      KVM_IRQ_ROUTING_XEN_EVTCHN, 6, 99, 0xffffffff };
	struct kvm_irq_routing_entry *e, *a;
	int i;

	switch (d) {
	case RTD_HDR_FLAGS:
		t->h.flags = chance(50) ? 1 : 1u << rn(32);
		return;
	case RTD_NR_OVER:
		while (*count <= RT_MAX) {
			e = rt_append(t, count);
			e->gsi = (*count - 1) & (RT_MAX - 1);
			rt_msi_entry(e, c);
		}
		t->h.nr = RT_MAX + 1;
		return;
	case RTD_NR_HUGE: {
		static const uint32_t huge[] = { 0x10000, 0x80000000, 0xffffffff, 0x10000000, 0x1001 };
		t->h.nr = huge[rn(5)];
		return;
	}
	default:
		break;
	}
	if (*count == 0) {
		e = rt_append(t, count);
		e->gsi = rn(24);
		rt_msi_entry(e, c);
	}
	e = &t->e[rn(*count)];
	switch (d) {
	case RTD_GSI_RANGE: {
		static const uint32_t g[] = { RT_MAX, RT_MAX + 1, 0x80000000, 0xffffffff, 0x10000 };
		e->gsi = g[rn(5)];
		break;
	}
	case RTD_PIC_PIN: {
		uint32_t pin = chance(60) ? 8 + rn(8) : chance(50) ? 16 + rn(240) : 0xffffffff;
		rt_irqchip_entry(e, rn(2));
		e->u.irqchip.pin = pin;
		break;
	}
	case RTD_IOAPIC_PIN: {
		uint32_t pin = chance(60) ? 24 + rn(8) : chance(50) ? 32 + rn(200) : 0xffffffff;
		rt_irqchip_entry(e, 2);
		e->u.irqchip.pin = pin;
		break;
	}
	case RTD_CHIP:
		rt_irqchip_entry(e, chance(60) ? 3 : chance(50) ? 4 + rn(100) : 0xffffffff);
		break;
	case RTD_IRQCHIP_FLAGS:
		if (e->type != KVM_IRQ_ROUTING_IRQCHIP)
			rt_irqchip_entry(e, 2);
		e->flags = chance(50) ? KVM_MSI_VALID_DEVID : 1u << rn(32);
		break;
	case RTD_MSI_FLAGS: {
		static const uint32_t f[] = { 2, 4, KVM_MSI_VALID_DEVID | 2, 0x80000000, 0xffffffff };
		if (e->type != KVM_IRQ_ROUTING_MSI) {
			memset(&e->u, 0, sizeof e->u);
			rt_msi_entry(e, c);
		}
		e->flags = f[rn(5)];
		break;
	}
	case RTD_TYPE:
		e->type = bad_types[rn(7)];
		e->flags = 0;
		memset(&e->u, 0, sizeof e->u);
		if (e->type == KVM_IRQ_ROUTING_HV_SINT) {
			e->u.hv_sint.vcpu = 0;
			e->u.hv_sint.sint = 1;
		} else if (e->type == KVM_IRQ_ROUTING_XEN_EVTCHN) {
			e->u.xen_evtchn.port = 1;
			e->u.xen_evtchn.vcpu = 0;
			e->u.xen_evtchn.priority = KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL;
		}
		break;
	case RTD_DUP_SAME_CHIP:
		i = rt_find(t, *count, KVM_IRQ_ROUTING_IRQCHIP);
		a = rt_append(t, count);
		if (!a)
			break;
		if (i >= 0) {
			*a = t->e[i];
			if (chance(50))
				rt_irqchip_entry(a, a->u.irqchip.irqchip);
		} else {
			a->gsi = rn(24);
			rt_irqchip_entry(a, 2);
			if ((a = rt_append(t, count)) != NULL)
				*a = t->e[*count - 2];
		}
		break;
	case RTD_DUP_IRQCHIP_MSI:
		i = rt_find(t, *count, 0);
		a = rt_append(t, count);
		if (!a)
			break;
		a->gsi = t->e[i].gsi;
		if (t->e[i].type == KVM_IRQ_ROUTING_IRQCHIP)
			rt_msi_entry(a, c);
		else
			rt_irqchip_entry(a, chance(70) ? 2 : rn(2));
		break;
	case RTD_DUP_MSI_MSI:
		i = rt_find(t, *count, KVM_IRQ_ROUTING_MSI);
		a = rt_append(t, count);
		if (!a)
			break;
		a->gsi = i >= 0 ? t->e[i].gsi : e->gsi;
		rt_msi_entry(a, c);
		if (i < 0) {
			e->flags = 0;
			memset(&e->u, 0, sizeof e->u);
			rt_msi_entry(e, c);
		}
		break;
	case RTD_MSI_X2_LOWBYTE:
		if (e->type != KVM_IRQ_ROUTING_MSI) {
			memset(&e->u, 0, sizeof e->u);
			e->flags = 0;
			rt_msi_entry(e, c);
		}
		e->u.msi.address_hi |= 1 + rn(255);
		break;
	case RTD_IRQCHIP_IN_SPLIT:
		rt_irqchip_entry(e, chance(70) ? 2 : rn(2));
		break;
	default:
		break;
	}
}

/*
 * Build a random table: valid with probability 100 - @bad_pct, otherwise
 * with one or two defects (which the kernel may or may not reject: the
 * x2APIC low-byte rule, for one, needs USE_32BIT_IDS).
 */
static void rt_generate(struct rtable *t, const struct rt_ctx *c, unsigned bad_pct, struct rt_info *ri)
{
	static uint8_t used[RT_MAX];  /* bit0 PIC master, bit1 PIC slave, bit2 IOAPIC, bit3 MSI */
	uint32_t want, n = 0, r = rn(100);
	bool big;
	size_t kl;

	memset(used, 0, sizeof used);
	memset(&t->h, 0, sizeof t->h);
	if (r < 5)
		want = 0;
	else if (r < 55)
		want = 1 + rn(8);
	else if (r < 97 || c->max_entries <= 64)
		want = 9 + rn(32);
	else
		want = chance(50) ? c->max_entries : 65 + rn(c->max_entries - 64);
	if (want > c->max_entries)
		want = c->max_entries;
	big = want > 64;
	for (uint32_t i = 0; n < want && i < 2 * want + 8; i++) {
		struct kvm_irq_routing_entry *e = &t->e[n];
		uint32_t gsi;

		memset(e, 0, sizeof *e);
		if (big)
			gsi = n;
		else if (n && chance(15))
			gsi = t->e[rn(n)].gsi;   /* a second route on a GSI */
		else
			gsi = rt_rnd_gsi();
		e->gsi = gsi;
		if (c->mode == KM_IRQCHIP_FULL && chance(big ? 30 : 55)) {
			uint32_t chip = gsi < 16 && chance(50) ? (gsi >= 8) : chance(80) ? 2 : rn(2);
			if (used[gsi] & 8)
				continue;
			for (int k = 0; k < 3 && (used[gsi] & (1u << chip)); k++)
				chip = (chip + 1) % 3;
			if (used[gsi] & (1u << chip))
				continue;
			rt_irqchip_entry(e, chip);
			used[gsi] |= 1u << chip;
		} else {
			if (used[gsi])
				continue;
			rt_msi_entry(e, c);
			used[gsi] |= 8;
		}
		if (chance(8))
			rt_garbage(e);
		n++;
	}
	t->h.nr = n;
	ri->count = n;
	kl = (size_t)snprintf(ri->kind, sizeof ri->kind, "%u entries", n);
	if (chance(bad_pct)) {
		int nd = chance(80) ? 1 : 2;
		bool huge = false;
		for (int d = 0; d < nd; d++) {
			enum rt_defect def = (enum rt_defect)rn(RTD_COUNT);
			if (def == RTD_NR_OVER && c->max_entries < RT_MAX)
				def = RTD_NR_HUGE;
			huge |= def == RTD_NR_HUGE;
			rt_defect(t, c, &ri->count, def);
			if (kl < sizeof ri->kind)
				kl += (size_t)snprintf(ri->kind + kl, sizeof ri->kind - kl, "%s%s",
						       d ? ", " : "; bad: ", rt_defect_name[def]);
		}
		if (!huge)
			t->h.nr = ri->count;
	}
	ri->len = sizeof t->h + (size_t)ri->count * sizeof t->e[0];
}

static struct kres rt_set(struct pair *p, struct rtable *t, const struct rt_info *ri)
{
	char ents[200];

	rt_table_str(ents, sizeof ents, t, ri->count);
	if (g_verbose && ri->count > 4 && !seq.diverged) {
		printf("  table (%s), nr %u flags 0x%x:\n   ", ri->kind, t->h.nr, t->h.flags);
		for (uint32_t i = 0; i < ri->count && i < 256; i++) {
			char b[64];
			rt_entry_str(b, sizeof b, &t->e[i]);
			printf(" %s%s", b, i % 8 == 7 ? "\n   " : "");
		}
		printf("%s\n", ri->count > 256 ? " ..." : "");
	}
	return pioctl(p, T_VM, 0, KVM_SET_GSI_ROUTING, t, ri->len, 0, "nr %u flags 0x%x (%s) [%s]",
		      t->h.nr, t->h.flags, ri->kind, ents);
}

static uint64_t rt_rte(const struct rt_ctx *c)
{
	static const uint64_t dms[] = { 0, 0, 0, 0, 0, 0, 1, 1, 4, 7, 2, 5 };
	uint64_t e = 0x30 + rn(0xc0), dest;
	bool level = chance(40), logical = chance(20);

	e |= dms[rn(12)] << 8;
	e |= (uint64_t)logical << 11;
	e |= (uint64_t)chance(10) << 13;
	e |= (uint64_t)level << 15;
	e |= (uint64_t)chance(15) << 16;
	if (logical)
		dest = chance(70) ? 1u << rn(8) : rn(256);
	else if (chance(75) && c->nvcpus)
		dest = c->ids[rn((uint32_t)c->nvcpus)] & 0xff;
	else
		dest = chance(50) ? 0xff : rn(16);
	return e | dest << 56;
}

/* Zero IRR, ISR and TMR of vCPU @v (nothing EOIs without a guest). */
static void lapic_clear_irr(struct pair *p, int v)
{
	struct kvm_lapic_state l;

	if (get_lapic(p, v, &l).ret < 0)
		return;
	memset(l.regs + 0x100, 0, 0x180);
	pioctl(p, T_VCPU, v, KVM_SET_LAPIC, &l, sizeof l, 0, "clear IRR/ISR/TMR");
}

/* Clear every Remote IRR bit of the IOAPIC (pins in irr are re-injected). */
static void ioapic_clear_rirr(struct pair *p)
{
	struct kvm_irqchip c;

	if (get_irqchip(p, 2, &c).ret < 0)
		return;
	for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		c.chip.ioapic.redirtbl[i].bits &= ~(1ull << 14);
	pioctl(p, T_VM, 0, KVM_SET_IRQCHIP, &c, sizeof c, 0, "ioapic clear remote IRR (irr 0x%x)",
	       c.chip.ioapic.irr);
}

static uint32_t rt_pick_gsi(const struct rt_track *act, const struct rt_track *tried)
{
	static const uint32_t extra[] = { RT_MAX - 1, RT_MAX, 0xffffffff, 24, 63, 64 };
	uint32_t r = rn(100);

	if (r < 40 && act->ngsi)
		return act->gsi[rn((uint32_t)act->ngsi)];
	if (r < 70 && tried->ngsi)
		return tried->gsi[rn((uint32_t)tried->ngsi)];
	if (r < 85)
		return rn(24);
	if (r < 93)
		return 24 + rn(40);
	return extra[rn(6)];
}

/* Lines and MSIs through the table in force, compared after every step. */
static void rt_drive(struct pair *p, const struct rt_ctx *c, const struct rt_track *act,
		     const struct rt_track *tried, unsigned nops)
{
	int n = p->m[0].nvcpus;

	for (unsigned i = 0; i < nops && !seq.diverged; i++) {
		uint32_t r = rn(100), gsi = rt_pick_gsi(act, tried);

		if (r < 42) {
			static const uint32_t odd[] = { 2, 0x80000000, 0xffffffff };
			uint32_t level = chance(55) ? (chance(90) ? 1 : odd[rn(3)]) : 0;
			irq_line(p, gsi, level, chance(85), NULL);
		} else if (r < 58) {
			irq_line(p, gsi, 1, true, NULL);
			irq_line(p, gsi, 0, true, NULL);
		} else if (r < 78) {
			const struct rt_track *tr = chance(60) ? act : tried;
			if (tr->nmsi && chance(85)) {
				const struct kvm_irq_routing_entry *e = &tr->msi[rn((uint32_t)tr->nmsi)];
				signal_msi(p, e->u.msi.address_lo, e->u.msi.address_hi, e->u.msi.data,
					   e->flags & KVM_MSI_VALID_DEVID);
			} else {
				rnd_msi(p);
			}
		} else if (r < 85) {
			if (c->mode == KM_IRQCHIP_FULL)
				ioapic_clear_rirr(p);
			else
				rnd_msi(p);
		} else if (r < 93) {
			if (c->mode != KM_IRQCHIP_NONE)
				lapic_clear_irr(p, (int)rn((uint32_t)n));
		} else {
			if (c->mode == KM_IRQCHIP_FULL)
				ioapic_set_pin(p, (int)rn(24), rt_rte(c));
			else
				rnd_msi(p);
		}
		if (!seq.diverged)
			compare_state(p, chance(15));
	}
}

static void rt_shape(struct km_shape *s, bool *x2mode)
{
	static const uint32_t pins[] = { 0, 1, 8, 16, 23, 24, 32, 100, 1024, 4096 };
	uint32_t r = rn(100);

	memset(s, 0, sizeof *s);
	s->irqchip = r < 50 ? KM_IRQCHIP_FULL : r < 92 ? KM_IRQCHIP_SPLIT : KM_IRQCHIP_NONE;
	s->nvcpus = 1 + (int)rn(4);
	if (s->irqchip == KM_IRQCHIP_SPLIT && chance(70)) {
		s->split_pins_set = true;
		s->split_pins = pins[rn(10)];
	}
	if (chance(s->irqchip == KM_IRQCHIP_SPLIT ? 55 : 25)) {
		s->x2apic_api = true;
		s->x2apic_flags = 1 + rn(3);
	}
	s->cpuid = (s->x2apic_api && chance(70)) || chance(10) ? KM_CPUID_X2APIC :
		   chance(30) ? KM_CPUID_PLAIN : KM_CPUID_NONE;
	*x2mode = s->cpuid == KM_CPUID_X2APIC && s->irqchip != KM_IRQCHIP_NONE && chance(75);
	if (*x2mode && chance(40)) {
		/* x2APIC IDs beyond 8 bits: reachable only with x2APIC-format MSIs. */
		uint32_t id = 0;
		for (int i = 0; i < s->nvcpus; i++) {
			s->ids[i] = id;
			id = chance(50) ? id + 1 + rn(3) : 250 + rn(3800);
			if (id <= s->ids[i])
				id = s->ids[i] + 1;
		}
	} else if (chance(20)) {
		uint32_t id = rn(3);
		for (int i = 0; i < s->nvcpus; i++) {
			s->ids[i] = id;
			id += 1 + rn(3);
		}
	} else {
		for (int i = 0; i < s->nvcpus; i++)
			s->ids[i] = (uint32_t)i;
	}
}

/* Enable the LAPICs: xAPIC with flat or cluster logical IDs, or x2APIC mode. */
static void rt_lapics(struct pair *p, const struct km_shape *s, bool x2mode)
{
	bool cluster = chance(25);

	for (int v = 0; v < p->m[0].nvcpus; v++) {
		if (x2mode) {
			uint64_t base = 0;
			struct kvm_lapic_state l;
			get_apic_base(p, v, &base);
			set_apic_base(p, v, base | 0xc00);
			if (!chance(90) || get_lapic(p, v, &l).ret < 0)
				continue;
			lapic_set_reg(&l, 0xf0, 0x1ff);
			pioctl(p, T_VCPU, v, KVM_SET_LAPIC, &l, sizeof l, 0, "enable (x2apic)");
		} else if (chance(85)) {
			uint32_t ldr = cluster ? ((uint32_t)(v / 2 + 1) << 28) | (1u << (24 + v % 2))
					       : 1u << (24 + (v & 7));
			lapic_enable(p, v, s->ids[v] & 0xff, ldr, cluster ? 0x0fffffff : 0xffffffff,
				     chance(80) ? 0 : rn(3) * 0x20);
		}
	}
}

static void rt_sequence(uint64_t index)
{
	static struct rtable t;
	struct rt_track act, tried;
	struct km_shape s;
	struct pair p;
	bool x2mode;

	rng_seed(2, index);
	rt_shape(&s, &x2mode);
	seq_begin("#%" PRIu64 " %s%s", index, km_shape_str(&s), x2mode ? " x2apic-mode" : "");
	if (!pair_create(&p, &s))
		return;

	struct rt_ctx c = {
		.mode = s.irqchip,
		.x2fmt = s.x2apic_api && (s.x2apic_flags & 1),
		.nvcpus = p.m[0].nvcpus,
		.ids = s.ids,
		.max_entries = index % 16 == 5 ? RT_MAX : 64,
	};
	if (s.irqchip != KM_IRQCHIP_NONE)
		rt_lapics(&p, &s, x2mode);
	if (s.irqchip == KM_IRQCHIP_FULL) {
		pic_init(&p, 0x20, 0x28, chance(70) ? 0 : (uint8_t)rnd(), chance(70) ? 0 : (uint8_t)rnd(),
			 (uint8_t)(chance(50) ? 0 : rnd() & 0xf8), (uint8_t)(chance(50) ? 0 : rnd() & 0xde));
		for (int pin = 0; pin < 24; pin++)
			if (chance(80))
				ioapic_set_pin(&p, pin, rt_rte(&c));
	}
	compare_state(&p, true);
	rt_track_default(&act, s.irqchip);
	unsigned ntab = s.irqchip == KM_IRQCHIP_NONE ? 2 : 3 + rn(5);
	for (unsigned k = 0; k < ntab && !seq.diverged; k++) {
		struct rt_info ri;
		rt_generate(&t, &c, 35, &ri);
		struct kres r = rt_set(&p, &t, &ri);
		rt_track_from(&tried, &t, ri.count);
		if (r.ret == 0)
			act = tried;
		rt_drive(&p, &c, &act, &tried, s.irqchip == KM_IRQCHIP_NONE ? 3 : 4 + rn(10));
	}
	compare_state(&p, true);
	pair_destroy(&p);
}

static void fam_rtables(unsigned count)
{
	family_begin("rtables");
	for (unsigned i = 0; i < count; i++)
		rt_sequence(i);
	family_end();
}

/* A random table for the random sequences (small, 25% with defects). */
static void rnd_set_routing(struct pair *p, const struct km_shape *s, struct rt_track *tr)
{
	static struct rtable t;
	struct rt_info ri;
	struct rt_ctx c = {
		.mode = s->irqchip,
		.x2fmt = s->x2apic_api && (s->x2apic_flags & 1),
		.nvcpus = p->m[0].nvcpus,
		.ids = s->ids,
		.max_entries = 48,
	};

	rt_generate(&t, &c, 25, &ri);
	if (rt_set(p, &t, &ri).ret == 0)
		rt_track_from(tr, &t, ri.count);
}

/* ---------------------------------------------------------------------- */
/* irqfd (family "irqfd")                                                  */
/* ---------------------------------------------------------------------- */

/*
 * Each side gets its own eventfds: fd[0] is bound to the kernel's VM, fd[1]
 * to virq's.  The kernel injects from the eventfd's waker (MSI routes) or
 * from a work item (everything else); virq from its delivery thread.  So
 * after a signal the state is compared once it has settled:
 *
 * - the kernel is brought to a quiescent state first (kernel_quiesce()):
 *   deassigning an irqfd flushes its injection work, so every plain irqfd
 *   whose counter is 0 is deassigned and assigned again (invisible: the
 *   counter is 0, nothing is re-injected), and a deassign that matches
 *   nothing flushes the shutdowns that closing an eventfd queued;
 * - then both sides are read until they agree and have been still for
 *   IRQFD_QUIET_NS (IRQFD_IDLE_NS if nothing changed, or resampling irqfds
 *   exist, whose injection cannot be flushed that way), or a time limit.
 */
struct efd {
	int fd[2];
};

#define IRQFD_QUIET_NS 1000000ull          /* 1 ms without change after a change */
#define IRQFD_IDLE_NS 5000000ull           /* 5 ms without any change ... */
#define IRQFD_IDLE_RS_NS 20000000ull       /* ... 20 ms with resampling irqfds */
#define IRQFD_SETTLE_NS 200000000ull       /* give up after 200 ms ... */
#define IRQFD_PRUNE_SETTLE_NS 400000000ull /* ... 400 ms after a close */
#define IRQFD_COUNT_NS 50000000ull         /* eventfd counters: 50 ms */

/* The kernel-side bindings (per side, when that side is the kernel). */
struct kbinding {
	int vm, fd;
	uint32_t gsi;
	bool resample;
	bool written;   /* since the last kernel_quiesce() */
};
static struct kbinding g_kb[2][64];
static int g_nkb[2];
static int g_spare_efd = -1;   /* never bound: for deassigns that match nothing */

static void kb_record(int side, int vm, int fd, uint32_t gsi, uint32_t flags)
{
	if (flags & KVM_IRQFD_FLAG_DEASSIGN) {
		for (int i = 0; i < g_nkb[side]; i++)
			if (g_kb[side][i].vm == vm && g_kb[side][i].fd == fd && g_kb[side][i].gsi == gsi)
				g_kb[side][i--] = g_kb[side][--g_nkb[side]];
	} else if (g_nkb[side] < 64) {
		g_kb[side][g_nkb[side]++] = (struct kbinding){ vm, fd, gsi,
			(flags & KVM_IRQFD_FLAG_RESAMPLE) != 0, true };
	}
}

/* Eventfd @fd was written: its bindings may have injection work pending. */
static void kb_written(int side, int fd)
{
	for (int i = 0; i < g_nkb[side]; i++)
		if (g_kb[side][i].fd == fd)
			g_kb[side][i].written = true;
}

/* Forget the bindings through descriptor @fd (closed) or of VM @vm (destroyed). */
static void kb_forget(int side, int vm, int fd)
{
	if (vm < 0 && fd < 0)
		return;
	for (int i = 0; i < g_nkb[side]; i++)
		if ((vm < 0 || g_kb[side][i].vm == vm) && (fd < 0 || g_kb[side][i].fd == fd))
			g_kb[side][i--] = g_kb[side][--g_nkb[side]];
}

static void kb_forget_pair(const struct pair *p)
{
	for (int i = 0; i < 2; i++)
		if (p->m[i].vm >= 0)
			kb_forget(i, p->m[i].vm, -1);
}

static long long efd_peek(int fd);

static bool pair_has_resample(const struct pair *p)
{
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < g_nkb[i]; k++)
			if (g_kb[i][k].vm == p->m[i].vm && g_kb[i][k].resample)
				return true;
	return false;
}

/* Finish the kernel's pending irqfd work on the kernel side(s) of @p. */
static void kernel_quiesce(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		const struct machine *m = &p->m[i];
		if (m->b != &kvm_backend_kernel || m->vm < 0)
			continue;
		for (int k = 0; k < g_nkb[i]; k++) {
			struct kbinding *b = &g_kb[i][k];
			struct kvm_irqfd a;
			/* A deassign costs an RCU grace period or so: only where needed. */
			if (b->vm != m->vm || !b->written || b->resample || efd_peek(b->fd) != 0)
				continue;
			b->written = false;
			memset(&a, 0, sizeof a);
			a.fd = (uint32_t)b->fd;
			a.gsi = b->gsi;
			a.flags = KVM_IRQFD_FLAG_DEASSIGN;
			kb_ioctl(m->b, m->vm, KVM_IRQFD, &a);
			a.flags = 0;
			if (kb_ioctl(m->b, m->vm, KVM_IRQFD, &a).ret < 0)
				printf("note: %s: re-assigning irqfd %d gsi %u failed\n", m->b->name,
				       b->fd, b->gsi);
		}
		if (g_spare_efd < 0)
			g_spare_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (g_spare_efd >= 0) {
			struct kvm_irqfd a;
			memset(&a, 0, sizeof a);
			a.fd = (uint32_t)g_spare_efd;
			a.flags = KVM_IRQFD_FLAG_DEASSIGN;
			kb_ioctl(m->b, m->vm, KVM_IRQFD, &a);
		}
	}
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static bool efd_open(struct efd *e, unsigned init, int flags)
{
	for (int i = 0; i < 2; i++) {
		e->fd[i] = eventfd(init, EFD_CLOEXEC | EFD_NONBLOCK | flags);
		if (e->fd[i] < 0) {
			if (i)
				close(e->fd[0]);
			e->fd[0] = e->fd[1] = -1;
			printf("note: eventfd: %s\n", strerror(errno));
			return false;
		}
	}
	return true;
}

static void efd_close_raw(struct efd *e)
{
	for (int i = 0; i < 2; i++) {
		kb_forget(i, -1, e->fd[i]);
		if (e->fd[i] >= 0)
			close(e->fd[i]);
		e->fd[i] = -1;
	}
}

/* The counter of an eventfd, from /proc/self/fdinfo (not consumed); -1 if unknown. */
static long long efd_peek(int fd)
{
	char path[64], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long long c;
		if (sscanf(line, "eventfd-count: %llx", &c) == 1) {
			v = c > 0x7fffffff ? 0x7fffffff : (long long)c;
			break;
		}
	}
	fclose(f);
	return v;
}

/* One counted step that is not an ioctl: compare two results. */
static bool pstep(const char *what, struct kres k, struct kres v)
{
	char desc[200];

	snprintf(desc, sizeof desc, "%s%s", g_op_tag, what);
	if (seq.diverged)
		return false;
	seq.step++;
	g_fam.ops++;
	logop("%s -> %s", desc, kres_str(k));
	if (g_verbose || g_facts) {
		printf("  %-60s kernel %s", desc, kres_str(k));
		if (!g_facts)
			printf("  %s %s", B[1]->name, kres_str(v));
		printf("\n");
	}
	if (!kres_eq(k, v)) {
		char det[160];
		snprintf(det, sizeof det, "    result: kernel %s virq %s\n", kres_str(k), kres_str(v));
		diverge(desc, det);
		return false;
	}
	return true;
}

/* Everything readable about the interrupt state of one machine. */
struct snap {
	struct kvm_irqchip chip[3];
	struct kvm_lapic_state lapic[KM_MAX_VCPUS];
	struct kvm_vcpu_events ev[KM_MAX_VCPUS];
};

static void snap_take(const struct machine *m, struct snap *s)
{
	memset(s, 0, sizeof *s);
	if (m->shape.irqchip == KM_IRQCHIP_FULL)
		for (uint32_t c = 0; c < 3; c++) {
			s->chip[c].chip_id = c;
			kb_ioctl(m->b, m->vm, KVM_GET_IRQCHIP, &s->chip[c]);
		}
	for (int v = 0; v < m->nvcpus; v++) {
		if (m->vcpu[v] < 0)
			continue;
		if (m->shape.irqchip != KM_IRQCHIP_NONE) {
			kb_ioctl(m->b, m->vcpu[v], KVM_GET_LAPIC, &s->lapic[v]);
			memset(s->lapic[v].regs + LAPIC_TMCCT, 0, 4);
		}
		kb_ioctl(m->b, m->vcpu[v], KVM_GET_VCPU_EVENTS, &s->ev[v]);
	}
}

/*
 * Wait until both sides agree and have been still for a while, or
 * @limit_ns passed (the comparison that follows then reports the
 * difference).  "A while" is IRQFD_QUIET_NS once both sides changed from
 * @base (taken before the write; NULL: none), else IRQFD_IDLE_NS, so that
 * an injection that has not started yet on either side is waited for.
 * Reads only: nothing is counted.
 */
static void settle_from(struct pair *p, uint64_t limit_ns, const struct snap *base)
{
	static struct snap cur[2], prev[2];
	uint64_t idle = pair_has_resample(p) ? IRQFD_IDLE_RS_NS : IRQFD_IDLE_NS;
	uint64_t t0, still_since;
	bool have_prev = false;

	if (seq.diverged)
		return;
	kernel_quiesce(p);
	t0 = still_since = now_ns();
	for (;;) {
		uint64_t t, quiet = idle;
		bool same;

		for (int i = 0; i < 2; i++)
			snap_take(&p->m[i], &cur[i]);
		t = now_ns();
		same = !memcmp(&cur[0], &cur[1], sizeof cur[0]);
		if (base && memcmp(&cur[0], &base[0], sizeof cur[0]) &&
		    memcmp(&cur[1], &base[1], sizeof cur[1]))
			quiet = IRQFD_QUIET_NS;
		if (have_prev && same && !memcmp(&cur[0], &prev[0], sizeof cur[0]) &&
		    !memcmp(&cur[1], &prev[1], sizeof cur[1])) {
			if (t - still_since >= quiet)
				return;
		} else {
			still_since = t;
		}
		if (t - t0 >= limit_ns)
			return;
		memcpy(prev, cur, sizeof prev);
		have_prev = true;
		usleep(100);
	}
}

static void settle(struct pair *p, uint64_t limit_ns)
{
	settle_from(p, limit_ns, NULL);
}

static void compare_settled(struct pair *p, uint64_t limit_ns)
{
	settle(p, limit_ns);
	compare_state(p, true);
}

/*
 * The eventfd counters of both sides must agree (what is left unread); virq
 * reads them from its thread, so give it up to IRQFD_COUNT_NS.
 */
static void efd_compare(const struct efd *e, const char *name)
{
	char desc[96];
	uint64_t t0 = now_ns();
	struct kres k, v;

	for (;;) {
		k = (struct kres){ (int)efd_peek(e->fd[0]), 0 };
		v = (struct kres){ (int)efd_peek(e->fd[1]), 0 };
		if (k.ret == v.ret || now_ns() - t0 >= IRQFD_COUNT_NS || seq.diverged)
			break;
		usleep(100);
	}
	snprintf(desc, sizeof desc, "eventfd %s counter", name);
	pstep(desc, k, v);
}

static struct kres irqfd_raw(struct pair *p, int kfd, int vfd, uint32_t gsi, uint32_t flags,
			     int krfd, int vrfd, const uint8_t *pad, const char *what)
{
	struct kvm_irqfd a, b;

	memset(&a, 0, sizeof a);
	a.gsi = gsi;
	a.flags = flags;
	if (pad)
		memcpy(a.pad, pad, sizeof a.pad);
	b = a;
	a.fd = (uint32_t)kfd;
	b.fd = (uint32_t)vfd;
	a.resamplefd = (uint32_t)krfd;
	b.resamplefd = (uint32_t)vrfd;
	/* The allow-list recognises this prefix (docs/kvm-differences.md). */
	bool split_rs = p->m[0].shape.irqchip == KM_IRQCHIP_SPLIT &&
			(flags & (KVM_IRQFD_FLAG_RESAMPLE | KVM_IRQFD_FLAG_DEASSIGN)) ==
				KVM_IRQFD_FLAG_RESAMPLE;
	struct kres r = pioctl2(p, T_VM, 0, KVM_IRQFD, &a, &b, sizeof a, 0, "%s%s gsi %u flags 0x%x",
				split_rs ? "split-resample: " : "", what, gsi, flags);
	if (r.ret == 0)
		for (int i = 0; i < 2; i++)
			kb_record(i, p->m[i].vm, i ? vfd : kfd, gsi, flags);
	return r;
}

/* KVM_IRQFD with eventfd @e (and resamplefd @r, or none). */
static struct kres irqfd(struct pair *p, const struct efd *e, uint32_t gsi, uint32_t flags,
			 const struct efd *r, const char *what)
{
	return irqfd_raw(p, e->fd[0], e->fd[1], gsi, flags, r ? r->fd[0] : -1, r ? r->fd[1] : -1,
			 NULL, what);
}

/* write(2) @val to both sides of @e, without waiting. */
static void efd_write_nowait(const struct efd *e, uint64_t val, const char *name)
{
	struct kres r[2];
	char desc[96];

	for (int i = 0; i < 2; i++) {
		kb_written(i, e->fd[i]);
		errno = 0;
		ssize_t n = write(e->fd[i], &val, sizeof val);
		r[i].ret = (int)n;
		r[i].err = n < 0 ? errno : 0;
	}
	snprintf(desc, sizeof desc, "write eventfd %s 0x%llx", name, (unsigned long long)val);
	pstep(desc, r[0], r[1]);
}

/* Signal @e, let both sides settle, compare the state and the counter. */
static void efd_signal(struct pair *p, const struct efd *e, uint64_t val, const char *name)
{
	static struct snap base[2];

	for (int i = 0; i < 2; i++)
		snap_take(&p->m[i], &base[i]);
	efd_write_nowait(e, val, name);
	settle_from(p, IRQFD_SETTLE_NS, base);
	compare_state(p, true);
	efd_compare(e, name);
}

/* close(2) both sides of @e. */
static void efd_close(struct pair *p, struct efd *e, const char *name)
{
	struct kres r[2];
	char desc[96];

	for (int i = 0; i < 2; i++) {
		kb_forget(i, -1, e->fd[i]);
		errno = 0;
		r[i].ret = close(e->fd[i]);
		r[i].err = r[i].ret < 0 ? errno : 0;
		e->fd[i] = -1;
	}
	snprintf(desc, sizeof desc, "close eventfd %s", name);
	if (p)
		pstep(desc, r[0], r[1]);
}

/* Default IOAPIC programming of the irqfd sequences. */
static const struct {
	int pin;
	uint64_t rte;
} irqfd_pins[] = {
	{ 3, 0x0000000000000033ull },   /* edge, phys dest 0 (GSI 3: also PIC master 3) */
	{ 4, 0x0000000000000034ull },   /* edge */
	{ 5, 0x0000000000008035ull },   /* level */
	{ 6, 0x0000000000010036ull },   /* edge, masked */
	{ 7, 0x0000000000018037ull },   /* level, masked */
	{ 9, 0x010000000000a039ull },   /* level, active low, dest 1 */
	{ 10, 0x030000000000083aull },  /* edge, logical 0x03 */
	{ 11, 0xff0000000000093bull },  /* lowest priority, logical 0xff */
	{ 12, 0x0000000000000400ull },  /* NMI */
	{ 13, 0xff0000000000003dull },  /* edge, physical broadcast */
	{ 16, 0x0100000000008040ull },  /* level, dest 1 */
	{ 17, 0x0300000000000041ull },  /* edge, absent dest 3 */
	{ 18, 0x0000000000008042ull },  /* level */
};

/* LAPICs enabled (ids 0..n-1, flat logical 1 << v); IOAPIC and PIC programmed. */
static void irqfd_setup(struct pair *p)
{
	for (int v = 0; v < p->m[0].nvcpus; v++)
		lapic_enable(p, v, p->m[0].shape.ids[v] & 0xff, 1u << (24 + v), 0xffffffff, 0);
	if (p->m[0].shape.irqchip != KM_IRQCHIP_FULL)
		return;
	for (size_t i = 0; i < sizeof irqfd_pins / sizeof irqfd_pins[0]; i++)
		ioapic_set_pin(p, irqfd_pins[i].pin, irqfd_pins[i].rte);
	/* PIC: vectors 0x20/0x28, unmasked, master pin 5 level (ELCR). */
	pic_init(p, 0x20, 0x28, 0x00, 0x00, 0x20, 0x00);
}

/* A table with the default routes of GSI 0-23 plus @extra entries. */
static void irqfd_table(struct pair *p, const struct kvm_irq_routing_entry *extra, int nextra,
			bool defaults, const char *what)
{
	static struct rtable t;
	uint32_t n = 0;

	memset(&t.h, 0, sizeof t.h);
	if (defaults && p->m[0].shape.irqchip == KM_IRQCHIP_FULL) {
		for (uint32_t g = 0; g < 24; g++) {
			if (g < 16) {
				memset(&t.e[n], 0, sizeof t.e[n]);
				t.e[n].gsi = g;
				t.e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
				t.e[n].u.irqchip.irqchip = g >= 8;
				t.e[n].u.irqchip.pin = g & 7;
				n++;
			}
			memset(&t.e[n], 0, sizeof t.e[n]);
			t.e[n].gsi = g;
			t.e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			t.e[n].u.irqchip.irqchip = 2;
			t.e[n].u.irqchip.pin = g;
			n++;
		}
	}
	for (int i = 0; i < nextra; i++)
		t.e[n++] = extra[i];
	t.h.nr = n;
	pioctl(p, T_VM, 0, KVM_SET_GSI_ROUTING, &t, sizeof t.h + n * sizeof t.e[0], 0, "%s (%u entries)",
	       what, n);
}

static struct kvm_irq_routing_entry msi_route(uint32_t gsi, uint32_t addr_lo, uint32_t addr_hi,
					      uint32_t data)
{
	struct kvm_irq_routing_entry e;

	memset(&e, 0, sizeof e);
	e.gsi = gsi;
	e.type = KVM_IRQ_ROUTING_MSI;
	e.u.msi.address_lo = addr_lo;
	e.u.msi.address_hi = addr_hi;
	e.u.msi.data = data;
	return e;
}

static struct kvm_irq_routing_entry chip_route(uint32_t gsi, uint32_t chip, uint32_t pin)
{
	struct kvm_irq_routing_entry e;

	memset(&e, 0, sizeof e);
	e.gsi = gsi;
	e.type = KVM_IRQ_ROUTING_IRQCHIP;
	e.u.irqchip.irqchip = chip;
	e.u.irqchip.pin = pin;
	return e;
}

/* Descriptors that are not eventfds, the same kind on both sides. */
struct notefd {
	const char *name;
	int fd;
};

static int irqfd_notefds(struct notefd *o, int max)
{
	int n = 0, pfd[2], sv[2];

	if (max < 6)
		return 0;
	if (pipe2(pfd, O_CLOEXEC) == 0) {
		o[n++] = (struct notefd){ "pipe read end", pfd[0] };
		o[n++] = (struct notefd){ "pipe write end", pfd[1] };
	}
	if ((o[n].fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0)
		o[n++].name = "/dev/null";
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
		o[n++] = (struct notefd){ "unix socket", sv[0] };
		close(sv[1]);
	}
	if ((o[n].fd = epoll_create1(EPOLL_CLOEXEC)) >= 0)
		o[n++].name = "epoll fd";
	if ((o[n].fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) >= 0)
		o[n++].name = "timerfd";
	return n;
}

/*
 * A descriptor number that is closed, and stays closed: far above the
 * lowest free numbers, which virq's own descriptors (epoll set, dups) take
 * in the middle of a sequence.
 */
static int closed_fd(void)
{
	int fd = fcntl(0, F_DUPFD_CLOEXEC, 900);

	if (fd >= 0)
		close(fd);
	return fd >= 0 ? fd : 1000;
}

static void irqfd_errno_seq(enum km_irqchip mode)
{
	struct pair p;
	struct km_shape s = shape(mode, 1);
	struct efd a, b, r, q;
	struct notefd nf[8];
	int nnf;

	seq_begin("errno %s", km_shape_str(&s));
	if (!efd_open(&a, 0, 0) || !efd_open(&b, 0, 0) || !efd_open(&r, 0, 0) || !efd_open(&q, 0, 0))
		return;
	nnf = irqfd_notefds(nf, 8);
	if (pair_create(&p, &s)) {
		int cfd = closed_fd();
		uint8_t pad[16];

		irqfd_setup(&p);
		irqfd(&p, &a, 4, 4, NULL, "assign, flags 4");
		irqfd(&p, &a, 4, 0x80000000, NULL, "assign, flags bit 31");
		irqfd(&p, &a, 4, KVM_IRQFD_FLAG_DEASSIGN | 4, NULL, "deassign, flags 5");
		irqfd_raw(&p, -1, -1, 4, 0, -1, -1, NULL, "fd -1");
		irqfd_raw(&p, cfd, cfd, 4, 0, -1, -1, NULL, "closed fd");
		irqfd_raw(&p, 100000, 100000, 4, 0, -1, -1, NULL, "fd 100000");
		irqfd_raw(&p, 0x7fffffff, 0x7fffffff, 4, 0, -1, -1, NULL, "fd 0x7fffffff");
		for (int i = 0; i < nnf; i++) {
			irqfd_raw(&p, nf[i].fd, nf[i].fd, 4, 0, -1, -1, NULL, nf[i].name);
			irqfd_raw(&p, nf[i].fd, nf[i].fd, 4, KVM_IRQFD_FLAG_DEASSIGN, -1, -1, NULL,
				  nf[i].name);
		}
		irqfd_raw(&p, cfd, cfd, 4, KVM_IRQFD_FLAG_DEASSIGN, -1, -1, NULL, "deassign closed fd");
		irqfd_raw(&p, -1, -1, 4, KVM_IRQFD_FLAG_DEASSIGN, -1, -1, NULL, "deassign fd -1");
		irqfd(&p, &a, 4, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign, never assigned");
		if (mode == KM_IRQCHIP_SPLIT)
			goto no_resample;   /* irqfd_split_rs_seq() */
		/* Resample: bad resamplefds, before anything else is checked? */
		irqfd(&p, &a, 5, KVM_IRQFD_FLAG_RESAMPLE, NULL, "resample, resamplefd -1");
		irqfd_raw(&p, a.fd[0], a.fd[1], 5, KVM_IRQFD_FLAG_RESAMPLE, cfd, cfd, NULL,
			  "resample, closed resamplefd");
		if (nnf)
			irqfd_raw(&p, a.fd[0], a.fd[1], 5, KVM_IRQFD_FLAG_RESAMPLE, nf[0].fd, nf[0].fd,
				  NULL, "resample, pipe resamplefd");
		irqfd_raw(&p, -1, -1, 5, KVM_IRQFD_FLAG_RESAMPLE, r.fd[0], r.fd[1], NULL,
			  "resample, fd -1");
		/* The resamplefd field is ignored without the flag. */
no_resample:
		irqfd_raw(&p, b.fd[0], b.fd[1], 6, 0, cfd, cfd, NULL, "resamplefd closed, no flag");
		irqfd(&p, &b, 6, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign");
		/* pad is not checked. */
		memset(pad, 0xa5, sizeof pad);
		irqfd_raw(&p, b.fd[0], b.fd[1], 6, 0, -1, -1, pad, "pad 0xa5");
		irqfd_raw(&p, b.fd[0], b.fd[1], 6, KVM_IRQFD_FLAG_DEASSIGN, -1, -1, pad,
			  "deassign, pad 0xa5");
		/* One eventfd, one binding. */
		irqfd(&p, &a, 4, 0, NULL, "assign");
		irqfd(&p, &a, 4, 0, NULL, "same again");
		irqfd(&p, &a, 5, 0, NULL, "same eventfd, other gsi");
		if (mode != KM_IRQCHIP_SPLIT) {
			irqfd(&p, &a, 5, KVM_IRQFD_FLAG_RESAMPLE, &r, "same eventfd, resample");
			irqfd(&p, &a, 5, KVM_IRQFD_FLAG_RESAMPLE, NULL,
			      "same eventfd, resample, resamplefd -1");
		}
		irqfd(&p, &a, 5, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign, wrong gsi");
		irqfd(&p, &a, 6, 0, NULL, "still bound");
		irqfd(&p, &a, 4, KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE, NULL,
		      "deassign with the resample flag");
		irqfd(&p, &a, 4, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign again");
		irqfd(&p, &a, 7, 0, NULL, "assign elsewhere");
		irqfd(&p, &a, 7, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign");
		if (mode != KM_IRQCHIP_SPLIT) {
			/* A resamplefd may be bound as an irqfd, and be its own resamplefd. */
			irqfd(&p, &q, 8, KVM_IRQFD_FLAG_RESAMPLE, &q, "resample, resamplefd == fd");
			irqfd(&p, &r, 9, 0, NULL, "assign an eventfd used as a resamplefd elsewhere");
			irqfd(&p, &b, 10, KVM_IRQFD_FLAG_RESAMPLE, &r, "resample, shared resamplefd");
			irqfd(&p, &b, 10, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign");
		}
		/* GSIs beyond the table. */
		irqfd(&p, &b, RT_MAX - 1, 0, NULL, "gsi 4095");
		irqfd(&p, &b, RT_MAX - 1, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign");
		irqfd(&p, &b, RT_MAX, 0, NULL, "gsi 4096");
		irqfd(&p, &b, RT_MAX, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign");
		irqfd(&p, &b, 0xffffffff, 0, NULL, "gsi 0xffffffff");
		efd_signal(&p, &b, 1, "b");
		irqfd(&p, &b, 0xffffffff, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign");
		compare_settled(&p, IRQFD_SETTLE_NS);
		pair_destroy(&p);
	}
	for (int i = 0; i < nnf; i++)
		close(nf[i].fd);
	efd_close_raw(&a);
	efd_close_raw(&b);
	efd_close_raw(&r);
	efd_close_raw(&q);
}

/* Pulses through the default routes: IOAPIC edge/level/masked pins, PIC, NMI. */
static void irqfd_lines_seq(int nvcpus)
{
	static const uint32_t gsis[] = { 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 16, 17, 18, 20, 24 };
	enum { NG = sizeof gsis / sizeof gsis[0] };
	struct km_shape s = shape(KM_IRQCHIP_FULL, nvcpus);
	struct efd e[NG];
	char name[NG][16];
	struct pair p;
	int n = 0;

	seq_begin("ioapic+pic pulses %s", km_shape_str(&s));
	for (n = 0; n < NG; n++) {
		if (!efd_open(&e[n], 0, 0))
			break;
		snprintf(name[n], sizeof name[n], "gsi%u", gsis[n]);
	}
	if (n == NG && pair_create(&p, &s)) {
		irqfd_setup(&p);
		compare_state(&p, true);
		for (int i = 0; i < NG; i++)
			irqfd(&p, &e[i], gsis[i], 0, NULL, "assign");
		for (int round = 0; round < 2; round++) {
			for (int i = 0; i < NG; i++)
				efd_signal(&p, &e[i], 1, name[i]);
			/* Level pins keep Remote IRR: clear it, and the LAPICs, for round 2. */
			ioapic_clear_rirr(&p);
			for (int v = 0; v < nvcpus; v++)
				lapic_clear_irr(&p, v);
			compare_settled(&p, IRQFD_SETTLE_NS);
		}
		/* irqfd pulses share KVM_IRQ_LINE's source: a pulse lowers a raised line. */
		irq_line(&p, 5, 1, true, NULL);
		irq_line(&p, 18, 1, true, NULL);
		compare_state(&p, true);
		efd_signal(&p, &e[2], 1, "gsi5");
		efd_signal(&p, &e[12], 1, "gsi18");
		irq_line(&p, 5, 0, true, NULL);
		irq_line(&p, 18, 1, true, NULL);
		compare_state(&p, true);
		/* Unmask pin 6 and 7 (masked above): what the pulses left. */
		ioapic_set_pin(&p, 6, 0x0000000000000036ull);
		ioapic_set_pin(&p, 7, 0x0000000000008037ull);
		compare_settled(&p, IRQFD_SETTLE_NS);
		/* Large counts and several writes before anything settles. */
		efd_signal(&p, &e[1], 0xfffffffffffffffeull, "gsi4");
		efd_write_nowait(&e[0], 1, "gsi3");
		efd_write_nowait(&e[0], 2, "gsi3");
		efd_write_nowait(&e[1], 1, "gsi4");
		compare_settled(&p, IRQFD_SETTLE_NS);
		efd_compare(&e[0], "gsi3");
		efd_compare(&e[1], "gsi4");
		efd_signal(&p, &e[1], 0xfffffffffffffffeull, "gsi4");
		/* Deassigned: a write stays in the counter and injects nothing. */
		for (int i = 0; i < NG; i++)
			irqfd(&p, &e[i], gsis[i], KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign");
		ioapic_clear_rirr(&p);
		for (int v = 0; v < nvcpus; v++)
			lapic_clear_irr(&p, v);
		for (int i = 0; i < NG; i += 3)
			efd_signal(&p, &e[i], 1, name[i]);
		/* Nobody reads it any more: a write that overflows the counter fails. */
		efd_signal(&p, &e[1], 0xfffffffffffffffeull, "gsi4");
		efd_signal(&p, &e[1], 1, "gsi4");
		pair_destroy(&p);
	}
	for (int i = 0; i < n; i++)
		efd_close_raw(&e[i]);
}

/*
 * Writing 0 to an eventfd still wakes its waiters: the kernel injects, virq
 * does not (a documented difference that ends the sequence).
 */
static void irqfd_write0_seq(bool msi)
{
	struct km_shape s = shape(KM_IRQCHIP_FULL, 1);
	uint32_t gsi = msi ? 40 : 4;
	struct efd a;
	struct pair p;

	seq_begin("write 0, %s route %s", msi ? "msi" : "ioapic+pic", km_shape_str(&s));
	if (!efd_open(&a, 0, 0))
		return;
	if (pair_create(&p, &s)) {
		struct kvm_irq_routing_entry r = msi_route(40, 0xfee00000, 0, 0x4050);
		irqfd_setup(&p);
		irqfd_table(&p, &r, 1, true, "defaults + gsi 40 msi");
		irqfd(&p, &a, gsi, 0, NULL, "assign");
		efd_signal(&p, &a, 1, "a");
		lapic_clear_irr(&p, 0);
		pic_init(&p, 0x20, 0x28, 0x00, 0x00, 0x20, 0x00);
		g_op_tag = "after eventfd write 0: ";
		efd_signal(&p, &a, 0, "a");
		g_op_tag = "";
		pair_destroy(&p);
	}
	efd_close_raw(&a);
}

/* EFD_SEMAPHORE eventfds: the kernel takes one count per wakeup. */
static void irqfd_semaphore_seq(void)
{
	struct km_shape s = shape(KM_IRQCHIP_FULL, 1);
	struct efd a, b;
	struct pair p;

	seq_begin("semaphore eventfd %s", km_shape_str(&s));
	if (!efd_open(&a, 0, EFD_SEMAPHORE) || !efd_open(&b, 0, EFD_SEMAPHORE))
		return;
	if (pair_create(&p, &s)) {
		struct kvm_irq_routing_entry r = msi_route(40, 0xfee00000, 0, 0x4051);
		irqfd_setup(&p);
		irqfd_table(&p, &r, 1, true, "defaults + gsi 40 msi");
		irqfd(&p, &a, 4, 0, NULL, "assign");
		irqfd(&p, &b, 40, 0, NULL, "assign");
		efd_signal(&p, &a, 3, "gsi4");
		efd_signal(&p, &b, 3, "gsi40");
		lapic_clear_irr(&p, 0);
		efd_signal(&p, &a, 1, "gsi4");
		efd_signal(&p, &b, 1, "gsi40");
		pair_destroy(&p);
	}
	efd_close_raw(&a);
	efd_close_raw(&b);
}

/* MSI routes: every destination shape, full and split, xAPIC and x2APIC. */
static void irqfd_msi_seq(enum km_irqchip mode, bool x2)
{
	static const struct {
		uint32_t lo, hi, data;
	} msis[] = {
		{ 0xfee00000, 0, 0x4050 },   /* phys 0 */
		{ 0xfee01000, 0, 0x4051 },   /* phys 1 */
		{ 0xfee03000, 0, 0x4052 },   /* phys 3 */
		{ 0xfee05000, 0, 0x4053 },   /* absent */
		{ 0xfeeff000, 0, 0x4054 },   /* broadcast */
		{ 0xfee03004, 0, 0x4055 },   /* logical 0x03 */
		{ 0xfee0f00c, 0, 0x4156 },   /* lowest priority */
		{ 0xfee02000, 0, 0x4457 },   /* NMI */
		{ 0xfee02000, 0, 0xc058 },   /* level-triggered */
		{ 0xfee01000, 0x100, 0x4059 }, /* x2APIC format: dest 0x101 */
		{ 0xfee00000, 0x12345600, 0x405a },
		{ 0xfee02000, 0, 0x4500 },   /* INIT */
	};
	enum { NM = sizeof msis / sizeof msis[0] };
	struct km_shape s = shape(mode, 4);
	struct kvm_irq_routing_entry r[NM];
	struct efd e[NM];
	struct pair p;
	int n;

	if (x2) {
		s.cpuid = KM_CPUID_X2APIC;
		s.x2apic_api = true;
		s.x2apic_flags = 1;
		s.ids[3] = 0x101;
	}
	seq_begin("msi routes %s", km_shape_str(&s));
	for (n = 0; n < NM; n++)
		if (!efd_open(&e[n], 0, 0))
			break;
	if (n == NM && pair_create(&p, &s)) {
		if (x2) {
			for (int v = 0; v < 4; v++) {
				uint64_t base = 0;
				struct kvm_lapic_state l;
				get_apic_base(&p, v, &base);
				set_apic_base(&p, v, base | 0xc00);
				if (get_lapic(&p, v, &l).ret < 0)
					continue;
				lapic_set_reg(&l, 0xf0, v == 2 ? 0xff : 0x1ff);
				pioctl(&p, T_VCPU, v, KVM_SET_LAPIC, &l, sizeof l, 0, "x2apic, spiv");
			}
		} else {
			irqfd_setup(&p);
			/* vCPU 2 software-disabled: MSIs to it are not accepted. */
			lapic_enable(&p, 2, 2, 1u << 26, 0xffffffff, 0);
			{
				struct kvm_lapic_state l;
				if (get_lapic(&p, 2, &l).ret == 0) {
					lapic_set_reg(&l, 0xf0, 0xff);
					pioctl(&p, T_VCPU, 2, KVM_SET_LAPIC, &l, sizeof l, 0, "spiv 0xff");
				}
			}
		}
		for (int i = 0; i < NM; i++)
			r[i] = msi_route(40 + (uint32_t)i, msis[i].lo, msis[i].hi, msis[i].data);
		irqfd_table(&p, r, NM, true, "msi routes 40..");
		for (int i = 0; i < NM; i++)
			irqfd(&p, &e[i], 40 + (uint32_t)i, 0, NULL, "assign");
		for (int round = 0; round < 2; round++) {
			for (int i = 0; i < NM; i++) {
				char name[16];
				snprintf(name, sizeof name, "gsi%d", 40 + i);
				efd_signal(&p, &e[i], 1, name);
			}
			for (int v = 0; v < 4; v++)
				lapic_clear_irr(&p, v);
		}
		/* Several writes without waiting. */
		for (int i = 0; i < NM; i++)
			efd_write_nowait(&e[i], 1, "burst");
		compare_settled(&p, IRQFD_SETTLE_NS);
		pair_destroy(&p);
	}
	for (int i = 0; i < n; i++)
		efd_close_raw(&e[i]);
}

/*
 * An eventfd already signalled when it is bound injects at once.  Variant
 * 0 compares the state only, variant 1 also the counters, which the kernel
 * leaves as they were (it injects without reading them).
 */
static void irqfd_presignalled_seq(int variant)
{
	struct km_shape s = shape(KM_IRQCHIP_FULL, 2);
	struct efd a, b, c, d;
	struct pair p;
	bool counters = variant == 1;

	seq_begin("signalled at assign%s %s", counters ? ", counters" : "", km_shape_str(&s));
	if (!efd_open(&a, 1, 0) || !efd_open(&b, 3, 0) || !efd_open(&c, 2, EFD_SEMAPHORE) ||
	    !efd_open(&d, 1, 0))
		return;
	if (pair_create(&p, &s)) {
		struct kvm_irq_routing_entry r = msi_route(40, 0xfee01000, 0, 0x4060);
		irqfd_setup(&p);
		irqfd_table(&p, &r, 1, true, "defaults + gsi 40 msi");
		irqfd(&p, &a, 4, 0, NULL, "assign, counter 1");
		compare_settled(&p, IRQFD_SETTLE_NS);
		if (counters)
			efd_compare(&a, "a (signalled at assign)");
		irqfd(&p, &b, 40, 0, NULL, "assign, counter 3");
		compare_settled(&p, IRQFD_SETTLE_NS);
		if (counters)
			efd_compare(&b, "b (signalled at assign)");
		irqfd(&p, &c, 16, 0, NULL, "assign, semaphore counter 2");
		compare_settled(&p, IRQFD_SETTLE_NS);
		if (counters)
			efd_compare(&c, "c (signalled at assign)");
		irqfd(&p, &d, 5, KVM_IRQFD_FLAG_RESAMPLE, &a, "assign resample, counter 1");
		compare_settled(&p, IRQFD_SETTLE_NS);
		if (counters) {
			efd_compare(&d, "d (signalled at assign)");
			efd_compare(&a, "a as resamplefd (signalled at assign)");
		}
		/* The next write. */
		lapic_clear_irr(&p, 0);
		lapic_clear_irr(&p, 1);
		ioapic_clear_rirr(&p);
		if (counters) {
			/* The next signal reads the whole count, except for c (a semaphore). */
			efd_signal(&p, &a, 1, "a");
			efd_signal(&p, &b, 1, "b");
			efd_signal(&p, &c, 1, "c (signalled at assign)");
			efd_signal(&p, &d, 1, "d");
		} else {
			efd_write_nowait(&a, 1, "a");
			efd_write_nowait(&b, 1, "b");
			efd_write_nowait(&c, 1, "c");
			efd_write_nowait(&d, 1, "d");
			compare_settled(&p, IRQFD_SETTLE_NS);
		}
		pair_destroy(&p);
	}
	efd_close_raw(&a);
	efd_close_raw(&b);
	efd_close_raw(&c);
	efd_close_raw(&d);
}

/* The route behind a bound GSI changes. */
static void irqfd_reroute_seq(enum km_irqchip mode)
{
	struct km_shape s = shape(mode, 2);
	struct efd a, b;
	struct pair p;

	seq_begin("routing changes while bound %s", km_shape_str(&s));
	if (!efd_open(&a, 0, 0) || !efd_open(&b, 0, 0))
		return;
	if (pair_create(&p, &s)) {
		bool full = mode == KM_IRQCHIP_FULL;
		struct kvm_irq_routing_entry r[3];

		irqfd_setup(&p);
		irqfd(&p, &a, 50, 0, NULL, "assign (unrouted)");
		irqfd(&p, &b, 5, 0, NULL, "assign");
		efd_signal(&p, &a, 1, "gsi50");
		efd_signal(&p, &b, 1, "gsi5");
		r[0] = msi_route(50, 0xfee00000, 0, 0x4070);
		irqfd_table(&p, r, 1, true, "gsi 50 -> msi 0x70");
		efd_signal(&p, &a, 1, "gsi50");
		r[0] = msi_route(50, 0xfee01000, 0, 0x4071);
		r[1] = msi_route(5, 0xfee01000, 0, 0x4072);
		irqfd_table(&p, r, 2, false, "gsi 50 -> msi 0x71, gsi 5 -> msi 0x72, no defaults");
		efd_signal(&p, &a, 1, "gsi50");
		efd_signal(&p, &b, 1, "gsi5");
		if (full) {
			r[0] = chip_route(50, 2, 4);
			r[1] = chip_route(50, 0, 4);
			irqfd_table(&p, r, 2, true, "gsi 50 -> ioapic 4 + pic master 4");
			efd_signal(&p, &a, 1, "gsi50");
			r[0] = chip_route(50, 2, 18);
			irqfd_table(&p, r, 1, true, "gsi 50 -> ioapic 18 (level)");
			efd_signal(&p, &a, 1, "gsi50");
			ioapic_clear_rirr(&p);
		}
		/* A rejected table leaves the old one in force. */
		r[0] = msi_route(50, 0xfee00000, 0, 0x4073);
		r[1] = msi_route(50, 0xfee00000, 0, 0x4074);
		irqfd_table(&p, r, 2, true, "gsi 50 twice (rejected)");
		efd_signal(&p, &a, 1, "gsi50");
		irqfd_table(&p, NULL, 0, false, "empty");
		efd_signal(&p, &a, 1, "gsi50");
		efd_signal(&p, &b, 1, "gsi5");
		r[0] = msi_route(50, 0xfeeff000, 0, 0x4075);
		irqfd_table(&p, r, 1, true, "gsi 50 -> broadcast 0x75");
		efd_signal(&p, &a, 1, "gsi50");
		efd_signal(&p, &b, 1, "gsi5");
		/* A routing change between a write and the settling. */
		lapic_clear_irr(&p, 0);
		lapic_clear_irr(&p, 1);
		efd_write_nowait(&a, 1, "gsi50");
		compare_settled(&p, IRQFD_SETTLE_NS);
		r[0] = msi_route(50, 0xfee00000, 0, 0x4076);
		irqfd_table(&p, r, 1, true, "gsi 50 -> msi 0x76");
		efd_signal(&p, &a, 1, "gsi50");
		pair_destroy(&p);
	}
	efd_close_raw(&a);
	efd_close_raw(&b);
}

/* Closing the eventfd detaches it (the kernel sees EPOLLHUP when the file goes). */
static void irqfd_close_seq(void)
{
	struct km_shape s = shape(KM_IRQCHIP_FULL, 2);
	struct efd a, b, c, d, rs, e;
	struct pair p;

	seq_begin("close %s", km_shape_str(&s));
	if (!efd_open(&a, 0, 0) || !efd_open(&b, 0, 0) || !efd_open(&d, 0, 0) || !efd_open(&rs, 0, 0) ||
	    !efd_open(&e, 0, 0))
		return;
	if (pair_create(&p, &s)) {
		struct kvm_irq_routing_entry r = msi_route(41, 0xfee01000, 0, 0x4080);
		irqfd_setup(&p);
		irqfd_table(&p, &r, 1, true, "defaults + gsi 41 msi");
		irqfd(&p, &a, 4, 0, NULL, "assign");
		irqfd(&p, &b, 41, 0, NULL, "assign");
		efd_signal(&p, &a, 1, "a");
		efd_close(&p, &a, "a");
		efd_close(&p, &b, "b");
		compare_settled(&p, IRQFD_PRUNE_SETTLE_NS);
		/* A new eventfd (probably with the same number) on the same GSIs. */
		if (efd_open(&c, 0, 0)) {
			irqfd(&p, &c, 4, 0, NULL, "assign new eventfd");
			lapic_clear_irr(&p, 0);
			efd_signal(&p, &c, 1, "c");
			irqfd(&p, &c, 4, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign");
			irqfd(&p, &c, 41, 0, NULL, "assign new eventfd elsewhere");
			efd_signal(&p, &c, 1, "c");
			efd_close_raw(&c);
		}
		/* Resampling irqfd: closing its eventfd lowers the level it holds. */
		irqfd(&p, &e, 5, KVM_IRQFD_FLAG_RESAMPLE, &rs, "assign resample");
		efd_signal(&p, &e, 1, "e");
		efd_close(&p, &rs, "resamplefd");
		compare_settled(&p, IRQFD_PRUNE_SETTLE_NS);
		efd_close(&p, &e, "e");
		compare_settled(&p, IRQFD_PRUNE_SETTLE_NS);
		pair_destroy(&p);
	}
	efd_close_raw(&a);
	efd_close_raw(&b);
	efd_close_raw(&d);
	efd_close_raw(&rs);
	efd_close_raw(&e);
}

/*
 * dup(): closing the descriptor that was bound leaves the file open through
 * the dup; the kernel's binding follows the file (it goes when the file is
 * released), not the number.
 */
static void irqfd_dup_seq(void)
{
	struct km_shape s = shape(KM_IRQCHIP_FULL, 2);
	struct efd d, dd;
	struct pair p;

	seq_begin("close, dup keeps the file %s", km_shape_str(&s));
	if (!efd_open(&d, 0, 0))
		return;
	for (int i = 0; i < 2; i++)
		dd.fd[i] = dup(d.fd[i]);
	if (pair_create(&p, &s)) {
		struct kvm_irq_routing_entry r = msi_route(41, 0xfee01000, 0, 0x4081);
		irqfd_setup(&p);
		irqfd_table(&p, &r, 1, true, "defaults + gsi 41 msi");
		irqfd(&p, &d, 41, 0, NULL, "assign");
		efd_signal(&p, &dd, 1, "dup of d");
		lapic_clear_irr(&p, 1);
		efd_close(&p, &d, "d");
		g_op_tag = "after closing the bound descriptor: ";
		compare_settled(&p, IRQFD_PRUNE_SETTLE_NS);
		/* virq prunes about every 100 ms: wait for that. */
		usleep(250000);
		efd_signal(&p, &dd, 1, "dup of d");
		irqfd(&p, &dd, 41, 0, NULL, "assign the dup (same file)");
		lapic_clear_irr(&p, 1);
		efd_signal(&p, &dd, 1, "dup of d");
		irqfd(&p, &dd, 41, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign by the dup");
		lapic_clear_irr(&p, 1);
		efd_signal(&p, &dd, 1, "dup of d");
		g_op_tag = "";
		pair_destroy(&p);
	}
	efd_close_raw(&d);
	efd_close_raw(&dd);
}

/* Resampling irqfds in full mode: what shows without a guest to EOI. */
static void irqfd_resample_seq(int variant)
{
	struct km_shape s = shape(KM_IRQCHIP_FULL, 2);
	struct efd e1, e2, e3, e4, e5, e6, r1, r2;
	struct pair p;

	seq_begin("resample %d %s", variant, km_shape_str(&s));
	if (!efd_open(&e1, 0, 0) || !efd_open(&e2, 0, 0) || !efd_open(&e3, 0, 0) ||
	    !efd_open(&e4, 0, 0) || !efd_open(&e5, 0, 0) || !efd_open(&e6, 0, 0) ||
	    !efd_open(&r1, 0, 0) || !efd_open(&r2, 0, 0))
		return;
	if (pair_create(&p, &s)) {
		struct kvm_irq_routing_entry r[3];

		irqfd_setup(&p);
		r[0] = msi_route(44, 0xfee00000, 0, 0xc090);
		r[1] = chip_route(33, 0, 5);   /* PIC master 5 only (level by ELCR) */
		r[2] = chip_route(34, 2, 16);  /* IOAPIC 16 only (level) */
		irqfd_table(&p, r, 3, true, "defaults + 44 msi + 33 pic + 34 ioapic");
		irqfd(&p, &e1, 5, KVM_IRQFD_FLAG_RESAMPLE, &r1, "resample gsi 5 (level)");
		irqfd(&p, &e2, 5, KVM_IRQFD_FLAG_RESAMPLE, &r2, "second resample gsi 5");
		irqfd(&p, &e3, 4, KVM_IRQFD_FLAG_RESAMPLE, &r1, "resample gsi 4 (edge)");
		irqfd(&p, &e4, 44, KVM_IRQFD_FLAG_RESAMPLE, &r2, "resample gsi 44 (msi)");
		irqfd(&p, &e5, 33, KVM_IRQFD_FLAG_RESAMPLE, &r1, "resample gsi 33 (pic)");
		irqfd(&p, &e6, 34, 0, NULL, "plain gsi 34");
		efd_signal(&p, &e1, 1, "e1");
		efd_compare(&r1, "r1");
		irq_line(&p, 5, 1, true, NULL);
		irq_line(&p, 5, 0, true, NULL);
		compare_state(&p, true);
		efd_signal(&p, &e2, 1, "e2");
		efd_signal(&p, &e3, 1, "e3");
		irq_line(&p, 4, 1, true, NULL);
		irq_line(&p, 4, 0, true, NULL);
		efd_signal(&p, &e4, 1, "e4");
		efd_signal(&p, &e5, 1, "e5");
		efd_signal(&p, &e5, 1, "e5");
		efd_compare(&r1, "r1");
		efd_compare(&r2, "r2");
		if (variant == 0) {
			/* Remote IRR cleared by KVM_SET_IRQCHIP: the held level re-delivers. */
			lapic_clear_irr(&p, 0);
			ioapic_clear_rirr(&p);
			compare_settled(&p, IRQFD_SETTLE_NS);
			/* Deassigning one of two keeps the level; the last one drops it. */
			irqfd(&p, &e1, 5, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign e1");
			compare_settled(&p, IRQFD_SETTLE_NS);
			irqfd(&p, &e2, 5, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign e2");
			compare_settled(&p, IRQFD_SETTLE_NS);
			irqfd(&p, &e5, 33, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign e5");
			compare_settled(&p, IRQFD_SETTLE_NS);
			/* Again, and a plain irqfd pulse on the held line. */
			irqfd(&p, &e1, 5, KVM_IRQFD_FLAG_RESAMPLE, &r1, "resample gsi 5 again");
			efd_signal(&p, &e1, 1, "e1");
			irqfd(&p, &e2, 5, 0, NULL, "plain gsi 5");
			efd_signal(&p, &e2, 1, "e2 (plain)");
			irq_line(&p, 5, 1, true, NULL);
			compare_state(&p, true);
		} else {
			/* The route changes under a held level. */
			r[0] = chip_route(5, 2, 18);
			r[1] = chip_route(34, 2, 7);
			irqfd_table(&p, r, 2, false, "gsi 5 -> ioapic 18, 34 -> ioapic 7, no defaults");
			efd_signal(&p, &e1, 1, "e1");
			efd_signal(&p, &e6, 1, "e6");
			ioapic_set_pin(&p, 7, 0x0000000000008037ull);
			compare_settled(&p, IRQFD_SETTLE_NS);
			irqfd(&p, &e1, 5, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign e1");
			irqfd(&p, &e2, 5, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign e2 (last)");
			compare_settled(&p, IRQFD_SETTLE_NS);
			irqfd(&p, &e3, 4, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign e3 (unrouted now)");
			compare_settled(&p, IRQFD_SETTLE_NS);
			irq_line(&p, 5, 0, true, NULL);
			irq_line(&p, 4, 0, true, NULL);
			compare_state(&p, true);
		}
		efd_compare(&r1, "r1");
		efd_compare(&r2, "r2");
		pair_destroy(&p);
	}
	efd_close_raw(&e1);
	efd_close_raw(&e2);
	efd_close_raw(&e3);
	efd_close_raw(&e4);
	efd_close_raw(&e5);
	efd_close_raw(&e6);
	efd_close_raw(&r1);
	efd_close_raw(&r2);
}

/*
 * The kernel's resampler "deasserts" with kvm_set_irq(RESAMPLE_SOURCE, gsi,
 * 0) when its last irqfd goes - also when a resampling assign fails after
 * joining the resampler (EBUSY is checked after that).  The IOAPIC then
 * re-evaluates the pin with the other sources' level: a line held high by
 * KVM_IRQ_LINE on a pin that was turned from edge to level (irr reads 0)
 * is delivered there.  Variant 0: failed assign (EBUSY), 1: assign and
 * deassign, 2: failed assign on a GSI with a resampler already.
 */
static void irqfd_resampler_lower_seq(int variant)
{
	struct km_shape s = shape(KM_IRQCHIP_FULL, 1);
	struct efd a, b, r;
	struct pair p;

	seq_begin("resampler deassert re-evaluates the pin %d %s", variant, km_shape_str(&s));
	if (!efd_open(&a, 0, 0) || !efd_open(&b, 0, 0) || !efd_open(&r, 0, 0))
		return;
	if (pair_create(&p, &s)) {
		irqfd_setup(&p);
		ioapic_set_pin(&p, 3, 0x0000000000000053ull);   /* edge */
		irq_line(&p, 3, 1, true, NULL);                 /* delivered; line stays high */
		ioapic_set_pin(&p, 3, 0x0000000000008054ull);   /* level now, irr reads 0 */
		compare_state(&p, true);
		irqfd(&p, &a, 7, 0, NULL, "plain gsi 7");
		if (variant == 2)
			irqfd(&p, &b, 3, KVM_IRQFD_FLAG_RESAMPLE, &r, "resample gsi 3");
		if (variant == 1) {
			irqfd(&p, &b, 3, KVM_IRQFD_FLAG_RESAMPLE, &r, "resample gsi 3");
			compare_settled(&p, IRQFD_SETTLE_NS);
			irqfd(&p, &b, 3, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign (the last resampler irqfd)");
		} else {
			irqfd(&p, &a, 3, KVM_IRQFD_FLAG_RESAMPLE, &r, "resample gsi 3, busy eventfd");
		}
		compare_settled(&p, IRQFD_SETTLE_NS);
		pair_destroy(&p);
	}
	efd_close_raw(&a);
	efd_close_raw(&b);
	efd_close_raw(&r);
}

/*
 * A write just before deassign: the kernel's waker has taken the count and
 * deassign flushes the injection, so it is never lost.  Eight bindings
 * (four MSI routes, four IOAPIC edge pins, distinct vectors) per round, so
 * that a lost injection shows in the LAPIC IRR.
 */
static void irqfd_deassign_pending_seq(void)
{
	enum { NB = 8, ROUNDS = 64 };
	static const uint32_t gsis[NB] = { 40, 41, 42, 43, 3, 4, 10, 13 };
	struct km_shape s = shape(KM_IRQCHIP_FULL, 1);
	struct efd e[NB];
	struct pair p;
	int n;

	seq_begin("write then deassign %s", km_shape_str(&s));
	for (n = 0; n < NB; n++)
		if (!efd_open(&e[n], 0, 0))
			break;
	if (n == NB && pair_create(&p, &s)) {
		struct kvm_irq_routing_entry r[4];
		for (int i = 0; i < 4; i++)
			r[i] = msi_route(gsis[i], 0xfee00000, 0, 0x40a0 + (uint32_t)i);
		irqfd_setup(&p);
		ioapic_set_pin(&p, 10, 0x000000000000003aull);   /* edge, dest 0 */
		ioapic_set_pin(&p, 13, 0x000000000000003dull);
		irqfd_table(&p, r, 4, true, "defaults + msi 40-43");
		for (int round = 0; round < ROUNDS && !seq.diverged; round++) {
			for (int i = 0; i < NB; i++)
				irqfd(&p, &e[i], gsis[i], 0, NULL, "assign");
			/* Odd rounds: all writes first (the delivery thread is busy then). */
			for (int i = 0; i < NB; i++) {
				efd_write_nowait(&e[i], 1, "e");
				if (round % 2 == 0)
					irqfd(&p, &e[i], gsis[i], KVM_IRQFD_FLAG_DEASSIGN, NULL,
					      "deassign at once");
			}
			for (int i = 0; i < NB && round % 2; i++)
				irqfd(&p, &e[i], gsis[i], KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign at once");
			/* No settling: deassign promises the injection happened. */
			compare_state(&p, false);
			for (int i = 0; i < NB; i++)
				efd_compare(&e[i], "e");
			lapic_clear_irr(&p, 0);
			pic_init(&p, 0x20, 0x28, 0x00, 0x00, 0x20, 0x00);
		}
		pair_destroy(&p);
	}
	for (int i = 0; i < n; i++)
		efd_close_raw(&e[i]);
}

/* One eventfd, two VMs: since 2025 the kernel refuses the second (EBUSY). */
static void irqfd_two_vms_seq(void)
{
	struct km_shape s = shape(KM_IRQCHIP_FULL, 1);
	struct efd a;
	struct pair p, q;

	seq_begin("two VMs %s", km_shape_str(&s));
	if (!efd_open(&a, 0, 0))
		return;
	if (pair_create(&p, &s)) {
		if (pair_create(&q, &s)) {
			irqfd_setup(&p);
			irqfd_setup(&q);
			irqfd(&p, &a, 4, 0, NULL, "VM 1: assign");
			irqfd(&q, &a, 4, 0, NULL, "VM 2: assign the same eventfd");
			irqfd(&q, &a, 4, KVM_IRQFD_FLAG_DEASSIGN, NULL, "VM 2: deassign (not bound there)");
			efd_signal(&p, &a, 1, "a");
			compare_settled(&q, IRQFD_SETTLE_NS);
			irqfd(&p, &a, 4, KVM_IRQFD_FLAG_DEASSIGN, NULL, "VM 1: deassign");
			irqfd(&q, &a, 4, 0, NULL, "VM 2: assign");
			efd_signal(&q, &a, 1, "a");
			compare_settled(&p, IRQFD_SETTLE_NS);
			/* The VM goes away with the binding: the eventfd is free again. */
			pair_destroy(&q);
			irqfd(&p, &a, 4, 0, NULL, "VM 1: assign after VM 2 is gone");
			efd_signal(&p, &a, 1, "a");
		}
		pair_destroy(&p);
	}
	efd_close_raw(&a);
}

/* Split irqchip: MSI routes only; resampling is where virq differs on purpose. */
static void irqfd_split_seq(void)
{
	struct km_shape s = shape(KM_IRQCHIP_SPLIT, 2);
	struct efd a, b, r;
	struct pair p;

	seq_begin("split %s", km_shape_str(&s));
	if (!efd_open(&a, 0, 0) || !efd_open(&b, 0, 0) || !efd_open(&r, 0, 0))
		return;
	if (pair_create(&p, &s)) {
		struct kvm_irq_routing_entry rt[2] = {
			msi_route(5, 0xfee01000, 0, 0x40b0),
			msi_route(6, 0xfee00000, 0, 0xc0b1),
		};
		irqfd_setup(&p);
		irqfd(&p, &a, 5, 0, NULL, "assign (empty table)");
		efd_signal(&p, &a, 1, "a");
		irqfd_table(&p, rt, 2, false, "msi 5, 6");
		efd_signal(&p, &a, 1, "a");
		pair_destroy(&p);
	}
	efd_close_raw(&a);
	efd_close_raw(&b);
	efd_close_raw(&r);
}

/*
 * Resampling irqfds in split mode: the kernel refuses them (EINVAL before
 * any other check), virq accepts them on purpose.  Each case is the last
 * operation of its sequence (an allowed difference ends a sequence).
 */
static void irqfd_split_rs_seq(int variant)
{
	struct km_shape s = shape(KM_IRQCHIP_SPLIT, 1);
	struct efd a, r;
	struct pair p;

	seq_begin("split resample %d %s", variant, km_shape_str(&s));
	if (!efd_open(&a, 0, 0) || !efd_open(&r, 0, 0))
		return;
	if (pair_create(&p, &s)) {
		struct kvm_irq_routing_entry rt = msi_route(6, 0xfee00000, 0, 0xc0b2);
		irqfd_setup(&p);
		irqfd_table(&p, &rt, 1, false, "msi 6");
		switch (variant) {
		case 0:
			irqfd(&p, &a, 6, KVM_IRQFD_FLAG_RESAMPLE, &r, "resample");
			break;
		case 1:
			irqfd(&p, &a, 6, KVM_IRQFD_FLAG_RESAMPLE, NULL, "resample, resamplefd -1");
			break;
		default:
			irqfd_raw(&p, -1, -1, 6, KVM_IRQFD_FLAG_RESAMPLE, r.fd[0], r.fd[1], NULL,
				  "resample, fd -1");
			break;
		}
		pair_destroy(&p);
	}
	efd_close_raw(&a);
	efd_close_raw(&r);
}

/*
 * Random irqfd sequences: bindings (plain and resampling) come and go,
 * routing tables change under them, eventfds are written and closed, lines
 * are raised; the settled state is compared after every step.  Counters
 * are drained before each assign (an eventfd already signalled at assign
 * is a documented difference, covered above).
 */
static void irqfd_random_sequence(uint64_t index)
{
	enum { NE = 6, NR = 2 };
	static const uint32_t gsis[] = { 3, 4, 5, 9, 10, 16, 18, 40, 41, 42, 43, 50 };
	static struct rtable t;
	struct efd e[NE], rs[NR];
	uint32_t bound[NE];   /* gsi + 1 of the kernel's binding, 0 if none */
	struct rt_track act, tried;
	struct km_shape s;
	struct pair p;
	int ne = 0, nr = 0;

	rng_seed(3, index);
	s = shape(chance(70) ? KM_IRQCHIP_FULL : KM_IRQCHIP_SPLIT, 1 + (int)rn(3));
	if (chance(20)) {
		s.x2apic_api = true;
		s.x2apic_flags = 1 + rn(3);
	}
	seq_begin("#%" PRIu64 " %s", index, km_shape_str(&s));
	for (ne = 0; ne < NE; ne++)
		if (!efd_open(&e[ne], 0, 0))
			goto out;
	for (nr = 0; nr < NR; nr++)
		if (!efd_open(&rs[nr], 0, 0))
			goto out;
	memset(bound, 0, sizeof bound);
	if (!pair_create(&p, &s))
		goto out;

	bool full = s.irqchip == KM_IRQCHIP_FULL;
	struct rt_ctx c = {
		.mode = s.irqchip,
		.x2fmt = s.x2apic_api && (s.x2apic_flags & 1),
		.nvcpus = p.m[0].nvcpus,
		.ids = s.ids,
		.max_entries = 24,
	};
	for (int v = 0; v < p.m[0].nvcpus; v++)
		lapic_enable(&p, v, s.ids[v], 1u << (24 + v), 0xffffffff, 0);
	if (full) {
		pic_init(&p, 0x20, 0x28, 0, 0, (uint8_t)(rnd() & 0xf8), (uint8_t)(rnd() & 0xde));
		for (int pin = 0; pin < 24; pin++)
			if (chance(80))
				ioapic_set_pin(&p, pin, rt_rte(&c));
	}
	{
		/* Defaults plus MSI routes on 40-43. */
		struct kvm_irq_routing_entry r[4];
		for (int k = 0; k < 4; k++) {
			memset(&r[k], 0, sizeof r[k]);
			r[k].gsi = 40 + (uint32_t)k;
			rt_msi_entry(&r[k], &c);
		}
		irqfd_table(&p, r, 4, true, "defaults + 4 random msi routes");
	}
	rt_track_default(&act, s.irqchip);
	memset(&tried, 0, sizeof tried);

	unsigned nops = 15 + rn(20);
	for (unsigned i = 0; i < nops && !seq.diverged; i++) {
		int k = (int)rn(NE);
		uint32_t r = rn(100);
		char name[16];

		snprintf(name, sizeof name, "e%d", k);
		if (r < 22) {
			uint32_t gsi = gsis[rn(sizeof gsis / sizeof gsis[0])];
			bool resample = full && chance(25);
			struct efd *rfd = resample ? &rs[rn(NR)] : NULL;
			uint64_t junk;
			for (int side = 0; side < 2; side++)
				if (read(e[k].fd[side], &junk, sizeof junk) < 0 && errno != EAGAIN)
					printf("note: read: %s\n", strerror(errno));
			if (irqfd(&p, &e[k], gsi, resample ? KVM_IRQFD_FLAG_RESAMPLE : 0, rfd,
				  resample ? "assign resample" : "assign").ret == 0)
				bound[k] = gsi + 1;
			compare_state(&p, false);
		} else if (r < 32) {
			uint32_t gsi = bound[k] && chance(80) ? bound[k] - 1 : gsis[rn(sizeof gsis / sizeof gsis[0])];
			if (irqfd(&p, &e[k], gsi, KVM_IRQFD_FLAG_DEASSIGN, NULL, "deassign").ret == 0 &&
			    bound[k] == gsi + 1)
				bound[k] = 0;
			compare_state(&p, false);
		} else if (r < 62) {
			if (bound[k])
				efd_signal(&p, &e[k], 1 + rn(3), name);
			else
				irq_line(&p, gsis[rn(sizeof gsis / sizeof gsis[0])], chance(50), true, NULL);
		} else if (r < 70) {
			struct rt_info ri;
			rt_generate(&t, &c, 20, &ri);
			/* Bias the table towards the bound GSIs. */
			for (uint32_t j = 0; j < ri.count && j < 8 && t.h.nr == ri.count; j++)
				if (chance(50) && t.e[j].gsi < RT_MAX)
					t.e[j].gsi = gsis[rn(sizeof gsis / sizeof gsis[0])];
			/* (which may create duplicates: then the kernel says EINVAL) */
			struct kres res = rt_set(&p, &t, &ri);
			rt_track_from(&tried, &t, ri.count);
			if (res.ret == 0)
				act = tried;
			compare_state(&p, false);
		} else if (r < 80) {
			uint32_t gsi = chance(50) && act.ngsi ? act.gsi[rn((uint32_t)act.ngsi)]
							  : gsis[rn(sizeof gsis / sizeof gsis[0])];
			irq_line(&p, gsi, chance(55), true, NULL);
			compare_state(&p, false);
		} else if (r < 86) {
			if (full)
				ioapic_clear_rirr(&p);
			lapic_clear_irr(&p, (int)rn((uint32_t)p.m[0].nvcpus));
			compare_state(&p, false);
		} else if (r < 90) {
			if (full)
				ioapic_set_pin(&p, (int)rn(24), rt_rte(&c));
			compare_state(&p, false);
		} else if (r < 94) {
			/* Close and reopen: the kernel detaches at once, virq lazily. */
			efd_close(&p, &e[k], name);
			bound[k] = 0;
			compare_settled(&p, IRQFD_PRUNE_SETTLE_NS);
			if (!efd_open(&e[k], 0, 0))
				break;
		} else {
			/* Several writes before anything settles. */
			for (int j = 0; j < NE; j++)
				if (bound[j] && chance(50))
					efd_write_nowait(&e[j], 1, "burst");
			compare_settled(&p, IRQFD_SETTLE_NS);
		}
	}
	for (int j = 0; j < NR; j++)
		efd_compare(&rs[j], "resamplefd");
	pair_destroy(&p);
out:
	for (int j = 0; j < ne; j++)
		efd_close_raw(&e[j]);
	for (int j = 0; j < nr; j++)
		efd_close_raw(&rs[j]);
}

static void fam_irqfd_random(unsigned count)
{
	family_begin("irqfd-random");
	for (unsigned i = 0; i < count; i++)
		irqfd_random_sequence(i);
	family_end();
}

static void fam_irqfd(void)
{
	family_begin("irqfd");
	irqfd_errno_seq(KM_IRQCHIP_NONE);
	irqfd_errno_seq(KM_IRQCHIP_FULL);
	irqfd_errno_seq(KM_IRQCHIP_SPLIT);
	irqfd_lines_seq(1);
	irqfd_lines_seq(2);
	irqfd_write0_seq(false);
	irqfd_write0_seq(true);
	irqfd_semaphore_seq();
	irqfd_msi_seq(KM_IRQCHIP_FULL, false);
	irqfd_msi_seq(KM_IRQCHIP_SPLIT, false);
	irqfd_msi_seq(KM_IRQCHIP_FULL, true);
	irqfd_msi_seq(KM_IRQCHIP_SPLIT, true);
	irqfd_presignalled_seq(0);
	irqfd_presignalled_seq(1);
	irqfd_reroute_seq(KM_IRQCHIP_FULL);
	irqfd_reroute_seq(KM_IRQCHIP_SPLIT);
	irqfd_close_seq();
	irqfd_dup_seq();
	irqfd_resample_seq(0);
	irqfd_resample_seq(1);
	for (int v = 0; v < 3; v++)
		irqfd_resampler_lower_seq(v);
	irqfd_deassign_pending_seq();
	irqfd_two_vms_seq();
	irqfd_split_seq();
	for (int v = 0; v < 3; v++)
		irqfd_split_rs_seq(v);
	family_end();
}

static void random_sequence(uint64_t index, unsigned nops)
{
	static const uint64_t bases[] = { 0xfee00900, 0xfee00800, 0xfee00d00, 0xfee00c00, 0,
					  0xfee00400, 0xfee00500, 0xfec00800, 0xfee00900 | (1ull << 40) };
	struct km_shape s;
	struct pair p;

	rng_seed(1, index);
	rnd_shape(&s);
	seq_begin("#%" PRIu64 " %s", index, km_shape_str(&s));
	if (!pair_create(&p, &s))
		return;
	int n = p.m[0].nvcpus;
	bool chip = s.irqchip != KM_IRQCHIP_NONE;
	struct rt_track tr;

	rt_track_default(&tr, s.irqchip);
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
			uint32_t gsi = tr.ngsi && chance(35) ? tr.gsi[rn((uint32_t)tr.ngsi)] :
				       chance(85) ? rn(24) : rn(48);
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
			rnd_set_routing(&p, &s, &tr);
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
			if (chance(35))
				rnd_mp(&p, v);
			else
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
		"          [--rtables N] [--irqfd-random N] [--mask PATTERN]...\n",
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
		else if (!strcmp(argv[i], "--rtables") && i + 1 < argc)
			g_rtables = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--irqfd-random") && i + 1 < argc)
			g_irqfd_random = (unsigned)strtoul(argv[++i], NULL, 0);
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
	if (fam_on(family, "mpstate"))
		fam_mpstate();
	if (fam_on(family, "routing"))
		fam_routing();
	if (fam_on(family, "irqfd"))
		fam_irqfd();
	if (fam_on(family, "irqfd-random") && !g_facts)
		fam_irqfd_random(g_irqfd_random);
	if (fam_on(family, "rtables") && !g_facts)
		fam_rtables(g_rtables);
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
