/* SPDX-License-Identifier: MIT */
/*
 * bench.h - the parts of the benchmark shared by the framework (bench.c)
 * and the groups of measurements (groups.c).
 */
#ifndef VIRQ_BENCH_H
#define VIRQ_BENCH_H

#include <stdbool.h>
#include <stdint.h>

/* One implementation of the KVM ABI: the kernel's /dev/kvm or virq. */
struct side {
	const char *name;
	bool is_virq;
	int sys; /* /dev/kvm or virq_open(); -1 if unavailable */
	int (*ioctl)(int fd, unsigned long req, void *arg);
};

/* A VM on one side with an in-kernel irqchip and software-enabled LAPICs. */
struct bvm {
	struct side *s;
	int vm;
	unsigned nvcpus;
	int *vcpu;
};

/* VM shapes for bvm_create(). */
#define BVM_FLAT_LOGICAL (1u << 0) /* vCPUs 0..7 get flat logical IDs 1 << i */
#define BVM_X2APIC (1u << 1)       /* x2APIC mode, 32-bit IDs in MSIs */

bool bvm_create(struct bvm *b, struct side *s, unsigned nvcpus, unsigned flags);
void bvm_destroy(struct bvm *b);
/* Is @vec in the IRR of vCPU @i?  Then clear that vCPU's IRR. */
bool bvm_irr_take(struct bvm *b, unsigned i, unsigned vec);
/* Program IOAPIC pin @pin: @vector, level if @level, to APIC ID 0. */
bool bvm_ioapic_pin(struct bvm *b, unsigned pin, unsigned vector, bool level);

uint64_t now_ns(void);
/* The median of @v[0 .. @n) (sorts @v). */
double median(double *v, unsigned n);

/* The work of one side for one row: run @n operations. */
typedef void (*batch_fn)(void *ctx, unsigned n);

/* How a row's result is judged. */
enum target_kind {
	T_NONE,      /* reported only */
	T_FASTER,    /* kernel / virq at least @want */
	T_AT_MOST,   /* the virq column at most @want (a ratio row) */
	T_AT_LEAST,  /* the virq column at least @want (a ratio row) */
};

enum unit { U_NS, U_X, U_BYTES, U_COUNT };

struct row {
	const char *group;
	char name[96];
	enum unit unit;
	double kernel, virq; /* < 0: not measured */
	enum target_kind kind;
	double want;
	bool checked; /* every injection series was seen in IRR */
	const char *note;
};

struct bench {
	struct side kernel, virq;
	bool have_kernel;
	unsigned ms;     /* per batch */
	unsigned rounds; /* batches per side */
	double atomic_ns;
};

/*
 * Measure one row: alternate batches of the kernel's and virq's work
 * (either may be NULL), take the median ns per operation of each.
 */
void measure(struct bench *B, struct row *r, batch_fn kfn, void *kctx, batch_fn vfn, void *vctx);
/* Median ns per operation of @fn alone (used for derived rows). */
double measure_one(struct bench *B, batch_fn fn, void *ctx);
void emit(struct bench *B, struct row *r);

/* The groups (groups.c), each emitting its rows. */
void group_limit(struct bench *B);
void group_msi(struct bench *B);
void group_line(struct bench *B);
void group_routing(struct bench *B);
void group_irqfd(struct bench *B);
void group_threads(struct bench *B);
void group_state(struct bench *B);
void group_memory(struct bench *B);

#endif
