/* SPDX-License-Identifier: MIT */
/*
 * test_irqfd.c - KVM_IRQFD and the irqfd native calls: the errnos and their
 * order (those /dev/kvm gave on the build machine, Linux 6.18), assign and
 * deassign, EBUSY (also across VMs), injection of an already-signalled
 * eventfd, detaching closed eventfds, deassign waiting for a delivery in
 * flight, the delivery thread, poll mode and dispatch, trigger, resampling
 * (IOAPIC level EOI, PIC ack, IOAPIC unmask, split-mode level MSI EOI),
 * save/restore, and VM destruction with live bindings.
 *
 * Injections are counted with the route counters: on a GSI with one
 * route, the sum of a route's counters is the number of assertions.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "virq-int.h"
#include "virq/virq.h"

/* irqfd.c: pretend kcmp(KCMP_FILE) is unavailable. */
extern atomic_bool virq_irqfd_no_kcmp;

enum mode { FULL, SPLIT, NONE };

struct vmh {
	int sys, vm, v0;
};

static void make_vm(struct vmh *h, enum mode mode)
{
	struct kvm_enable_cap split = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };
	uint32_t svr = 0x1ff;

	h->sys = virq_open(VIRQ_ARCH_X86);
	assert_true(h->sys >= VIRQ_HANDLE_BASE);
	h->vm = virq_ioctl(h->sys, KVM_CREATE_VM, 0);
	assert_true(h->vm >= VIRQ_HANDLE_BASE);
	if (mode == FULL)
		assert_int_equal(virq_ioctl(h->vm, KVM_CREATE_IRQCHIP), 0);
	if (mode == SPLIT)
		assert_int_equal(virq_ioctl(h->vm, KVM_ENABLE_CAP, &split), 0);
	h->v0 = virq_ioctl(h->vm, KVM_CREATE_VCPU, 0);
	assert_true(h->v0 >= VIRQ_HANDLE_BASE);
	if (mode != NONE)
		assert_int_equal(virq_lapic_write(h->v0, 0xf0, &svr, 4), 0);
}

static void free_vm(struct vmh *h)
{
	assert_int_equal(virq_close(h->v0), 0);
	assert_int_equal(virq_close(h->vm), 0);
	assert_int_equal(virq_close(h->sys), 0);
}

static int irqfd(int vm, int fd, int rfd, uint32_t gsi, uint32_t flags)
{
	struct kvm_irqfd a = { .fd = (uint32_t)fd, .resamplefd = (uint32_t)rfd, .gsi = gsi, .flags = flags };

	return virq_ioctl(vm, KVM_IRQFD, &a);
}

static void ioapic_w(int vm, uint32_t reg, uint32_t val)
{
	assert_int_equal(virq_ioapic_write(vm, 0x00, &reg, 4), 0);
	assert_int_equal(virq_ioapic_write(vm, 0x10, &val, 4), 0);
}

/* Redirection entry @pin: @low dword (vector, flags), destination APIC 0. */
static void rte(int vm, uint32_t pin, uint32_t low)
{
	ioapic_w(vm, 0x10 + 2 * pin + 1, 0);
	ioapic_w(vm, 0x10 + 2 * pin, low);
}

#define RTE_LEVEL (1u << 15)
#define RTE_MASKED (1u << 16)

static void pio_w(int vm, uint16_t port, uint8_t val)
{
	assert_int_equal(virq_pio_write(vm, port, &val, 1), 0);
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, 8), 8);
}

/* Assertions seen by the routes of @gsi. */
static uint64_t asserts(int vm, uint32_t gsi)
{
	struct virq_route_stats st[4];
	int n = virq_route_stats(vm, gsi, st, 4);
	uint64_t sum = 0;

	assert_true(n >= 0 && n <= 4);
	for (int i = 0; i < n; i++)
		sum += st[i].delivered + st[i].coalesced + st[i].masked + st[i].no_destination;
	return sum;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Wait up to 5 s for the delivery thread to make asserts(vm, gsi) reach @n. */
static bool wait_asserts(int vm, uint32_t gsi, uint64_t n)
{
	for (int i = 0; i < 5000; i++) {
		if (asserts(vm, gsi) >= n)
			return asserts(vm, gsi) == n;
		sleep_ms(1);
	}
	return false;
}

static bool wait_interrupt(int vcpu)
{
	for (int i = 0; i < 5000; i++) {
		if (virq_vcpu_has_interrupt(vcpu) == 1)
			return true;
		sleep_ms(1);
	}
	return false;
}

/* The counter of eventfd @fd, waiting up to @ms for it to be signalled; 0 if not. */
static uint64_t take_count(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v = 0;

	if (poll(&p, 1, ms) != 1)
		return 0;
	assert_int_equal(read(fd, &v, 8), 8);
	return v;
}

/* Bindings currently recorded, without pruning: virq_irqfd_save() does
 * not prune (nor lock) inside a read-side section. */
static uint32_t nr_bindings(int vm_fd)
{
	struct virq_vm *vm = virq_vm_get(vm_fd);
	uint32_t n;

	assert_non_null(vm);
	rcu_read_lock();
	n = virq_irqfd_save(vm, NULL, 0);
	rcu_read_unlock();
	virq_obj_put(&vm->obj);
	return n;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static uint32_t ioapic_irr(int vm)
{
	struct kvm_irqchip c = { .chip_id = KVM_IRQCHIP_IOAPIC };

	assert_int_equal(virq_ioctl(vm, KVM_GET_IRQCHIP, &c), 0);
	return (uint32_t)c.chip.ioapic.irr;
}

/* ---- errnos ------------------------------------------------------------- */

static void test_caps(void **state)
{
	(void)state;
	struct vmh h;

	make_vm(&h, FULL);
	assert_int_equal(virq_ioctl(h.sys, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD), 1);
	assert_int_equal(virq_ioctl(h.sys, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD_RESAMPLE), 1);
	assert_int_equal(virq_ioctl(h.vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD), 1);
	assert_int_equal(virq_ioctl(h.vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD_RESAMPLE), 1);
	free_vm(&h);
}

static void test_errno_no_irqchip(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0), nul = open("/dev/null", O_RDWR);

	make_vm(&h, NONE);
	/* Unknown flags first, then irqfd_allowed, before any fd check. */
	assert_errno(irqfd(h.vm, -1, -1, 5, 4), EINVAL);
	assert_errno(irqfd(h.vm, e, -1, 5, 0x80000000u), EINVAL);
	assert_errno(irqfd(h.vm, e, -1, 5, 0), EINVAL);
	assert_errno(irqfd(h.vm, -1, -1, 5, 0), EINVAL);
	assert_errno(irqfd(h.vm, e, e, 5, KVM_IRQFD_FLAG_RESAMPLE), EINVAL);
	/* Deassign needs no irqchip. */
	assert_int_equal(irqfd(h.vm, e, -1, 5, KVM_IRQFD_FLAG_DEASSIGN), 0);
	assert_errno(irqfd(h.vm, -1, -1, 5, KVM_IRQFD_FLAG_DEASSIGN), EBADF);
	assert_errno(irqfd(h.vm, nul, -1, 5, KVM_IRQFD_FLAG_DEASSIGN), EINVAL);
	assert_errno(virq_ioctl(h.vm, KVM_IRQFD, NULL), EFAULT);
	free_vm(&h);
	close(e);
	close(nul);
}

static void test_errno_assign(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0), r = eventfd(0, 0), nul = open("/dev/null", O_RDWR);
	int tfd = timerfd_create(CLOCK_MONOTONIC, 0), p[2];
	int opath = open("/dev/null", O_PATH);

	assert_int_equal(pipe(p), 0);
	make_vm(&h, FULL);
	assert_errno(irqfd(h.vm, -1, -1, 5, 0), EBADF);
	assert_errno(irqfd(h.vm, 999, -1, 5, 0), EBADF);
	assert_errno(irqfd(h.vm, opath, -1, 5, 0), EBADF);
	assert_errno(irqfd(h.vm, h.vm, -1, 5, 0), EBADF); /* a handle is not a descriptor */
	assert_errno(irqfd(h.vm, nul, -1, 5, 0), EINVAL);
	assert_errno(irqfd(h.vm, tfd, -1, 5, 0), EINVAL);
	assert_errno(irqfd(h.vm, p[0], -1, 5, 0), EINVAL);
	/* resamplefd: checked after the eventfd. */
	assert_errno(irqfd(h.vm, e, -1, 5, KVM_IRQFD_FLAG_RESAMPLE), EBADF);
	assert_errno(irqfd(h.vm, e, 999, 5, KVM_IRQFD_FLAG_RESAMPLE), EBADF);
	assert_errno(irqfd(h.vm, e, nul, 5, KVM_IRQFD_FLAG_RESAMPLE), EINVAL);
	assert_errno(irqfd(h.vm, nul, 999, 5, KVM_IRQFD_FLAG_RESAMPLE), EINVAL);
	assert_errno(irqfd(h.vm, 999, nul, 5, KVM_IRQFD_FLAG_RESAMPLE), EBADF);
	/* Without the flag, resamplefd is ignored. */
	assert_int_equal(irqfd(h.vm, e, 999, 5, 0), 0);
	/* The same eventfd: EBUSY whatever the GSI, also through a dup,
	 * and checked after the resamplefd. */
	int d = dup(e);
	assert_errno(irqfd(h.vm, e, -1, 5, 0), EBUSY);
	assert_errno(irqfd(h.vm, e, -1, 6, 0), EBUSY);
	assert_errno(irqfd(h.vm, d, -1, 7, 0), EBUSY);
	assert_errno(irqfd(h.vm, e, 999, 6, KVM_IRQFD_FLAG_RESAMPLE), EBADF);
	assert_errno(irqfd(h.vm, e, r, 6, KVM_IRQFD_FLAG_RESAMPLE), EBUSY);
	/* Any GSI is accepted, as in the kernel. */
	int e2 = eventfd(0, 0);
	assert_int_equal(irqfd(h.vm, e2, -1, 9999999, 0), 0);
	assert_int_equal(irqfd(h.vm, e2, -1, 9999999, KVM_IRQFD_FLAG_DEASSIGN), 0);
	/* Deassign: fd errors, unknown pairs are fine. */
	assert_errno(irqfd(h.vm, 999, -1, 5, KVM_IRQFD_FLAG_DEASSIGN), EBADF);
	assert_errno(irqfd(h.vm, nul, -1, 5, KVM_IRQFD_FLAG_DEASSIGN), EINVAL);
	assert_errno(irqfd(h.vm, opath, -1, 5, KVM_IRQFD_FLAG_DEASSIGN), EBADF);
	assert_int_equal(irqfd(h.vm, e, -1, 6, KVM_IRQFD_FLAG_DEASSIGN), 0);
	assert_int_equal(irqfd(h.vm, e2, -1, 5, KVM_IRQFD_FLAG_DEASSIGN), 0);
	assert_int_equal(virq_irqfd_trigger(h.vm, e), 0); /* still bound */
	/* Deassign through a dup names the same eventfd; RESAMPLE is ignored. */
	assert_int_equal(irqfd(h.vm, d, -1, 5, KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE), 0);
	assert_int_equal(virq_irqfd_trigger(h.vm, e), -ENOENT);
	assert_int_equal(irqfd(h.vm, e, -1, 5, 0), 0); /* free again */

	/* Across VMs too (6.18: the irqfd wait-queue entry is exclusive). */
	struct vmh h2;
	make_vm(&h2, FULL);
	assert_errno(irqfd(h2.vm, e, -1, 5, 0), EBUSY);
	assert_errno(irqfd(h2.vm, d, -1, 5, 0), EBUSY);
	assert_int_equal(irqfd(h2.vm, e2, -1, 5, 0), 0);
	assert_errno(irqfd(h.vm, e2, -1, 5, 0), EBUSY);
	free_vm(&h2);
	/* The VM is gone, so is its binding. */
	assert_int_equal(irqfd(h.vm, e2, -1, 5, 0), 0);

	/* Split irqchip: plain and resampling irqfds (virq resamples in
	 * split mode; the kernel gives EINVAL). */
	make_vm(&h2, SPLIT);
	int e3 = eventfd(0, 0);
	assert_int_equal(irqfd(h2.vm, e3, r, 5, KVM_IRQFD_FLAG_RESAMPLE), 0);
	assert_int_equal(irqfd(h2.vm, e3, -1, 5, KVM_IRQFD_FLAG_DEASSIGN), 0);
	assert_int_equal(irqfd(h2.vm, e3, -1, 5, 0), 0);
	free_vm(&h2);

	free_vm(&h);
	close(e);
	close(e2);
	close(e3);
	close(d);
	close(r);
	close(nul);
	close(tfd);
	close(opath);
	close(p[0]);
	close(p[1]);
}

/* ---- delivery -------------------------------------------------------------- */

static void test_thread_delivery(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0);

	make_vm(&h, FULL);
	rte(h.vm, 16, 0x40);
	assert_int_equal(irqfd(h.vm, e, -1, 16, 0), 0);
	assert_int_equal(asserts(h.vm, 16), 0);
	signal_fd(e);
	assert_true(wait_asserts(h.vm, 16, 1));
	assert_true(wait_interrupt(h.v0));
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x40);
	assert_int_equal(virq_vcpu_eoi(h.v0), 0x40);
	/* Each signal is read and cleared; the pulse leaves the line low. */
	signal_fd(e);
	assert_true(wait_asserts(h.vm, 16, 2));
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x40);
	assert_int_equal(virq_vcpu_eoi(h.v0), 0x40);
	struct pollfd p = { .fd = e, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0);
	/* After deassign, signals go nowhere. */
	assert_int_equal(irqfd(h.vm, e, -1, 16, KVM_IRQFD_FLAG_DEASSIGN), 0);
	signal_fd(e);
	sleep_ms(50);
	assert_int_equal(asserts(h.vm, 16), 2);
	assert_int_equal(take_count(e, 0), 1);
	free_vm(&h);
	close(e);
}

/* The delivery thread's polling window: bounds, and delivery either way. */
static void test_busy_poll(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0);

	make_vm(&h, FULL);
	assert_int_equal(virq_irqfd_set_busy_poll(h.sys, 10), -EBADF);
	assert_int_equal(virq_irqfd_set_busy_poll(h.vm, VIRQ_IRQFD_BUSY_POLL_MAX_US + 1), -EINVAL);
	assert_int_equal(virq_irqfd_set_busy_poll(h.vm, VIRQ_IRQFD_BUSY_POLL_MAX_US), 0);
	rte(h.vm, 16, 0x40);
	assert_int_equal(irqfd(h.vm, e, -1, 16, 0), 0);
	/* Polling: back-to-back signals are each delivered. */
	for (int i = 1; i <= 3; i++) {
		signal_fd(e);
		assert_true(wait_asserts(h.vm, 16, (unsigned)i));
	}
	/* Never polling: the thread sleeps between signals and still delivers. */
	assert_int_equal(virq_irqfd_set_busy_poll(h.vm, 0), 0);
	sleep_ms(20); /* let the old window run out */
	signal_fd(e);
	assert_true(wait_asserts(h.vm, 16, 4));
	free_vm(&h);
	close(e);
}

/* An irqfd pulse lowers a level KVM_IRQ_LINE raised (same source id). */
static void test_pulse_cancels_line(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0);
	struct kvm_irq_level l = { .irq = 17, .level = 1 };

	make_vm(&h, FULL);
	rte(h.vm, 17, 0x41 | RTE_LEVEL | RTE_MASKED);
	assert_int_equal(virq_ioctl(h.vm, KVM_IRQ_LINE, &l), 0);
	assert_true(ioapic_irr(h.vm) & (1u << 17));
	assert_int_equal(irqfd(h.vm, e, -1, 17, 0), 0);
	assert_int_equal(virq_irqfd_trigger(h.vm, e), 0);
	assert_false(ioapic_irr(h.vm) & (1u << 17));
	free_vm(&h);
	close(e);
}

static void test_signalled_at_assign(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(3, 0);

	make_vm(&h, FULL);
	rte(h.vm, 16, 0x40);
	assert_int_equal(virq_irqfd_set_mode(h.vm, VIRQ_IRQFD_POLL) >= 0, 1);
	/* Injected before KVM_IRQFD returns, once for the whole count; the
	 * count is consumed (the kernel leaves it: docs/kvm-differences.md). */
	assert_int_equal(irqfd(h.vm, e, -1, 16, 0), 0);
	assert_int_equal(asserts(h.vm, 16), 1);
	assert_int_equal(virq_vcpu_has_interrupt(h.v0), 1);
	assert_int_equal(take_count(e, 0), 0);
	assert_int_equal(virq_irqfd_dispatch(h.vm), 0);
	assert_int_equal(asserts(h.vm, 16), 1);
	/* Thread mode too. */
	int e2 = eventfd(1, 0);
	assert_int_equal(virq_irqfd_set_mode(h.vm, VIRQ_IRQFD_THREAD), 0);
	assert_int_equal(irqfd(h.vm, e2, -1, 16, 0), 0);
	assert_int_equal(asserts(h.vm, 16), 2);
	free_vm(&h);
	close(e);
	close(e2);
}

/* EFD_SEMAPHORE: one count per signal, as the kernel's wakeup reads. */
static void test_semaphore(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, EFD_SEMAPHORE);
	uint64_t three = 3;

	make_vm(&h, FULL);
	rte(h.vm, 16, 0x40);
	assert_true(virq_irqfd_set_mode(h.vm, VIRQ_IRQFD_POLL) >= 0);
	assert_int_equal(irqfd(h.vm, e, -1, 16, 0), 0);
	assert_int_equal(write(e, &three, 8), 8);
	assert_int_equal(virq_irqfd_dispatch(h.vm), 1);
	assert_int_equal(virq_irqfd_dispatch(h.vm), 0);
	assert_int_equal(asserts(h.vm, 16), 1);
	assert_int_equal(take_count(e, 0), 1); /* 2 left: one read */
	signal_fd(e);
	assert_int_equal(virq_irqfd_dispatch(h.vm), 1);
	assert_int_equal(take_count(e, 0), 1);
	assert_int_equal(take_count(e, 0), 0);
	free_vm(&h);
	close(e);
}

static void test_poll_mode(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0), e2 = eventfd(0, 0);

	make_vm(&h, FULL);
	rte(h.vm, 16, 0x40);
	rte(h.vm, 18, 0x42);
	assert_int_equal(virq_irqfd_dispatch(h.vm), -EINVAL); /* thread mode */
	assert_int_equal(virq_irqfd_set_mode(h.vm, 7), -EINVAL);
	assert_int_equal(virq_irqfd_set_mode(h.sys, VIRQ_IRQFD_POLL), -EBADF);
	assert_int_equal(virq_irqfd_set_mode(-1, VIRQ_IRQFD_POLL), -EBADF);
	assert_int_equal(virq_irqfd_dispatch(h.v0), -EBADF);

	/* Start in thread mode with a live binding, then switch. */
	assert_int_equal(irqfd(h.vm, e, -1, 16, 0), 0);
	signal_fd(e);
	assert_true(wait_asserts(h.vm, 16, 1));
	int pfd = virq_irqfd_set_mode(h.vm, VIRQ_IRQFD_POLL);
	assert_true(pfd >= 0 && pfd < VIRQ_HANDLE_BASE);
	assert_int_equal(virq_irqfd_set_mode(h.vm, VIRQ_IRQFD_POLL), pfd);
	struct pollfd p = { .fd = pfd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(virq_irqfd_dispatch(h.vm), 0);

	/* Signals wait for dispatch; edges coalesce into one injection. */
	signal_fd(e);
	signal_fd(e);
	signal_fd(e);
	sleep_ms(30);
	assert_int_equal(asserts(h.vm, 16), 1);
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(virq_irqfd_dispatch(h.vm), 1);
	assert_int_equal(asserts(h.vm, 16), 2);
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(virq_irqfd_dispatch(h.vm), 0);

	/* Two eventfds in one dispatch, bound while in poll mode. */
	assert_int_equal(irqfd(h.vm, e2, -1, 18, 0), 0);
	signal_fd(e);
	signal_fd(e2);
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(virq_irqfd_dispatch(h.vm), 2);
	assert_int_equal(asserts(h.vm, 16), 3);
	assert_int_equal(asserts(h.vm, 18), 1);

	/* Back to the thread: it picks up what is pending. */
	signal_fd(e2);
	assert_int_equal(virq_irqfd_set_mode(h.vm, VIRQ_IRQFD_THREAD), 0);
	assert_int_equal(virq_irqfd_dispatch(h.vm), -EINVAL);
	assert_true(wait_asserts(h.vm, 18, 2));
	/* And back to poll with a pending signal: the fd is readable. */
	pfd = virq_irqfd_set_mode(h.vm, VIRQ_IRQFD_POLL);
	assert_true(pfd >= 0);
	signal_fd(e);
	p.fd = pfd;
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(virq_irqfd_dispatch(h.vm), 1);
	free_vm(&h);
	close(e);
	close(e2);
}

/*
 * A signal written before a deassign is injected by the time it returns
 * (the kernel's waker ran inside write()), even in poll mode where nobody
 * dispatched it; the count is consumed as the kernel's shutdown does.
 */
static void test_write_then_deassign(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0), sem = eventfd(0, EFD_SEMAPHORE);
	uint64_t three = 3;

	make_vm(&h, FULL);
	rte(h.vm, 16, 0x40);
	rte(h.vm, 18, 0x42);
	assert_true(virq_irqfd_set_mode(h.vm, VIRQ_IRQFD_POLL) >= 0);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(irqfd(h.vm, e, -1, 16, 0), 0);
		signal_fd(e);
		assert_int_equal(irqfd(h.vm, e, -1, 16, KVM_IRQFD_FLAG_DEASSIGN), 0);
		assert_int_equal(asserts(h.vm, 16), (uint64_t)round + 1);
		assert_int_equal(take_count(e, 0), 0);
	}
	/* One count per wakeup, one more at shutdown: 3 - 1 - 1. */
	assert_int_equal(irqfd(h.vm, sem, -1, 18, 0), 0);
	assert_int_equal(write(sem, &three, 8), 8);
	assert_int_equal(irqfd(h.vm, sem, -1, 18, KVM_IRQFD_FLAG_DEASSIGN), 0);
	assert_int_equal(asserts(h.vm, 18), 1);
	assert_int_equal(take_count(sem, 0), 1);
	assert_int_equal(take_count(sem, 0), 0);
	/* After the deassign, signals stay in the eventfd. */
	signal_fd(e);
	assert_int_equal(asserts(h.vm, 16), 3);
	assert_int_equal(take_count(e, 0), 1);
	/* Thread mode, many rounds: never lost. */
	assert_int_equal(virq_irqfd_set_mode(h.vm, VIRQ_IRQFD_THREAD), 0);
	for (int round = 0; round < 50; round++) {
		assert_int_equal(irqfd(h.vm, e, -1, 16, 0), 0);
		signal_fd(e);
		assert_int_equal(irqfd(h.vm, e, -1, 16, KVM_IRQFD_FLAG_DEASSIGN), 0);
		assert_int_equal(asserts(h.vm, 16), 3 + (uint64_t)round + 1);
	}
	free_vm(&h);
	close(e);
	close(sem);
}

static void test_trigger(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0), e2 = eventfd(0, 0);

	make_vm(&h, FULL);
	rte(h.vm, 16, 0x40);
	assert_int_equal(virq_irqfd_trigger(h.vm, e), -ENOENT); /* nothing bound yet */
	assert_int_equal(irqfd(h.vm, e, -1, 16, 0), 0);
	assert_int_equal(virq_irqfd_trigger(h.vm, e), 0);
	assert_int_equal(asserts(h.vm, 16), 1);
	assert_int_equal(virq_irqfd_trigger(h.vm, e), 0);
	assert_int_equal(asserts(h.vm, 16), 2);
	assert_int_equal(take_count(e, 0), 0); /* no system call, no count */
	assert_int_equal(virq_irqfd_trigger(h.vm, e2), -ENOENT);
	assert_int_equal(virq_irqfd_trigger(h.vm, -1), -ENOENT);
	assert_int_equal(virq_irqfd_trigger(h.v0, e), -EBADF);
	assert_int_equal(virq_irqfd_trigger(h.sys, e), -EBADF);
	assert_int_equal(virq_irqfd_trigger(12345, e), -EBADF);
	assert_int_equal(irqfd(h.vm, e, -1, 16, KVM_IRQFD_FLAG_DEASSIGN), 0);
	assert_int_equal(virq_irqfd_trigger(h.vm, e), -ENOENT);
	free_vm(&h);
	close(e);
	close(e2);
}

/*
 * A trigger while the delivery thread pulses the same irqfd (here from the
 * kick the pulse raises, after the guest took the interrupt): the pulses
 * must not overlap, or the second rise finds the line still high and the
 * interrupt is lost.
 */
struct pulse_cb {
	int vm, vcpu, e;
	atomic_int calls;
	atomic_int done;
	int acked, eoi, trigger_r;
};

static void pulse_event(void *opaque, int vcpu_fd, const struct virq_event *ev)
{
	struct pulse_cb *c = opaque;

	(void)vcpu_fd;
	if (ev->type != VIRQ_EVENT_KICK || atomic_fetch_add(&c->calls, 1))
		return;
	c->acked = virq_vcpu_ack_interrupt(c->vcpu);
	c->eoi = virq_vcpu_eoi(c->vcpu);
	c->trigger_r = virq_irqfd_trigger(c->vm, c->e);
	atomic_store(&c->done, 1);
}

static void test_trigger_during_pulse(void **state)
{
	(void)state;
	struct vmh h;
	struct pulse_cb c = { 0 };

	make_vm(&h, FULL);
	rte(h.vm, 16, 0x40);
	c.vm = h.vm;
	c.vcpu = h.v0;
	c.e = eventfd(0, 0);
	assert_int_equal(virq_vcpu_set_event_fn(h.v0, pulse_event, &c), 0);
	assert_int_equal(irqfd(h.vm, c.e, -1, 16, 0), 0);
	signal_fd(c.e);
	/* The callback owns the vCPU until it is done (one thread at a time). */
	for (int i = 0; i < 5000 && !atomic_load(&c.done); i++)
		sleep_ms(1);
	assert_true(atomic_load(&c.done));
	assert_true(wait_interrupt(h.v0));
	assert_int_equal(c.acked, 0x40);
	assert_int_equal(c.eoi, 0x40);
	assert_int_equal(c.trigger_r, 0);
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x40);
	/* Two rising edges reached the IOAPIC, none merged. */
	struct virq_route_stats st;
	assert_int_equal(virq_route_stats(h.vm, 16, &st, 1), 1);
	assert_int_equal(st.delivered, 2);
	assert_int_equal(st.coalesced, 0);
	assert_int_equal(virq_vcpu_set_event_fn(h.v0, NULL, NULL), 0);
	free_vm(&h);
	close(c.e);
}

/* ---- closing the eventfd ------------------------------------------------------ */

static void test_close_detaches(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0);

	make_vm(&h, FULL);
	rte(h.vm, 16, 0x40);
	assert_int_equal(irqfd(h.vm, e, -1, 16, 0), 0);
	assert_int_equal(nr_bindings(h.vm), 1);
	/* The number is reused by a new eventfd: bindable, the old binding
	 * is gone (KVM_IRQFD prunes first), trigger finds the new one. */
	close(e);
	int e2 = eventfd(0, 0);
	assert_int_equal(e2, e);
	assert_int_equal(irqfd(h.vm, e2, -1, 18, 0), 0);
	assert_int_equal(nr_bindings(h.vm), 1);
	struct virq_state_irqfd rec;
	struct virq_vm *vm = virq_vm_get(h.vm);
	assert_int_equal(virq_irqfd_save(vm, &rec, 1), 1);
	assert_int_equal(rec.gsi, 18);
	/* Deassign of a closed descriptor: EBADF (the binding is detached). */
	close(e2);
	assert_errno(irqfd(h.vm, e2, -1, 18, KVM_IRQFD_FLAG_DEASSIGN), EBADF);
	assert_int_equal(nr_bindings(h.vm), 0);

	/* The delivery thread prunes on its own within ~100 ms. */
	int e3 = eventfd(0, 0);
	assert_int_equal(irqfd(h.vm, e3, -1, 16, 0), 0);
	signal_fd(e3);
	assert_true(wait_asserts(h.vm, 16, 1));
	close(e3);
	for (int i = 0; i < 2000 && nr_bindings(h.vm); i++)
		sleep_ms(1);
	assert_int_equal(nr_bindings(h.vm), 0);

	/* So does save. */
	int e4 = eventfd(0, 0);
	assert_true(virq_irqfd_set_mode(h.vm, VIRQ_IRQFD_POLL) >= 0);
	assert_int_equal(irqfd(h.vm, e4, -1, 16, 0), 0);
	close(e4);
	assert_int_equal(nr_bindings(h.vm), 1);
	assert_int_equal(virq_irqfd_save(vm, NULL, 0), 0);
	assert_int_equal(nr_bindings(h.vm), 0);
	virq_obj_put(&vm->obj);
	free_vm(&h);
}

/* Without kcmp, descriptor numbers stand for files. */
static void test_no_kcmp_fallback(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0);

	make_vm(&h, FULL);
	atomic_store(&virq_irqfd_no_kcmp, true);
	assert_int_equal(irqfd(h.vm, e, -1, 16, 0), 0);
	assert_errno(irqfd(h.vm, e, -1, 17, 0), EBUSY);
	assert_int_equal(virq_irqfd_trigger(h.vm, e), 0);
	assert_int_equal(irqfd(h.vm, e, -1, 17, KVM_IRQFD_FLAG_DEASSIGN), 0);
	assert_int_equal(nr_bindings(h.vm), 1);
	/* Closing the number detaches it at the next call, even a failing one. */
	close(e);
	assert_errno(irqfd(h.vm, -1, -1, 16, KVM_IRQFD_FLAG_DEASSIGN), EBADF);
	assert_int_equal(nr_bindings(h.vm), 0);
	atomic_store(&virq_irqfd_no_kcmp, false);
	free_vm(&h);
}

/* ---- deassign waits for deliveries in flight ------------------------------------ */

struct slow_cb {
	int vm;
	atomic_int entered;
	atomic_int done;
	int irqfd_errno;
	int set_mode_r;
	int restore_r;
};

static void slow_event(void *opaque, int vcpu_fd, const struct virq_event *ev)
{
	struct slow_cb *c = opaque;
	struct kvm_irqfd a = { .fd = 0, .gsi = 1, .flags = KVM_IRQFD_FLAG_DEASSIGN };

	(void)vcpu_fd;
	if (ev->type != VIRQ_EVENT_KICK || atomic_fetch_add(&c->entered, 1))
		return;
	/* Inside the injection's read-side section: what would wait for a
	 * grace period refuses instead of deadlocking. */
	errno = 0;
	if (virq_ioctl(c->vm, KVM_IRQFD, &a) == -1)
		c->irqfd_errno = errno;
	c->set_mode_r = virq_irqfd_set_mode(c->vm, VIRQ_IRQFD_POLL);
	struct virq_vm *vm = virq_vm_get(c->vm);
	c->restore_r = virq_irqfd_restore(vm, NULL, 0);
	virq_obj_put(&vm->obj);
	sleep_ms(200);
	atomic_store(&c->done, 1);
}

static void test_deassign_waits(void **state)
{
	(void)state;
	struct vmh h;
	struct slow_cb c = { 0 };
	int e = eventfd(0, 0);

	make_vm(&h, FULL);
	c.vm = h.vm;
	rte(h.vm, 16, 0x40);
	assert_int_equal(virq_vcpu_set_event_fn(h.v0, slow_event, &c), 0);
	assert_int_equal(irqfd(h.vm, e, -1, 16, 0), 0);
	signal_fd(e);
	for (int i = 0; i < 5000 && !atomic_load(&c.entered); i++)
		sleep_ms(1);
	assert_true(atomic_load(&c.entered));
	/* The delivery thread is inside the injection: deassign waits. */
	assert_int_equal(irqfd(h.vm, e, -1, 16, KVM_IRQFD_FLAG_DEASSIGN), 0);
	assert_int_equal(atomic_load(&c.done), 1);
	assert_int_equal(c.irqfd_errno, EDEADLK);
	assert_int_equal(c.set_mode_r, -EDEADLK);
	assert_int_equal(c.restore_r, -EDEADLK);
	assert_int_equal(virq_vcpu_set_event_fn(h.v0, NULL, NULL), 0);
	free_vm(&h);
	close(e);
}

/* ---- resampling ------------------------------------------------------------------- */

static void test_resample_ioapic_eoi(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0), r = eventfd(0, 0), e2 = eventfd(0, 0), r2 = eventfd(0, 0);

	make_vm(&h, FULL);
	rte(h.vm, 17, 0x41 | RTE_LEVEL);
	assert_int_equal(irqfd(h.vm, e, r, 17, KVM_IRQFD_FLAG_RESAMPLE), 0);
	signal_fd(e);
	assert_true(wait_interrupt(h.v0));
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x41);
	assert_int_equal(take_count(r, 0), 0);
	/* Level EOI: the resampler lowers the line and signals resamplefd,
	 * so the IOAPIC does not re-deliver. */
	assert_int_equal(virq_vcpu_eoi(h.v0), 0x41);
	assert_int_equal(take_count(r, 0), 1);
	assert_int_equal(virq_vcpu_has_interrupt(h.v0), 0);
	assert_false(ioapic_irr(h.vm) & (1u << 17));
	/* The device re-asserts. */
	signal_fd(e);
	assert_true(wait_interrupt(h.v0));
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x41);

	/* A second resampling irqfd on the GSI shares the resampler: one
	 * EOI signals both resamplefds. */
	assert_int_equal(irqfd(h.vm, e2, r2, 17, KVM_IRQFD_FLAG_RESAMPLE), 0);
	assert_int_equal(virq_vcpu_eoi(h.v0), 0x41);
	assert_int_equal(take_count(r, 0), 1);
	assert_int_equal(take_count(r2, 0), 1);
	assert_int_equal(virq_vcpu_has_interrupt(h.v0), 0);

	/* The last resampling irqfd of the GSI going lowers the line: mask
	 * the pin, assert, deassign both. */
	rte(h.vm, 17, 0x41 | RTE_LEVEL | RTE_MASKED);
	signal_fd(e2);
	for (int i = 0; i < 5000 && !(ioapic_irr(h.vm) & (1u << 17)); i++)
		sleep_ms(1);
	assert_true(ioapic_irr(h.vm) & (1u << 17));
	assert_int_equal(irqfd(h.vm, e, -1, 17, KVM_IRQFD_FLAG_DEASSIGN), 0);
	assert_true(ioapic_irr(h.vm) & (1u << 17)); /* e2 still holds it */
	assert_int_equal(irqfd(h.vm, e2, -1, 17, KVM_IRQFD_FLAG_DEASSIGN), 0);
	assert_false(ioapic_irr(h.vm) & (1u << 17));
	free_vm(&h);
	close(e);
	close(r);
	close(e2);
	close(r2);
}

/* The 8259 acknowledges a level pin at its EOI (pic_clear_isr). */
static void test_resample_pic_ack(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0), r = eventfd(0, 0);

	make_vm(&h, FULL);
	/* Master PIC: base 0x20, cascade on 2, only IRQ 5 open, level (ELCR). */
	pio_w(h.vm, 0x20, 0x11);
	pio_w(h.vm, 0x21, 0x20);
	pio_w(h.vm, 0x21, 0x04);
	pio_w(h.vm, 0x21, 0x01);
	pio_w(h.vm, 0x21, 0xdf);
	pio_w(h.vm, 0x4d0, 0x20);
	assert_int_equal(irqfd(h.vm, e, r, 5, KVM_IRQFD_FLAG_RESAMPLE), 0);
	signal_fd(e);
	assert_true(wait_interrupt(h.v0));
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x25);
	assert_int_equal(take_count(r, 0), 0);
	/* Non-specific EOI: the PIC acks pin 5, the resampler runs. */
	pio_w(h.vm, 0x20, 0x20);
	assert_int_equal(take_count(r, 0), 1);
	assert_int_equal(virq_vcpu_has_interrupt(h.v0), 0);
	/* Re-assert and ack again. */
	signal_fd(e);
	assert_true(wait_interrupt(h.v0));
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x25);
	pio_w(h.vm, 0x20, 0x20);
	assert_int_equal(take_count(r, 0), 1);
	free_vm(&h);
	close(e);
	close(r);
}

static void test_resample_ioapic_unmask(void **state)
{
	(void)state;
	struct vmh h;
	int e = eventfd(0, 0), r = eventfd(0, 0);

	make_vm(&h, FULL);
	rte(h.vm, 18, 0x42 | RTE_LEVEL | RTE_MASKED);
	assert_int_equal(irqfd(h.vm, e, r, 18, KVM_IRQFD_FLAG_RESAMPLE), 0);
	signal_fd(e);
	for (int i = 0; i < 5000 && !(ioapic_irr(h.vm) & (1u << 18)); i++)
		sleep_ms(1);
	assert_true(ioapic_irr(h.vm) & (1u << 18));
	assert_int_equal(virq_vcpu_has_interrupt(h.v0), 0);
	/* Unmasking with IRR set asks the resampler instead of delivering a
	 * possibly stale level: resamplefd signalled, IRR cleared. */
	rte(h.vm, 18, 0x42 | RTE_LEVEL);
	assert_int_equal(take_count(r, 0), 1);
	assert_false(ioapic_irr(h.vm) & (1u << 18));
	assert_int_equal(virq_vcpu_has_interrupt(h.v0), 0);
	/* The device still needs service: it re-asserts and is delivered. */
	signal_fd(e);
	assert_true(wait_interrupt(h.v0));
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x42);
	assert_int_equal(virq_vcpu_eoi(h.v0), 0x42);
	assert_int_equal(take_count(r, 0), 1);

	/* Without a resampler the same unmask delivers. */
	assert_int_equal(irqfd(h.vm, e, -1, 18, KVM_IRQFD_FLAG_DEASSIGN), 0);
	struct kvm_irq_level l = { .irq = 18, .level = 1 };
	rte(h.vm, 18, 0x42 | RTE_LEVEL | RTE_MASKED);
	assert_int_equal(virq_ioctl(h.vm, KVM_IRQ_LINE, &l), 0);
	rte(h.vm, 18, 0x42 | RTE_LEVEL);
	assert_int_equal(virq_vcpu_has_interrupt(h.v0), 1);
	free_vm(&h);
	close(e);
	close(r);
}

struct eoi_seen {
	atomic_int n;
	atomic_int vector;
};

static void eoi_event(void *opaque, int vcpu_fd, const struct virq_event *ev)
{
	struct eoi_seen *s = opaque;

	(void)vcpu_fd;
	if (ev->type == VIRQ_EVENT_IOAPIC_EOI) {
		atomic_store(&s->vector, (int)ev->vector);
		atomic_fetch_add(&s->n, 1);
	}
}

static void test_resample_split(void **state)
{
	(void)state;
	struct vmh h;
	struct eoi_seen seen = { 0 };
	int e = eventfd(0, 0), r = eventfd(0, 0);
	struct {
		struct kvm_irq_routing hdr;
		struct kvm_irq_routing_entry e[2];
	} rt;

	make_vm(&h, SPLIT);
	assert_int_equal(virq_vcpu_set_event_fn(h.v0, eoi_event, &seen), 0);
	/* GSI 5 (a reserved IOAPIC pin) -> level MSI vector 0x45 to APIC 0;
	 * GSI 30 (not reserved) -> level MSI vector 0x46. */
	memset(&rt, 0, sizeof(rt));
	rt.hdr.nr = 2;
	rt.e[0].gsi = 5;
	rt.e[0].type = KVM_IRQ_ROUTING_MSI;
	rt.e[0].u.msi.address_lo = 0xfee00000;
	rt.e[0].u.msi.data = 0x45 | (1u << 15) | (1u << 14);
	rt.e[1] = rt.e[0];
	rt.e[1].gsi = 30;
	rt.e[1].u.msi.data = 0x46 | (1u << 15) | (1u << 14);
	assert_int_equal(virq_ioctl(h.vm, KVM_SET_GSI_ROUTING, &rt), 0);
	assert_int_equal(irqfd(h.vm, e, r, 5, KVM_IRQFD_FLAG_RESAMPLE), 0);
	signal_fd(e);
	assert_true(wait_interrupt(h.v0));
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x45);
	assert_int_equal(virq_vcpu_eoi(h.v0), 0x45);
	assert_int_equal(take_count(r, 0), 1);
	assert_int_equal(atomic_load(&seen.n), 1);
	assert_int_equal(atomic_load(&seen.vector), 0x45);
	/* Again: the resampler keeps working. */
	signal_fd(e);
	assert_true(wait_interrupt(h.v0));
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x45);
	assert_int_equal(virq_vcpu_eoi(h.v0), 0x45);
	assert_int_equal(take_count(r, 0), 1);

	/* A GSI beyond the reserved pins is not an IOAPIC pin: no resample. */
	int e2 = eventfd(0, 0), r2 = eventfd(0, 0);
	assert_int_equal(irqfd(h.vm, e2, r2, 30, KVM_IRQFD_FLAG_RESAMPLE), 0);
	signal_fd(e2);
	assert_true(wait_interrupt(h.v0));
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x46);
	assert_int_equal(virq_vcpu_eoi(h.v0), 0x46);
	assert_int_equal(take_count(r2, 0), 0);
	assert_int_equal(take_count(r, 0), 0);
	assert_int_equal(virq_vcpu_set_event_fn(h.v0, NULL, NULL), 0);
	free_vm(&h);
	close(e);
	close(r);
	close(e2);
	close(r2);
}

/* ---- save and restore ----------------------------------------------------------------- */

static void test_save_restore(void **state)
{
	(void)state;
	struct vmh h, nochip;
	int e1 = eventfd(0, 0), e2 = eventfd(0, 0), r2 = eventfd(0, 0);
	int n1 = eventfd(0, 0), n2 = eventfd(0, 0), nr2 = eventfd(0, 0), nul = open("/dev/null", O_RDWR);
	struct virq_state_irqfd recs[4];

	make_vm(&h, FULL);
	struct virq_vm *vm = virq_vm_get(h.vm);
	assert_int_equal(virq_irqfd_save(vm, recs, 4), 0);
	assert_int_equal(virq_irqfd_restore(vm, NULL, 0), 0);
	rte(h.vm, 16, 0x40);
	rte(h.vm, 17, 0x41 | RTE_LEVEL);
	assert_int_equal(irqfd(h.vm, e1, -1, 16, 0), 0);
	assert_int_equal(irqfd(h.vm, e2, r2, 17, KVM_IRQFD_FLAG_RESAMPLE), 0);
	assert_int_equal(virq_irqfd_save(vm, NULL, 0), 2);
	memset(recs, 0xaa, sizeof(recs));
	assert_int_equal(virq_irqfd_save(vm, recs, 1), 2);
	assert_int_equal(recs[1].fd, (int32_t)0xaaaaaaaa); /* @max respected */
	assert_int_equal(virq_irqfd_save(vm, recs, 4), 2);
	assert_int_equal(recs[0].fd, e1);
	assert_int_equal(recs[0].resamplefd, -1);
	assert_int_equal(recs[0].gsi, 16);
	assert_int_equal(recs[0].flags, 0);
	assert_int_equal(recs[1].fd, e2);
	assert_int_equal(recs[1].resamplefd, r2);
	assert_int_equal(recs[1].gsi, 17);
	assert_int_equal(recs[1].flags, KVM_IRQFD_FLAG_RESAMPLE);

	/* Validation: the errno KVM_IRQFD would give, nothing changes. */
	struct virq_state_irqfd bad[2] = { { n1, -1, 16, 0 }, { n2, nr2, 17, KVM_IRQFD_FLAG_RESAMPLE } };
	bad[1].flags = KVM_IRQFD_FLAG_DEASSIGN;
	assert_int_equal(virq_irqfd_restore(vm, bad, 2), -EINVAL);
	bad[1].flags = KVM_IRQFD_FLAG_RESAMPLE;
	bad[1].fd = 999;
	assert_int_equal(virq_irqfd_restore(vm, bad, 2), -EBADF);
	bad[1].fd = nul;
	assert_int_equal(virq_irqfd_restore(vm, bad, 2), -EINVAL);
	bad[1].fd = n2;
	bad[1].resamplefd = -1;
	assert_int_equal(virq_irqfd_restore(vm, bad, 2), -EBADF);
	bad[1].resamplefd = nul;
	assert_int_equal(virq_irqfd_restore(vm, bad, 2), -EINVAL);
	bad[1].resamplefd = nr2;
	bad[1].fd = n1;
	assert_int_equal(virq_irqfd_restore(vm, bad, 2), -EBUSY);
	/* Bound in another VM: EBUSY too. */
	make_vm(&nochip, FULL);
	assert_int_equal(irqfd(nochip.vm, n2, -1, 3, 0), 0);
	bad[1].fd = n2;
	assert_int_equal(virq_irqfd_restore(vm, bad, 2), -EBUSY);
	free_vm(&nochip);
	assert_int_equal(virq_irqfd_save(vm, recs, 4), 2);
	assert_int_equal(recs[0].fd, e1);
	assert_int_equal(virq_irqfd_trigger(h.vm, e1), 0);
	assert_int_equal(virq_irqfd_trigger(h.vm, n1), -ENOENT);
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x40);
	assert_int_equal(virq_vcpu_eoi(h.v0), 0x40);

	/* Restore into the same VM, the descriptors rewritten; e2 keeps its
	 * role under its own number (same eventfd, replaced binding). */
	struct virq_state_irqfd good[3] = {
		{ n1, -1, 16, 0 },
		{ n2, nr2, 17, KVM_IRQFD_FLAG_RESAMPLE },
		{ e2, r2, 17, KVM_IRQFD_FLAG_RESAMPLE },
	};
	assert_int_equal(virq_irqfd_restore(vm, good, 3), 0);
	assert_int_equal(virq_irqfd_save(vm, recs, 4), 3);
	assert_memory_equal(recs, good, sizeof(good));
	assert_int_equal(virq_irqfd_trigger(h.vm, e1), -ENOENT);
	signal_fd(e1);
	sleep_ms(30);
	assert_int_equal(virq_vcpu_has_interrupt(h.v0), 0);
	assert_int_equal(virq_irqfd_trigger(h.vm, n1), 0);
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x40);
	assert_int_equal(virq_vcpu_eoi(h.v0), 0x40);
	/* The shared resampler on GSI 17 works for both. */
	signal_fd(n2);
	assert_true(wait_interrupt(h.v0));
	assert_int_equal(virq_vcpu_ack_interrupt(h.v0), 0x41);
	assert_int_equal(virq_vcpu_eoi(h.v0), 0x41);
	assert_int_equal(take_count(nr2, 0), 1);
	assert_int_equal(take_count(r2, 0), 1);
	/* e1 is free to bind again. */
	assert_int_equal(irqfd(h.vm, e1, -1, 18, 0), 0);
	/* Restore of nothing drops everything. */
	assert_int_equal(virq_irqfd_restore(vm, NULL, 0), 0);
	assert_int_equal(virq_irqfd_save(vm, recs, 4), 0);
	assert_int_equal(virq_irqfd_trigger(h.vm, n1), -ENOENT);

	/* Without an irqchip, every record is EINVAL; none is fine. */
	make_vm(&nochip, NONE);
	struct virq_vm *vm2 = virq_vm_get(nochip.vm);
	assert_int_equal(virq_irqfd_restore(vm2, good, 1), -EINVAL);
	assert_int_equal(virq_irqfd_restore(vm2, NULL, 0), 0);
	virq_obj_put(&vm2->obj);
	free_vm(&nochip);

	virq_obj_put(&vm->obj);
	free_vm(&h);
	close(e1);
	close(e2);
	close(r2);
	close(n1);
	close(n2);
	close(nr2);
	close(nul);
}

/* ---- lifetime -------------------------------------------------------------------- */

static void test_vm_close_live(void **state)
{
	(void)state;
	int fds_before = count_fds();
	int e[6], r[3];

	for (int i = 0; i < 6; i++)
		e[i] = eventfd(0, 0);
	for (int i = 0; i < 3; i++)
		r[i] = eventfd(0, 0);
	int base = count_fds();
	for (int round = 0; round < 3; round++) {
		struct vmh h;

		make_vm(&h, FULL);
		rte(h.vm, 17, 0x41 | RTE_LEVEL);
		rte(h.vm, 16, 0x40);
		for (int i = 0; i < 3; i++)
			assert_int_equal(irqfd(h.vm, e[i], -1, 16 + (uint32_t)i % 2, 0), 0);
		for (int i = 3; i < 6; i++)
			assert_int_equal(irqfd(h.vm, e[i], r[i - 3], 17, KVM_IRQFD_FLAG_RESAMPLE), 0);
		if (round == 1)
			assert_true(virq_irqfd_set_mode(h.vm, VIRQ_IRQFD_POLL) >= 0);
		for (int i = 0; i < 6; i++)
			signal_fd(e[i]);
		if (round == 2) {
			/* The VM outlives its handle through the vCPU's. */
			assert_int_equal(virq_close(h.vm), 0);
			for (int i = 0; i < 6; i++)
				signal_fd(e[i]);
			sleep_ms(10);
			assert_int_equal(virq_close(h.v0), 0);
			assert_int_equal(virq_close(h.sys), 0);
		} else {
			free_vm(&h);
		}
		/* Every dup, the epoll and wake descriptors are gone. */
		assert_int_equal(count_fds(), base);
		for (int i = 0; i < 6; i++)
			signal_fd(e[i]);
	}
	for (int i = 0; i < 6; i++)
		close(e[i]);
	for (int i = 0; i < 3; i++)
		close(r[i]);
	assert_int_equal(count_fds(), fds_before);
}

/* Writers signal and trigger while bindings come and go and modes switch. */
struct churn {
	int vm;
	int e[4];
	atomic_bool stop;
};

static void *churn_writer(void *arg)
{
	struct churn *c = arg;
	uint64_t one = 1;

	while (!atomic_load(&c->stop)) {
		for (int i = 0; i < 4; i++) {
			if (write(c->e[i], &one, 8) != 8)
				abort();
			virq_irqfd_trigger(c->vm, c->e[i]);
		}
	}
	return NULL;
}

static void *churn_dispatcher(void *arg)
{
	struct churn *c = arg;

	while (!atomic_load(&c->stop))
		virq_irqfd_dispatch(c->vm);
	return NULL;
}

static void test_churn(void **state)
{
	(void)state;
	struct vmh h;
	struct churn c = { 0 };
	pthread_t w, d1, d2;

	make_vm(&h, FULL);
	rte(h.vm, 16, 0x40);
	rte(h.vm, 17, 0x41 | RTE_LEVEL);
	c.vm = h.vm;
	for (int i = 0; i < 4; i++)
		c.e[i] = eventfd(0, EFD_NONBLOCK);
	int r = eventfd(0, EFD_NONBLOCK);
	assert_int_equal(pthread_create(&w, NULL, churn_writer, &c), 0);
	assert_int_equal(pthread_create(&d1, NULL, churn_dispatcher, &c), 0);
	assert_int_equal(pthread_create(&d2, NULL, churn_dispatcher, &c), 0);
	bool bound[4] = { false };
	for (int it = 0; it < 300; it++) {
		int i = (it * 3) % 4;
		uint32_t gsi = i == 3 ? 17 : 16;

		if (bound[i])
			assert_int_equal(irqfd(h.vm, c.e[i], -1, gsi, KVM_IRQFD_FLAG_DEASSIGN), 0);
		else if (i == 3)
			assert_int_equal(irqfd(h.vm, c.e[i], r, gsi, KVM_IRQFD_FLAG_RESAMPLE), 0);
		else
			assert_int_equal(irqfd(h.vm, c.e[i], -1, gsi, 0), 0);
		bound[i] = !bound[i];
		if (it % 7 == 0)
			assert_true(virq_irqfd_set_mode(h.vm, (it / 7) % 2 ? VIRQ_IRQFD_POLL : VIRQ_IRQFD_THREAD) >= 0);
		if (virq_vcpu_ack_interrupt(h.v0) >= 0)
			virq_vcpu_eoi(h.v0);
	}
	/* Leave some bound for the close below. */
	for (int i = 0; i < 4; i++)
		if (!bound[i])
			assert_int_equal(irqfd(h.vm, c.e[i], -1, 16, 0), 0);
	/* Close the VM with bindings live and everyone still running. */
	assert_int_equal(virq_close(h.v0), 0);
	assert_int_equal(virq_close(h.vm), 0);
	sleep_ms(20);
	atomic_store(&c.stop, true);
	pthread_join(w, NULL);
	pthread_join(d1, NULL);
	pthread_join(d2, NULL);
	virq_close(h.sys);
	for (int i = 0; i < 4; i++)
		close(c.e[i]);
	close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_errno_no_irqchip),
		cmocka_unit_test(test_errno_assign),
		cmocka_unit_test(test_thread_delivery),
		cmocka_unit_test(test_busy_poll),
		cmocka_unit_test(test_pulse_cancels_line),
		cmocka_unit_test(test_signalled_at_assign),
		cmocka_unit_test(test_semaphore),
		cmocka_unit_test(test_poll_mode),
		cmocka_unit_test(test_write_then_deassign),
		cmocka_unit_test(test_trigger),
		cmocka_unit_test(test_trigger_during_pulse),
		cmocka_unit_test(test_close_detaches),
		cmocka_unit_test(test_no_kcmp_fallback),
		cmocka_unit_test(test_deassign_waits),
		cmocka_unit_test(test_resample_ioapic_eoi),
		cmocka_unit_test(test_resample_pic_ack),
		cmocka_unit_test(test_resample_ioapic_unmask),
		cmocka_unit_test(test_resample_split),
		cmocka_unit_test(test_save_restore),
		cmocka_unit_test(test_vm_close_live),
		cmocka_unit_test(test_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
