/* SPDX-License-Identifier: MIT */
/*
 * resample.c - the resample test device: a level-triggered interrupt
 * source on an irqfd with a resamplefd, the way VFIO drives a PCI device's
 * INTx line.
 *
 * The device holds a count of pending events.  While the count is above
 * zero its line is asserted by writing the irqfd.  The guest's handler
 * takes one event by reading the event port, then EOIs; the EOI lowers the
 * line and signals the resamplefd, and the device thread asserts the line
 * again if events are left.  So N events make N interrupts, each one
 * raised from the device thread while the guest runs.
 *
 *   0x2200  write: attach the device to GSI v (once; later writes ignored)
 *   0x2204  write: add v events; read: take one, returns the count before
 *                  the take (0: there was nothing to take)
 *
 * The irqfd goes to the irqchip backend: KVM's own resampling irqfd in
 * kernel mode, virq's in split and userspace mode.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vm.h"

static void resample_failed(struct vmm *vm, const char *what, int err)
{
	fprintf(stderr, "virq vm: resample device: %s: %s\n", what, strerror(err));
	vmm_stop(vm, VMM_EXIT_SYSTEM);
}

/* Raise the line.  Called with r->lock held. */
static void assert_locked(struct vmm *vm, struct vmm_resample *r)
{
	uint64_t one = 1;

	r->asserted = true;
	vmm_probe_mark(vm);
	if (write(r->fd, &one, sizeof(one)) != sizeof(one))
		resample_failed(vm, "irqfd write", errno);
}

/* The EOI lowered the line: raise it again while events are left. */
static void *resample_main(void *arg)
{
	struct vmm *vm = arg;
	struct vmm_resample *r = &vm->resample;
	struct pollfd p[2] = {
		{ .fd = r->resamplefd, .events = POLLIN },
		{ .fd = r->stopfd, .events = POLLIN },
	};
	uint64_t n;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			resample_failed(vm, "poll", errno);
			break;
		}
		if (p[1].revents)
			break;
		if (read(r->resamplefd, &n, sizeof(n)) != sizeof(n))
			continue;	/* EAGAIN: nothing after all */
		pthread_mutex_lock(&r->lock);
		r->asserted = false;
		if (r->pending)
			assert_locked(vm, r);
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

static int resample_attach(struct vmm *vm, uint32_t gsi)
{
	struct vmm_resample *r = &vm->resample;
	int err;

	r->gsi = (int)gsi;	/* one attempt only, even if it fails */
	r->fd = eventfd(0, EFD_CLOEXEC);
	r->resamplefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->stopfd = eventfd(0, EFD_CLOEXEC);
	if (r->fd < 0 || r->resamplefd < 0 || r->stopfd < 0) {
		resample_failed(vm, "eventfd", errno);
		return -1;
	}
	if (!vm->backend->irqfd) {
		resample_failed(vm, "irqfd", EOPNOTSUPP);
		return -1;
	}
	err = vm->backend->irqfd(vm, gsi, r->fd, r->resamplefd);
	if (err < 0) {
		resample_failed(vm, "irqfd", -err);
		return -1;
	}
	err = pthread_create(&r->thread, NULL, resample_main, vm);
	if (err) {
		resample_failed(vm, "pthread_create", err);
		return -1;
	}
	r->running = true;
	return 0;
}

int vmm_resample_pio(struct vmm *vm, uint16_t port, uint8_t *data, int size, bool write)
{
	struct vmm_resample *r = &vm->resample;
	uint32_t v = 0;

	if (port != RESAMPLE_PORT && port != RESAMPLE_PORT + 4)
		return 0;
	if (write)
		for (int i = 0; i < size && i < 4; i++)
			v |= (uint32_t)data[i] << (8 * i);
	else
		memset(data, 0, (size_t)size);

	pthread_mutex_lock(&r->lock);
	if (port == RESAMPLE_PORT) {
		if (write && r->gsi < 0 && !vmm_stopping(vm))
			resample_attach(vm, v);
	} else if (write) {
		if (r->running) {
			r->pending += v;
			if (r->pending && !r->asserted)
				assert_locked(vm, r);
		}
	} else {
		v = r->pending;
		if (r->pending)
			r->pending--;
		for (int i = 0; i < size && i < 4; i++)
			data[i] = (uint8_t)(v >> (8 * i));
	}
	pthread_mutex_unlock(&r->lock);
	return 1;
}

void vmm_resample_init(struct vmm *vm)
{
	struct vmm_resample *r = &vm->resample;

	pthread_mutex_init(&r->lock, NULL);
	r->gsi = -1;
	r->fd = r->resamplefd = r->stopfd = -1;
}

void vmm_resample_stop(struct vmm *vm)
{
	struct vmm_resample *r = &vm->resample;
	uint64_t one = 1;

	if (!r->running)
		return;
	if (write(r->stopfd, &one, sizeof(one)) != sizeof(one))
		perror("virq vm: resample device: stop");
	pthread_join(r->thread, NULL);
	r->running = false;
}

void vmm_resample_fini(struct vmm *vm)
{
	struct vmm_resample *r = &vm->resample;

	vmm_resample_stop(vm);
	if (r->fd >= 0)
		close(r->fd);
	if (r->resamplefd >= 0)
		close(r->resamplefd);
	if (r->stopfd >= 0)
		close(r->stopfd);
	pthread_mutex_destroy(&r->lock);
}
