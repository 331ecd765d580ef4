/* SPDX-License-Identifier: MIT */
/*
 * stress.c - no interrupt is lost or duplicated under concurrency.
 *
 * One VM with the in-kernel irqchip (KVM_CREATE_IRQCHIP) and several vCPUs,
 * each with its LAPIC software-enabled (SVR 0x1ff, TPR 0, LVT0 masked, the
 * PICs masked so no ExtINT interferes).  Concurrently:
 *
 *   injector threads  send interrupts for "tokens".  A token is one source:
 *                       msi               KVM_SIGNAL_MSI, fixed, physical
 *                       gsi->msi          KVM_IRQ_LINE(_STATUS) on a GSI
 *                                         with an MSI route
 *                       ioapic-edge       KVM_IRQ_LINE raise+lower on an
 *                                         edge IOAPIC pin
 *                       ioapic-level      KVM_IRQ_LINE assert on a level
 *                                         pin; the vCPU lowers it
 *                       irqfd->msi        eventfd write / virq_irqfd_trigger
 *                       irqfd->ioapic-edge  on a GSI bound with KVM_IRQFD
 *                       irqfd-resample    KVM_IRQFD_FLAG_RESAMPLE, level pin
 *                     Each token has exactly one injector.
 *   vCPU threads      loop virq_vcpu_has_interrupt -> ack -> record -> EOI
 *                     and sleep on the VIRQ_EVENT_KICK callback otherwise.
 *   a churn thread    keeps rewriting routing: whole-table
 *                     KVM_SET_GSI_ROUTING, virq_route_set() of one GSI,
 *                     batches (virq_route_batch_*), IOAPIC redirection
 *                     entries (IOREGSEL/IOWIN), routes for "dummy" GSIs
 *                     that point nowhere (added and removed), and reads
 *                     everything back (virq_route_get, virq_routing_get).
 *
 * Every token owns fixed (vCPU, vector) pairs -- no two tokens share one,
 * and IOAPIC vectors are not used by anything else on any vCPU, so an EOI
 * broadcast can only reach its own pin.  Routing changes move a token
 * between its own pairs (an MSI route flips between two pairs on two
 * vCPUs, an IOAPIC edge entry between two vectors, a low pin's GSI between
 * [IOAPIC] and [IOAPIC, PIC]), so any delivery is attributable: the vCPU
 * maps (vCPU, vector) -> token.  A token's GSI is never left without a
 * route.
 *
 * Exact counting (ping-pong): interrupt k of a token is sent only after
 * the vCPU side has recorded the ack of k-1 ("done"), so architectural
 * coalescing cannot happen and acks == sends must hold exactly.  An ack
 * that finds nothing outstanding is a duplicate; a token that waits longer
 * than --timeout for its ack is lost.  Level tokens ask for 1-3 acks per
 * assertion: the vCPU keeps the line high across the EOI (remote IRR ->
 * re-delivery) until the last, then lowers it before the EOI.  Resampling
 * irqfds complete when resamplefd fires.  No timing assumption is made
 * except the lost timeout.
 *
 * Free-running phase: msi, gsi->msi and ioapic-edge tokens (synchronous
 * injections) are sent without waiting (bursts of up to 4 per observed
 * ack); then acks <= sends at every ack, and after the injectors stop and
 * everything drains, every token's last send was followed by an ack and
 * nothing is pending (no vCPU has an interrupt, no IOAPIC pin has IRR or
 * remote IRR).  This check is weaker than ping-pong by nature: an ack
 * after the last send started cannot tell which send it consumed.  Rounds
 * of ping-pong + free running + drain repeat until --duration / --ops.
 * Priority starvation of low vectors is architectural: a token waiting
 * more than 0.25 s holds all injection until everything drains ("holds").
 * The main thread also polls virq_vm_poll_timers() (IOAPIC EOI-storm
 * re-delivery) and reports a vCPU that had a deliverable interrupt but no
 * VIRQ_EVENT_KICK for over --timeout seconds.
 *
 * irqfd sources are used when KVM_CAP_IRQFD is reported and KVM_IRQFD
 * works (skipped with a message otherwise).  --irqfd-inject chooses
 * eventfd writes, virq_irqfd_trigger() or both; --irqfd-poll N switches
 * the VM to VIRQ_IRQFD_POLL with N threads calling virq_irqfd_dispatch().
 * A failure prints the token, its counts, how its last sends were made,
 * its route history around the lost send and, once every thread stopped,
 * where its vectors are (LAPIC IRR/ISR/TMR, IOAPIC entry), plus the seed.
 *
 * Exit: 0 pass, 1 fail, 77 skip.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "virq/virq.h"

#define MAX_VCPUS      16
#define MAX_INJ	       32
#define MAX_TOKENS     2048
#define VEC_MIN	       0x20
#define VEC_MAX	       0xfe
#define NR_VEC	       256
#define HIST	       64
#define HIST_FREEZE_NS 1000000ull /* stop recording 1 ms into an outstanding send */
#define NDUMMY	       24
#define GSI_LIMIT      4096 /* KVM_MAX_IRQ_ROUTES on x86 */
#define IOAPIC_PINS    24
#define RTC_PIN	       8    /* RTC coalescing quirk: kept out of the test */
#define DUMMY_DEST     0xfe /* APIC ID no vCPU has (0xff would broadcast) */
#define FREE_BURST     4
#define EXIT_SKIP      77

enum kind {
	K_MSI,
	K_GSI_MSI,
	K_IOAPIC_EDGE,
	K_IOAPIC_LEVEL,
	K_IRQFD_MSI,
	K_IRQFD_EDGE,
	K_IRQFD_RESAMPLE,
	K_NR
};

static const char *const kind_name[K_NR] = {
    "msi", "gsi->msi", "ioapic-edge", "ioapic-level", "irqfd->msi", "irqfd->ioapic-edge", "irqfd-resample",
};

enum phase { PH_PINGPONG, PH_FREE, PH_PARK };

/* How a send was made (diagnostics). */
enum how { HOW_NONE, HOW_MSI, HOW_LINE, HOW_LINE_STATUS, HOW_EVENTFD, HOW_TRIGGER };
static const char *const how_name[] = {
    "-", "KVM_SIGNAL_MSI", "KVM_IRQ_LINE", "KVM_IRQ_LINE_STATUS", "eventfd write", "virq_irqfd_trigger"};

/* Route history operations. */
enum hop { H_INIT, H_SINGLE, H_BATCH, H_FULL, H_RTE };
static const char *const hop_name[] = {"initial", "virq_route_set", "batch", "KVM_SET_GSI_ROUTING",
				       "IOAPIC RTE"};

struct alt {
	uint8_t vcpu; /* vCPU index == APIC ID */
	uint8_t vec;
};

struct hist_ent {
	uint64_t t_ns;
	uint8_t op;  /* enum hop */
	uint8_t alt; /* MSI alternative or RTE vector alternative in force */
	uint8_t pic; /* low IOAPIC pin: the GSI also routes to the PIC */
};

struct token {
	int id;
	enum kind kind;
	int inj;  /* owning injector */
	int gsi;  /* -1 for K_MSI */
	int pin;  /* IOAPIC pin or -1 */
	int nalt; /* (vCPU, vector) pairs the token owns */
	struct alt alt[2];
	int efd, rfd; /* irqfd kinds: eventfd, resamplefd (-1 if none) */
	bool free_ok; /* takes part in the free-running phase */

	/* Routing model: setup, then the churn thread only. */
	int m_alt; /* MSI route alternative */
	int m_rte; /* IOAPIC edge entry vector alternative */
	int m_pic; /* low pin: GSI routed to PIC as well */

	/* The protocol. */
	_Atomic uint64_t expected;  /* acks the vCPUs owe (injector adds) */
	_Atomic uint64_t acked;	    /* acks seen (vCPUs) */
	_Atomic uint64_t done;	    /* ping-pong handshake (vCPU, after recording) */
	_Atomic uint64_t resampled; /* resamplefd counts read (injector) */
	_Atomic uint64_t send_ns;   /* last send */
	_Atomic uint64_t sends;	    /* injection calls */
	_Atomic uint64_t last_send_ticket, last_ack_ticket;
	_Atomic uint32_t last_ack; /* 1 + (vcpu << 8 | vector), 0 = none */
	_Atomic int free_mode;	   /* sent free-running this round */
	_Atomic int reported;	   /* lost: reported once */
	_Atomic uint32_t how;	   /* last two send methods (enum how), newest in bits 0-7 */

	/* Injector-private. */
	uint64_t burst_acked;
	int burst;

	pthread_mutex_t hlock;
	struct hist_ent hist[HIST];
	uint32_t hn;
};

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	/* xorshift64* */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ull;
}

static uint32_t rnd_below(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)((rnd(r) >> 32) % n) : 0;
}

static void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	r->s = (seed ^ (stream * 0x9e3779b97f4a7c15ull)) | 1;
	for (int i = 0; i < 8; i++)
		rnd(r);
}

struct vcpu_ctx {
	int idx;
	int fd;
	pthread_t th;
	struct rng rng;
	_Atomic uint32_t kick_seq; /* futex word: kicks and pokes */
	_Atomic uint32_t sleeping;
	_Atomic uint64_t kicks;	   /* VIRQ_EVENT_KICK callbacks */
	_Atomic uint32_t idle_gen; /* drain generation seen idle */
	_Atomic uint64_t acks;
	_Atomic uint64_t late_kicks;
	_Atomic uint64_t deasserts;
} __attribute__((aligned(64)));

struct inj_ctx {
	int idx;
	pthread_t th;
	struct rng rng;
	struct token **toks;
	int ntoks;
	_Atomic uint32_t wake_seq; /* futex word */
	_Atomic uint32_t sleeping;
	_Atomic uint32_t park_ack; /* park generation acknowledged */
	_Atomic uint64_t sends, free_sends, noise;
} __attribute__((aligned(64)));

struct churn_stats {
	_Atomic uint64_t single, batch, batch_gsis, batch_abort, full, full_gsis, rte, dummy;
	_Atomic uint64_t verify_one, verify_all, stats_reads;
};

struct config {
	double duration;
	uint64_t ops;
	int nvcpus;
	int ninj;
	int ntokens;
	uint64_t seed;
	bool soak;
	double timeout;
	double round;
	double free_frac;
	double starve;
	bool verbose;
	bool use_irqfd;
	bool churn;
	int irqfd_inject; /* IRQFD_WRITE, IRQFD_TRIGGER or IRQFD_MIX */
	int irqfd_poll;	  /* VIRQ_IRQFD_POLL with this many dispatcher threads (0: virq's thread) */
	int self_check;	  /* negative control: SELF_LOST / SELF_DUP (the run must fail) */
};

enum { SELF_NONE, SELF_LOST, SELF_DUP };

enum { IRQFD_MIX, IRQFD_WRITE, IRQFD_TRIGGER };

static struct {
	struct config cfg;
	int sys, vm;
	struct vcpu_ctx vcpu[MAX_VCPUS];
	struct inj_ctx inj[MAX_INJ];
	pthread_t churn_th;
	pthread_t disp_th[8];
	int poll_fd;
	_Atomic uint64_t dispatched;
	struct churn_stats cs;
	struct token *tok;
	int ntok;
	struct token *owner[MAX_VCPUS][NR_VEC];
	bool vec_global[NR_VEC];      /* reserved on every vCPU (IOAPIC vectors) */
	int32_t gsi_owner[GSI_LIMIT]; /* token index, -2 - dummy index, -1 none */
	int dummy_gsi[NDUMMY];
	bool dummy_on[NDUMMY];
	int count[K_NR];

	bool have_irqfd, have_trigger, have_resample;
	bool have_route_set, have_route_get, have_routing_get, have_batch, have_stats;
	const char *irqfd_why, *resample_why;

	_Atomic int phase;
	_Atomic uint32_t park_gen;
	_Atomic int hold;
	_Atomic int stop_inj, stop_churn, stop_vcpu;
	_Atomic int failed;
	_Atomic int nfail_msgs;
	_Atomic uint64_t ticket;
	_Atomic uint32_t drain_gen;
	_Atomic uint64_t holds;
	_Atomic int suspect; /* token index to dump, -1 */
	pthread_mutex_t print_lock;
	pthread_mutex_t ioapic_lock;
	uint64_t t0;
} S;

/* ---- helpers ------------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double since_start(uint64_t t)
{
	return (double)(t - S.t0) / 1e9;
}

__attribute__((format(printf, 1, 2))) static void msg(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&S.print_lock);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&S.print_lock);
}

/* Record a failure (first ones printed), optionally naming a token to dump. */
__attribute__((format(printf, 2, 3))) static void fail(const struct token *t, const char *fmt, ...)
{
	va_list ap;
	int expected = -1;

	atomic_store(&S.failed, 1);
	if (t)
		atomic_compare_exchange_strong(&S.suspect, &expected, t->id);
	if (atomic_fetch_add(&S.nfail_msgs, 1) >= 20)
		return;
	pthread_mutex_lock(&S.print_lock);
	fprintf(stdout, "FAIL [+%.6f s]: ", since_start(now_ns()));
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	pthread_mutex_unlock(&S.print_lock);
}

static bool failed(void)
{
	return atomic_load_explicit(&S.failed, memory_order_relaxed) != 0;
}

static int futex_wait(_Atomic uint32_t *addr, uint32_t val, long timeout_ns)
{
	struct timespec ts = {.tv_sec = timeout_ns / 1000000000l, .tv_nsec = timeout_ns % 1000000000l};

	if (syscall(SYS_futex, (void *)addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0) == 0)
		return 0;
	return -errno;
}

static void futex_wake(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, (void *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Waker side of a futex word with a "sleeping" flag (seq_cst: Dekker). */
static void wake_word(_Atomic uint32_t *seq, _Atomic uint32_t *sleeping)
{
	atomic_fetch_add(seq, 1);
	if (atomic_load(sleeping))
		futex_wake(seq);
}

/* Sleeper side: sleep unless @seq moved since @seen.  -ETIMEDOUT on timeout. */
static int sleep_word(_Atomic uint32_t *seq, _Atomic uint32_t *sleeping, uint32_t seen, long timeout_ns)
{
	int r = 0;

	atomic_store(sleeping, 1);
	if (atomic_load(seq) == seen)
		r = futex_wait(seq, seen, timeout_ns);
	atomic_store(sleeping, 0);
	return r;
}

static void sleep_ns(long ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000l, .tv_nsec = ns % 1000000000l};

	nanosleep(&ts, NULL);
}

static uint64_t next_ticket(void)
{
	return atomic_fetch_add(&S.ticket, 1) + 1;
}

/* ---- route history ------------------------------------------------------ */

static bool pp_pending(struct token *t)
{
	uint64_t exp = atomic_load(&t->expected);

	if (atomic_load(&t->free_mode))
		return false;
	if (atomic_load(&t->done) != exp)
		return true;
	return t->kind == K_IRQFD_RESAMPLE && atomic_load(&t->resampled) != exp;
}

static void hist_add(struct token *t, enum hop op)
{
	struct hist_ent *h;
	uint64_t now = now_ns();

	/* A send outstanding for a while may be lost: keep the history
	 * around it instead of overwriting it. */
	if (op != H_INIT && pp_pending(t) && now - atomic_load(&t->send_ns) > HIST_FREEZE_NS)
		return;
	pthread_mutex_lock(&t->hlock);
	h = &t->hist[t->hn++ % HIST];
	h->t_ns = now;
	h->op = (uint8_t)op;
	h->alt = (uint8_t)(t->kind == K_IOAPIC_EDGE || t->kind == K_IRQFD_EDGE ? t->m_rte : t->m_alt);
	h->pic = (uint8_t)t->m_pic;
	pthread_mutex_unlock(&t->hlock);
}

static void dump_token(struct token *t)
{
	uint64_t now = now_ns();
	uint32_t la = atomic_load(&t->last_ack);
	uint64_t exp = atomic_load(&t->expected), ack = atomic_load(&t->acked);

	msg("  token %d: %s, injector %d, gsi %d, pin %d\n", t->id, kind_name[t->kind], t->inj, t->gsi,
	    t->pin);
	msg("    sends %" PRIu64 ", expected acks %" PRIu64 ", acked %" PRIu64 ", done %" PRIu64
	    ", resampled %" PRIu64 ", free-running %d\n",
	    atomic_load(&t->sends), exp, ack, atomic_load(&t->done), atomic_load(&t->resampled),
	    atomic_load(&t->free_mode));
	msg("    last send %.6f s ago (ticket %" PRIu64 "), last ack ticket %" PRIu64 "%s",
	    (double)(now - atomic_load(&t->send_ns)) / 1e9, atomic_load(&t->last_send_ticket),
	    atomic_load(&t->last_ack_ticket), la ? "" : ", never acked\n");
	if (la)
		msg(" on vCPU %u vector 0x%02x\n", ((la - 1) >> 8) & 0xff, (la - 1) & 0xff);
	msg("    last send via %s, the one before via %s\n", how_name[atomic_load(&t->how) & 0xff],
	    how_name[(atomic_load(&t->how) >> 8) & 0xff]);
	for (int i = 0; i < t->nalt; i++)
		msg("    owns vCPU %u vector 0x%02x\n", t->alt[i].vcpu, t->alt[i].vec);
	pthread_mutex_lock(&t->hlock);
	msg("    route history (last %u of %u, oldest first; times relative to the last send,\n"
	    "    recording stops %.0f ms after a send that stays unacked):\n",
	    t->hn < HIST ? t->hn : HIST, t->hn, (double)HIST_FREEZE_NS / 1e6);
	for (uint32_t i = t->hn > HIST ? t->hn - HIST : 0; i < t->hn; i++) {
		const struct hist_ent *h = &t->hist[i % HIST];
		bool pin_tok = t->kind == K_IOAPIC_EDGE || t->kind == K_IRQFD_EDGE;

		msg("      %+10.3f ms %-20s -> %s %d%s\n",
		    ((double)h->t_ns - (double)atomic_load(&t->send_ns)) / 1e6, hop_name[h->op],
		    pin_tok ? "RTE vector alt" : "MSI alt", h->alt,
		    pin_tok && t->pin < 16 ? (h->pic ? " (GSI -> IOAPIC+PIC)" : " (GSI -> IOAPIC)") : "");
	}
	pthread_mutex_unlock(&t->hlock);
}

/* ---- routing model ------------------------------------------------------ */

static void msi_entry(struct kvm_irq_routing_entry *e, uint32_t gsi, uint32_t dest, uint32_t vec)
{
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = 0xfee00000u | (dest << 12);
	e->u.msi.data = vec;
}

static void chip_entry(struct kvm_irq_routing_entry *e, uint32_t gsi, uint32_t chip, uint32_t pin)
{
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

/* The routes the model says @gsi has; returns how many (0-2). */
static int model_entries(int gsi, struct kvm_irq_routing_entry *out)
{
	int o = S.gsi_owner[gsi];
	struct token *t;

	if (o == -1)
		return 0;
	if (o <= -2) {
		if (!S.dummy_on[-2 - o])
			return 0;
		msi_entry(out, (uint32_t)gsi, DUMMY_DEST, 0x40);
		return 1;
	}
	t = &S.tok[o];
	if (t->pin >= 0) {
		chip_entry(&out[0], (uint32_t)gsi, KVM_IRQCHIP_IOAPIC, (uint32_t)t->pin);
		if (t->m_pic) {
			if (t->pin < 8)
				chip_entry(&out[1], (uint32_t)gsi, KVM_IRQCHIP_PIC_MASTER, (uint32_t)t->pin);
			else
				chip_entry(&out[1], (uint32_t)gsi, KVM_IRQCHIP_PIC_SLAVE,
					   (uint32_t)t->pin - 8);
			return 2;
		}
		return 1;
	}
	msi_entry(out, (uint32_t)gsi, t->alt[t->m_alt].vcpu, t->alt[t->m_alt].vec);
	return 1;
}

static bool entry_equal(const struct kvm_irq_routing_entry *a, const struct kvm_irq_routing_entry *b)
{
	if (a->gsi != b->gsi || a->type != b->type || a->flags != b->flags)
		return false;
	if (a->type == KVM_IRQ_ROUTING_MSI)
		return a->u.msi.address_lo == b->u.msi.address_lo &&
		       a->u.msi.address_hi == b->u.msi.address_hi && a->u.msi.data == b->u.msi.data;
	return a->u.irqchip.irqchip == b->u.irqchip.irqchip && a->u.irqchip.pin == b->u.irqchip.pin;
}

static void fmt_entry(char *buf, size_t n, const struct kvm_irq_routing_entry *e)
{
	if (e->type == KVM_IRQ_ROUTING_MSI)
		snprintf(buf, n, "gsi %u msi addr 0x%08x data 0x%x", e->gsi, e->u.msi.address_lo,
			 e->u.msi.data);
	else
		snprintf(buf, n, "gsi %u type %u chip %u pin %u", e->gsi, e->type, e->u.irqchip.irqchip,
			 e->u.irqchip.pin);
}

/* Every GSI the model routes, in GSI order (the KVM_SET_GSI_ROUTING table). */
static uint32_t model_table(struct kvm_irq_routing_entry *out)
{
	uint32_t n = 0;

	for (int g = 0; g < GSI_LIMIT; g++)
		if (S.gsi_owner[g] != -1)
			n += (uint32_t)model_entries(g, &out[n]);
	return n;
}

static struct kvm_irq_routing *routing_alloc(uint32_t max)
{
	return calloc(1, sizeof(struct kvm_irq_routing) + max * sizeof(struct kvm_irq_routing_entry));
}

static uint32_t model_max_entries(void)
{
	return (uint32_t)S.ntok * 2 + NDUMMY + 8;
}

/* ---- IOAPIC ------------------------------------------------------------- */

static int ioapic_rte_write(uint32_t pin, uint32_t lo, uint32_t hi)
{
	uint32_t sel;
	int r;

	pthread_mutex_lock(&S.ioapic_lock); /* IOREGSEL is shared state, as for a guest */
	sel = 0x10 + 2 * pin + 1;
	r = virq_ioapic_write(S.vm, 0x00, &sel, 4);
	if (!r)
		r = virq_ioapic_write(S.vm, 0x10, &hi, 4);
	sel = 0x10 + 2 * pin;
	if (!r)
		r = virq_ioapic_write(S.vm, 0x00, &sel, 4);
	if (!r)
		r = virq_ioapic_write(S.vm, 0x10, &lo, 4);
	pthread_mutex_unlock(&S.ioapic_lock);
	return r;
}

static uint32_t rte_low(const struct token *t)
{
	uint32_t lo = t->alt[t->kind == K_IOAPIC_EDGE || t->kind == K_IRQFD_EDGE ? t->m_rte : 0].vec;

	if (t->kind == K_IOAPIC_LEVEL || t->kind == K_IRQFD_RESAMPLE)
		lo |= 1u << 15; /* level-triggered, active high, fixed, physical, unmasked */
	return lo;
}

/* ---- injection ---------------------------------------------------------- */

static bool pin_kind(enum kind k)
{
	return k == K_IOAPIC_EDGE || k == K_IOAPIC_LEVEL || k == K_IRQFD_EDGE || k == K_IRQFD_RESAMPLE;
}

static bool irqfd_kind(enum kind k)
{
	return k == K_IRQFD_MSI || k == K_IRQFD_EDGE || k == K_IRQFD_RESAMPLE;
}

static void note_how(struct token *t, enum how h)
{
	atomic_store_explicit(&t->how, (atomic_load_explicit(&t->how, memory_order_relaxed) << 8) | h,
			      memory_order_relaxed);
}

static void irq_line(struct token *t, uint32_t level, bool want_status)
{
	struct kvm_irq_level l = {.irq = (uint32_t)t->gsi, .level = level};
	int r;

	if (level)
		note_how(t, want_status ? HOW_LINE_STATUS : HOW_LINE);
	if (want_status) {
		r = virq_ioctl(S.vm, KVM_IRQ_LINE_STATUS, &l);
		if (r != 0) {
			fail(t, "KVM_IRQ_LINE_STATUS gsi %d level %u: %d (%s)", t->gsi, level, r,
			     strerror(errno));
			return;
		}
		/* An MSI route reaches exactly one enabled LAPIC; an edge pin
		 * delivers to one (the PIC, masked, adds nothing or 1). */
		if (level && t->kind == K_GSI_MSI && l.status != 1)
			fail(t, "KVM_IRQ_LINE_STATUS gsi %d (MSI route) status %d, want 1", t->gsi, l.status);
		if (level && t->kind == K_IOAPIC_EDGE && l.status < 1)
			fail(t, "KVM_IRQ_LINE_STATUS gsi %d (edge pin) status %d, want >= 1", t->gsi,
			     l.status);
	} else {
		r = virq_ioctl(S.vm, KVM_IRQ_LINE, &l);
		if (r != 0)
			fail(t, "KVM_IRQ_LINE gsi %d level %u: %d (%s)", t->gsi, level, r, strerror(errno));
	}
}

static void inject(struct inj_ctx *ic, struct token *t)
{
	uint64_t one = 1;
	int r;

	switch (t->kind) {
	case K_MSI: {
		const struct alt *a = &t->alt[rnd_below(&ic->rng, (uint32_t)t->nalt)];
		struct kvm_msi m = {.address_lo = 0xfee00000u | ((uint32_t)a->vcpu << 12), .data = a->vec};

		note_how(t, HOW_MSI);
		r = virq_ioctl(S.vm, KVM_SIGNAL_MSI, &m);
		if (r != 1)
			fail(t, "KVM_SIGNAL_MSI to vCPU %u vector 0x%02x returned %d (%s), want 1", a->vcpu,
			     a->vec, r, r < 0 ? strerror(errno) : "-");
		break;
	}
	case K_GSI_MSI:
		irq_line(t, 1, rnd(&ic->rng) & 1);
		if (!(rnd(&ic->rng) & 3))
			irq_line(t, 0, false); /* harmless for an MSI route */
		break;
	case K_IOAPIC_EDGE:
		irq_line(t, 1, rnd(&ic->rng) & 1);
		irq_line(t, 0, false);
		break;
	case K_IOAPIC_LEVEL:
		irq_line(t, 1, false); /* the vCPU lowers it */
		break;
	case K_IRQFD_MSI:
	case K_IRQFD_EDGE:
	case K_IRQFD_RESAMPLE:
		if (S.have_trigger && (S.cfg.irqfd_inject == IRQFD_TRIGGER ||
				       (S.cfg.irqfd_inject == IRQFD_MIX && (rnd(&ic->rng) & 1)))) {
			note_how(t, HOW_TRIGGER);
			r = virq_irqfd_trigger(S.vm, t->efd);
			if (r)
				fail(t, "virq_irqfd_trigger(eventfd %d): %d", t->efd, r);
		} else {
			note_how(t, HOW_EVENTFD);
			if (write(t->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
				fail(t, "eventfd write: %s", strerror(errno));
		}
		break;
	default:
		break;
	}
}

/* Ping-pong: the previous interrupt was recorded (and resampled). */
static bool token_ready(struct token *t)
{
	uint64_t exp = atomic_load_explicit(&t->expected, memory_order_relaxed);

	if (atomic_load_explicit(&t->done, memory_order_acquire) != exp)
		return false;
	return t->kind != K_IRQFD_RESAMPLE || atomic_load(&t->resampled) == exp;
}

static void send_pingpong(struct inj_ctx *ic, struct token *t)
{
	uint64_t n = t->kind == K_IOAPIC_LEVEL ? 1 + rnd_below(&ic->rng, 3) : 1;

	atomic_store(&t->send_ns, now_ns());
	atomic_fetch_add(&t->expected, n);
	atomic_store(&t->last_send_ticket, next_ticket());
	atomic_fetch_add_explicit(&t->sends, 1, memory_order_relaxed);
	/* Negative control: token 0's 100th interrupt is dropped or sent twice
	 * by the test itself, which must then report it lost or duplicated. */
	if (S.cfg.self_check && t->id == 0 && atomic_load(&t->sends) == 100) {
		uint64_t t0 = now_ns();

		if (S.cfg.self_check == SELF_LOST)
			return;
		/* Send again once the first was acked, and let the extra one
		 * be acked before the next send (pending together, they would
		 * just coalesce, as they should). */
		inject(ic, t);
		while (atomic_load(&t->acked) < atomic_load(&t->expected) && now_ns() - t0 < 1000000000ull)
			sleep_ns(10000);
		inject(ic, t);
		while (atomic_load(&t->acked) <= atomic_load(&t->expected) && now_ns() - t0 < 1000000000ull)
			sleep_ns(10000);
		return;
	}
	inject(ic, t);
	atomic_fetch_add_explicit(&ic->sends, 1, memory_order_relaxed);
}

static void send_free(struct inj_ctx *ic, struct token *t)
{
	uint64_t acked = atomic_load_explicit(&t->acked, memory_order_relaxed);

	/* Bursts of up to FREE_BURST per observed ack keep coalescing
	 * frequent without flooding the vCPUs. */
	if (acked != t->burst_acked) {
		t->burst_acked = acked;
		t->burst = 0;
	}
	if (t->burst >= FREE_BURST)
		return;
	t->burst++;
	if (!atomic_load_explicit(&t->free_mode, memory_order_relaxed))
		atomic_store(&t->free_mode, 1);
	atomic_store(&t->send_ns, now_ns());
	atomic_fetch_add(&t->expected, 1);
	atomic_store(&t->last_send_ticket, next_ticket());
	atomic_fetch_add_explicit(&t->sends, 1, memory_order_relaxed);
	inject(ic, t);
	atomic_fetch_add_explicit(&ic->sends, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ic->free_sends, 1, memory_order_relaxed);
}

static void service_resample(struct token *t)
{
	uint64_t v, r;

	if (t->rfd < 0 || read(t->rfd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return;
	r = atomic_fetch_add(&t->resampled, v) + v;
	if (r > atomic_load(&t->expected))
		fail(t, "token %d: resamplefd fired %" PRIu64 " times for %" PRIu64 " interrupts", t->id, r,
		     atomic_load(&t->expected));
}

/* An IRQ_LINE on a dummy GSI: its route (if any) points at no vCPU. */
static void noise(struct inj_ctx *ic)
{
	int g = S.dummy_gsi[rnd_below(&ic->rng, NDUMMY)];
	struct kvm_irq_level l = {.irq = (uint32_t)g, .level = 1};

	if (virq_ioctl(S.vm, KVM_IRQ_LINE_STATUS, &l) != 0)
		fail(NULL, "KVM_IRQ_LINE_STATUS dummy gsi %d: %s", g, strerror(errno));
	else if (l.status > 0)
		fail(NULL, "dummy gsi %d (route to absent APIC ID or none) delivered: status %d", g,
		     l.status);
	atomic_fetch_add_explicit(&ic->noise, 1, memory_order_relaxed);
}

static void *injector_main(void *arg)
{
	struct inj_ctx *ic = arg;
	uint64_t iter = 0;

	while (!atomic_load(&S.stop_inj)) {
		uint32_t seen = atomic_load(&ic->wake_seq);
		int ph = atomic_load(&S.phase);
		bool progress = false;

		if (ph == PH_PARK) {
			atomic_store(&ic->park_ack, atomic_load(&S.park_gen));
			for (int i = 0; i < ic->ntoks; i++)
				if (ic->toks[i]->kind == K_IRQFD_RESAMPLE)
					service_resample(ic->toks[i]);
			sleep_word(&ic->wake_seq, &ic->sleeping, seen, 1000000);
			continue;
		}
		if (ic->idx == 0 && (++iter & 63) == 0) {
			noise(ic);
			progress = true;
		}
		for (int i = 0; i < ic->ntoks; i++) {
			struct token *t = ic->toks[i];

			if (atomic_load_explicit(&S.phase, memory_order_relaxed) != ph)
				break;
			if (t->kind == K_IRQFD_RESAMPLE)
				service_resample(t);
			if (atomic_load_explicit(&S.hold, memory_order_relaxed))
				continue;
			if (ph == PH_FREE && t->free_ok) {
				send_free(ic, t);
				progress = true;
			} else if (!atomic_load_explicit(&t->free_mode, memory_order_relaxed) &&
				   token_ready(t)) {
				send_pingpong(ic, t);
				progress = true;
			}
		}
		if (failed())
			break;
		if (!progress)
			sleep_word(&ic->wake_seq, &ic->sleeping, seen, 1000000);
	}
	return NULL;
}

/* ---- irqfd dispatchers (VIRQ_IRQFD_POLL) ------------------------------- */

static void *dispatcher_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&S.stop_vcpu) && !failed()) {
		struct pollfd p = {.fd = S.poll_fd, .events = POLLIN};
		int r;

		if (poll(&p, 1, 50) <= 0)
			continue;
		r = virq_irqfd_dispatch(S.vm);
		if (r < 0) {
			fail(NULL, "virq_irqfd_dispatch: %d", r);
			break;
		}
		atomic_fetch_add_explicit(&S.dispatched, (uint64_t)r, memory_order_relaxed);
	}
	return NULL;
}

/* ---- vCPUs -------------------------------------------------------------- */

static void on_event(void *opaque, int vcpu_fd, const struct virq_event *ev)
{
	struct vcpu_ctx *vc = opaque;

	(void)vcpu_fd;
	if (ev->type != VIRQ_EVENT_KICK)
		return;
	atomic_fetch_add_explicit(&vc->kicks, 1, memory_order_relaxed);
	wake_word(&vc->kick_seq, &vc->sleeping);
}

static void handle_one(struct vcpu_ctx *vc)
{
	int vec = virq_vcpu_ack_interrupt(vc->fd);
	struct token *t;
	uint64_t a, exp;
	int e;

	if (vec < 0) {
		fail(NULL, "vCPU %d: has_interrupt said 1 but ack returned %d", vc->idx, vec);
		return;
	}
	t = vec < NR_VEC ? S.owner[vc->idx][vec] : NULL;
	if (!t) {
		fail(NULL, "vCPU %d acked vector 0x%02x that no token owns (spurious delivery)", vc->idx,
		     vec);
		virq_vcpu_eoi(vc->fd);
		return;
	}
	a = atomic_fetch_add(&t->acked, 1) + 1;
	exp = atomic_load(&t->expected);
	atomic_store(&t->last_ack_ticket, next_ticket());
	atomic_store(&t->last_ack, 1u + ((uint32_t)vc->idx << 8 | (uint32_t)vec));
	atomic_fetch_add_explicit(&vc->acks, 1, memory_order_relaxed);
	if (a > exp)
		fail(t,
		     "DUPLICATE: token %d (%s) acked on vCPU %d vector 0x%02x: ack #%" PRIu64
		     " but only %" PRIu64 " sent",
		     t->id, kind_name[t->kind], vc->idx, vec, a, exp);
	if (a == exp) {
		if (t->kind == K_IOAPIC_LEVEL) {
			/* The guest's handler quiets the device before the EOI. */
			struct kvm_irq_level l = {.irq = (uint32_t)t->gsi, .level = 0};

			if (virq_ioctl(S.vm, KVM_IRQ_LINE, &l) != 0)
				fail(t, "deassert gsi %d: %s", t->gsi, strerror(errno));
			atomic_fetch_add_explicit(&vc->deasserts, 1, memory_order_relaxed);
		}
		atomic_store_explicit(&t->done, a, memory_order_release);
		wake_word(&S.inj[t->inj].wake_seq, &S.inj[t->inj].sleeping);
	}
	e = virq_vcpu_eoi(vc->fd);
	if (e != vec)
		fail(t, "vCPU %d: EOI after acking 0x%02x ended %d", vc->idx, vec, e);
	if (t->kind == K_IRQFD_RESAMPLE)
		wake_word(&S.inj[t->inj].wake_seq, &S.inj[t->inj].sleeping); /* resamplefd fired in the EOI */
}

static void *vcpu_main(void *arg)
{
	struct vcpu_ctx *vc = arg;
	const long kick_timeout = 1000000000l;

	while (!atomic_load(&S.stop_vcpu) && !failed()) {
		uint32_t seen = atomic_load(&vc->kick_seq);
		uint32_t gen = atomic_load(&S.drain_gen);
		uint64_t kicks = atomic_load(&vc->kicks);
		int r = virq_vcpu_has_interrupt(vc->fd);

		if (r < 0) {
			fail(NULL, "vCPU %d: has_interrupt: %d", vc->idx, r);
			break;
		}
		if (r == 1) {
			handle_one(vc);
			continue;
		}
		atomic_store(&vc->idle_gen, gen);
		if (sleep_word(&vc->kick_seq, &vc->sleeping, seen, kick_timeout) != -ETIMEDOUT)
			continue;
		/* Slept a whole second: was an interrupt pending without a kick? */
		if (virq_vcpu_has_interrupt(vc->fd) == 1 && atomic_load(&vc->kicks) == kicks) {
			uint64_t t0 = now_ns();

			atomic_fetch_add(&vc->late_kicks, 1);
			while (atomic_load(&vc->kicks) == kicks && !atomic_load(&S.stop_vcpu) &&
			       now_ns() - t0 < (uint64_t)(S.cfg.timeout * 1e9))
				sleep_ns(1000000);
			if (atomic_load(&vc->kicks) == kicks && !atomic_load(&S.stop_vcpu))
				fail(NULL,
				     "MISSED KICK: vCPU %d had a deliverable interrupt for over %.1f s "
				     "and no VIRQ_EVENT_KICK arrived",
				     vc->idx, 1 + S.cfg.timeout);
		}
	}
	return NULL;
}

/* ---- churn -------------------------------------------------------------- */

/* Tokens the churn thread can move: MSI routes and low edge pins. */
static int flippable[MAX_TOKENS], nflippable;
static int rte_tokens[IOAPIC_PINS], nrte_tokens;

static void flip_model(struct token *t, struct rng *r)
{
	if (t->pin >= 0)
		t->m_pic ^= 1;
	else
		t->m_alt = (int)rnd_below(r, (uint32_t)t->nalt);
}

static int route_set_model(int gsi)
{
	struct kvm_irq_routing_entry e[2];
	int n = model_entries(gsi, e);

	return virq_route_set(S.vm, (uint32_t)gsi, e, (uint32_t)n);
}

static void churn_single(struct rng *r)
{
	struct token *t = &S.tok[flippable[rnd_below(r, (uint32_t)nflippable)]];
	int save_alt = t->m_alt, save_pic = t->m_pic, e;

	flip_model(t, r);
	e = route_set_model(t->gsi);
	if (e) {
		t->m_alt = save_alt;
		t->m_pic = save_pic;
		fail(t, "virq_route_set(gsi %d): %d", t->gsi, e);
		return;
	}
	hist_add(t, H_SINGLE);
	atomic_fetch_add_explicit(&S.cs.single, 1, memory_order_relaxed);
}

static void churn_batch(struct rng *r)
{
	struct virq_route_batch *b = NULL;
	int idx[16], n = 2 + (int)rnd_below(r, 15), e;
	int save_alt[16], save_pic[16];
	bool abort_it = rnd_below(r, 20) == 0;

	e = virq_route_batch_begin(S.vm, &b);
	if (e) {
		fail(NULL, "virq_route_batch_begin: %d", e);
		return;
	}
	for (int i = 0; i < n; i++) {
		struct kvm_irq_routing_entry ent[2];
		struct token *t;
		int ne;

		/* Sometimes the same GSI twice: the last change must win. */
		idx[i] =
		    i && rnd_below(r, 8) == 0 ? idx[i - 1] : flippable[rnd_below(r, (uint32_t)nflippable)];
		t = &S.tok[idx[i]];
		save_alt[i] = t->m_alt;
		save_pic[i] = t->m_pic;
		flip_model(t, r);
		ne = model_entries(t->gsi, ent);
		e = virq_route_batch_set(b, (uint32_t)t->gsi, ent, (uint32_t)ne);
		if (e) {
			fail(t, "virq_route_batch_set(gsi %d): %d", t->gsi, e);
			n = i + 1;
			abort_it = true;
			break;
		}
	}
	if (abort_it) {
		virq_route_batch_abort(b);
		for (int i = n - 1; i >= 0; i--) {
			S.tok[idx[i]].m_alt = save_alt[i];
			S.tok[idx[i]].m_pic = save_pic[i];
		}
		atomic_fetch_add_explicit(&S.cs.batch_abort, 1, memory_order_relaxed);
		return;
	}
	e = virq_route_batch_commit(b);
	if (e) {
		for (int i = n - 1; i >= 0; i--) {
			S.tok[idx[i]].m_alt = save_alt[i];
			S.tok[idx[i]].m_pic = save_pic[i];
		}
		fail(&S.tok[idx[0]], "virq_route_batch_commit (%d GSIs): %d", n, e);
		return;
	}
	for (int i = 0; i < n; i++)
		hist_add(&S.tok[idx[i]], H_BATCH);
	atomic_fetch_add_explicit(&S.cs.batch, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&S.cs.batch_gsis, (uint64_t)n, memory_order_relaxed);
}

static void churn_full(struct rng *r, struct kvm_irq_routing *tbl)
{
	int r2;

	for (int i = 0; i < nflippable; i++)
		if (rnd(r) & 1)
			flip_model(&S.tok[flippable[i]], r);
	for (int i = 0; i < NDUMMY; i++)
		if (rnd_below(r, 4) == 0)
			S.dummy_on[i] = !S.dummy_on[i];
	tbl->nr = model_table(tbl->entries);
	tbl->flags = 0;
	r2 = virq_ioctl(S.vm, KVM_SET_GSI_ROUTING, tbl);
	if (r2) {
		fail(NULL, "KVM_SET_GSI_ROUTING (%u entries): %s", tbl->nr, strerror(errno));
		return;
	}
	for (int i = 0; i < S.ntok; i++)
		if (S.tok[i].gsi >= 0)
			hist_add(&S.tok[i], H_FULL);
	atomic_fetch_add_explicit(&S.cs.full, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&S.cs.full_gsis, tbl->nr, memory_order_relaxed);
}

static void churn_rte(struct rng *r)
{
	struct token *t = &S.tok[rte_tokens[rnd_below(r, (uint32_t)nrte_tokens)]];
	int e;

	t->m_rte ^= 1;
	e = ioapic_rte_write((uint32_t)t->pin, rte_low(t), (uint32_t)t->alt[0].vcpu << 24);
	if (e) {
		fail(t, "IOAPIC RTE write pin %d: %d", t->pin, e);
		return;
	}
	hist_add(t, H_RTE);
	atomic_fetch_add_explicit(&S.cs.rte, 1, memory_order_relaxed);
}

static void churn_dummy(struct rng *r)
{
	int i = (int)rnd_below(r, NDUMMY), e;

	S.dummy_on[i] = !S.dummy_on[i];
	e = route_set_model(S.dummy_gsi[i]);
	if (e) {
		S.dummy_on[i] = !S.dummy_on[i];
		fail(NULL, "virq_route_set(dummy gsi %d, %s): %d", S.dummy_gsi[i],
		     S.dummy_on[i] ? "remove" : "add", e);
		return;
	}
	atomic_fetch_add_explicit(&S.cs.dummy, 1, memory_order_relaxed);
}

static void verify_one(int gsi)
{
	struct kvm_irq_routing_entry want[2], got[4];
	int nw = model_entries(gsi, want);
	int ng = virq_route_get(S.vm, (uint32_t)gsi, got, 4);
	char b1[96], b2[96];
	const struct token *t = S.gsi_owner[gsi] >= 0 ? &S.tok[S.gsi_owner[gsi]] : NULL;

	if (ng != nw) {
		fail(t, "virq_route_get(gsi %d) returned %d routes, the churn thread set %d", gsi, ng, nw);
		return;
	}
	for (int i = 0; i < nw; i++) {
		if (!entry_equal(&want[i], &got[i])) {
			fmt_entry(b1, sizeof(b1), &want[i]);
			fmt_entry(b2, sizeof(b2), &got[i]);
			fail(t, "virq_route_get(gsi %d)[%d]: got %s, set %s", gsi, i, b2, b1);
			return;
		}
	}
	atomic_fetch_add_explicit(&S.cs.verify_one, 1, memory_order_relaxed);
}

static void verify_all(struct kvm_irq_routing *want, struct kvm_irq_routing_entry *got, uint32_t max)
{
	long n;
	char b1[96], b2[96];

	want->nr = model_table(want->entries);
	n = virq_routing_get(S.vm, got, max);
	if (n != (long)want->nr) {
		fail(NULL, "virq_routing_get returned %ld routes, the churn thread set %u", n, want->nr);
		return;
	}
	for (uint32_t i = 0; i < want->nr; i++) {
		if (!entry_equal(&want->entries[i], &got[i])) {
			fmt_entry(b1, sizeof(b1), &want->entries[i]);
			fmt_entry(b2, sizeof(b2), &got[i]);
			fail(NULL, "virq_routing_get[%u]: got %s, set %s", i, b2, b1);
			return;
		}
	}
	atomic_fetch_add_explicit(&S.cs.verify_all, 1, memory_order_relaxed);
}

static void *churn_main(void *arg)
{
	struct rng r;
	uint32_t max = model_max_entries();
	struct kvm_irq_routing *tbl = routing_alloc(max);
	struct kvm_irq_routing_entry *got = calloc(max, sizeof(*got));
	uint64_t iter = 0;

	(void)arg;
	rng_seed(&r, S.cfg.seed, 1000);
	if (!tbl || !got) {
		fail(NULL, "out of memory");
		return NULL;
	}
	while (!atomic_load(&S.stop_churn) && !failed()) {
		uint32_t op = rnd_below(&r, 100);

		iter++;
		if (op < 40) {
			if (S.have_route_set && nflippable)
				churn_single(&r);
			else
				churn_full(&r, tbl);
		} else if (op < 60) {
			if (S.have_batch && nflippable)
				churn_batch(&r);
			else
				churn_full(&r, tbl);
		} else if (op < 64) {
			churn_full(&r, tbl);
		} else if (op < 80) {
			if (nrte_tokens)
				churn_rte(&r);
		} else if (op < 90) {
			if (S.have_route_set)
				churn_dummy(&r);
		} else if (op < 98) {
			int g = S.tok[rnd_below(&r, (uint32_t)S.ntok)].gsi;

			if (S.have_route_get)
				verify_one(g >= 0 ? g : S.dummy_gsi[rnd_below(&r, NDUMMY)]);
		} else if (S.have_stats) {
			struct virq_route_stats st[2];
			int g = S.tok[rnd_below(&r, (uint32_t)S.ntok)].gsi;

			if (g >= 0 && virq_route_stats(S.vm, (uint32_t)g, st, 2) < 0)
				fail(NULL, "virq_route_stats(gsi %d) failed", g);
			atomic_fetch_add_explicit(&S.cs.stats_reads, 1, memory_order_relaxed);
		}
		if (S.have_routing_get && iter % 256 == 0)
			verify_all(tbl, got, max);
	}
	free(tbl);
	free(got);
	return NULL;
}

/* ---- setup -------------------------------------------------------------- */

static int lapic_w(int fd, uint32_t off, uint32_t val)
{
	return virq_lapic_write(fd, off, &val, 4);
}

static int probe_features(void)
{
	struct kvm_irq_routing_entry e;
	struct virq_route_batch *b = NULL;
	long n;
	int r;

	r = virq_ioctl(S.vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD);
	S.irqfd_why = NULL;
	if (!S.cfg.use_irqfd)
		S.irqfd_why = "disabled by --no-irqfd";
	else if (r <= 0)
		S.irqfd_why = "KVM_CHECK_EXTENSION(KVM_CAP_IRQFD) = 0";
	S.have_irqfd = S.irqfd_why == NULL; /* confirmed by the first KVM_IRQFD */

	/* Native routing calls: may be missing (-ENOSYS) while being written. */
	msi_entry(&e, (uint32_t)S.dummy_gsi[0], DUMMY_DEST, 0x40);
	r = virq_route_set(S.vm, (uint32_t)S.dummy_gsi[0], &e, 1);
	S.have_route_set = r == 0;
	if (r && r != -ENOSYS) {
		fprintf(stderr, "virq_route_set on a fresh GSI: %d\n", r);
		return -1;
	}
	n = virq_route_get(S.vm, (uint32_t)S.dummy_gsi[0], &e, 1);
	S.have_route_get = n != -ENOSYS;
	n = virq_routing_get(S.vm, NULL, 0);
	S.have_routing_get = n != -ENOSYS;
	S.have_stats = virq_route_stats(S.vm, (uint32_t)S.dummy_gsi[0], NULL, 0) != -ENOSYS;
	if (S.have_route_set && virq_route_set(S.vm, (uint32_t)S.dummy_gsi[0], NULL, 0)) {
		fprintf(stderr, "virq_route_set(nr 0) failed\n");
		return -1;
	}
	r = virq_route_batch_begin(S.vm, &b);
	S.have_batch = r == 0;
	if (r == 0)
		virq_route_batch_abort(b);
	if (!S.have_route_set)
		msg("stress: virq_route_set returns ENOSYS: single-GSI and dummy churn skipped\n");
	if (!S.have_batch)
		msg("stress: virq_route_batch_begin returns %d: batch churn skipped\n", r);
	if (!S.have_route_get || !S.have_routing_get)
		msg("stress: virq_route_get/virq_routing_get return ENOSYS: read-back checks skipped\n");
	return 0;
}

static int alloc_vec(struct rng *r, bool used[MAX_VCPUS][NR_VEC], int vcpu)
{
	int free_n = 0, pick;

	for (int v = VEC_MIN; v <= VEC_MAX; v++)
		free_n += !used[vcpu][v];
	if (!free_n)
		return -1;
	pick = (int)rnd_below(r, (uint32_t)free_n);
	for (int v = VEC_MIN; v <= VEC_MAX; v++) {
		if (used[vcpu][v])
			continue;
		if (pick-- == 0) {
			used[vcpu][v] = true;
			return v;
		}
	}
	return -1;
}

static int alloc_global_vec(struct rng *r, bool used[MAX_VCPUS][NR_VEC])
{
	for (int tries = 0; tries < 10000; tries++) {
		int v = VEC_MIN + (int)rnd_below(r, VEC_MAX - VEC_MIN + 1);
		bool ok = true;

		for (int c = 0; c < S.cfg.nvcpus; c++)
			ok = ok && !used[c][v];
		if (!ok)
			continue;
		for (int c = 0; c < S.cfg.nvcpus; c++)
			used[c][v] = true;
		S.vec_global[v] = true;
		return v;
	}
	return -1;
}

static int pick_gsi(struct rng *r)
{
	for (;;) {
		int g = 24 + (int)rnd_below(r, GSI_LIMIT - 24);

		if (S.gsi_owner[g] == -1)
			return g;
	}
}

/* Decide the token mix, then give every token its pairs, GSI and pin. */
static int make_tokens(struct rng *r)
{
	static const int low_pins[] = {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15};
	static const int high_pins[] = {16, 17, 18, 19, 20, 21, 22, 23};
	static bool used[MAX_VCPUS][NR_VEC];
	int n = S.cfg.ntokens, edge_pins, level_pins, nmsi, k = 0;
	int lp = 0, hp = 0;

	for (int g = 0; g < GSI_LIMIT; g++)
		S.gsi_owner[g] = -1;
	for (int i = 0; i < NDUMMY; i++) {
		S.dummy_gsi[i] = pick_gsi(r);
		S.gsi_owner[S.dummy_gsi[i]] = -2 - i;
	}

	edge_pins = n / 6 < 15 ? n / 6 : 15;
	level_pins = n / 8 < 8 ? n / 8 : 8;
	if (edge_pins < 1 && n >= 3)
		edge_pins = 1;
	if (level_pins < 1 && n >= 3)
		level_pins = 1;
	if (S.have_irqfd) {
		S.count[K_IRQFD_EDGE] = edge_pins / 3;
		S.count[K_IRQFD_RESAMPLE] = level_pins * 3 / 8;
	}
	S.count[K_IOAPIC_EDGE] = edge_pins - S.count[K_IRQFD_EDGE];
	S.count[K_IOAPIC_LEVEL] = level_pins - S.count[K_IRQFD_RESAMPLE];
	nmsi = n - edge_pins - level_pins;
	if (nmsi < 0)
		nmsi = 0;
	if (S.have_irqfd) {
		S.count[K_IRQFD_MSI] = nmsi / 3;
		nmsi -= S.count[K_IRQFD_MSI];
	}
	S.count[K_GSI_MSI] = nmsi / 2;
	S.count[K_MSI] = nmsi - S.count[K_GSI_MSI];

	/* Capacity: pins take global vectors, MSI tokens two per-vCPU ones. */
	{
		int global = 2 * edge_pins + level_pins;
		int per_vcpu = VEC_MAX - VEC_MIN + 1 - global;
		int msi_tokens = S.count[K_MSI] + S.count[K_GSI_MSI] + S.count[K_IRQFD_MSI];
		int cap = per_vcpu * S.cfg.nvcpus / 2 - 2;

		if (msi_tokens > cap) {
			msg("stress: %d MSI tokens do not fit in %d vCPUs' vectors; using %d\n", msi_tokens,
			    S.cfg.nvcpus, cap);
			while (msi_tokens > cap) {
				for (int kd = K_MSI; kd <= K_IRQFD_MSI && msi_tokens > cap; kd++)
					if ((kd == K_MSI || kd == K_GSI_MSI || kd == K_IRQFD_MSI) &&
					    S.count[kd] > 0) {
						S.count[kd]--;
						msi_tokens--;
					}
			}
		}
	}
	S.ntok = 0;
	for (int kd = 0; kd < K_NR; kd++)
		S.ntok += S.count[kd];
	S.tok = calloc((size_t)S.ntok, sizeof(*S.tok));
	if (!S.tok)
		return -1;

	/* Pins first: their vectors must be free on every vCPU. */
	static const enum kind order[K_NR] = {K_IOAPIC_EDGE, K_IOAPIC_LEVEL, K_IRQFD_EDGE, K_IRQFD_RESAMPLE,
					      K_MSI,	     K_GSI_MSI,	     K_IRQFD_MSI};
	for (int oi = 0; oi < K_NR; oi++) {
		int kd = (int)order[oi];

		for (int c = 0; c < S.count[kd]; c++, k++) {
			struct token *t = &S.tok[k];

			t->id = k;
			t->kind = (enum kind)kd;
			t->efd = t->rfd = -1;
			t->gsi = t->pin = -1;
			pthread_mutex_init(&t->hlock, NULL);
			if (pin_kind(t->kind)) {
				bool level = kd == K_IOAPIC_LEVEL || kd == K_IRQFD_RESAMPLE;
				uint8_t cpu = (uint8_t)rnd_below(r, (uint32_t)S.cfg.nvcpus);

				t->pin = level ? high_pins[hp++] : low_pins[lp++];
				t->gsi = t->pin;
				t->nalt = level ? 1 : 2;
				for (int a = 0; a < t->nalt; a++) {
					int v = alloc_global_vec(r, used);

					if (v < 0)
						return -1;
					t->alt[a].vcpu = cpu;
					t->alt[a].vec = (uint8_t)v;
				}
				t->m_pic = t->pin < 16 && !level ? (int)(rnd(r) & 1) : 0;
				t->m_rte = 0;
			} else {
				uint8_t c0 = (uint8_t)rnd_below(r, (uint32_t)S.cfg.nvcpus);
				uint8_t c1 =
				    S.cfg.nvcpus > 1
					? (uint8_t)((c0 + 1 + rnd_below(r, (uint32_t)S.cfg.nvcpus - 1)) %
						    (uint32_t)S.cfg.nvcpus)
					: c0;

				t->nalt = 2;
				t->alt[0].vcpu = c0;
				t->alt[1].vcpu = c1;
				for (int a = 0; a < 2; a++) {
					int v = alloc_vec(r, used, t->alt[a].vcpu);

					if (v < 0)
						return -1;
					t->alt[a].vec = (uint8_t)v;
				}
				if (kd != K_MSI)
					t->gsi = pick_gsi(r);
				t->m_alt = (int)(rnd(r) & 1);
			}
			if (t->gsi >= 0)
				S.gsi_owner[t->gsi] = k;
			for (int a = 0; a < t->nalt; a++)
				S.owner[t->alt[a].vcpu][t->alt[a].vec] = t;
			t->free_ok = kd == K_MSI || kd == K_GSI_MSI || kd == K_IOAPIC_EDGE;
		}
	}
	/* Interleave kinds over the injectors. */
	for (int i = 0; i < S.ntok; i++)
		S.tok[i].inj = i % S.cfg.ninj;
	return 0;
}

static int setup_irqfds(void)
{
	for (int i = 0; i < S.ntok; i++) {
		struct token *t = &S.tok[i];
		struct kvm_irqfd a;

		if (!irqfd_kind(t->kind))
			continue;
		t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->efd < 0)
			return -1;
		memset(&a, 0, sizeof(a));
		a.fd = (uint32_t)t->efd;
		a.gsi = (uint32_t)t->gsi;
		if (t->kind == K_IRQFD_RESAMPLE) {
			t->rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (t->rfd < 0)
				return -1;
			a.flags = KVM_IRQFD_FLAG_RESAMPLE;
			a.resamplefd = (uint32_t)t->rfd;
		}
		if (virq_ioctl(S.vm, KVM_IRQFD, &a) != 0) {
			fprintf(stderr, "KVM_IRQFD gsi %d%s: %s\n", t->gsi,
				t->kind == K_IRQFD_RESAMPLE ? " (resample)" : "", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void teardown_irqfds(void)
{
	for (int i = 0; i < S.ntok; i++) {
		struct token *t = &S.tok[i];
		struct kvm_irqfd a;

		if (t->efd < 0)
			continue;
		memset(&a, 0, sizeof(a));
		a.fd = (uint32_t)t->efd;
		a.gsi = (uint32_t)t->gsi;
		a.flags = KVM_IRQFD_FLAG_DEASSIGN;
		if (S.have_irqfd && virq_ioctl(S.vm, KVM_IRQFD, &a) != 0)
			fail(t, "KVM_IRQFD deassign gsi %d: %s", t->gsi, strerror(errno));
		close(t->efd);
		if (t->rfd >= 0)
			close(t->rfd);
		t->efd = t->rfd = -1;
	}
}

/* irqfd: probe with a scratch binding (ENOTTY until irqfd.c lands). */
static void probe_irqfd(void)
{
	struct kvm_irqfd a;
	int efd, rfd, g = S.dummy_gsi[1];

	S.have_trigger = S.have_resample = false;
	if (!S.have_irqfd)
		return;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	memset(&a, 0, sizeof(a));
	a.fd = (uint32_t)efd;
	a.gsi = (uint32_t)g;
	if (virq_ioctl(S.vm, KVM_IRQFD, &a) != 0) {
		S.have_irqfd = false;
		S.irqfd_why = errno == ENOTTY ? "KVM_IRQFD: ENOTTY" : "KVM_IRQFD failed";
		close(efd);
		return;
	}
	S.have_trigger = virq_irqfd_trigger(S.vm, efd) == 0;
	a.flags = KVM_IRQFD_FLAG_DEASSIGN;
	virq_ioctl(S.vm, KVM_IRQFD, &a);
	close(efd);

	/* Resampling needs an IOAPIC pin; probe on pin 23 (routes to the IOAPIC by default). */
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	memset(&a, 0, sizeof(a));
	a.fd = (uint32_t)efd;
	a.gsi = 23;
	a.flags = KVM_IRQFD_FLAG_RESAMPLE;
	a.resamplefd = (uint32_t)rfd;
	if (virq_ioctl(S.vm, KVM_IRQFD, &a) == 0) {
		S.have_resample = true;
		a.flags = KVM_IRQFD_FLAG_DEASSIGN;
		virq_ioctl(S.vm, KVM_IRQFD, &a);
	} else {
		S.resample_why = strerror(errno);
	}
	close(efd);
	close(rfd);
}

static int setup(void)
{
	struct rng r;
	uint8_t imr = 0xff;
	struct kvm_irq_routing *tbl;

	rng_seed(&r, S.cfg.seed, 0);
	S.sys = virq_open(VIRQ_ARCH_X86);
	if (S.sys < 0) {
		fprintf(stderr, "virq_open: %s\n", strerror(errno));
		return errno == ENODEV ? EXIT_SKIP : 1;
	}
	S.vm = virq_ioctl(S.sys, KVM_CREATE_VM, 0);
	if (S.vm < 0 || virq_ioctl(S.vm, KVM_CREATE_IRQCHIP, 0) != 0) {
		fprintf(stderr, "KVM_CREATE_VM/KVM_CREATE_IRQCHIP: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < S.cfg.nvcpus; i++) {
		struct vcpu_ctx *vc = &S.vcpu[i];

		vc->idx = i;
		rng_seed(&vc->rng, S.cfg.seed, 100 + (uint64_t)i);
		vc->fd = virq_ioctl(S.vm, KVM_CREATE_VCPU, i);
		if (vc->fd < 0) {
			fprintf(stderr, "KVM_CREATE_VCPU %d: %s\n", i, strerror(errno));
			return 1;
		}
		if (virq_vcpu_set_event_fn(vc->fd, on_event, vc) ||
		    lapic_w(vc->fd, 0x20, (uint32_t)i << 24) || /* APIC ID = index */
		    lapic_w(vc->fd, 0xf0, 0x1ff) ||		/* SVR: software-enabled */
		    lapic_w(vc->fd, 0x80, 0) ||			/* TPR 0 */
		    lapic_w(vc->fd, 0x350, 1u << 16)) {		/* LVT0 masked: no ExtINT */
			fprintf(stderr, "vCPU %d LAPIC setup failed\n", i);
			return 1;
		}
	}
	/* Mask both PICs (OCW1): GSIs 0-15 also reach them. */
	if (virq_pio_write(S.vm, 0x21, &imr, 1) || virq_pio_write(S.vm, 0xa1, &imr, 1)) {
		fprintf(stderr, "PIC mask failed\n");
		return 1;
	}
	/* Dummy GSIs must exist before probing. */
	for (int g = 0; g < GSI_LIMIT; g++)
		S.gsi_owner[g] = -1;
	S.dummy_gsi[0] = 4000;
	S.dummy_gsi[1] = 4001;
	if (probe_features())
		return 1;
	probe_irqfd();
	if (S.have_irqfd && !S.have_resample)
		msg("stress: resampling irqfd unavailable (%s): irqfd-resample tokens skipped\n",
		    S.resample_why ? S.resample_why : "?");
	if (!S.have_irqfd)
		msg("stress: irqfd unavailable (%s): irqfd sources skipped\n", S.irqfd_why);
	else if (!S.have_trigger)
		msg("stress: virq_irqfd_trigger unavailable: irqfd tokens use eventfd writes only\n");
	if (make_tokens(&r)) {
		fprintf(stderr, "token setup failed (out of vectors?)\n");
		return 1;
	}
	for (int i = 0; i < S.ntok; i++) {
		struct token *t = &S.tok[i];

		if (t->pin >= 0 &&
		    ioapic_rte_write((uint32_t)t->pin, rte_low(t), (uint32_t)t->alt[0].vcpu << 24)) {
			fprintf(stderr, "IOAPIC RTE %d write failed\n", t->pin);
			return 1;
		}
		if (t->gsi >= 0 && (t->kind == K_GSI_MSI || t->kind == K_IRQFD_MSI ||
				    ((t->kind == K_IOAPIC_EDGE || t->kind == K_IRQFD_EDGE) && t->pin < 16)))
			flippable[nflippable++] = i;
		if (t->kind == K_IOAPIC_EDGE || t->kind == K_IRQFD_EDGE)
			rte_tokens[nrte_tokens++] = i;
	}
	for (int i = 0; i < NDUMMY; i++)
		S.dummy_on[i] = rnd(&r) & 1;
	tbl = routing_alloc(model_max_entries());
	if (!tbl)
		return 1;
	tbl->nr = model_table(tbl->entries);
	if (virq_ioctl(S.vm, KVM_SET_GSI_ROUTING, tbl) != 0) {
		fprintf(stderr, "initial KVM_SET_GSI_ROUTING: %s\n", strerror(errno));
		free(tbl);
		return 1;
	}
	free(tbl);
	for (int i = 0; i < S.ntok; i++)
		hist_add(&S.tok[i], H_INIT);
	if (S.have_irqfd && S.cfg.irqfd_poll) {
		S.poll_fd = virq_irqfd_set_mode(S.vm, VIRQ_IRQFD_POLL);
		if (S.poll_fd < 0) {
			fprintf(stderr, "virq_irqfd_set_mode(VIRQ_IRQFD_POLL): %d\n", S.poll_fd);
			return 1;
		}
	}
	if (S.have_irqfd && setup_irqfds()) {
		fprintf(stderr, "irqfd setup failed\n");
		return 1;
	}
	return 0;
}

/* ---- the monitor (main thread) ------------------------------------------ */

static uint64_t total_injections(void)
{
	uint64_t n = 0;

	for (int i = 0; i < S.cfg.ninj; i++)
		n += atomic_load_explicit(&S.inj[i].sends, memory_order_relaxed) +
		     atomic_load_explicit(&S.inj[i].noise, memory_order_relaxed);
	return n;
}

static uint64_t total_acks(void)
{
	uint64_t n = 0;

	for (int i = 0; i < S.cfg.nvcpus; i++)
		n += atomic_load_explicit(&S.vcpu[i].acks, memory_order_relaxed);
	return n;
}

static uint64_t total_route_changes(void)
{
	return atomic_load(&S.cs.single) + atomic_load(&S.cs.batch) + atomic_load(&S.cs.full) +
	       atomic_load(&S.cs.rte) + atomic_load(&S.cs.dummy);
}

static uint64_t total_ops(void)
{
	return total_injections() + total_acks() + total_route_changes();
}

/* Lost tokens, starvation relief.  Returns whether every ping-pong token
 * has completed its handshake. */
static bool scan_tokens(uint64_t now)
{
	uint64_t lost_ns = (uint64_t)(S.cfg.timeout * 1e9), starve_ns = (uint64_t)(S.cfg.starve * 1e9);
	bool all_done = true;

	for (int i = 0; i < S.ntok; i++) {
		struct token *t = &S.tok[i];
		uint64_t sent;

		if (!pp_pending(t))
			continue;
		all_done = false;
		sent = atomic_load(&t->send_ns);
		if (now > sent && now - sent > lost_ns) {
			if (atomic_exchange(&t->reported, 1))
				return false;
			fail(t,
			     "LOST: token %d (%s) has waited %.1f s for ack %" PRIu64 " (acked %" PRIu64 ")",
			     t->id, kind_name[t->kind], (double)(now - sent) / 1e9, atomic_load(&t->expected),
			     atomic_load(&t->acked));
			return false;
		}
		/* Priority starvation is architectural (the highest IRR vector
		 * always wins): stop sending until everything drains. */
		if (now > sent && now - sent > starve_ns && !atomic_load(&S.hold)) {
			atomic_store(&S.hold, 1);
			atomic_fetch_add(&S.holds, 1);
			if (S.cfg.verbose)
				msg("stress: token %d waited %.3f s: holding injections until all drain\n",
				    t->id, (double)(now - sent) / 1e9);
		}
	}
	if (all_done && atomic_load(&S.hold)) {
		atomic_store(&S.hold, 0);
		for (int i = 0; i < S.cfg.ninj; i++)
			wake_word(&S.inj[i].wake_seq, &S.inj[i].sleeping);
	}
	return all_done;
}

static uint64_t last_progress_ns;

static void progress(uint64_t now, bool force)
{
	if (!force && now - last_progress_ns < 5000000000ull)
		return;
	last_progress_ns = now;
	msg("stress: +%.1f s: %" PRIu64 " ops (%" PRIu64 " injections, %" PRIu64 " acks, %" PRIu64
	    " route changes), %" PRIu64 " holds\n",
	    since_start(now), total_ops(), total_injections(), total_acks(), total_route_changes(),
	    atomic_load(&S.holds));
}

/* One monitor tick: timers, lost tokens, progress.  Returns false on failure. */
static bool tick(void)
{
	static uint64_t last_scan;
	uint64_t now = now_ns();

	virq_vm_poll_timers(S.vm); /* IOAPIC EOI-storm re-delivery needs it */
	if (now - last_scan > 20000000ull) {
		last_scan = now;
		scan_tokens(now);
	}
	if (S.cfg.verbose || S.cfg.soak)
		progress(now, false);
	sleep_ns(1000000);
	return !failed();
}

static bool limit_reached(uint64_t end_ns)
{
	if (S.cfg.ops && total_ops() >= S.cfg.ops)
		return true;
	return end_ns && now_ns() >= end_ns;
}

static void poke_vcpus(void)
{
	for (int i = 0; i < S.cfg.nvcpus; i++)
		wake_word(&S.vcpu[i].kick_seq, &S.vcpu[i].sleeping);
}

static void wake_injectors(void)
{
	for (int i = 0; i < S.cfg.ninj; i++)
		wake_word(&S.inj[i].wake_seq, &S.inj[i].sleeping);
}

static bool check_ioapic_quiet(void)
{
	struct kvm_irqchip chip;

	memset(&chip, 0, sizeof(chip));
	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	if (virq_ioctl(S.vm, KVM_GET_IRQCHIP, &chip) != 0) {
		fail(NULL, "KVM_GET_IRQCHIP(IOAPIC): %s", strerror(errno));
		return false;
	}
	for (int i = 0; i < S.ntok; i++) {
		struct token *t = &S.tok[i];
		uint64_t rte;

		if (t->pin < 0)
			continue;
		rte = chip.chip.ioapic.redirtbl[t->pin].bits;
		if (rte & (1ull << 14))
			fail(t, "after drain: pin %d (%s) still has remote IRR (RTE 0x%016" PRIx64 ")",
			     t->pin, kind_name[t->kind], rte);
		if (chip.chip.ioapic.irr & (1u << t->pin))
			fail(t, "after drain: pin %d (%s) still has IRR set (irr 0x%06x)", t->pin,
			     kind_name[t->kind], chip.chip.ioapic.irr);
	}
	return !failed();
}

/* Stop injecting, let everything drain, check, rebaseline free tokens. */
static bool drain_round(int round)
{
	uint32_t g = atomic_fetch_add(&S.park_gen, 1) + 1;
	uint64_t t0 = now_ns(), lim = (uint64_t)((S.cfg.timeout + 5) * 1e9);
	bool ok;

	atomic_store(&S.phase, PH_PARK);
	wake_injectors();
	for (;;) {
		bool all = true;

		for (int i = 0; i < S.cfg.ninj; i++)
			all = all && atomic_load(&S.inj[i].park_ack) == g;
		if (all)
			break;
		if (!tick())
			return false;
		if (now_ns() - t0 > lim) {
			fail(NULL, "round %d: injectors did not park within %.0f s", round,
			     (double)lim / 1e9);
			return false;
		}
	}
	/* Every ping-pong token completes (or is reported lost by tick). */
	while (!scan_tokens(now_ns()))
		if (!tick())
			return false;
	/* Every vCPU found nothing to take after all sends returned. */
	g = atomic_fetch_add(&S.drain_gen, 1) + 1;
	poke_vcpus();
	t0 = now_ns();
	for (;;) {
		bool all = true;

		for (int i = 0; i < S.cfg.nvcpus; i++)
			all = all && atomic_load(&S.vcpu[i].idle_gen) == g;
		if (all)
			break;
		if (!tick())
			return false;
		poke_vcpus();
		if (now_ns() - t0 > lim) {
			fail(NULL, "round %d: vCPUs did not go idle within %.0f s", round, (double)lim / 1e9);
			return false;
		}
	}
	/* Free-running tokens: the last send was followed by an ack. */
	for (int i = 0; i < S.ntok; i++) {
		struct token *t = &S.tok[i];

		if (!atomic_load(&t->free_mode))
			continue;
		if (atomic_load(&t->acked) > atomic_load(&t->expected))
			fail(t, "free-running token %d: %" PRIu64 " acks for %" PRIu64 " sends", t->id,
			     atomic_load(&t->acked), atomic_load(&t->expected));
		if (atomic_load(&t->last_ack_ticket) < atomic_load(&t->last_send_ticket))
			fail(t,
			     "LOST: free-running token %d (%s): its last send (ticket %" PRIu64
			     ") was never acked (last ack ticket %" PRIu64 ")",
			     t->id, kind_name[t->kind], atomic_load(&t->last_send_ticket),
			     atomic_load(&t->last_ack_ticket));
	}
	ok = check_ioapic_quiet();
	if (!ok || failed())
		return false;
	/* Rebaseline: coalesced free-running sends are forgiven. */
	for (int i = 0; i < S.ntok; i++) {
		struct token *t = &S.tok[i];

		if (!atomic_load(&t->free_mode))
			continue;
		atomic_store(&t->expected, atomic_load(&t->acked));
		atomic_store(&t->done, atomic_load(&t->acked));
		atomic_store(&t->free_mode, 0);
	}
	atomic_store(&S.hold, 0);
	return true;
}

static bool run_rounds(void)
{
	uint64_t start = now_ns();
	uint64_t end = S.cfg.duration > 0 ? start + (uint64_t)(S.cfg.duration * 1e9) : 0;
	int round = 0;
	bool had_free = false;

	for (;;) {
		uint64_t rs = now_ns();
		uint64_t rlen = (uint64_t)(S.cfg.round * 1e9);
		uint64_t rend, pp_end;

		if (end && rs + rlen > end)
			rlen = end > rs ? end - rs : 0;
		rend = rs + rlen;
		pp_end = rs + (uint64_t)((double)rlen * (1 - S.cfg.free_frac));
		round++;
		atomic_store(&S.phase, PH_PINGPONG);
		wake_injectors();
		while (now_ns() < pp_end && !limit_reached(end))
			if (!tick())
				return false;
		if (S.cfg.free_frac > 0 && (!limit_reached(end) || !had_free)) {
			/* Cut short by the limit before any free-running phase:
			 * still run one, in proportion to the ping-pong time. */
			if (limit_reached(end)) {
				uint64_t t = now_ns(), pp = t - rs;

				rend = t + (uint64_t)((double)pp * S.cfg.free_frac / (1 - S.cfg.free_frac));
				if (rend < t + 100000000ull)
					rend = t + 100000000ull;
			}
			had_free = true;
			atomic_store(&S.phase, PH_FREE);
			wake_injectors();
			while (now_ns() < rend) /* at most one round; ends the run if the limit is reached */
				if (!tick())
					return false;
		}
		if (!drain_round(round))
			return false;
		if (S.cfg.verbose)
			msg("stress: round %d drained and verified at +%.2f s\n", round,
			    since_start(now_ns()));
		if (limit_reached(end) || (end && now_ns() + 100000000ull >= end))
			break;
	}
	msg("stress: %d round%s of ping-pong + free-running + drain\n", round, round == 1 ? "" : "s");
	return true;
}

/* Final checks after every thread stopped: no token owes anything, and no
 * LAPIC has anything in IRR or ISR. */
static void final_checks(void)
{
	for (int i = 0; i < S.ntok; i++) {
		struct token *t = &S.tok[i];
		uint64_t exp = atomic_load(&t->expected), ack = atomic_load(&t->acked);

		if (ack != exp)
			fail(t, "token %d (%s): %" PRIu64 " sent, %" PRIu64 " acked", t->id,
			     kind_name[t->kind], exp, ack);
	}
	for (int c = 0; c < S.cfg.nvcpus; c++) {
		struct kvm_lapic_state ls;
		int fd = S.vcpu[c].fd;

		if (virq_vcpu_has_interrupt(fd) != 0)
			fail(NULL, "vCPU %d still has an interrupt after the drain", c);
		if (virq_vcpu_eoi(fd) != -EAGAIN)
			fail(NULL, "vCPU %d still had a vector in service after the drain", c);
		if (virq_ioctl(fd, KVM_GET_LAPIC, &ls) != 0) {
			fail(NULL, "KVM_GET_LAPIC vCPU %d: %s", c, strerror(errno));
			continue;
		}
		for (int w = 0; w < 8; w++) {
			uint32_t irr, isr;

			memcpy(&irr, &ls.regs[0x200 + 0x10 * w], 4);
			memcpy(&isr, &ls.regs[0x100 + 0x10 * w], 4);
			if (irr || isr)
				fail(NULL, "vCPU %d after drain: IRR[%d] 0x%08x ISR[%d] 0x%08x", c, w, irr, w,
				     isr);
		}
	}
	check_ioapic_quiet();
}

/* After a failure, with the threads stopped: where is the suspect's vector? */
static void dump_suspect(void)
{
	int id = atomic_load(&S.suspect);
	struct token *t;

	if (id < 0)
		return;
	t = &S.tok[id];
	msg("stress: state of the failing token (seed %" PRIu64 "):\n", S.cfg.seed);
	dump_token(t);
	for (int a = 0; a < t->nalt; a++) {
		struct kvm_lapic_state ls;
		int c = t->alt[a].vcpu, v = t->alt[a].vec;
		uint32_t irr, isr, tmr;

		if (virq_ioctl(S.vcpu[c].fd, KVM_GET_LAPIC, &ls) != 0)
			continue;
		memcpy(&irr, &ls.regs[0x200 + 0x10 * (v / 32)], 4);
		memcpy(&isr, &ls.regs[0x100 + 0x10 * (v / 32)], 4);
		memcpy(&tmr, &ls.regs[0x180 + 0x10 * (v / 32)], 4);
		msg("    vCPU %d vector 0x%02x now: IRR %u ISR %u TMR %u\n", c, v, (irr >> (v % 32)) & 1,
		    (isr >> (v % 32)) & 1, (tmr >> (v % 32)) & 1);
	}
	if (t->pin >= 0) {
		struct kvm_irqchip chip;

		memset(&chip, 0, sizeof(chip));
		chip.chip_id = KVM_IRQCHIP_IOAPIC;
		if (virq_ioctl(S.vm, KVM_GET_IRQCHIP, &chip) == 0)
			msg("    IOAPIC pin %d: RTE 0x%016" PRIx64 ", irr %u\n", t->pin,
			    (uint64_t)chip.chip.ioapic.redirtbl[t->pin].bits,
			    (chip.chip.ioapic.irr >> t->pin) & 1);
	}
}

/* Join, but do not hang forever on a deadlocked library. */
static void join_or_die(pthread_t th, const char *what)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	if (pthread_timedjoin_np(th, NULL, &ts) != 0) {
		msg("FAIL: %s thread did not stop within 30 s (deadlock in virq?)\n", what);
		fflush(stdout);
		_exit(1);
	}
}

/* ---- main --------------------------------------------------------------- */

static void usage(const char *argv0)
{
	printf("usage: %s [options]\n"
	       "  --duration S   run for S seconds (default 3; soak 60)\n"
	       "  --ops N        stop after N operations (injections + acks + route changes)\n"
	       "  --threads N    injector threads (default 4)\n"
	       "  --vcpus N      vCPUs (default 4; soak 8; max %d)\n"
	       "  --tokens N     interrupt sources in flight (default 128; soak 256)\n"
	       "  --seed N       random seed (default: from the clock; printed)\n"
	       "  --timeout S    seconds before an unacked interrupt counts as lost (default 10)\n"
	       "  --round S      length of one ping-pong + free-running round (default 2; soak 6)\n"
	       "  --free F       fraction of each round that runs free (default 0.25)\n"
	       "  --no-irqfd     do not use irqfd sources\n"
	       "  --irqfd-inject write|trigger|mix\n"
	       "                 how irqfd tokens signal: eventfd write, virq_irqfd_trigger,\n"
	       "                 or both at random (default mix)\n"
	       "  --irqfd-poll N VIRQ_IRQFD_POLL mode with N threads calling virq_irqfd_dispatch\n"
	       "                 (default 0: virq's own delivery thread)\n"
	       "  --no-churn     do not change routing while injecting\n"
	       "  --self-check lost|dup\n"
	       "                 negative control: the test drops (or doubles) one interrupt of\n"
	       "                 token 0 itself; the run must FAIL with LOST (or DUPLICATE)\n"
	       "  --soak         long run: 60 s, 8 vCPUs, 256 tokens, progress every 5 s\n"
	       "  --verbose      progress and round messages\n",
	       argv0, MAX_VCPUS);
}

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"duration", required_argument, NULL, 'd'},
	    {"ops", required_argument, NULL, 'o'},
	    {"threads", required_argument, NULL, 't'},
	    {"vcpus", required_argument, NULL, 'c'},
	    {"tokens", required_argument, NULL, 'k'},
	    {"seed", required_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"round", required_argument, NULL, 'r'},
	    {"free", required_argument, NULL, 'f'},
	    {"no-irqfd", no_argument, NULL, 'I'},
	    {"no-churn", no_argument, NULL, 'C'},
	    {"soak", no_argument, NULL, 'S'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"irqfd-inject", required_argument, NULL, 'J'},
	    {"irqfd-poll", required_argument, NULL, 'P'},
	    {"self-check", required_argument, NULL, 'X'},
	    {NULL, 0, NULL, 0},
	};
	struct config *c = &S.cfg;
	bool dur_set = false, vcpus_set = false, tok_set = false, round_set = false, seed_set = false;
	int o;

	c->duration = 3;
	c->ninj = 4;
	c->nvcpus = 4;
	c->ntokens = 128;
	c->timeout = 10;
	c->round = 2;
	c->free_frac = 0.25;
	c->starve = 0.25;
	c->use_irqfd = true;
	c->churn = true;
	while ((o = getopt_long(argc, argv, "d:o:t:c:k:s:T:r:f:J:P:X:ICSvh", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			c->duration = atof(optarg);
			dur_set = true;
			break;
		case 'o':
			c->ops = strtoull(optarg, NULL, 0);
			break;
		case 't':
			c->ninj = atoi(optarg);
			break;
		case 'c':
			c->nvcpus = atoi(optarg);
			vcpus_set = true;
			break;
		case 'k':
			c->ntokens = atoi(optarg);
			tok_set = true;
			break;
		case 's':
			c->seed = strtoull(optarg, NULL, 0);
			seed_set = true;
			break;
		case 'T':
			c->timeout = atof(optarg);
			break;
		case 'r':
			c->round = atof(optarg);
			round_set = true;
			break;
		case 'f':
			c->free_frac = atof(optarg);
			break;
		case 'I':
			c->use_irqfd = false;
			break;
		case 'C':
			c->churn = false;
			break;
		case 'S':
			c->soak = true;
			break;
		case 'v':
			c->verbose = true;
			break;
		case 'P':
			c->irqfd_poll = atoi(optarg);
			break;
		case 'X':
			if (!strcmp(optarg, "lost"))
				c->self_check = SELF_LOST;
			else if (!strcmp(optarg, "dup"))
				c->self_check = SELF_DUP;
			else
				return usage(argv[0]), -1;
			break;
		case 'J':
			if (!strcmp(optarg, "write"))
				c->irqfd_inject = IRQFD_WRITE;
			else if (!strcmp(optarg, "trigger"))
				c->irqfd_inject = IRQFD_TRIGGER;
			else if (!strcmp(optarg, "mix"))
				c->irqfd_inject = IRQFD_MIX;
			else
				return usage(argv[0]), -1;
			break;
		case 'h':
			usage(argv[0]);
			exit(0);
		default:
			usage(argv[0]);
			return -1;
		}
	}
	if (c->soak) {
		if (!dur_set)
			c->duration = 60;
		if (!vcpus_set)
			c->nvcpus = 8;
		if (!tok_set)
			c->ntokens = 256;
		if (!round_set)
			c->round = 6;
	}
	if (c->ops && !dur_set)
		c->duration = 0; /* --ops alone: until the count is reached */
	if (!seed_set)
		c->seed = now_ns() ^ ((uint64_t)getpid() << 32);
	if (c->nvcpus < 1 || c->nvcpus > MAX_VCPUS || c->ninj < 1 || c->ninj > MAX_INJ || c->ntokens < 1 ||
	    c->ntokens > MAX_TOKENS || c->timeout <= 0 || c->round <= 0 || c->free_frac < 0 ||
	    c->free_frac >= 1 || (c->duration <= 0 && !c->ops) || c->irqfd_poll < 0 || c->irqfd_poll > 8) {
		fprintf(stderr, "bad arguments\n");
		usage(argv[0]);
		return -1;
	}
	if (c->starve > c->timeout / 4)
		c->starve = c->timeout / 4;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t t_end, inj, acks, rc, ops;
	double secs;
	uint64_t late = 0, kicks = 0, deasserts = 0, free_sends = 0, noise_n = 0;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_mutex_init(&S.print_lock, NULL);
	pthread_mutex_init(&S.ioapic_lock, NULL);
	atomic_store(&S.suspect, -1);
	if (parse_args(argc, argv))
		return 1;
	S.t0 = now_ns();
	r = setup();
	if (r)
		return r;

	msg("stress: virq %s, seed %" PRIu64 ", %d vCPUs, %d injector threads, %d tokens:", virq_version(),
	    S.cfg.seed, S.cfg.nvcpus, S.cfg.ninj, S.ntok);
	for (int k = 0; k < K_NR; k++)
		if (S.count[k])
			msg(" %s %d", kind_name[k], S.count[k]);
	if (S.have_irqfd)
		msg("\nstress: irqfd delivery: %s, signalled by %s",
		    S.cfg.irqfd_poll ? "VIRQ_IRQFD_POLL + virq_irqfd_dispatch threads"
				     : "virq's delivery thread",
		    !S.have_trigger || S.cfg.irqfd_inject == IRQFD_WRITE ? "eventfd writes"
		    : S.cfg.irqfd_inject == IRQFD_TRIGGER		 ? "virq_irqfd_trigger"
							  : "eventfd writes and virq_irqfd_trigger");
	msg("\nstress: ");
	if (S.cfg.duration > 0)
		msg("%.1f s", S.cfg.duration);
	if (S.cfg.ops)
		msg("%s%" PRIu64 " ops", S.cfg.duration > 0 ? " or " : "until ", S.cfg.ops);
	msg(", rounds of %.1f s (%.0f%% free-running), lost timeout %.1f s%s\n", S.cfg.round,
	    S.cfg.free_frac * 100, S.cfg.timeout, S.cfg.churn ? "" : ", no routing churn");

	for (int i = 0; i < S.cfg.ninj; i++) {
		struct inj_ctx *ic = &S.inj[i];

		ic->idx = i;
		rng_seed(&ic->rng, S.cfg.seed, 200 + (uint64_t)i);
		ic->toks = calloc((size_t)S.ntok, sizeof(*ic->toks));
		for (int k = 0; k < S.ntok; k++)
			if (S.tok[k].inj == i)
				ic->toks[ic->ntoks++] = &S.tok[k];
	}
	S.t0 = now_ns();
	atomic_store(&S.phase, PH_PINGPONG);
	for (int i = 0; i < S.cfg.nvcpus; i++)
		pthread_create(&S.vcpu[i].th, NULL, vcpu_main, &S.vcpu[i]);
	for (int i = 0; i < S.cfg.ninj; i++)
		pthread_create(&S.inj[i].th, NULL, injector_main, &S.inj[i]);
	if (S.cfg.churn)
		pthread_create(&S.churn_th, NULL, churn_main, NULL);
	for (int i = 0; S.have_irqfd && i < S.cfg.irqfd_poll; i++)
		pthread_create(&S.disp_th[i], NULL, dispatcher_main, NULL);

	run_rounds();
	t_end = now_ns();

	atomic_store(&S.stop_churn, 1);
	if (S.cfg.churn)
		join_or_die(S.churn_th, "churn");
	atomic_store(&S.stop_inj, 1);
	wake_injectors();
	for (int i = 0; i < S.cfg.ninj; i++)
		join_or_die(S.inj[i].th, "injector");
	atomic_store(&S.stop_vcpu, 1);
	poke_vcpus();
	for (int i = 0; i < S.cfg.nvcpus; i++)
		join_or_die(S.vcpu[i].th, "vCPU");
	for (int i = 0; S.have_irqfd && i < S.cfg.irqfd_poll; i++)
		join_or_die(S.disp_th[i], "irqfd dispatcher");

	if (!failed())
		final_checks();
	else
		dump_suspect();

	inj = total_injections();
	acks = total_acks();
	rc = total_route_changes();
	ops = inj + acks + rc;
	secs = (double)(t_end - S.t0) / 1e9;
	for (int i = 0; i < S.cfg.nvcpus; i++) {
		late += atomic_load(&S.vcpu[i].late_kicks);
		kicks += atomic_load(&S.vcpu[i].kicks);
		deasserts += atomic_load(&S.vcpu[i].deasserts);
	}
	for (int i = 0; i < S.cfg.ninj; i++) {
		free_sends += atomic_load(&S.inj[i].free_sends);
		noise_n += atomic_load(&S.inj[i].noise);
	}
	msg("stress: %" PRIu64 " ops in %.2f s = %.0f ops/s: %" PRIu64 " injections (%" PRIu64
	    " free-running, %" PRIu64 " to dummy GSIs), %" PRIu64 " acks, %" PRIu64 " route changes\n",
	    ops, secs, secs > 0 ? (double)ops / secs : 0.0, inj, free_sends, noise_n, acks, rc);
	msg("stress: routing: %" PRIu64 " virq_route_set, %" PRIu64 " batches (%" PRIu64 " GSIs, %" PRIu64
	    " aborted), %" PRIu64 " KVM_SET_GSI_ROUTING (%" PRIu64 " entries), %" PRIu64
	    " IOAPIC RTE writes, %" PRIu64 " dummy GSI add/remove; %" PRIu64 " route read-backs, %" PRIu64
	    " table read-backs\n",
	    atomic_load(&S.cs.single), atomic_load(&S.cs.batch), atomic_load(&S.cs.batch_gsis),
	    atomic_load(&S.cs.batch_abort), atomic_load(&S.cs.full), atomic_load(&S.cs.full_gsis),
	    atomic_load(&S.cs.rte), atomic_load(&S.cs.dummy), atomic_load(&S.cs.verify_one),
	    atomic_load(&S.cs.verify_all));
	msg("stress: %" PRIu64 " kicks, %" PRIu64 " level deasserts, %" PRIu64 " starvation holds, %" PRIu64
	    " late kicks\n",
	    kicks, deasserts, atomic_load(&S.holds), late);

	teardown_irqfds();
	for (int i = 0; i < S.cfg.nvcpus; i++)
		virq_close(S.vcpu[i].fd);
	virq_close(S.vm);
	virq_close(S.sys);
	for (int i = 0; i < S.ntok; i++)
		pthread_mutex_destroy(&S.tok[i].hlock);
	for (int i = 0; i < S.cfg.ninj; i++)
		free(S.inj[i].toks);
	free(S.tok);

	if (failed()) {
		msg("stress: FAIL (reproduce with --seed %" PRIu64 ")\n", S.cfg.seed);
		return 1;
	}
	msg("stress: PASS\n");
	return 0;
}
