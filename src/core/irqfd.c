/* SPDX-License-Identifier: MIT */
/*
 * irqfd.c - KVM_IRQFD: eventfds bound to GSIs (the kernel's
 * virt/kvm/eventfd.c), delivered from user space.
 *
 * The kernel hooks the eventfd's wait queue and injects from the waker.  A
 * library cannot, so someone must read the eventfds: a thread virq owns
 * (one per VM, VIRQ_IRQFD_THREAD), or the VMM's own event loop through
 * virq_irqfd_dispatch() (VIRQ_IRQFD_POLL).  Both wait on one epoll set
 * that holds virq's own dup() of every bound eventfd plus a wake eventfd.
 * virq never reads through the caller's descriptor number: the caller may
 * close it, or a new file may take the number, at any time.
 *
 * Lookups.  Bindings live in an RCU-published open-addressing table with
 * two halves, keyed by a 64-bit serial number that is never reused (the
 * epoll data of the binding: no pointer crosses epoll_wait) and by the
 * caller's descriptor number (virq_irqfd_trigger).  Slots are atomic:
 * writers, serialised by the per-VM lock, store entries and tombstones in
 * place, and rebuild the table only when an insertion would cross half
 * load, so removing a binding never allocates and cannot fail.
 *
 * Lifetime.  Every delivery - fetching the epoll event, looking the
 * binding up, reading the counter, injecting - runs inside one RCU
 * read-side section (the thread sleeps in poll() outside of one).
 * Unbinding (unbind_locked) first delivers the events already queued,
 * removes the eventfd from epoll, and waits for a grace period while the
 * binding is still findable, so every wakeup that happened before a
 * deassign is injected, as the kernel's waker would have; then it
 * unpublishes the binding and waits for a second grace period, after
 * which nothing is in flight - what KVM_IRQFD deassign promises - and only
 * then are the resampler released and the dups closed.  A stale epoll
 * event finds nothing, and no reader ever holds memory or a descriptor
 * that was given back.  Nothing that
 * holds the per-VM lock runs inside a read-side section, and nothing inside
 * one takes it, so the waits cannot deadlock; entry points that take the
 * lock refuse to run inside a read-side section (-EDEADLK), since a VMM
 * event callback may be inside one.
 *
 * No lost signal.  The eventfds are edge-triggered in epoll, like the
 * kernel's wait-queue callback (one read per wakeup, which is what an
 * EFD_SEMAPHORE eventfd needs): every signal queues an event, and every
 * event fetched is acted on - the binding is findable from the moment its
 * epoll entry is armed until it is unbound, and the counter is read
 * without blocking (RWF_NOWAIT) by whoever fetched the event, never
 * skipped.  A signal that lands after a read queues a new event.  An
 * eventfd is bound at most once in the process (EBUSY, as the kernel does
 * since the irqfd wait-queue entry became exclusive), so two VMs never race
 * for one counter.  Injections of one irqfd never overlap (irqfd_inject).
 *
 * "Closing the eventfd detaches it": the kernel sees EPOLLHUP when the
 * file is released, but virq's dup keeps the file alive.  Instead, a
 * binding whose caller descriptor is closed or now names another file
 * (kcmp(KCMP_FILE) against the dup) is pruned lazily: at every KVM_IRQFD,
 * at save, and about every 100 ms in the delivery thread and in dispatch.
 */
#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#define IRQFD_WAKE_SERIAL 0 /* epoll data of the wake eventfd */
#define IRQFD_BATCH 64      /* epoll events per epoll_wait */
#define IRQFD_PRUNE_NS 100000000ull
#define IRQFD_TABLE_MIN 16
/* How long the delivery thread keeps polling after an event before it
 * sleeps again (virq_irqfd_set_busy_poll()). */
#define IRQFD_BUSY_POLL_NS_DEFAULT 50000u

struct irqfd_resampler;

struct irqfd {
	struct virq_vm *vm;
	uint64_t serial;
	uint32_t gsi;
	int user_fd;         /* the caller's descriptor number (save, trigger) */
	int fd;              /* virq's dup: the only one read */
	int user_resamplefd; /* -1 without KVM_IRQFD_FLAG_RESAMPLE */
	int resamplefd;      /* virq's dup, -1 */
	struct irqfd_resampler *rs;
	atomic_bool dead;
	atomic_flag reading; /* poll-then-read fallback: one reader at a time */
	/* Injection requests: 0 idle, 1 one injector running, more: asked
	 * again meanwhile (irqfd_inject). */
	atomic_uint inject_req;
	struct irqfd *_Atomic rs_next; /* RCU list of the resampler */
	struct irqfd *g_prev, *g_next; /* every binding of the process (g_lock) */
};

/* kvm_kernel_irqfd_resampler: one per GSI with resampling irqfds. */
struct irqfd_resampler {
	struct virq_irq_ack_notifier kian;
	struct virq_vm *vm;
	struct irqfd *_Atomic head; /* RCU; writers under the VM's irqfds lock */
	struct irqfd_resampler *_Atomic next;
};

struct irqfd_table {
	struct rcu_head rcu;
	uint32_t mask;        /* slots per half - 1 */
	uint32_t used_serial; /* non-empty slots, tombstones included (writers) */
	uint32_t used_fd;
	struct irqfd *_Atomic slot[]; /* [0, size): by serial; [size, 2 size): by fd */
};

struct virq_irqfds {
	struct virq_vm *vm;
	/* Bindings, resamplers, mode and thread.  Held across grace periods,
	 * so never taken inside a read-side section. */
	pthread_mutex_t lock;
	struct irqfd **v; /* live bindings in the order they were made */
	uint32_t n, cap;
	uint64_t next_serial;
	struct irqfd_table *_Atomic table;          /* RCU */
	struct irqfd_resampler *_Atomic resamplers; /* RCU */

	int epfd;   /* the dups and wakefd; the VIRQ_IRQFD_POLL descriptor */
	int wakefd; /* stops the thread */
	_Atomic int mode;
	bool running;
	atomic_bool stop;
	pthread_t thread;
	_Atomic uint64_t last_prune; /* CLOCK_MONOTONIC ns */
	_Atomic uint32_t busy_poll_ns; /* the thread's polling window */
};

/* Every binding in the process: "already bound" spans VMs, as in the kernel. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct irqfd *g_head;

/* Set when kcmp(KCMP_FILE) is unavailable (ENOSYS, EPERM under seccomp or
 * Yama): descriptor numbers then stand for files.  Tests set it too. */
VIRQ_HIDDEN atomic_bool virq_irqfd_no_kcmp;
/* Set when the kernel predates RWF_NOWAIT on eventfds (before 5.12). */
static atomic_bool no_rwf_nowait;

static struct irqfd tombstone;
#define TOMB (&tombstone)

/* ---- small helpers ------------------------------------------------------ */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void eventfd_signal(int fd)
{
	uint64_t one = 1;

	/* Fails only if the counter is saturated (or the fd is non-blocking
	 * and about to be): the reader has 2^64 - 2 signals to read anyway. */
	if (write(fd, &one, sizeof(one)) < 0) {
	}
}

static long kcmp_file(int a, int b)
{
	pid_t pid = getpid();

	return syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b);
}

/* Whether the caller's descriptor @fd names the eventfd of @f. */
static bool binding_is(const struct irqfd *f, int fd)
{
	if (!atomic_load_explicit(&virq_irqfd_no_kcmp, memory_order_relaxed)) {
		long r = kcmp_file(fd, f->fd);

		if (r >= 0)
			return r == 0;
		if (errno != ENOSYS && errno != EPERM)
			return false; /* EBADF: @fd is not open */
		atomic_store(&virq_irqfd_no_kcmp, true);
	}
	return fd == f->user_fd;
}

/* Whether the caller's descriptor still names the eventfd it bound. */
static bool binding_alive(const struct irqfd *f)
{
	if (!atomic_load_explicit(&virq_irqfd_no_kcmp, memory_order_relaxed))
		return binding_is(f, f->user_fd);
	return fcntl(f->user_fd, F_GETFD) != -1;
}

/*
 * eventfd_ctx_fdget()'s errors for descriptor @fd: EBADF if it is not open
 * (or is an O_PATH descriptor, which fdget() skips), EINVAL if it is not an
 * eventfd.  Without /proc, any anonymous-inode file passes.
 */
static int eventfd_check(int fd)
{
	static const char want[] = "anon_inode:[eventfd]";
	char path[40], link[sizeof(want) + 1];
	struct stat st;
	ssize_t n;
	int fl;

	if (fd < 0)
		return -EBADF;
	fl = fcntl(fd, F_GETFL);
	if (fl == -1 || (fl & O_PATH))
		return -EBADF;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link));
	if (n >= 0)
		return (n == (ssize_t)sizeof(want) - 1 && !memcmp(link, want, (size_t)n)) ? 0 : -EINVAL;
	if (fstat(fd, &st))
		return -EBADF;
	return (st.st_mode & S_IFMT) == 0 ? 0 : -EINVAL;
}

/* Take virq's own reference to the eventfd @fd; the checks run on the dup,
 * so they judge the file virq will actually read. */
static int eventfd_dup(int fd, int *out)
{
	int d, r;

	if (fd < 0)
		return -EBADF;
	d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (d < 0)
		return -errno;
	r = eventfd_check(d);
	if (r) {
		close(d);
		return r;
	}
	*out = d;
	return 0;
}

/* ---- the lookup table ------------------------------------------------------ */

static uint32_t hash_key(uint64_t k, uint32_t mask)
{
	return (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

static uint64_t key_of(const struct irqfd *f, bool by_fd)
{
	return by_fd ? (uint64_t)(uint32_t)f->user_fd : f->serial;
}

/* Caller inside rcu_read_lock(); a live binding or NULL. */
static struct irqfd *table_find(struct irqfd_table *t, bool by_fd, uint64_t key)
{
	uint32_t size, i;
	struct irqfd *_Atomic *slot;

	if (!t)
		return NULL;
	size = t->mask + 1;
	slot = t->slot + (by_fd ? size : 0);
	i = hash_key(key, t->mask);
	for (uint32_t n = 0; n < size; n++, i = (i + 1) & t->mask) {
		struct irqfd *f = atomic_load_explicit(&slot[i], memory_order_acquire);

		if (!f)
			return NULL;
		if (f != TOMB && key_of(f, by_fd) == key &&
		    !atomic_load_explicit(&f->dead, memory_order_acquire))
			return f;
	}
	return NULL;
}

/* Writers only.  In the by-fd half a newer binding takes over the slot of
 * an older one with the same number (a stale binding not yet pruned). */
static void table_insert(struct irqfd_table *t, bool by_fd, struct irqfd *f)
{
	uint32_t size = t->mask + 1, i = hash_key(key_of(f, by_fd), t->mask);
	struct irqfd *_Atomic *slot = t->slot + (by_fd ? size : 0);
	int64_t tomb = -1;

	for (uint32_t n = 0; n < size; n++, i = (i + 1) & t->mask) {
		struct irqfd *o = atomic_load_explicit(&slot[i], memory_order_relaxed);

		if (!o)
			break;
		if (o == TOMB) {
			if (tomb < 0)
				tomb = i;
		} else if (by_fd && o->user_fd == f->user_fd) {
			atomic_store_explicit(&slot[i], f, memory_order_release);
			return;
		}
	}
	if (tomb >= 0) {
		i = (uint32_t)tomb;
	} else if (by_fd) {
		t->used_fd++;
	} else {
		t->used_serial++;
	}
	atomic_store_explicit(&slot[i], f, memory_order_release);
}

static void table_remove(struct irqfd_table *t, bool by_fd, struct irqfd *f)
{
	uint32_t size = t->mask + 1, i = hash_key(key_of(f, by_fd), t->mask);
	struct irqfd *_Atomic *slot = t->slot + (by_fd ? size : 0);

	for (uint32_t n = 0; n < size; n++, i = (i + 1) & t->mask) {
		struct irqfd *o = atomic_load_explicit(&slot[i], memory_order_relaxed);

		if (!o)
			return;
		if (o == f) {
			atomic_store_explicit(&slot[i], TOMB, memory_order_release);
			return;
		}
	}
}

/* An empty table for @n bindings, at most a quarter full once filled. */
static struct irqfd_table *table_alloc(uint32_t n)
{
	struct irqfd_table *t;
	uint32_t size = IRQFD_TABLE_MIN;

	while (size < 4ull * n)
		size *= 2;
	t = calloc(1, sizeof(*t) + 2 * (size_t)size * sizeof(t->slot[0]));
	if (t)
		t->mask = size - 1;
	return t;
}

static bool table_has_room(const struct irqfd_table *t, uint32_t n)
{
	uint32_t half = (t->mask + 1) / 2;

	return t->used_serial + n <= half && t->used_fd + n <= half;
}

static void table_free_rcu(struct rcu_head *head)
{
	free(container_of(head, struct irqfd_table, rcu));
}

/* ---- injection (inside rcu_read_lock) ---------------------------------------- */

/* The kernel's irqfd_inject(): an edge for a plain irqfd (the pulse also
 * cancels a level KVM_IRQ_LINE raised, as the kernel's does); a level held
 * under its own source id for a resampling one, until the guest
 * acknowledges it. */
static void irqfd_set(struct irqfd *f)
{
	virq_trace_virq_irqfd_inject(&f->vm->trace, -1, f->gsi, f->rs != NULL);
	if (f->rs) {
		virq_set_irq(f->vm, VIRQ_IRQFD_RESAMPLE_IRQ_SOURCE_ID, f->gsi, 1, false);
		return;
	}
	virq_set_irq(f->vm, VIRQ_USERSPACE_IRQ_SOURCE_ID, f->gsi, 1, false);
	virq_set_irq(f->vm, VIRQ_USERSPACE_IRQ_SOURCE_ID, f->gsi, 0, false);
}

/*
 * Inject for @f (inside rcu_read_lock).  The kernel injects one irqfd from
 * one work item, so its pulses never overlap, and a request while the work
 * runs makes it run once more.  Here the delivery side and
 * virq_irqfd_trigger() may inject the same irqfd at once: two overlapping
 * pulses would make a single edge (the second rise finds the line still
 * high) and lose an interrupt.  So one caller injects and callers that
 * arrive meanwhile leave a request it serves with one more pulse.  Nobody
 * waits: a VMM callback run by the injection may trigger the same irqfd.
 */
static void irqfd_inject(struct irqfd *f)
{
	unsigned int one = 1;

	if (atomic_fetch_add_explicit(&f->inject_req, 1, memory_order_acq_rel))
		return;
	for (;;) {
		irqfd_set(f);
		if (atomic_compare_exchange_strong_explicit(&f->inject_req, &one, 0, memory_order_acq_rel,
							    memory_order_acquire))
			return;
		/* Asked again while pulsing: the requests so far coalesce
		 * into the next pulse, as the kernel's work item does. */
		one = 1;
		atomic_store_explicit(&f->inject_req, 1, memory_order_release);
	}
}

/*
 * Read the counter without blocking, as the kernel's wakeup does
 * (eventfd_ctx_do_read(): the whole count, or one for an EFD_SEMAPHORE
 * eventfd): whether it was signalled.  Concurrent readers (dispatchers in
 * several threads) are fine: each count goes to exactly one of them.
 */
static bool irqfd_consume(struct irqfd *f)
{
	struct pollfd p = { .fd = f->fd, .events = POLLIN };
	struct iovec iov;
	uint64_t cnt;
	ssize_t r = -1;

	iov.iov_base = &cnt;
	iov.iov_len = sizeof(cnt);
	if (!atomic_load_explicit(&no_rwf_nowait, memory_order_relaxed)) {
		r = preadv2(f->fd, &iov, 1, -1, RWF_NOWAIT);
		if (r >= 0 || errno != EOPNOTSUPP)
			return r == (ssize_t)sizeof(cnt);
		atomic_store(&no_rwf_nowait, true);
	}
	/*
	 * Before Linux 5.12: only virq reads this file (one binding per
	 * eventfd in the process), so readable now means the read cannot
	 * block, provided virq's own readers take turns.  They wait rather
	 * than skip: with edge-triggered epoll a skipped event is not
	 * reported again.
	 */
	while (atomic_flag_test_and_set_explicit(&f->reading, memory_order_acquire))
		sched_yield();
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
		r = read(f->fd, &cnt, sizeof(cnt));
	atomic_flag_clear_explicit(&f->reading, memory_order_release);
	return r == (ssize_t)sizeof(cnt);
}

/* Deliver what @f's eventfd holds.  Caller inside rcu_read_lock(), with
 * @f found in the table. */
static bool irqfd_deliver(struct irqfd *f)
{
	if (atomic_load_explicit(&f->dead, memory_order_acquire) || !irqfd_consume(f))
		return false;
	irqfd_inject(f);
	return true;
}

/* ---- resamplers ---------------------------------------------------------------- */

/* Signal every resamplefd of @rs (inside a read-side section). */
static void resampler_notify(struct irqfd_resampler *rs)
{
	int saved = errno;

	for (struct irqfd *f = atomic_load_explicit(&rs->head, memory_order_acquire); f;
	     f = atomic_load_explicit(&f->rs_next, memory_order_acquire))
		eventfd_signal(f->resamplefd);
	errno = saved;
}

/* irqfd_resampler_ack(): the guest acknowledged the GSI: lower our level
 * and let every device re-assert if it still needs service. */
static void resampler_acked(struct virq_irq_ack_notifier *kian)
{
	struct irqfd_resampler *rs = container_of(kian, struct irqfd_resampler, kian);

	virq_set_irq(rs->vm, VIRQ_IRQFD_RESAMPLE_IRQ_SOURCE_ID, kian->gsi, 0, false);
	resampler_notify(rs);
}

static struct irqfd_resampler *resampler_find(struct virq_irqfds *s, uint32_t gsi)
{
	for (struct irqfd_resampler *rs = atomic_load_explicit(&s->resamplers, memory_order_acquire); rs;
	     rs = atomic_load_explicit(&rs->next, memory_order_acquire))
		if (rs->kian.gsi == gsi)
			return rs;
	return NULL;
}

/* Writers: unlink @f from its resampler's RCU list. */
static void resampler_unlink(struct irqfd *f)
{
	struct irqfd *_Atomic *pp = &f->rs->head;
	struct irqfd *p;

	while ((p = atomic_load_explicit(pp, memory_order_relaxed))) {
		if (p == f) {
			atomic_store_explicit(pp, atomic_load_explicit(&f->rs_next, memory_order_relaxed),
					      memory_order_release);
			return;
		}
		pp = &p->rs_next;
	}
}

/*
 * irqfd_resampler_shutdown() for every resampler left without irqfds: stop
 * listening, wait for the notifiers in flight (the unregister waits for a
 * grace period), then lower our level for good.  s->lock held.
 */
static void resamplers_release_empty(struct virq_irqfds *s)
{
	struct irqfd_resampler *_Atomic *pp = &s->resamplers;
	struct irqfd_resampler *rs;

	while ((rs = atomic_load_explicit(pp, memory_order_relaxed))) {
		if (atomic_load_explicit(&rs->head, memory_order_relaxed)) {
			pp = &rs->next;
			continue;
		}
		atomic_store_explicit(pp, atomic_load_explicit(&rs->next, memory_order_relaxed),
				      memory_order_release);
		virq_unregister_irq_ack_notifier(s->vm, &rs->kian);
		virq_set_irq(s->vm, VIRQ_IRQFD_RESAMPLE_IRQ_SOURCE_ID, rs->kian.gsi, 0, false);
		free(rs);
	}
}

/* ---- bindings -------------------------------------------------------------------- */

static void irqfd_free(struct irqfd *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->resamplefd >= 0)
		close(f->resamplefd);
	free(f);
}

/* A binding, not yet visible: dup and check @fd, then @rfd (-1: none), in
 * the kernel's order (EBADF, EINVAL for the eventfd, then the resamplefd). */
static int irqfd_new(struct irqfd **out, struct virq_vm *vm, int fd, int rfd, bool resample, uint32_t gsi)
{
	struct irqfd *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return -ENOMEM;
	f->vm = vm;
	f->gsi = gsi;
	f->user_fd = fd;
	f->user_resamplefd = resample ? rfd : -1;
	f->fd = -1;
	f->resamplefd = -1;
	atomic_flag_clear(&f->reading);
	r = eventfd_dup(fd, &f->fd);
	if (!r && resample)
		r = eventfd_dup(rfd, &f->resamplefd);
	if (r) {
		irqfd_free(f);
		return r;
	}
	*out = f;
	return 0;
}

/* g_lock held: whether @fd's eventfd is bound anywhere, ignoring the
 * bindings of @except (those being replaced) and stale ones (their caller
 * descriptor is gone: they are detached, only not pruned yet). */
static bool bound_anywhere(int fd, const struct virq_irqfds *except)
{
	for (struct irqfd *f = g_head; f; f = f->g_next) {
		if (except && except->vm == f->vm)
			continue;
		if (binding_is(f, fd) && binding_alive(f))
			return true;
	}
	return false;
}

static void g_link(struct irqfd *f)
{
	f->g_prev = NULL;
	f->g_next = g_head;
	if (g_head)
		g_head->g_prev = f;
	g_head = f;
}

static void g_unlink(struct irqfd *f)
{
	if (f->g_prev)
		f->g_prev->g_next = f->g_next;
	else
		g_head = f->g_next;
	if (f->g_next)
		f->g_next->g_prev = f->g_prev;
	f->g_prev = f->g_next = NULL;
}

static int drain_events(struct virq_irqfds *s);

/*
 * Take @victims[0 .. @n) out of service, as the kernel's deassign and
 * irqfd_shutdown(): a signal written before this was called is injected
 * (the kernel's waker injected it, or queued the work it flushes), none
 * after it returns, and then nothing uses them; they are freed.  They are
 * already out of s->v.  @replaced: restore bound their eventfds again, so
 * the counts now belong to the new bindings.  s->lock held, outside
 * read-side sections.
 */
static void unbind_locked(struct virq_irqfds *s, struct irqfd **victims, uint32_t n, bool replaced)
{
	struct irqfd_table *t = atomic_load_explicit(&s->table, memory_order_relaxed);

	if (!n)
		return;
	pthread_mutex_lock(&g_lock);
	for (uint32_t i = 0; i < n; i++)
		g_unlink(victims[i]);
	pthread_mutex_unlock(&g_lock);
	/* 1. The wakeups already queued: deliver them now (whoever fetches
	 * an event delivers it). */
	drain_events(s);
	/* 2. No more events.  The caller's descriptor shares the file, so
	 * closing our dup later would not remove it from the epoll set. */
	for (uint32_t i = 0; i < n; i++)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, victims[i]->fd, NULL);
	/* 3. Events fetched before that are delivered in read-side sections
	 * that end before this grace period does; the bindings stay
	 * findable until then, so none is dropped. */
	synchronize_rcu();
	/* eventfd_ctx_remove_wait_queue() takes one more read, uninjected
	 * (all of the count; one for an EFD_SEMAPHORE eventfd).  Nobody else
	 * reads these dups any more. */
	for (uint32_t i = 0; i < n && !replaced; i++)
		irqfd_consume(victims[i]);
	/* 4. Unpublish, and wait for triggers and resamplefd signals that
	 * still found them. */
	for (uint32_t i = 0; i < n; i++) {
		struct irqfd *f = victims[i];

		atomic_store_explicit(&f->dead, true, memory_order_release);
		if (t) {
			table_remove(t, false, f);
			table_remove(t, true, f);
		}
		if (f->rs)
			resampler_unlink(f);
	}
	synchronize_rcu();
	resamplers_release_empty(s);
	for (uint32_t i = 0; i < n; i++)
		irqfd_free(victims[i]);
}

/* Move the bindings @keep rejects to the end of s->v (the kept ones keep
 * their order) and return how many were kept. */
static uint32_t partition_locked(struct virq_irqfds *s, bool (*keep)(struct irqfd *, const void *),
				 const void *arg)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < s->n; i++) {
		if (keep(s->v[i], arg)) {
			struct irqfd *tmp = s->v[k];

			s->v[k++] = s->v[i];
			s->v[i] = tmp;
		}
	}
	return k;
}

static bool keep_alive(struct irqfd *f, const void *arg)
{
	(void)arg;
	return binding_alive(f);
}

/* Detach the bindings whose caller descriptor was closed or reused. */
static void prune_locked(struct virq_irqfds *s)
{
	uint32_t k = partition_locked(s, keep_alive, NULL), n = s->n;

	atomic_store_explicit(&s->last_prune, mono_ns(), memory_order_relaxed);
	s->n = k;
	unbind_locked(s, s->v + k, n - k, false);
}

/* Prune if ~100 ms passed, without waiting for the lock (its holder may be
 * stopping this very thread) and never inside a read-side section. */
static void prune_maybe(struct virq_irqfds *s)
{
	uint64_t now = mono_ns();

	if (now - atomic_load_explicit(&s->last_prune, memory_order_relaxed) < IRQFD_PRUNE_NS ||
	    rcu_read_ongoing())
		return;
	atomic_store_explicit(&s->last_prune, now, memory_order_relaxed);
	if (pthread_mutex_trylock(&s->lock))
		return;
	prune_locked(s);
	pthread_mutex_unlock(&s->lock);
}

/* ---- delivery -------------------------------------------------------------------- */

/*
 * Fetch the queued events and deliver them; returns how many eventfds
 * injected.  Each batch is fetched (epoll_wait without waiting) and
 * delivered inside one read-side section, so an event fetched before a
 * grace period starts is delivered before it ends: unbind_locked() relies
 * on that to keep every wakeup that happened before a deassign.
 */
static int drain_events(struct virq_irqfds *s)
{
	struct epoll_event ev[IRQFD_BATCH];
	int injected = 0;

	/* Events not fetched now stay queued for the next call; the bound
	 * keeps a storm finite. */
	for (int round = 0; round < 64; round++) {
		struct irqfd_table *t;
		int n;

		rcu_read_lock();
		n = epoll_wait(s->epfd, ev, IRQFD_BATCH, 0);
		t = atomic_load_explicit(&s->table, memory_order_acquire);
		for (int i = 0; i < n; i++) {
			struct irqfd *f;

			if (ev[i].data.u64 == IRQFD_WAKE_SERIAL) {
				uint64_t cnt;

				if (read(s->wakefd, &cnt, sizeof(cnt)) < 0) {
					/* EAGAIN: another dispatcher drained it */
				}
				continue;
			}
			f = table_find(t, false, ev[i].data.u64);
			if (f && irqfd_deliver(f))
				injected++;
		}
		rcu_read_unlock();
		if (n < IRQFD_BATCH)
			break;
	}
	return injected;
}

/*
 * After an event, keep polling for a while instead of going back to sleep,
 * as KVM's halt polling does for vCPUs: interrupts come in bursts, and
 * waking a sleeping thread costs the writer a cross-CPU wakeup and the
 * interrupt several microseconds (docs/performance.md).  While this thread
 * polls, a write() only marks the eventfd ready.  Each new event restarts
 * the window; 0 disables polling.
 */
static void busy_poll(struct virq_irqfds *s)
{
	uint32_t window = atomic_load_explicit(&s->busy_poll_ns, memory_order_relaxed);
	uint64_t until = mono_ns() + window;

	/* drain_events() fetches without waiting: one system call per turn. */
	while (window && !atomic_load_explicit(&s->stop, memory_order_acquire)) {
		uint64_t now = mono_ns();

		if (drain_events(s) > 0)
			until = now + window;
		else if (now >= until)
			break;
	}
}

static void *irqfd_thread(void *arg)
{
	struct virq_irqfds *s = arg;
	struct pollfd p = { .fd = s->epfd, .events = POLLIN };

	/* Sleep outside any read-side section (poll() leaves the events
	 * queued), then fetch and deliver inside one. */
	while (!atomic_load_explicit(&s->stop, memory_order_acquire)) {
		if (poll(&p, 1, (int)(IRQFD_PRUNE_NS / 1000000)) > 0) {
			drain_events(s);
			busy_poll(s);
		}
		prune_maybe(s);
	}
	return NULL;
}

/* s->lock held. */
static int thread_start_locked(struct virq_irqfds *s)
{
	sigset_t all, old;
	int r;

	if (s->running)
		return 0;
	atomic_store(&s->stop, false);
	/* The VMM's signal handlers must not run on a thread it does not
	 * know about: start with every signal blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&s->thread, NULL, irqfd_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	pthread_setname_np(s->thread, "virq-irqfd");
	s->running = true;
	return 0;
}

/* s->lock held.  The thread never waits for s->lock (it only tries it), so
 * joining it here cannot deadlock.  Never called on the thread itself: it
 * takes no VM reference, so the VM cannot be released there, and the
 * entry points that come here refuse to run inside a read-side section,
 * where all of its injections (and the callbacks they run) happen. */
static void thread_stop_locked(struct virq_irqfds *s)
{
	uint64_t cnt;

	if (!s->running)
		return;
	atomic_store_explicit(&s->stop, true, memory_order_release);
	eventfd_signal(s->wakefd);
	pthread_join(s->thread, NULL);
	s->running = false;
	/* Leave nothing that would keep a VIRQ_IRQFD_POLL epoll fd readable. */
	if (read(s->wakefd, &cnt, sizeof(cnt)) < 0) {
	}
}

/* ---- the per-VM state ---------------------------------------------------------- */

static struct virq_irqfds *irqfds_of(struct virq_vm *vm)
{
	return atomic_load_explicit(&vm->irqfds, memory_order_acquire);
}

static void irqfds_free(struct virq_irqfds *s)
{
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->wakefd >= 0)
		close(s->wakefd);
	free(atomic_load_explicit(&s->table, memory_order_relaxed));
	free(s->v);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* The VM's irqfd state, created at first use (published with a CAS). */
static struct virq_irqfds *irqfds_get(struct virq_vm *vm, int *err)
{
	struct virq_irqfds *s = irqfds_of(vm), *cur = NULL;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = IRQFD_WAKE_SERIAL };

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	s->vm = vm;
	s->next_serial = IRQFD_WAKE_SERIAL + 1;
	atomic_init(&s->busy_poll_ns, IRQFD_BUSY_POLL_NS_DEFAULT);
	pthread_mutex_init(&s->lock, NULL);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->epfd < 0 || s->wakefd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev)) {
		*err = -errno;
		irqfds_free(s);
		return NULL;
	}
	if (!atomic_compare_exchange_strong_explicit(&vm->irqfds, &cur, s, memory_order_acq_rel,
						     memory_order_acquire)) {
		irqfds_free(s);
		s = cur;
	}
	return s;
}

/*
 * Make @news[0 .. @n) live on the VM, all or nothing: nothing is visible
 * until every allocation and check succeeded.  @replacing ignores the VM's
 * current bindings in the EBUSY check (restore replaces them).  The
 * eventfds already signalled inject now, before this returns, as the
 * kernel's assign does.  s->lock held, outside read-side sections.
 */
static int bind_locked(struct virq_irqfds *s, struct irqfd **news, uint32_t n, bool replacing)
{
	struct irqfd_table *t = atomic_load_explicit(&s->table, memory_order_relaxed), *nt = NULL;
	struct irqfd_resampler **rss = NULL;
	uint32_t nrs = 0, added = 0;
	int r = 0;

	if (!n)
		return 0;
	/* Room first: s->v, the table, the resamplers, the thread. */
	if (s->n + n > s->cap) {
		uint32_t cap = s->cap ? s->cap : 8;
		struct irqfd **v;

		while (cap < s->n + n)
			cap *= 2;
		v = realloc(s->v, (size_t)cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	if (!t || !table_has_room(t, n)) {
		nt = table_alloc(s->n + n);
		if (!nt)
			return -ENOMEM;
	}
	rss = calloc(n, sizeof(*rss));
	if (!rss) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct irqfd *f = news[i];

		if (f->resamplefd < 0)
			continue;
		f->rs = resampler_find(s, f->gsi);
		for (uint32_t j = 0; j < nrs && !f->rs; j++)
			if (rss[j]->kian.gsi == f->gsi)
				f->rs = rss[j];
		if (f->rs)
			continue;
		rss[nrs] = calloc(1, sizeof(*rss[nrs]));
		if (!rss[nrs]) {
			r = -ENOMEM;
			goto fail;
		}
		rss[nrs]->vm = s->vm;
		rss[nrs]->kian.gsi = f->gsi;
		rss[nrs]->kian.irq_acked = resampler_acked;
		f->rs = rss[nrs++];
	}
	if (atomic_load_explicit(&s->mode, memory_order_relaxed) == VIRQ_IRQFD_THREAD) {
		r = thread_start_locked(s);
		if (r)
			goto fail;
	}
	/* Registered silent: epoll can fail here (ENOSPC, ENOMEM), while
	 * nothing is visible yet.  Armed once the table has the binding. */
	for (added = 0; added < n; added++) {
		struct epoll_event ev = { .events = 0, .data.u64 = s->next_serial };

		news[added]->serial = s->next_serial;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, news[added]->fd, &ev)) {
			r = -errno;
			goto fail;
		}
		s->next_serial++;
	}

	/* Checked last, under g_lock until the bindings are linked, so no
	 * other VM can bind the same file in between. */
	pthread_mutex_lock(&g_lock);
	for (uint32_t i = 0; i < n && !r; i++)
		if (bound_anywhere(news[i]->user_fd, replacing ? s : NULL))
			r = -EBUSY;
	if (r) {
		pthread_mutex_unlock(&g_lock);
		goto fail;
	}
	for (uint32_t i = 0; i < n; i++)
		g_link(news[i]);
	pthread_mutex_unlock(&g_lock);

	/* Commit: nothing below fails. */
	for (uint32_t j = 0; j < nrs; j++) {
		atomic_store_explicit(&rss[j]->next, atomic_load_explicit(&s->resamplers, memory_order_relaxed),
				      memory_order_relaxed);
		atomic_store_explicit(&s->resamplers, rss[j], memory_order_release);
		virq_register_irq_ack_notifier(s->vm, &rss[j]->kian);
	}
	free(rss);
	/* The resampler listens before anything asserts through it, so
	 * no acknowledgement can be missed. */
	for (uint32_t i = 0; i < n; i++) {
		struct irqfd *f = news[i];

		if (f->rs) {
			atomic_store_explicit(&f->rs_next, atomic_load_explicit(&f->rs->head, memory_order_relaxed),
					      memory_order_relaxed);
			atomic_store_explicit(&f->rs->head, f, memory_order_release);
		}
	}
	/* Already signalled: inject now, before KVM_IRQFD returns.  Nobody
	 * else reads the eventfd yet: its epoll entry is silent until armed
	 * below. */
	rcu_read_lock();
	for (uint32_t i = 0; i < n; i++)
		irqfd_deliver(news[i]);
	rcu_read_unlock();
	for (uint32_t i = 0; i < n; i++)
		s->v[s->n++] = news[i];
	if (nt) {
		for (uint32_t i = 0; i < s->n; i++) {
			table_insert(nt, false, s->v[i]);
			table_insert(nt, true, s->v[i]);
		}
		atomic_store_explicit(&s->table, nt, memory_order_release);
		if (t)
			call_rcu(&t->rcu, table_free_rcu);
	} else {
		for (uint32_t i = 0; i < n; i++) {
			table_insert(t, false, news[i]);
			table_insert(t, true, news[i]);
		}
	}
	/*
	 * Edge-triggered, like the kernel's wait-queue callback: one read per
	 * wakeup, so an EFD_SEMAPHORE eventfd gives one count per signal.
	 * Arming polls the eventfd, so a signal that landed since the read
	 * above is reported, and the binding is findable by then: no signal
	 * is lost in between.  EPOLL_CTL_MOD only fails for a bad or
	 * unregistered descriptor, which these are not.
	 */
	for (uint32_t i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = news[i]->serial };

		epoll_ctl(s->epfd, EPOLL_CTL_MOD, news[i]->fd, &ev);
	}
	return 0;

fail:
	for (uint32_t i = 0; i < added; i++)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, news[i]->fd, NULL);
	for (uint32_t i = 0; i < n; i++)
		news[i]->rs = NULL;
	for (uint32_t j = 0; j < nrs; j++) {
		/* The kernel sets the resampler up before its last checks and
		 * shuts it down on failure, which lowers the resample source's
		 * level on the GSI: a level pin is re-evaluated and may deliver
		 * (measured; the differential test covers it). */
		if (!replacing)
			virq_set_irq(s->vm, VIRQ_IRQFD_RESAMPLE_IRQ_SOURCE_ID, rss[j]->kian.gsi, 0, false);
		free(rss[j]);
	}
	free(rss);
	free(nt);
	return r;
}

/* ---- KVM_IRQFD ------------------------------------------------------------------------ */

static long irqfd_assign(struct virq_vm *vm, const struct kvm_irqfd *args)
{
	bool resample = args->flags & KVM_IRQFD_FLAG_RESAMPLE;
	struct virq_irqfds *s;
	struct irqfd *f;
	int r;

	if (!vm->arch->irqfd_allowed || !vm->arch->irqfd_allowed(vm, resample))
		return -EINVAL;
	r = irqfd_new(&f, vm, (int)args->fd, (int)args->resamplefd, resample, args->gsi);
	if (r)
		return r;
	s = irqfds_get(vm, &r);
	if (!s) {
		irqfd_free(f);
		return r;
	}
	pthread_mutex_lock(&s->lock);
	r = bind_locked(s, &f, 1, false);
	pthread_mutex_unlock(&s->lock);
	if (r)
		irqfd_free(f);
	return r;
}

struct deassign_key {
	int fd;
	uint32_t gsi;
};

static bool keep_unmatched(struct irqfd *f, const void *arg)
{
	const struct deassign_key *k = arg;

	return f->gsi != k->gsi || !binding_is(f, k->fd);
}

/* kvm_irqfd_deassign(): an unknown (eventfd, gsi) pair is not an error. */
static long irqfd_deassign(struct virq_vm *vm, const struct kvm_irqfd *args)
{
	struct deassign_key k = { .fd = (int)args->fd, .gsi = args->gsi };
	struct virq_irqfds *s;
	uint32_t n;
	int r;

	r = eventfd_check(k.fd);
	if (r)
		return r;
	s = irqfds_of(vm);
	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	n = s->n;
	s->n = partition_locked(s, keep_unmatched, &k);
	unbind_locked(s, s->v + s->n, n - s->n, false);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

long virq_irqfd_ioctl(struct virq_vm *vm, const struct kvm_irqfd *args)
{
	struct virq_irqfds *s = irqfds_of(vm);
	int saved = errno;
	long r;

	if (args->flags & ~(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE))
		return -EINVAL;
	/* Both paths may wait for a grace period (pruning, deassign). */
	if (rcu_read_ongoing())
		return -EDEADLK;
	/* Every call detaches the eventfds the caller closed, whatever its
	 * outcome, so that a closed descriptor's number can be bound again. */
	if (s) {
		pthread_mutex_lock(&s->lock);
		prune_locked(s);
		pthread_mutex_unlock(&s->lock);
	}
	if (args->flags & KVM_IRQFD_FLAG_DEASSIGN)
		r = irqfd_deassign(vm, args);
	else
		r = irqfd_assign(vm, args);
	errno = saved;
	return r;
}

/* ---- hooks for the core and the irqchips ------------------------------------------------- */

bool virq_notify_irqfd_resampler(struct virq_vm *vm, uint32_t gsi)
{
	struct virq_irqfds *s = irqfds_of(vm);
	struct irqfd_resampler *rs;

	if (!s || !atomic_load_explicit(&s->resamplers, memory_order_relaxed))
		return false;
	rcu_read_lock();
	rs = resampler_find(s, gsi);
	if (rs)
		resampler_notify(rs);
	rcu_read_unlock();
	return rs != NULL;
}

/* irqfds resolve their GSI at every injection (virq_set_irq's lookup is as
 * cheap as the kernel's cached route), so a routing change needs nothing. */
void virq_irqfd_routing_update(struct virq_vm *vm)
{
	(void)vm;
}

static void save_one(struct virq_state_irqfd *out, const struct irqfd *f)
{
	out->fd = f->user_fd;
	out->resamplefd = f->user_resamplefd;
	out->gsi = f->gsi;
	out->flags = f->rs ? KVM_IRQFD_FLAG_RESAMPLE : 0;
}

/* Save from inside a read-side section (a VMM callback): no pruning, no
 * lock; the table, in serial (binding) order by repeated selection. */
static uint32_t save_rcu(struct virq_irqfds *s, struct virq_state_irqfd *out, uint32_t max)
{
	struct irqfd_table *t = atomic_load_explicit(&s->table, memory_order_acquire);
	uint32_t size = t ? t->mask + 1 : 0, count = 0;
	uint64_t last = 0;

	for (uint32_t i = 0; i < size; i++) {
		struct irqfd *f = atomic_load_explicit(&t->slot[i], memory_order_acquire);

		count += f && f != TOMB && !atomic_load(&f->dead);
	}
	for (uint32_t k = 0; k < max && k < count; k++) {
		struct irqfd *best = NULL;

		for (uint32_t i = 0; i < size; i++) {
			struct irqfd *f = atomic_load_explicit(&t->slot[i], memory_order_acquire);

			if (f && f != TOMB && !atomic_load(&f->dead) && f->serial > last &&
			    (!best || f->serial < best->serial))
				best = f;
		}
		if (!best)
			break;
		save_one(&out[k], best);
		last = best->serial;
	}
	return count;
}

uint32_t virq_irqfd_save(struct virq_vm *vm, struct virq_state_irqfd *out, uint32_t max)
{
	struct virq_irqfds *s = irqfds_of(vm);
	int saved = errno;
	uint32_t n;

	if (!s)
		return 0;
	if (rcu_read_ongoing()) {
		rcu_read_lock();
		n = save_rcu(s, out, max);
		rcu_read_unlock();
		errno = saved;
		return n;
	}
	pthread_mutex_lock(&s->lock);
	prune_locked(s);
	n = s->n;
	for (uint32_t i = 0; i < n && i < max; i++)
		save_one(&out[i], s->v[i]);
	pthread_mutex_unlock(&s->lock);
	errno = saved;
	return n;
}

/* Reverse @v[@a .. @b). */
static void reverse(struct irqfd **v, uint32_t a, uint32_t b)
{
	for (; a + 1 < b; a++, b--) {
		struct irqfd *tmp = v[a];

		v[a] = v[b - 1];
		v[b - 1] = tmp;
	}
}

static int restore_validate(struct virq_vm *vm, const struct virq_state_irqfd *recs, uint32_t n,
			    struct irqfd **news)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct virq_state_irqfd *rec = &recs[i];
		bool resample = rec->flags & KVM_IRQFD_FLAG_RESAMPLE;
		int r;

		if (rec->flags & ~KVM_IRQFD_FLAG_RESAMPLE)
			return -EINVAL;
		if (!vm->arch->irqfd_allowed || !vm->arch->irqfd_allowed(vm, resample))
			return -EINVAL;
		r = irqfd_new(&news[i], vm, rec->fd, rec->resamplefd, resample, rec->gsi);
		if (r)
			return r;
		/* The same eventfd twice: the second assign would be EBUSY. */
		for (uint32_t j = 0; j < i; j++)
			if (binding_is(news[j], rec->fd))
				return -EBUSY;
	}
	return 0;
}

int virq_irqfd_restore(struct virq_vm *vm, const struct virq_state_irqfd *recs, uint32_t n)
{
	struct irqfd **news = NULL;
	struct virq_irqfds *s;
	int saved = errno, r;
	uint32_t old;

	if (rcu_read_ongoing())
		return -EDEADLK;
	if (n) {
		news = calloc(n, sizeof(*news));
		if (!news)
			return -ENOMEM;
	}
	r = restore_validate(vm, recs, n, news);
	if (r)
		goto out;
	s = n ? irqfds_get(vm, &r) : irqfds_of(vm);
	if (!s)
		goto out;
	pthread_mutex_lock(&s->lock);
	old = s->n;
	r = bind_locked(s, news, n, true);
	if (!r) {
		/* The new bindings were appended: rotate them to the front
		 * and retire the old ones.  New and old on one GSI share the
		 * resampler, so its level survives the switch. */
		reverse(s->v, 0, old);
		reverse(s->v, old, old + n);
		reverse(s->v, 0, old + n);
		s->n = n;
		unbind_locked(s, s->v + n, old, true);
		for (uint32_t i = 0; i < n; i++)
			news[i] = NULL; /* owned by the VM now */
	}
	pthread_mutex_unlock(&s->lock);
out:
	for (uint32_t i = 0; i < n; i++)
		if (news[i])
			irqfd_free(news[i]);
	free(news);
	errno = saved;
	return r;
}

void virq_irqfds_destroy(struct virq_vm *vm)
{
	struct virq_irqfds *s = irqfds_of(vm);
	uint32_t n;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	thread_stop_locked(s);
	n = s->n;
	s->n = 0;
	unbind_locked(s, s->v, n, false);
	pthread_mutex_unlock(&s->lock);
	atomic_store_explicit(&vm->irqfds, NULL, memory_order_release);
	/* unbind_locked() waited for a grace period if anything was bound;
	 * an empty table may still be read by nobody: the VM is unreachable. */
	irqfds_free(s);
}

/* ---- the native calls -------------------------------------------------------------------- */

int virq_irqfd_set_mode(int vm_fd, int mode)
{
	struct virq_vm *vm = virq_vm_get(vm_fd);
	struct virq_irqfds *s;
	int saved = errno, r = 0;

	if (!vm)
		return -EBADF;
	if (mode != VIRQ_IRQFD_THREAD && mode != VIRQ_IRQFD_POLL) {
		r = -EINVAL;
		goto out;
	}
	/* Stopping the thread waits for it, and its injections (with the
	 * VMM callbacks they run) happen inside read-side sections. */
	if (rcu_read_ongoing()) {
		r = -EDEADLK;
		goto out;
	}
	s = irqfds_get(vm, &r);
	if (!s)
		goto out;
	pthread_mutex_lock(&s->lock);
	atomic_store_explicit(&s->mode, mode, memory_order_release);
	if (mode == VIRQ_IRQFD_POLL) {
		thread_stop_locked(s);
		r = s->epfd;
	} else if (s->n) {
		r = thread_start_locked(s);
	}
	pthread_mutex_unlock(&s->lock);
out:
	virq_obj_put(&vm->obj);
	errno = saved;
	return r;
}

int virq_irqfd_set_busy_poll(int vm_fd, uint32_t usec)
{
	struct virq_vm *vm = virq_vm_get(vm_fd);
	struct virq_irqfds *s;
	int r = 0;

	if (!vm)
		return -EBADF;
	if (usec > VIRQ_IRQFD_BUSY_POLL_MAX_US) {
		r = -EINVAL;
	} else {
		s = irqfds_get(vm, &r);
		if (s)
			atomic_store_explicit(&s->busy_poll_ns, usec * 1000u, memory_order_relaxed);
	}
	virq_obj_put(&vm->obj);
	return r;
}

int virq_irqfd_dispatch(int vm_fd)
{
	struct virq_vm *vm = virq_vm_get(vm_fd);
	struct virq_irqfds *s;
	int saved = errno, r = 0;

	if (!vm)
		return -EBADF;
	s = irqfds_of(vm);
	if (!s || atomic_load_explicit(&s->mode, memory_order_acquire) != VIRQ_IRQFD_POLL) {
		r = -EINVAL;
		goto out;
	}
	r = drain_events(s);
	prune_maybe(s);
out:
	virq_obj_put(&vm->obj);
	errno = saved;
	return r;
}

int virq_irqfd_trigger(int vm_fd, int eventfd)
{
	struct virq_irqfds *s;
	struct virq_obj *obj;
	struct irqfd *f;
	int r = -ENOENT;

	/* The injection fast path: no reference, no lock, no system call. */
	rcu_read_lock();
	obj = virq_handle_lookup_rcu(vm_fd);
	if (!obj || obj->type != VIRQ_OBJ_VM) {
		rcu_read_unlock();
		return -EBADF;
	}
	s = irqfds_of(container_of(obj, struct virq_vm, obj));
	f = (s && eventfd >= 0) ? table_find(atomic_load_explicit(&s->table, memory_order_acquire),
					     true, (uint64_t)eventfd)
				: NULL;
	if (f) {
		irqfd_inject(f);
		r = 0;
	}
	rcu_read_unlock();
	return r;
}
