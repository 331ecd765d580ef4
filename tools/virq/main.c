/* SPDX-License-Identifier: MIT */
/*
 * virq - the command-line face of libvirq.
 *
 *   virq [run] [FILE]   run a scenario (default: the built-in demo)
 *   virq state [FILE]   the state a scenario leaves, as tables or JSON
 *   virq diff FILE      the scenario on virq and on /dev/kvm, compared
 *   virq caps           virq's capabilities beside the kernel's
 *   virq check FILE...  parse scenarios without running them
 *   virq help [TOPIC]   help on a command, or on the scenario language
 *
 * Exit codes are the same for every command (exec.h): 0 success, 1 an
 * expectation failed or virq diverged from the kernel, 2 bad usage or
 * scenario, 3 nothing to compare against, 4 the system refused.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipstate.h"
#include "exec.h"
#include "scenario.h"
#include "virq/virq.h"
#include "vmm.h"

extern const char virq_demo_scenario[];

static const char usage_main[] =
	"usage: virq [COMMAND] [OPTIONS] [ARGS]\n"
	"\n"
	"Run the Linux KVM interrupt subsystem in user space, and look inside it.\n"
	"\n"
	"commands:\n"
	"  run [FILE]     run a scenario on virq and print a timeline (default: the\n"
	"                 built-in demo, which walks every delivery path)\n"
	"  state [FILE]   run a scenario quietly, then print the state it leaves\n"
	"  diff FILE      run a scenario on virq and on /dev/kvm; report the first divergence\n"
	"  caps           virq's capabilities beside the running kernel's\n"
	"  check FILE...  parse scenarios and report errors without running them\n"
	"  vm [IMAGE]     run a guest on /dev/kvm with virq as its irqchip (virq vm --help)\n"
	"  help [TOPIC]   help on a command, or `virq help scenario` for the language\n"
	"  version        print the version\n"
	"\n"
	"FILE may be - for standard input.  With no command, virq runs the demo.\n"
	"Exit status: 0 success, 1 an expectation failed or virq diverged from the\n"
	"kernel, 2 bad usage or scenario, 3 nothing to compare against, 4 system error.\n"
	"See virq(1) and docs/scenarios.md.\n";

static const char usage_run[] =
	"usage: virq run [--trace] [--no-events] [--quiet] [FILE]\n"
	"\n"
	"Run the scenario in FILE (default: the built-in demo) on virq and print a\n"
	"timeline: each operation with its line number and result, expectations and\n"
	"what virq reported.\n"
	"\n"
	"  -t, --trace      print trace events (kvm_set_irq, kvm_apic_accept_irq, ...)\n"
	"                   as they happen, in the kernel's tracepoint format\n"
	"      --no-events  do not print vCPU kicks and IOAPIC EOI notifications\n"
	"  -q, --quiet      print only failures and the summary\n"
	"      --print-demo print the built-in demo scenario and exit\n"
	"  -h, --help       this help\n"
	"\n"
	"Exit status: 0 when every expectation held, 1 when one failed or an\n"
	"operation failed without an `expect errno=...` after it, 2 for an error in\n"
	"the scenario (reported as file:line:col).\n";

static const char usage_state[] =
	"usage: virq state [--json] [--what LIST] [FILE]\n"
	"\n"
	"Run the scenario in FILE (default: the built-in demo) without a timeline and\n"
	"print the interrupt-controller state it leaves: PIC registers, the decoded\n"
	"IOAPIC redirection table, each LAPIC's registers and pending vectors, the\n"
	"routing table with per-route counters.\n"
	"\n"
	"  -j, --json       one JSON object instead of tables\n"
	"  -w, --what LIST  pic,ioapic,lapic,routing or all (default)\n"
	"  -h, --help       this help\n";

static const char usage_diff[] =
	"usage: virq diff [--quiet] FILE\n"
	"\n"
	"Run the scenario in FILE on /dev/kvm and on virq in lockstep.  After every\n"
	"operation compare the result, errno and the decoded PIC, IOAPIC and LAPIC\n"
	"state; stop at the first divergence and show it field by field.  Guest\n"
	"actions and virq-only operations end the comparison (the kernel needs a\n"
	"running guest for those); `expect` and `state` lines are skipped.\n"
	"\n"
	"  -q, --quiet      print only the verdict\n"
	"  -h, --help       this help\n"
	"\n"
	"Exit status: 0 identical, 1 diverged, 2 bad scenario, 3 could not compare\n"
	"everything (no /dev/kvm, a feature the running kernel lacks, or an\n"
	"operation only virq can do).\n";

static const char usage_caps[] =
	"usage: virq caps [--all] [--json]\n"
	"\n"
	"KVM_CHECK_EXTENSION for every capability of <linux/kvm.h>, on the system\n"
	"handle and on a VM, for the running kernel (when /dev/kvm exists) and for virq.\n"
	"\n"
	"  -a, --all        also capabilities that are 0 everywhere\n"
	"  -j, --json       JSON instead of a table\n"
	"  -h, --help       this help\n";

static const char usage_check[] =
	"usage: virq check FILE...\n"
	"\n"
	"Parse each scenario and report the first error in each as file:line:col.\n"
	"Exit status 0 if all parse, 2 otherwise.\n";

static char *read_all(FILE *f)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	while (buf) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);

		len += n;
		if (n == 0)
			break;
		if (cap - len - 1 == 0) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = 0;
	return buf;
}

/* Load and parse FILE ("-" for stdin, NULL for the built-in demo). */
static int load(const char *file, struct sc_script *sc)
{
	char err[600];
	char *text;
	int r;

	if (!file) {
		r = sc_parse("demo.virq", virq_demo_scenario, sc, err, sizeof(err));
	} else {
		FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;

		if (!f) {
			fprintf(stderr, "virq: cannot open %s: %s\n", file, strerror(errno));
			return EXIT_USAGE;
		}
		text = read_all(f);
		if (f != stdin)
			fclose(f);
		if (!text) {
			fprintf(stderr, "virq: cannot read %s\n", file);
			return EXIT_SYSTEM;
		}
		r = sc_parse(strcmp(file, "-") ? file : "<stdin>", text, sc, err, sizeof(err));
		free(text);
	}
	if (r) {
		fprintf(stderr, "%s\n", err);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int bad_usage(const char *usage, const char *what, const char *arg)
{
	fprintf(stderr, "virq: %s%s%s%s\n\n%s", what, arg ? " ('" : "", arg ? arg : "", arg ? "')" : "", usage);
	return EXIT_USAGE;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "trace", no_argument, NULL, 't' },	 { "quiet", no_argument, NULL, 'q' },
		{ "no-events", no_argument, NULL, 'E' }, { "print-demo", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },	 { 0 },
	};
	struct run_opts o = { .events = true, .out = stdout };
	struct sc_script sc;
	int c, r;

	while ((c = getopt_long(argc, argv, "+tqh", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			o.trace = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'E':
			o.events = false;
			break;
		case 'P':
			fputs(virq_demo_scenario, stdout);
			return EXIT_OK;
		case 'h':
			fputs(usage_run, stdout);
			return EXIT_OK;
		default:
			fprintf(stderr, "\n%s", usage_run);
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return bad_usage(usage_run, "run takes one FILE; extra argument", argv[optind + 1]);
	if ((r = load(optind < argc ? argv[optind] : NULL, &sc)))
		return r;
	if (optind == argc && !o.quiet)
		printf("virq %s: the built-in demo scenario (virq run --print-demo shows it)\n\n", virq_version());
	if (o.quiet)
		o.events = false;
	r = exec_run(&sc, &o);
	sc_free(&sc);
	return r;
}

static int cmd_state(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "what", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned what = CS_ALL;
	bool json = false;
	struct sc_script sc;
	int c, r;

	while ((c = getopt_long(argc, argv, "+jw:h", lo, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'w':
			if (cs_parse_what(optarg, &what))
				return bad_usage(usage_state, "--what takes pic,ioapic,lapic,routing or all",
						 optarg);
			break;
		case 'h':
			fputs(usage_state, stdout);
			return EXIT_OK;
		default:
			fprintf(stderr, "\n%s", usage_state);
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return bad_usage(usage_state, "state takes one FILE; extra argument", argv[optind + 1]);
	if ((r = load(optind < argc ? argv[optind] : NULL, &sc)))
		return r;
	r = exec_state(&sc, what, json, stdout);
	sc_free(&sc);
	return r;
}

static int cmd_diff(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct run_opts o = { .out = stdout };
	struct sc_script sc;
	int c, r;

	while ((c = getopt_long(argc, argv, "+qh", lo, NULL)) != -1) {
		switch (c) {
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			fputs(usage_diff, stdout);
			return EXIT_OK;
		default:
			fprintf(stderr, "\n%s", usage_diff);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return bad_usage(usage_diff, "diff takes exactly one FILE", NULL);
	if ((r = load(argv[optind], &sc)))
		return r;
	r = exec_diff(&sc, &o);
	sc_free(&sc);
	return r;
}

static int cmd_caps(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool all = false, json = false;
	int c;

	while ((c = getopt_long(argc, argv, "+ajh", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage_caps, stdout);
			return EXIT_OK;
		default:
			fprintf(stderr, "\n%s", usage_caps);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return bad_usage(usage_caps, "caps takes no argument", argv[optind]);
	return exec_caps(all, json, stdout);
}

static int cmd_check(int argc, char **argv)
{
	int r = EXIT_OK;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage_check, stdout);
		return EXIT_OK;
	}
	if (argc < 2)
		return bad_usage(usage_check, "check needs at least one FILE", NULL);
	for (int i = 1; i < argc; i++) {
		struct sc_script sc;
		int e = load(argv[i], &sc);

		if (e) {
			r = e;
			continue;
		}
		printf("%s: %d operations, ok\n", argv[i], sc.nops);
		sc_free(&sc);
	}
	return r;
}

static void help_scenario(void)
{
	printf("The scenario language (docs/scenarios.md has the full description)\n\n"
	       "One operation per line: NAME key=value ...  (# starts a comment).\n"
	       "Values: numbers (16, 0x40, -1, 1ms), <linux/kvm.h> constants (full or without\n"
	       "the prefix the field implies: type=MSI, irqchip=IOAPIC, cap=SPLIT_IRQCHIP),\n"
	       "several joined by |, vector sets {0x40, 0x41}, names (eventfds, saved states).\n"
	       "The VM exists before line 1; vCPUs are named by their id.\n\n");
	const char *groups[] = { "KVM ioctls (also run on /dev/kvm by `virq diff`)",
				 "guest actions (virq's native API; the kernel needs a running guest)",
				 "virq's own API beyond KVM", "the tool" };
	const unsigned gflags[] = { SCF_KERNEL, SCF_GUEST, SCF_NATIVE, SCF_TOOL };

	for (int g = 0; g < 4; g++) {
		printf("%s:\n", groups[g]);
		for (unsigned i = 0; i < sc_nr_specs; i++) {
			const struct sc_spec *s = &sc_specs[i];

			if (!(s->flags & gflags[g]))
				continue;
			printf("  %s", s->name);
			if (s->flags & SCF_REST)
				printf(" TEXT");
			else if (s->flags & SCF_FREEKEYS && s->kind != SC_EXPECT)
				printf(" %s FIELD=VALUE...", s->keys);
			else if (*s->keys)
				printf(" %s", s->keys);
			printf("\n      %s\n", s->help);
			if (s->flags & SCF_ENTRIES)
				printf("      entry gsi! type! [flags irqchip pin address_lo address_hi data devid ...]\n");
		}
		printf("\n");
	}
	printf("A field marked ! is required.  A failed operation must be followed by\n"
	       "`expect errno=NAME`.  State paths for expect (virq help state-paths):\n"
	       "  pic[0].irr  ioapic.redir[16].remote_irr  lapic[1].irr={0x40}  lapic[0].reg[0x80]\n"
	       "  vcpu[0].nmi_pending  route[16].count  route[16][0].delivered\n");
}

static int cmd_help(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : NULL;

	if (!t)
		fputs(usage_main, stdout);
	else if (!strcmp(t, "run"))
		fputs(usage_run, stdout);
	else if (!strcmp(t, "state"))
		fputs(usage_state, stdout);
	else if (!strcmp(t, "diff"))
		fputs(usage_diff, stdout);
	else if (!strcmp(t, "caps"))
		fputs(usage_caps, stdout);
	else if (!strcmp(t, "check"))
		fputs(usage_check, stdout);
	else if (!strcmp(t, "scenario"))
		help_scenario();
	else if (!strcmp(t, "state-paths")) {
		printf("State paths for `expect` and the JSON keys of `virq state --json`\n"
		       "(numbers in decimal or 0x hex; docs/scenarios.md):\n");
		cs_print_paths(stdout);
	}
	else {
		fprintf(stderr, "virq: no help on '%s' (commands: run state diff caps check; topics: "
				"scenario state-paths)\n", t);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "run";

	if (argc > 1 && argv[1][0] == '-' && strcmp(argv[1], "-")) {
		if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
			fputs(usage_main, stdout);
			return EXIT_OK;
		}
		if (!strcmp(argv[1], "--version")) {
			printf("virq %s\n", virq_version());
			return EXIT_OK;
		}
		/* Options without a command are run's: `virq --trace`. */
		return cmd_run(argc, argv);
	}
	if (argc > 1 && !strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (argc == 1)
		return cmd_run(argc, argv);
	if (!strcmp(cmd, "state"))
		return cmd_state(argc - 1, argv + 1);
	if (!strcmp(cmd, "diff"))
		return cmd_diff(argc - 1, argv + 1);
	if (!strcmp(cmd, "caps"))
		return cmd_caps(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "vm"))
		return vmm_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "help"))
		return cmd_help(argc - 1, argv + 1);
	if (!strcmp(cmd, "version")) {
		printf("virq %s\n", virq_version());
		return EXIT_OK;
	}
	if (strchr(cmd, '/') || strstr(cmd, ".virq")) /* `virq FILE` is `virq run FILE` */
		return cmd_run(argc, argv);
	fprintf(stderr, "virq: unknown command '%s'\n\n%s", cmd, usage_main);
	return EXIT_USAGE;
}
