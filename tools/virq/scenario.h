/* SPDX-License-Identifier: MIT */
/*
 * scenario.h - the virq scenario language: one operation per line, named
 * after the KVM ioctl or the guest action it performs, with key=value
 * fields named as in <linux/kvm.h>.  The language is documented in
 * docs/scenarios.md; this is its parser's output.
 */
#ifndef VIRQ_TOOL_SCENARIO_H
#define VIRQ_TOOL_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sc_kind {
	/* KVM ioctls: run on virq and on /dev/kvm alike. */
	SC_KVM_CREATE_VM,
	SC_KVM_CHECK_EXTENSION,
	SC_KVM_CREATE_IRQCHIP,
	SC_KVM_ENABLE_CAP,
	SC_KVM_CREATE_VCPU,
	SC_KVM_IRQ_LINE,
	SC_KVM_IRQ_LINE_STATUS,
	SC_KVM_SIGNAL_MSI,
	SC_KVM_SET_GSI_ROUTING,
	SC_KVM_IRQFD,
	SC_KVM_GET_LAPIC,
	SC_KVM_SET_LAPIC,
	SC_KVM_GET_IRQCHIP,
	SC_KVM_SET_IRQCHIP,
	SC_KVM_GET_MSRS,
	SC_KVM_SET_MSRS,
	SC_KVM_SET_CPUID2,
	SC_KVM_INTERRUPT,
	SC_KVM_NMI,
	/* eventfds (both implementations) */
	SC_EVENTFD,
	SC_WRITE,
	SC_READ,
	SC_CLOSE,
	/* guest actions (virq's native face; the kernel needs a running guest) */
	SC_MMIO_WRITE,
	SC_MMIO_READ,
	SC_IOAPIC_WRITE,
	SC_IOAPIC_READ,
	SC_PIO_WRITE,
	SC_PIO_READ,
	SC_WRMSR,
	SC_RDMSR,
	SC_HAS_INTERRUPT,
	SC_ACK,
	SC_EOI,
	SC_CLOCK,
	/* virq's native calls beyond KVM */
	SC_VIRQ_ROUTE_SET,
	SC_TRIGGER,
	SC_SAVE,
	SC_RESTORE,
	/* the tool itself */
	SC_SECTION,
	SC_PRINT,
	SC_STATE,
	SC_EXPECT,
};

/* Where an operation can run. */
enum {
	SCF_KERNEL = 1 << 0,  /* a KVM ioctl: /dev/kvm can run it too */
	SCF_GUEST = 1 << 1,   /* a guest action: the kernel needs a running guest */
	SCF_NATIVE = 1 << 2,  /* virq's native API beyond KVM */
	SCF_TOOL = 1 << 3,    /* printing and checking, no effect on the VM */
	SCF_ENTRIES = 1 << 4, /* takes `entry` continuation lines */
	SCF_FREEKEYS = 1 << 5, /* keys are state paths, checked when run */
	SCF_REST = 1 << 6,    /* takes the rest of the line as text */
};

struct sc_spec {
	const char *name;
	enum sc_kind kind;
	unsigned flags;
	const char *keys;       /* allowed keys, space-separated; "key!" is required */
	const char *positional; /* the key a bare first value stands for, or NULL */
	const char *help;       /* one line for --help */
};

extern const struct sc_spec sc_specs[];
extern const unsigned sc_nr_specs;

enum sc_vkind {
	SC_V_NUM,  /* a number, or a constant of <linux/kvm.h> resolved to one */
	SC_V_SET,  /* {0x40, 0x41}: a set of vectors (0-255) */
	SC_V_NAME, /* an identifier left to the operation (eventfd, errno, ...) */
};

struct sc_value {
	enum sc_vkind kind;
	long long num;
	uint32_t set[8];
	char *name;
};

struct sc_arg {
	char *key;
	struct sc_value v;
	int col;  /* of the key */
	int vcol; /* of the value */
};

struct sc_args {
	int n;
	struct sc_arg *a;
};

struct sc_entry {
	int line;
	char *text; /* the line as written, comment and indentation removed */
	struct sc_args args;
};

struct sc_op {
	const struct sc_spec *spec;
	int line, col;
	char *text; /* the operation as written, comment and indentation removed */
	struct sc_args args;
	int nentries;
	struct sc_entry *entries;
	char *rest; /* SCF_REST: the text after the name */
};

struct sc_script {
	char *file;
	int nops;
	struct sc_op *ops;
};

/* Parse @text (a whole file) named @file.  0, or -1 with "file:line:col:
 * message" in @err. */
int sc_parse(const char *file, const char *text, struct sc_script *out, char *err, size_t errlen);
void sc_free(struct sc_script *s);

/* The argument @key of @args, or NULL. */
const struct sc_arg *sc_arg(const struct sc_args *args, const char *key);
/* Numeric value of @key, or @def when absent. */
long long sc_num(const struct sc_args *args, const char *key, long long def);

/* Parse one value as the language does (for expect values and tests). */
int sc_parse_value(const char *key, const char *text, struct sc_value *v, char *err, size_t errlen);

#endif
