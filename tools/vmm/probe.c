/* SPDX-License-Identifier: MIT */
/*
 * probe.c - the latency probe (virq vm --measure): the time from the
 * VMM's injection of an interrupt to the guest's handler.
 *
 * Every injection the VMM's devices make (the IRQ test device raising a
 * line, the MSI test port, the resample device raising its line) takes a
 * "mark": the time, on CLOCK_MONOTONIC.  The guest's handler writes the
 * hit port first thing, and the VMM records the time since the last mark
 * under the kind the guest wrote.  Kind 0 is the baseline: the guest
 * writes the mark port and then the hit port, one exit and one entry.
 *
 *   0x2300  write k: a hit of kind k (0..VMM_PROBE_KINDS-1)
 *   0x2304  write: mark now
 *
 * The guest runs one kind at a time and waits for each hit before the next
 * injection, so a mark always belongs to the hit that follows it.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vm.h"

#define PROBE_PORT	0x2300
#define  PROBE_HIT	0
#define  PROBE_MARK	4

static const char *const kind_name[VMM_PROBE_KINDS] = {
	"port write to port write (baseline)",
	"IOAPIC edge, IRQ test device",
	"MSI, MSI test port",
	"level irqfd + resamplefd, device thread",
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vmm_probe_mark(struct vmm *vm)
{
	if (vm->probe.on)
		atomic_store_explicit(&vm->probe.mark, now_ns(), memory_order_relaxed);
}

static void probe_hit(struct vmm *vm, uint32_t kind)
{
	struct vmm_probe *p = &vm->probe;
	uint64_t mark = atomic_load_explicit(&p->mark, memory_order_relaxed);
	uint64_t dt = now_ns() - mark;

	if (kind >= VMM_PROBE_KINDS || !mark)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->n[kind] < VMM_PROBE_SAMPLES)
		p->ns[kind][p->n[kind]++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
	pthread_mutex_unlock(&p->lock);
}

int vmm_probe_pio(struct vmm *vm, uint16_t port, uint8_t *data, int size, bool write)
{
	uint32_t v = 0;

	if (port != PROBE_PORT + PROBE_HIT && port != PROBE_PORT + PROBE_MARK)
		return 0;
	if (!write) {
		memset(data, 0, (size_t)size);
		return 1;
	}
	if (!vm->probe.on)
		return 1;
	for (int i = 0; i < size && i < 4; i++)
		v |= (uint32_t)data[i] << (8 * i);
	if (port == PROBE_PORT + PROBE_MARK)
		vmm_probe_mark(vm);
	else
		probe_hit(vm, v);
	return 1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void vmm_probe_report(struct vmm *vm, FILE *f)
{
	struct vmm_probe *p = &vm->probe;

	if (!p->on)
		return;
	fprintf(f, "latency from injection to the guest's handler, ns (irqchip %s, %d vCPUs):\n",
		vm->backend->name, vm->ncpus);
	fprintf(f, "  %-40s %7s %8s %8s %8s\n", "injection", "samples", "min", "median", "p90");
	for (int k = 0; k < VMM_PROBE_KINDS; k++) {
		uint32_t n = p->n[k], *s = p->ns[k];

		if (!n) {
			fprintf(f, "  %-40s %7u %8s %8s %8s\n", kind_name[k], 0u, "-", "-", "-");
			continue;
		}
		qsort(s, n, sizeof(*s), cmp_u32);
		fprintf(f, "  %-40s %7u %8u %8u %8u\n", kind_name[k], n, s[0], s[n / 2],
			s[(n * 9) / 10]);
	}
}

void vmm_probe_init(struct vmm *vm, bool on)
{
	pthread_mutex_init(&vm->probe.lock, NULL);
	vm->probe.on = on;
}

void vmm_probe_fini(struct vmm *vm)
{
	pthread_mutex_destroy(&vm->probe.lock);
}
