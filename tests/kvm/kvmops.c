/* SPDX-License-Identifier: MIT */
/*
 * kvmops.c - the kernel and virq backends, machine building and state
 * decoders for the differential test.
 */
#include "kvmops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#ifndef DIFF_KERNEL_ONLY
#include <virq/virq.h>
#endif
/*
 * Build with -DDIFF_KERNEL_ONLY (and without libvirq) to run the kernel half
 * alone (--self, --facts) while libvirq cannot be linked.
 */

/* ---------------------------------------------------------------------- */
/* Backends                                                                */
/* ---------------------------------------------------------------------- */

static int kernel_open(void)
{
	return open("/dev/kvm", O_RDWR | O_CLOEXEC);
}

static int kernel_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg);
}

static int kernel_close(int fd)
{
	return close(fd);
}

const struct kvm_backend kvm_backend_kernel = {
	.name = "kernel",
	.open = kernel_open,
	.ioctl = kernel_ioctl,
	.close = kernel_close,
};

bool kvm_backend_virq_linked(void)
{
#ifdef DIFF_KERNEL_ONLY
	return false;
#else
	return true;
#endif
}

static int virq_b_open(void)
{
#ifndef DIFF_KERNEL_ONLY
	if (kvm_backend_virq_linked())
		return virq_open(VIRQ_ARCH_X86);
#endif
	errno = ENOSYS;
	return -1;
}

static int virq_b_ioctl(int fd, unsigned long req, void *arg)
{
#ifndef DIFF_KERNEL_ONLY
	if (kvm_backend_virq_linked())
		return virq_ioctl(fd, req, arg);
#endif
	(void)fd;
	(void)req;
	(void)arg;
	errno = ENOSYS;
	return -1;
}

static int virq_b_close(int fd)
{
#ifndef DIFF_KERNEL_ONLY
	if (kvm_backend_virq_linked())
		return virq_close(fd);
#endif
	(void)fd;
	errno = ENOSYS;
	return -1;
}

const struct kvm_backend kvm_backend_virq = {
	.name = "virq",
	.open = virq_b_open,
	.ioctl = virq_b_ioctl,
	.close = virq_b_close,
};

static struct kres mkres(int ret)
{
	struct kres r = { ret, ret == -1 ? errno : 0 };
	return r;
}

struct kres kb_open(const struct kvm_backend *b)
{
	errno = 0;
	return mkres(b->open());
}

struct kres kb_ioctl(const struct kvm_backend *b, int fd, unsigned long req, void *arg)
{
	errno = 0;
	return mkres(b->ioctl(fd, req, arg));
}

struct kres kb_close(const struct kvm_backend *b, int fd)
{
	errno = 0;
	return mkres(b->close(fd));
}

static const char *errno_name(int e)
{
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case E2BIG: return "E2BIG";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case EMFILE: return "EMFILE";
	case ENOTTY: return "ENOTTY";
	case ENOSPC: return "ENOSPC";
	case ERANGE: return "ERANGE";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default: return NULL;
	}
}

const char *kres_str(struct kres r)
{
	static char ring[16][32];
	static unsigned idx;
	char *buf = ring[idx++ % 16];

	if (r.ret == -1) {
		const char *n = errno_name(r.err);
		if (n)
			snprintf(buf, sizeof ring[0], "-1/%s", n);
		else
			snprintf(buf, sizeof ring[0], "-1/errno%d", r.err);
	} else {
		snprintf(buf, sizeof ring[0], "%d", r.ret);
	}
	return buf;
}

bool kres_eq(struct kres a, struct kres b)
{
	if (a.ret != b.ret)
		return false;
	return a.ret != -1 || a.err == b.err;
}

/* ---------------------------------------------------------------------- */
/* CPUID                                                                   */
/* ---------------------------------------------------------------------- */

static struct kvm_cpuid2 *supported_cpuid;

bool km_cpuid_init(void)
{
	int nent = 256;
	int fd;

	if (supported_cpuid)
		return true;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	for (;;) {
		struct kvm_cpuid2 *c = calloc(1, sizeof *c + nent * sizeof c->entries[0]);
		if (!c)
			break;
		c->nent = nent;
		if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			supported_cpuid = c;
			break;
		}
		free(c);
		if (errno != E2BIG || nent >= 4096)
			break;
		nent *= 2;
	}
	close(fd);
	return supported_cpuid != NULL;
}

/* The caller frees the result. */
struct kvm_cpuid2 *km_cpuid_make(enum km_cpuid kind)
{
	struct kvm_cpuid2 *c;
	size_t sz;

	if (!supported_cpuid)
		return NULL;
	sz = sizeof *c + supported_cpuid->nent * sizeof c->entries[0];
	c = malloc(sz);
	if (!c)
		return NULL;
	memcpy(c, supported_cpuid, sz);
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != 1)
			continue;
		if (kind == KM_CPUID_X2APIC)
			e->ecx |= (1u << 21) | (1u << 24);
		else
			e->ecx &= ~((1u << 21) | (1u << 24));
	}
	return c;
}

/* ---------------------------------------------------------------------- */
/* Machines                                                                */
/* ---------------------------------------------------------------------- */

static void step(struct machine *m, const char *what, struct kres r)
{
	if (m->nsteps < (int)(sizeof m->step / sizeof m->step[0])) {
		m->step[m->nsteps].what = what;
		m->step[m->nsteps].r = r;
		m->nsteps++;
	}
}

bool km_create(struct machine *m, const struct kvm_backend *b, const struct km_shape *shape)
{
	struct kres r;

	memset(m, 0, sizeof *m);
	m->b = b;
	m->shape = *shape;
	m->sys = m->vm = -1;
	for (int i = 0; i < KM_MAX_VCPUS; i++)
		m->vcpu[i] = -1;

	r = kb_open(b);
	step(m, "open", r);
	if (r.ret < 0)
		return false;
	m->sys = r.ret;

	r = kb_ioctl(b, m->sys, KVM_CREATE_VM, (void *)0);
	step(m, "KVM_CREATE_VM", r);
	if (r.ret < 0)
		return false;
	m->vm = r.ret;

	if (shape->irqchip == KM_IRQCHIP_FULL) {
		step(m, "KVM_CREATE_IRQCHIP", kb_ioctl(b, m->vm, KVM_CREATE_IRQCHIP, NULL));
	} else if (shape->irqchip == KM_IRQCHIP_SPLIT) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP,
					      .args = { shape->split_pins_set ? shape->split_pins : 24 } };
		step(m, "KVM_ENABLE_CAP(SPLIT_IRQCHIP)", kb_ioctl(b, m->vm, KVM_ENABLE_CAP, &cap));
	}
	if (shape->x2apic_api) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_X2APIC_API,
					      .args = { shape->x2apic_flags } };
		step(m, "KVM_ENABLE_CAP(X2APIC_API)", kb_ioctl(b, m->vm, KVM_ENABLE_CAP, &cap));
	}
	for (int i = 0; i < shape->nvcpus && i < KM_MAX_VCPUS; i++) {
		r = kb_ioctl(b, m->vm, KVM_CREATE_VCPU, (void *)(uintptr_t)shape->ids[i]);
		step(m, "KVM_CREATE_VCPU", r);
		m->vcpu[i] = r.ret >= 0 ? r.ret : -1;
		m->nvcpus = i + 1;
		if (r.ret >= 0 && shape->cpuid != KM_CPUID_NONE) {
			struct kvm_cpuid2 *c = km_cpuid_make(shape->cpuid);
			if (c) {
				step(m, "KVM_SET_CPUID2", kb_ioctl(b, r.ret, KVM_SET_CPUID2, c));
				free(c);
			}
		}
	}
	return true;
}

void km_destroy(struct machine *m)
{
	for (int i = 0; i < KM_MAX_VCPUS; i++) {
		if (m->vcpu[i] >= 0)
			m->b->close(m->vcpu[i]);
		m->vcpu[i] = -1;
	}
	if (m->vm >= 0)
		m->b->close(m->vm);
	if (m->sys >= 0)
		m->b->close(m->sys);
	m->vm = m->sys = -1;
	m->nvcpus = 0;
}

const char *km_shape_str(const struct km_shape *s)
{
	static char ring[4][160];
	static unsigned idx;
	char *buf = ring[idx++ % 4];
	static const char *const chip[] = { "none", "full", "split" };
	static const char *const cpuid[] = { "-", "plain", "x2apic" };
	int n;

	n = snprintf(buf, sizeof ring[0], "%s", chip[s->irqchip]);
	if (s->irqchip == KM_IRQCHIP_SPLIT && s->split_pins_set)
		n += snprintf(buf + n, sizeof ring[0] - n, "(%u)", s->split_pins);
	n += snprintf(buf + n, sizeof ring[0] - n, "/%dcpu[", s->nvcpus);
	for (int i = 0; i < s->nvcpus && n < (int)sizeof ring[0] - 16; i++)
		n += snprintf(buf + n, sizeof ring[0] - n, "%s%u", i ? "," : "", s->ids[i]);
	snprintf(buf + n, sizeof ring[0] - n, "]/cpuid=%s%s", cpuid[s->cpuid],
		 s->x2apic_api ? (s->x2apic_flags == 3 ? "/x2api=3" :
				  s->x2apic_flags == 1 ? "/x2api=1" :
				  s->x2apic_flags == 2 ? "/x2api=2" : "/x2api=?") : "");
	return buf;
}

/* ---------------------------------------------------------------------- */
/* Decoders                                                                */
/* ---------------------------------------------------------------------- */

static const struct {
	const char *name;
	size_t off;
} pic_fields[] = {
#define F(x) { #x, offsetof(struct kvm_pic_state, x) }
	F(last_irr), F(irr), F(imr), F(isr), F(priority_add), F(irq_base),
	F(read_reg_select), F(poll), F(special_mask), F(init_state), F(auto_eoi),
	F(rotate_on_auto_eoi), F(special_fully_nested_mode), F(init4), F(elcr),
	F(elcr_mask),
#undef F
};

int decode_pic_diff(FILE *out, int chip, const struct kvm_pic_state *k,
		    const struct kvm_pic_state *v)
{
	const uint8_t *a = (const void *)k, *b = (const void *)v;
	int n = 0;

	for (size_t i = 0; i < sizeof pic_fields / sizeof pic_fields[0]; i++) {
		size_t o = pic_fields[i].off;
		if (a[o] != b[o]) {
			fprintf(out, "    PIC %s .%s: kernel 0x%02x virq 0x%02x\n",
				chip ? "slave" : "master", pic_fields[i].name, a[o], b[o]);
			n++;
		}
	}
	return n;
}

static void describe_rte(char *buf, size_t len, uint64_t e)
{
	snprintf(buf, len, "vec=%u dm=%u %s ds=%u pol=%u rirr=%u %s %s dest=0x%02x",
		 (unsigned)(e & 0xff), (unsigned)((e >> 8) & 7),
		 (e >> 11) & 1 ? "logical" : "physical", (unsigned)((e >> 12) & 1),
		 (unsigned)((e >> 13) & 1), (unsigned)((e >> 14) & 1),
		 (e >> 15) & 1 ? "level" : "edge", (e >> 16) & 1 ? "masked" : "unmasked",
		 (unsigned)(e >> 56));
}

int decode_ioapic_diff(FILE *out, const struct kvm_ioapic_state *k,
		       const struct kvm_ioapic_state *v)
{
	int n = 0;

	if (k->base_address != v->base_address) {
		fprintf(out, "    IOAPIC .base_address: kernel 0x%llx virq 0x%llx\n",
			(unsigned long long)k->base_address, (unsigned long long)v->base_address);
		n++;
	}
	if (k->ioregsel != v->ioregsel) {
		fprintf(out, "    IOAPIC .ioregsel: kernel 0x%x virq 0x%x\n", k->ioregsel, v->ioregsel);
		n++;
	}
	if (k->id != v->id) {
		fprintf(out, "    IOAPIC .id: kernel 0x%x virq 0x%x\n", k->id, v->id);
		n++;
	}
	if (k->irr != v->irr) {
		fprintf(out, "    IOAPIC .irr: kernel 0x%06x virq 0x%06x (pins differing 0x%06x)\n",
			k->irr, v->irr, k->irr ^ v->irr);
		n++;
	}
	if (k->pad != v->pad) {
		fprintf(out, "    IOAPIC .pad: kernel 0x%x virq 0x%x\n", k->pad, v->pad);
		n++;
	}
	for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++) {
		if (k->redirtbl[i].bits != v->redirtbl[i].bits) {
			char a[128], b[128];
			describe_rte(a, sizeof a, k->redirtbl[i].bits);
			describe_rte(b, sizeof b, v->redirtbl[i].bits);
			fprintf(out, "    IOAPIC redirtbl[%d]: kernel 0x%016llx (%s)\n"
				"                          virq 0x%016llx (%s)\n", i,
				(unsigned long long)k->redirtbl[i].bits, a,
				(unsigned long long)v->redirtbl[i].bits, b);
			n++;
		}
	}
	return n;
}

static const char *lapic_reg_name(unsigned off)
{
	static char buf[16];

	switch (off) {
	case 0x20: return "ID";
	case 0x30: return "LVR";
	case 0x80: return "TPR";
	case 0x90: return "APR";
	case 0xa0: return "PPR";
	case 0xb0: return "EOI";
	case 0xc0: return "RRR";
	case 0xd0: return "LDR";
	case 0xe0: return "DFR";
	case 0xf0: return "SPIV";
	case 0x280: return "ESR";
	case 0x2f0: return "LVT_CMCI";
	case 0x300: return "ICR";
	case 0x310: return "ICR2";
	case 0x320: return "LVTT";
	case 0x330: return "LVTTHMR";
	case 0x340: return "LVTPC";
	case 0x350: return "LVT0";
	case 0x360: return "LVT1";
	case 0x370: return "LVTERR";
	case 0x380: return "TMICT";
	case 0x390: return "TMCCT";
	case 0x3e0: return "TDCR";
	case 0x3f0: return "SELF_IPI";
	}
	if (off >= 0x100 && off < 0x180) {
		snprintf(buf, sizeof buf, "ISR%u", (off - 0x100) / 16);
		return buf;
	}
	if (off >= 0x180 && off < 0x200) {
		snprintf(buf, sizeof buf, "TMR%u", (off - 0x180) / 16);
		return buf;
	}
	if (off >= 0x200 && off < 0x280) {
		snprintf(buf, sizeof buf, "IRR%u", (off - 0x200) / 16);
		return buf;
	}
	snprintf(buf, sizeof buf, "reg_0x%03x", off);
	return buf;
}

static void vec_list(char *buf, size_t len, unsigned base, uint32_t bits)
{
	size_t n = 0;

	buf[0] = 0;
	for (int i = 0; i < 32 && n + 8 < len; i++)
		if (bits & (1u << i))
			n += snprintf(buf + n, len - n, "%s0x%02x", n ? "," : "", base + i);
}

int decode_lapic_diff(FILE *out, int vcpu, const struct kvm_lapic_state *k,
		      const struct kvm_lapic_state *v)
{
	int n = 0;

	for (unsigned off = 0; off < KVM_APIC_REG_SIZE; off += 4) {
		uint32_t a = lapic_reg(k, off), b = lapic_reg(v, off);
		if (a == b)
			continue;
		n++;
		if ((off & 15) != 0) {
			fprintf(out, "    LAPIC vcpu%d byte 0x%03x (between registers): kernel 0x%08x virq 0x%08x\n",
				vcpu, off, a, b);
			continue;
		}
		if (off >= 0x100 && off < 0x280) {
			char only_k[160], only_v[160];
			unsigned base = ((off & 0x7f) / 16) * 32;
			vec_list(only_k, sizeof only_k, base, a & ~b);
			vec_list(only_v, sizeof only_v, base, b & ~a);
			fprintf(out, "    LAPIC vcpu%d %s: kernel 0x%08x virq 0x%08x (only kernel: [%s], only virq: [%s])\n",
				vcpu, lapic_reg_name(off), a, b, only_k, only_v);
		} else {
			fprintf(out, "    LAPIC vcpu%d %s (0x%03x): kernel 0x%08x virq 0x%08x\n",
				vcpu, lapic_reg_name(off), off, a, b);
		}
	}
	return n;
}

int decode_events_diff(FILE *out, int vcpu, const struct kvm_vcpu_events *k,
		       const struct kvm_vcpu_events *v)
{
	int n = 0;
#define CMP(field, fmt) do { \
		if (k->field != v->field) { \
			fprintf(out, "    EVENTS vcpu%d ." #field ": kernel " fmt " virq " fmt "\n", \
				vcpu, k->field, v->field); \
			n++; \
		} } while (0)
	CMP(exception.injected, "%u");
	CMP(exception.nr, "%u");
	CMP(exception.has_error_code, "%u");
	CMP(exception.pending, "%u");
	CMP(exception.error_code, "%u");
	CMP(interrupt.injected, "%u");
	CMP(interrupt.nr, "%u");
	CMP(interrupt.soft, "%u");
	CMP(interrupt.shadow, "%u");
	CMP(nmi.injected, "%u");
	CMP(nmi.pending, "%u");
	CMP(nmi.masked, "%u");
	CMP(nmi.pad, "%u");
	CMP(sipi_vector, "%u");
	CMP(flags, "0x%x");
	CMP(smi.smm, "%u");
	CMP(smi.pending, "%u");
	CMP(smi.smm_inside_nmi, "%u");
	CMP(smi.latched_init, "%u");
#undef CMP
	if (n == 0)
		n = decode_bytes_diff(out, "EVENTS (other bytes)", k, v, sizeof *k);
	return n;
}

int decode_bytes_diff(FILE *out, const char *what, const void *k, const void *v, size_t len)
{
	const uint8_t *a = k, *b = v;
	int n = 0;

	for (size_t i = 0; i < len; i++) {
		size_t j;
		if (a[i] == b[i])
			continue;
		for (j = i; j < len && a[j] != b[j]; j++)
			;
		fprintf(out, "    %s bytes [%zu..%zu): kernel", what, i, j);
		for (size_t x = i; x < j && x < i + 16; x++)
			fprintf(out, " %02x", a[x]);
		fprintf(out, " virq");
		for (size_t x = i; x < j && x < i + 16; x++)
			fprintf(out, " %02x", b[x]);
		fprintf(out, "%s\n", j - i > 16 ? " ..." : "");
		n++;
		i = j;
	}
	return n;
}

void dump_words(FILE *out, const char *indent, const void *p, size_t len, size_t stride)
{
	const uint8_t *b = p;

	for (size_t off = 0; off + 4 <= len; off += stride) {
		uint32_t w;
		memcpy(&w, b + off, 4);
		if (w)
			fprintf(out, "%s0x%03zx: 0x%08x\n", indent, off, w);
	}
}

void dump_lapic(FILE *out, const struct kvm_lapic_state *s)
{
	for (unsigned off = 0; off < KVM_APIC_REG_SIZE; off += 4) {
		uint32_t w = lapic_reg(s, off);
		if (w)
			fprintf(out, "    0x%03x %-8s = 0x%08x\n", off,
				(off & 15) ? "?" : lapic_reg_name(off), w);
	}
}

void dump_pic(FILE *out, const struct kvm_pic_state *s)
{
	const uint8_t *a = (const void *)s;

	fprintf(out, "   ");
	for (size_t i = 0; i < sizeof pic_fields / sizeof pic_fields[0]; i++)
		fprintf(out, " %s=0x%02x", pic_fields[i].name, a[pic_fields[i].off]);
	fprintf(out, "\n");
}

void dump_ioapic(FILE *out, const struct kvm_ioapic_state *s)
{
	fprintf(out, "    base_address=0x%llx ioregsel=0x%x id=0x%x irr=0x%x pad=0x%x\n",
		(unsigned long long)s->base_address, s->ioregsel, s->id, s->irr, s->pad);
	for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		fprintf(out, "%s0x%016llx%s", i % 4 == 0 ? "    redirtbl: " : " ",
			(unsigned long long)s->redirtbl[i].bits, i % 4 == 3 ? "\n" : "");
}
