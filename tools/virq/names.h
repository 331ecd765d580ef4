/* SPDX-License-Identifier: MIT */
/*
 * names.h - symbolic names a scenario may use: the constants of
 * <linux/kvm.h> (generated table) and errno names.
 */
#ifndef VIRQ_TOOL_NAMES_H
#define VIRQ_TOOL_NAMES_H

#include <stdbool.h>

struct kvm_name {
	const char *name;
	long long value;
};

extern const struct kvm_name kvm_names[];
extern const unsigned kvm_nr_names;

/* Value of a <linux/kvm.h> constant: @name exactly, or @prefix + @name
 * (so "MSI" with prefix "KVM_IRQ_ROUTING_" works).  @prefix may be NULL. */
bool kvm_name_lookup(const char *name, const char *prefix, long long *value);
/* The name of @value among the constants starting with @prefix, or NULL. */
const char *kvm_name_of(const char *prefix, long long value);

/* "EINVAL" -> 22; false if unknown. */
bool errno_lookup(const char *name, int *err);
/* 22 -> "EINVAL" ("E?" for an unknown number, in a static buffer). */
const char *errno_name(int err);

#endif
