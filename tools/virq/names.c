/* SPDX-License-Identifier: MIT */
#include "names.h"

#include <stdio.h>
#include <string.h>

bool kvm_name_lookup(const char *name, const char *prefix, long long *value)
{
	size_t pl = prefix ? strlen(prefix) : 0;

	for (unsigned i = 0; i < kvm_nr_names; i++) {
		const char *n = kvm_names[i].name;

		if (!strcmp(n, name) || (pl && !strncmp(n, prefix, pl) && !strcmp(n + pl, name))) {
			*value = kvm_names[i].value;
			return true;
		}
	}
	return false;
}

const char *kvm_name_of(const char *prefix, long long value)
{
	size_t pl = strlen(prefix);

	for (unsigned i = 0; i < kvm_nr_names; i++)
		if (kvm_names[i].value == value && !strncmp(kvm_names[i].name, prefix, pl))
			return kvm_names[i].name;
	return NULL;
}

bool errno_lookup(const char *name, int *err)
{
	for (int e = 1; e < 134; e++) {
		const char *n = strerrorname_np(e);

		if (n && !strcmp(n, name)) {
			*err = e;
			return true;
		}
	}
	return false;
}

const char *errno_name(int err)
{
	static __thread char buf[16];
	const char *n = strerrorname_np(err);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}
