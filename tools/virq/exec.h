/* SPDX-License-Identifier: MIT */
/*
 * exec.h - running a scenario on virq, on /dev/kvm, or on both in lockstep.
 */
#ifndef VIRQ_TOOL_EXEC_H
#define VIRQ_TOOL_EXEC_H

#include <stdbool.h>
#include <stdio.h>

#include "scenario.h"

/* Exit codes of the virq command, the same for every subcommand. */
enum {
	EXIT_OK = 0,        /* done; every expectation held; no divergence */
	EXIT_FAILED = 1,    /* an expectation failed, an operation failed
			     * unexpectedly, or virq and the kernel diverged */
	EXIT_USAGE = 2,     /* bad command line or scenario (file:line:col) */
	EXIT_NOCOMPARE = 3, /* diff could not compare it all: no /dev/kvm, a
			     * feature the running kernel lacks, or an
			     * operation only virq can perform */
	EXIT_SYSTEM = 4,    /* the system refused (out of memory, open failed) */
};

struct run_opts {
	bool quiet;  /* no timeline; only failures and the summary */
	bool trace;  /* print trace events as they happen */
	bool events; /* print vCPU kicks and IOAPIC EOI exits */
	FILE *out;
};

/* `virq run`: the scenario on virq, with a timeline.  Returns an exit code. */
int exec_run(const struct sc_script *sc, const struct run_opts *o);

/* `virq state`: run quietly, then print the final state.  With @json as
 * one JSON object.  @what: CS_* mask. */
int exec_state(const struct sc_script *sc, unsigned what, bool json, FILE *out);

/* `virq diff`: run on /dev/kvm and on virq in lockstep, comparing results,
 * errno and decoded state after every operation; report the first
 * divergence. */
int exec_diff(const struct sc_script *sc, const struct run_opts *o);

/* `virq caps`: virq's capabilities beside the running kernel's. */
int exec_caps(bool all, bool json, FILE *out);

#endif
