/* SPDX-License-Identifier: MIT */
/*
 * bench - virq against the kernel's /dev/kvm on identical work, in one run.
 *
 *   bench [--group NAME[,NAME...]] [--ms N] [--rounds N] [--json] [--no-kernel]
 *
 * The machines this runs on are shared and noisy, so absolute times drift:
 * every row measures the kernel and virq in alternating batches and prints
 * the ratio of their medians.  Each injection series checks once that its
 * injections really happened (the vector is read back from IRR); a series
 * that delivered nothing fails the run.  Timings never do: targets are
 * reported as pass or short.  docs/performance.md explains the method and
 * carries the latest table.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/kvm.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "virq/virq.h"

static int v_ioctl(int fd, unsigned long req, void *arg)
{
	return virq_ioctl(fd, req, arg);
}

static int k_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- VMs on either side --------------------------------------------------- */

static bool set_lapic_reg(struct bvm *b, int vcpu, unsigned off, uint32_t val)
{
	struct kvm_lapic_state st;

	if (b->s->ioctl(vcpu, KVM_GET_LAPIC, &st) < 0)
		return false;
	memcpy(st.regs + off, &val, 4);
	return b->s->ioctl(vcpu, KVM_SET_LAPIC, &st) == 0;
}

/* x2APIC needs the CPUID bit, then IA32_APIC_BASE with EXTD set. */
static bool to_x2apic(struct bvm *b, int vcpu, bool bsp)
{
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[1];
	} cpuid = { .c.nent = 1, .e[0] = { .function = 1, .ecx = 1u << 21 } };
	struct {
		struct kvm_msrs m;
		struct kvm_msr_entry e[1];
	} msrs = { .m.nmsrs = 1, .e[0] = { .index = 0x1b, .data = 0xfee00c00ull | (bsp ? 0x100 : 0) } };

	return b->s->ioctl(vcpu, KVM_SET_CPUID2, &cpuid) == 0 && b->s->ioctl(vcpu, KVM_SET_MSRS, &msrs) == 1;
}

bool bvm_create(struct bvm *b, struct side *s, unsigned nvcpus, unsigned flags)
{
	memset(b, 0, sizeof(*b));
	b->s = s;
	b->vm = -1;
	if (s->sys < 0)
		return false;
	b->vm = s->ioctl(s->sys, KVM_CREATE_VM, (void *)0);
	if (b->vm < 0)
		return false;
	if (s->is_virq && nvcpus > 1024 && virq_vm_set_max_vcpus(b->vm, nvcpus) < 0)
		return false;
	if (flags & BVM_X2APIC) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_X2APIC_API,
					      .args[0] = KVM_X2APIC_API_USE_32BIT_IDS };

		if (s->ioctl(b->vm, KVM_ENABLE_CAP, &cap) < 0)
			return false;
	}
	if (s->ioctl(b->vm, KVM_CREATE_IRQCHIP, NULL) < 0)
		return false;
	b->vcpu = calloc(nvcpus, sizeof(*b->vcpu));
	if (!b->vcpu)
		return false;
	for (unsigned i = 0; i < nvcpus; i++) {
		b->vcpu[i] = s->ioctl(b->vm, KVM_CREATE_VCPU, (void *)(uintptr_t)i);
		if (b->vcpu[i] < 0)
			return false;
		b->nvcpus = i + 1;
		if ((flags & BVM_X2APIC) && !to_x2apic(b, b->vcpu[i], i == 0))
			return false;
		if (!set_lapic_reg(b, b->vcpu[i], 0xf0, 0x1ff)) /* SVR: software enabled */
			return false;
		if ((flags & BVM_FLAT_LOGICAL) && i < 8 && !set_lapic_reg(b, b->vcpu[i], 0xd0, 1u << (24 + i)))
			return false;
	}
	return true;
}

void bvm_destroy(struct bvm *b)
{
	int (*close_fn)(int) = b->s && b->s->is_virq ? virq_close : close;

	for (unsigned i = 0; i < b->nvcpus; i++)
		close_fn(b->vcpu[i]);
	if (b->vm >= 0)
		close_fn(b->vm);
	free(b->vcpu);
	memset(b, 0, sizeof(*b));
	b->vm = -1;
}

bool bvm_irr_take(struct bvm *b, unsigned i, unsigned vec)
{
	struct kvm_lapic_state st;
	uint32_t w;

	if (i >= b->nvcpus || b->s->ioctl(b->vcpu[i], KVM_GET_LAPIC, &st) < 0)
		return false;
	memcpy(&w, st.regs + 0x200 + 16 * (vec / 32), 4);
	memset(st.regs + 0x200, 0, 0x80);
	b->s->ioctl(b->vcpu[i], KVM_SET_LAPIC, &st);
	return w & (1u << (vec % 32));
}

bool bvm_ioapic_pin(struct bvm *b, unsigned pin, unsigned vector, bool level)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };

	if (b->s->ioctl(b->vm, KVM_GET_IRQCHIP, &chip) < 0)
		return false;
	chip.chip.ioapic.redirtbl[pin].bits = vector | (level ? 1u << 15 : 0);
	return b->s->ioctl(b->vm, KVM_SET_IRQCHIP, &chip) == 0;
}

/* ---- measuring ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static double timed(batch_fn fn, void *ctx, unsigned n)
{
	uint64_t t0 = now_ns();

	fn(ctx, n);
	return (double)(now_ns() - t0) / n;
}

/* How many operations fill about --ms, from a short probe. */
static unsigned batch_size(struct bench *B, batch_fn fn, void *ctx)
{
	unsigned n = 1;
	double t;

	/* Grow the probe until it takes a measurable while (>= 50 us). */
	for (;;) {
		t = timed(fn, ctx, n);
		if (t * n >= 50e3 || n >= (1u << 20))
			break;
		n *= 4;
	}
	double want = B->ms * 1e6 / (t > 0.5 ? t : 0.5);

	return want < 1 ? 1 : want > 5e7 ? 50000000u : (unsigned)want;
}

#define MAX_ROUNDS 101

void measure(struct bench *B, struct row *r, batch_fn kfn, void *kctx, batch_fn vfn, void *vctx)
{
	double kv[MAX_ROUNDS], vv[MAX_ROUNDS];
	unsigned nk = 0, nv = 0;

	if (!B->have_kernel)
		kfn = NULL;
	if (kfn)
		nk = batch_size(B, kfn, kctx);
	if (vfn)
		nv = batch_size(B, vfn, vctx);
	for (unsigned i = 0; i < B->rounds; i++) {
		if (kfn)
			kv[i] = timed(kfn, kctx, nk);
		if (vfn)
			vv[i] = timed(vfn, vctx, nv);
	}
	r->kernel = kfn ? median(kv, B->rounds) : -1;
	r->virq = vfn ? median(vv, B->rounds) : -1;
}

double measure_one(struct bench *B, batch_fn fn, void *ctx)
{
	struct row r = { 0 };

	measure(B, &r, NULL, NULL, fn, ctx);
	return r.virq;
}

/* ---- output ---------------------------------------------------------------- */

static bool json;
static unsigned nrows, undelivered;

static const char *result_of(struct bench *B, const struct row *r, double *ratio)
{
	*ratio = r->kernel > 0 && r->virq > 0 && r->unit == U_NS ? r->kernel / r->virq : 0;
	if (!r->checked)
		return "NOT DELIVERED";
	switch (r->kind) {
	case T_FASTER:
		if (r->kernel < 0)
			return B->have_kernel ? "-" : "no kernel";
		return *ratio >= r->want ? "pass" : "short";
	case T_AT_MOST:
		return r->virq <= r->want ? "pass" : "short";
	case T_AT_LEAST:
		return r->virq >= r->want ? "pass" : "short";
	case T_NONE:
		break;
	}
	return "-";
}

static void target_text(const struct row *r, char *buf, size_t n)
{
	switch (r->kind) {
	case T_FASTER:
		snprintf(buf, n, ">=%gx kernel", r->want);
		break;
	case T_AT_MOST:
		snprintf(buf, n, "<=%g%s", r->want, r->unit == U_X ? "x" : "");
		break;
	case T_AT_LEAST:
		snprintf(buf, n, ">=%g%s", r->want, r->unit == U_X ? "x" : "");
		break;
	case T_NONE:
		snprintf(buf, n, "-");
		break;
	}
}

static void value_text(const struct row *r, double v, char *buf, size_t n)
{
	if (v < 0)
		snprintf(buf, n, "-");
	else if (r->unit == U_X)
		snprintf(buf, n, "%.2fx", v);
	else if (r->unit == U_BYTES)
		snprintf(buf, n, "%.0f B", v);
	else if (r->unit == U_COUNT)
		snprintf(buf, n, "%.1f", v);
	else if (v >= 100000)
		snprintf(buf, n, "%.0f", v);
	else
		snprintf(buf, n, "%.1f", v);
}

void emit(struct bench *B, struct row *r)
{
	char k[32], v[32], t[32], ratio_s[16];
	const char *res;
	double ratio;

	res = result_of(B, r, &ratio);
	undelivered += !r->checked;
	target_text(r, t, sizeof(t));
	if (json) {
		printf("%s\n {\"group\": \"%s\", \"op\": \"%s\", \"unit\": \"%s\", \"kernel\": %.3f, "
		       "\"virq\": %.3f, \"ratio\": %.3f, \"target\": \"%s\", \"result\": \"%s\"%s%s%s}",
		       nrows ? "," : "", r->group, r->name,
		       r->unit == U_NS ? "ns" : r->unit == U_X ? "x" : r->unit == U_BYTES ? "bytes" : "count", r->kernel, r->virq, ratio, t, res,
		       r->note ? ", \"note\": \"" : "", r->note ? r->note : "", r->note ? "\"" : "");
	} else {
		value_text(r, r->kernel, k, sizeof(k));
		value_text(r, r->virq, v, sizeof(v));
		if (ratio > 0)
			snprintf(ratio_s, sizeof(ratio_s), "%.1fx", ratio);
		else
			snprintf(ratio_s, sizeof(ratio_s), "-");
		printf("%-8s %-50s %10s %10s %8s  %-16s %s\n", r->group, r->name, k, v, ratio_s, t, res);
		fflush(stdout);
	}
	nrows++;
}

/* ---- main ------------------------------------------------------------------ */

static const struct {
	const char *name;
	void (*fn)(struct bench *B);
	const char *what;
} groups[] = {
	{ "limit", group_limit, "the bare atomic OR every injection must do at least" },
	{ "msi", group_msi, "KVM_SIGNAL_MSI unicast, lowest priority, broadcast, 1..4096 vCPUs" },
	{ "line", group_line, "KVM_IRQ_LINE_STATUS raise+lower: IOAPIC edge, IOAPIC level, PIC" },
	{ "routing", group_routing, "KVM_SET_GSI_ROUTING sizes, one-route updates up to 1M GSIs" },
	{ "irqfd", group_irqfd, "eventfd write cost and latency to IRR; virq_irqfd_trigger" },
	{ "threads", group_threads, "two injecting threads: distinct and same vCPU" },
	{ "state", group_state, "KVM_GET/SET_IRQCHIP, KVM_GET/SET_LAPIC, whole-VM save/restore" },
	{ "memory", group_memory, "bytes per vCPU and per route" },
};
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: bench [--group NAME[,NAME...]] [--ms N] [--rounds N] [--json] [--no-kernel]\n"
		   "virq against /dev/kvm on identical work, as ratios measured in one run.\n"
		   "  -g, --group LIST  the groups to run (default: all):\n");
	for (size_t i = 0; i < NGROUPS; i++)
		fprintf(f, "                      %-8s %s\n", groups[i].name, groups[i].what);
	fprintf(f, "  -m, --ms N        milliseconds per batch (default 10)\n"
		   "  -r, --rounds N    batches per side and row; the median is reported (default 15)\n"
		   "  -j, --json        one JSON object instead of the table\n"
		   "  -n, --no-kernel   measure virq only\n"
		   "Exit status: 0, 1 if an injection series was not delivered, 2 usage, 4 no virq VM.\n");
}

static bool pick_groups(const char *list, bool *on)
{
	char *copy = strdup(list), *save = NULL;
	bool ok = copy != NULL;

	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < NGROUPS && strcmp(t, groups[i].name); i++)
			;
		if (i == NGROUPS) {
			fprintf(stderr, "bench: no group '%s' (try --help)\n", t);
			ok = false;
			break;
		}
		on[i] = true;
	}
	free(copy);
	return ok;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "group", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ "ms", required_argument, NULL, 'm' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "no-kernel", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct bench B = {
		.kernel = { "kernel", false, -1, k_ioctl },
		.virq = { "virq", true, -1, v_ioctl },
		.ms = 10,
		.rounds = 15,
	};
	bool on[NGROUPS] = { false }, any = false, no_kernel = false;
	int c;

	while ((c = getopt_long(argc, argv, "g:jm:r:nh", lo, NULL)) != -1) {
		switch (c) {
		case 'g':
			if (!pick_groups(optarg, on))
				return 2;
			any = true;
			break;
		case 'j':
			json = true;
			break;
		case 'm':
			B.ms = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			B.rounds = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'n':
			no_kernel = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !B.ms || !B.rounds || B.rounds > MAX_ROUNDS) {
		usage(stderr);
		return 2;
	}
	B.virq.sys = virq_open(VIRQ_ARCH_X86);
	if (B.virq.sys < 0) {
		fprintf(stderr, "bench: virq_open: %s\n", strerror(errno));
		return 4;
	}
	if (!no_kernel) {
		B.kernel.sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		if (B.kernel.sys < 0)
			fprintf(stderr, "bench: /dev/kvm unavailable (%s): kernel column skipped\n", strerror(errno));
	}
	B.have_kernel = B.kernel.sys >= 0;

	if (json)
		printf("{\"ms\": %u, \"rounds\": %u, \"kernel\": %s, \"rows\": [", B.ms, B.rounds,
		       B.have_kernel ? "true" : "false");
	else
		printf("%-8s %-50s %10s %10s %8s  %-16s %s\n", "group", "operation", "kernel", "virq", "ratio",
		       "target", "result");
	/* The limit row first: other rows are judged against it. */
	group_limit(&B);
	for (size_t i = 1; i < NGROUPS; i++)
		if (!any || on[i])
			groups[i].fn(&B);
	if (json)
		printf("\n], \"atomic_or_ns\": %.3f, \"undelivered\": %u}\n", B.atomic_ns, undelivered);
	else
		printf("times in ns per operation (median of %u batches of ~%u ms each); ratio = kernel / virq\n",
		       B.rounds, B.ms);
	if (B.have_kernel)
		close(B.kernel.sys);
	virq_close(B.virq.sys);
	/* Timing never fails a run; an injection that did not happen does. */
	return undelivered ? 1 : 0;
}
