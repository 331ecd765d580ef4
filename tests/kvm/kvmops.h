/* SPDX-License-Identifier: MIT */
/*
 * kvmops.h - two interchangeable KVM backends (the kernel's /dev/kvm and
 * virq), a VM "machine" builder and decoders for interrupt-controller state,
 * for the differential test in diff.c.
 */
#ifndef VIRQ_TESTS_KVMOPS_H
#define VIRQ_TESTS_KVMOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/kvm.h>

/* A KVM implementation reached through open/ioctl/close. */
struct kvm_backend {
	const char *name;
	int (*open)(void);
	int (*ioctl)(int fd, unsigned long req, void *arg);
	int (*close)(int fd);
};

extern const struct kvm_backend kvm_backend_kernel;
extern const struct kvm_backend kvm_backend_virq;

/* True when libvirq's KVM-ABI face is linked in (weak references resolved). */
bool kvm_backend_virq_linked(void);

/* The outcome of one call: the return value, and errno when it is -1. */
struct kres {
	int ret;
	int err;
};

struct kres kb_open(const struct kvm_backend *b);
struct kres kb_ioctl(const struct kvm_backend *b, int fd, unsigned long req, void *arg);
struct kres kb_close(const struct kvm_backend *b, int fd);

/* "3", "-1/ENXIO": the text of a result, in a static ring of buffers. */
const char *kres_str(struct kres r);
bool kres_eq(struct kres a, struct kres b);

/* ---------------------------------------------------------------------- */
/* Machines                                                               */
/* ---------------------------------------------------------------------- */

#define KM_MAX_VCPUS 8

enum km_irqchip {
	KM_IRQCHIP_NONE = 0,
	KM_IRQCHIP_FULL = 1,
	KM_IRQCHIP_SPLIT = 2,
};

enum km_cpuid {
	KM_CPUID_NONE = 0,      /* no KVM_SET_CPUID2 */
	KM_CPUID_PLAIN = 1,     /* supported CPUID, leaf 1 x2APIC + TSC-deadline cleared */
	KM_CPUID_X2APIC = 2,    /* supported CPUID, leaf 1 x2APIC + TSC-deadline set */
};

struct km_shape {
	enum km_irqchip irqchip;
	bool split_pins_set;     /* split mode: reserve split_pins IOAPIC pins ... */
	uint32_t split_pins;     /* ... instead of 24 */
	bool x2apic_api;         /* KVM_ENABLE_CAP(KVM_CAP_X2APIC_API) ... */
	uint64_t x2apic_flags;   /* ... with these flags */
	enum km_cpuid cpuid;
	int nvcpus;
	uint32_t ids[KM_MAX_VCPUS];
};

/* One step of building a machine, kept so two builds can be compared. */
struct km_step {
	const char *what;
	struct kres r;
};

struct machine {
	const struct kvm_backend *b;
	struct km_shape shape;
	int sys;                 /* -1 when not open */
	int vm;
	int nvcpus;              /* vCPUs actually created */
	int vcpu[KM_MAX_VCPUS];
	int nsteps;
	struct km_step step[8 + 2 * KM_MAX_VCPUS];
};

/*
 * Build @m on @b with @shape.  Every step is recorded in m->step; a failed
 * step is recorded and building continues where that makes sense (a failed
 * KVM_CREATE_VCPU leaves that slot at -1).  Returns false only if the system
 * handle or the VM could not be created.
 */
bool km_create(struct machine *m, const struct kvm_backend *b, const struct km_shape *shape);
void km_destroy(struct machine *m);
/* "full/2cpu[0,1]/x2api=1/cpuid=x2" */
const char *km_shape_str(const struct km_shape *s);

/*
 * CPUID as returned by the kernel's KVM_GET_SUPPORTED_CPUID; fetched once
 * (km_cpuid_init) and handed to both backends.  NULL if unavailable.
 */
bool km_cpuid_init(void);
struct kvm_cpuid2 *km_cpuid_make(enum km_cpuid kind);

/* ---------------------------------------------------------------------- */
/* State decoding                                                          */
/* ---------------------------------------------------------------------- */

#define LAPIC_TMCCT 0x390

/* Write a field-level description of the differences to @out; return count. */
int decode_pic_diff(FILE *out, int chip, const struct kvm_pic_state *k,
		    const struct kvm_pic_state *v);
int decode_ioapic_diff(FILE *out, const struct kvm_ioapic_state *k,
		       const struct kvm_ioapic_state *v);
int decode_lapic_diff(FILE *out, int vcpu, const struct kvm_lapic_state *k,
		      const struct kvm_lapic_state *v);
int decode_events_diff(FILE *out, int vcpu, const struct kvm_vcpu_events *k,
		       const struct kvm_vcpu_events *v);
/* Generic fallback: byte ranges that differ. */
int decode_bytes_diff(FILE *out, const char *what, const void *k, const void *v, size_t len);

/* Hex dumps of the non-zero 32-bit words (used by --facts). */
void dump_words(FILE *out, const char *indent, const void *p, size_t len, size_t stride);
void dump_lapic(FILE *out, const struct kvm_lapic_state *s);
void dump_pic(FILE *out, const struct kvm_pic_state *s);
void dump_ioapic(FILE *out, const struct kvm_ioapic_state *s);

static inline uint32_t lapic_reg(const struct kvm_lapic_state *s, unsigned off)
{
	uint32_t v;
	__builtin_memcpy(&v, s->regs + off, 4);
	return v;
}

static inline void lapic_set_reg(struct kvm_lapic_state *s, unsigned off, uint32_t v)
{
	__builtin_memcpy(s->regs + off, &v, 4);
}

#endif
