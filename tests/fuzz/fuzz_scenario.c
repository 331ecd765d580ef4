/* SPDX-License-Identifier: MIT */
/*
 * fuzz_scenario - the scenario parser and executor on mutated scenarios:
 * no crash, no leak, no sanitizer report, whatever the text.  Mutants that
 * parse are run on virq, which also drives the library with odd values.
 *
 *   fuzz_scenario ITERATIONS SEED FILE...
 *
 * Built with -DVIRQ_LIBFUZZER it is a libFuzzer target instead (the input
 * is the scenario text).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "scenario.h"

static FILE *devnull;
static long parsed, clean;

static void one(const char *text)
{
	struct sc_script sc;
	char err[600];

	if (sc_parse("fuzz.virq", text, &sc, err, sizeof(err)))
		return;
	struct run_opts o = { .quiet = true, .out = devnull };

	parsed++;
	clean += exec_run(&sc, &o) <= EXIT_FAILED;
	sc_free(&sc);
}

#ifdef VIRQ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	if (!devnull) {
		devnull = fopen("/dev/null", "w");
		freopen("/dev/null", "w", stderr);
	}
	memcpy(text, data, size);
	text[size] = 0;
	one(text);
	free(text);
	return 0;
}
#else
static uint64_t rng;

static uint32_t rn(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng % n) : 0;
}

struct lines {
	int n;
	char **l;
};

static void split(const char *text, struct lines *out)
{
	for (const char *s = text; *s;) {
		size_t len = strcspn(s, "\n");

		out->l = realloc(out->l, sizeof(char *) * (size_t)(out->n + 1));
		out->l[out->n++] = strndup(s, len);
		s += len;
		if (*s)
			s++;
	}
}

static const char *const values[] = {
	"0", "1", "-1", "2", "255", "256", "0x40", "0xff", "24", "23", "4095", "4096", "1048576",
	"0xffffffff", "0x100000000", "0x7fffffffffffffff", "-9223372036854775808", "0xfee00000",
	"0xfec00000", "{}", "{0x40}", "{255,0,16}", "MSI", "IRQCHIP", "IOAPIC", "PIC_SLAVE",
	"HV_SINT", "XEN_EVTCHN", "S390_ADAPTER", "RESAMPLE", "DEASSIGN|RESAMPLE", "e", "1ms",
	"SPLIT_IRQCHIP", "X2APIC_API", "EINVAL",
};

/* Replace the value after a random '=' (or a random bare word). */
static char *mutate_value(const char *line)
{
	const char *eq = strchr(line, '=');
	size_t n = strlen(line);
	char *out;

	if (!eq || rn(4) == 0)
		eq = line + rn((uint32_t)n + 1) - 1;
	if (eq < line)
		eq = line;
	const char *end = *eq ? eq + 1 : eq;

	while (*end && *end != ' ')
		end++;
	const char *v = values[rn(sizeof(values) / sizeof(values[0]))];

	out = malloc(n + strlen(v) + 3);
	sprintf(out, "%.*s%s%s%s", (int)(eq - line), line, *eq == '=' ? "=" : "", v, end);
	return out;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 2000;
	struct lines pool = { 0 };

	rng = argc > 2 ? strtoull(argv[2], NULL, 0) | 1 : 0x9e3779b97f4a7c15ull;
	devnull = fopen("/dev/null", "w");
	if (!devnull || !freopen("/dev/null", "w", stderr))
		return 1;
	for (int i = 3; i < argc; i++) {
		FILE *f = fopen(argv[i], "r");
		char buf[1 << 16];
		size_t len;

		if (!f)
			return 1;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		buf[len] = 0;
		fclose(f);
		split(buf, &pool);
	}
	if (!pool.n)
		split("KVM_CREATE_IRQCHIP\nKVM_CREATE_VCPU 0\nKVM_IRQ_LINE irq=1 level=1\n", &pool);

	for (long it = 0; it < iters; it++) {
		int n = 1 + (int)rn(40);
		char **l = calloc((size_t)n, sizeof(char *));
		size_t total = 1;
		char *text;

		/* A run of consecutive pool lines (a coherent start), then noise. */
		int start = (int)rn((uint32_t)pool.n);

		for (int i = 0; i < n; i++) {
			const char *src = pool.l[rn(3) ? (start + i) % pool.n : (int)rn((uint32_t)pool.n)];

			switch (rn(8)) {
			case 0:
				l[i] = mutate_value(src);
				break;
			case 1: {
				l[i] = strdup(src);
				if (*l[i])
					l[i][rn((uint32_t)strlen(l[i]))] = (char)(rn(95) + 32);
				break;
			}
			default:
				l[i] = strdup(src);
			}
			total += strlen(l[i]) + 1;
		}
		/* Mostly after a VM shape, so the operations reach the models. */
		static const char *const shapes[] = {
			"KVM_CREATE_IRQCHIP\nKVM_CREATE_VCPU 0\nKVM_CREATE_VCPU 1\n"
			"KVM_SET_LAPIC vcpu=0 svr=0x1ff\nKVM_SET_LAPIC vcpu=1 svr=0x1ff\neventfd e\n",
			"KVM_ENABLE_CAP cap=SPLIT_IRQCHIP args=24\nKVM_CREATE_VCPU 0\n"
			"KVM_SET_LAPIC vcpu=0 svr=0x1ff\neventfd e\n",
			"",
		};
		const char *shape = shapes[rn(3)];

		total += strlen(shape);
		text = malloc(total);
		strcpy(text, shape);
		for (int i = 0; i < n; i++) {
			strcat(text, l[i]);
			strcat(text, "\n");
			free(l[i]);
		}
		free(l);
		one(text);
		free(text);
	}
	for (int i = 0; i < pool.n; i++)
		free(pool.l[i]);
	free(pool.l);
	fclose(devnull);
	printf("fuzz_scenario: %ld mutated scenarios, %ld parsed, %ld ran to the end; no crash\n", iters,
	       parsed, clean);
	return 0;
}
#endif
