/* SPDX-License-Identifier: MIT */
/*
 * backend.c - the list of irqchip backends `virq vm --irqchip` can use.
 * A mode that is not listed is reported as "not built yet".
 */
#include <stddef.h>
#include <string.h>

#include "backend.h"

static const struct vmm_backend *const backends[] = {
	&vmm_backend_kernel,
	&vmm_backend_split,
	&vmm_backend_userspace,
};

const struct vmm_backend *vmm_backend_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}
