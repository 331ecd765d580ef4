/* SPDX-License-Identifier: MIT */
/*
 * state.c - save and restore of what virq holds for one VM, as one
 * versioned blob (docs/state-format.md):
 *
 *   struct virq_state_header
 *   nr_sections x { struct virq_state_section, payload padded to 8 bytes }
 *
 * The core writes the routing and irqfd sections; the architecture writes
 * its own (the interrupt controllers).  Restore checks the whole blob
 * before it changes anything, saves what it is about to replace, and puts
 * that back if applying a section fails half-way.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define PAD8(x) (((x) + 7u) & ~(size_t)7u)
#define MAX_SECTIONS 16

struct blob {
	char *buf;
	size_t size, len; /* len may exceed size: then we only measure */
	uint32_t nr_sections;
};

/* Room for a section of @payload bytes, or NULL if only measuring. */
static void *blob_section(struct blob *b, uint32_t type, uint32_t count, size_t payload)
{
	struct virq_state_section s = {
		.type = type,
		.version = 1,
		.size = (uint32_t)PAD8(payload),
		.count = count,
	};
	void *p = NULL;

	if (b->buf && b->len + sizeof(s) + s.size <= b->size) {
		memcpy(b->buf + b->len, &s, sizeof(s));
		p = b->buf + b->len + sizeof(s);
		memset(p, 0, s.size);
	}
	b->len += sizeof(s) + s.size;
	b->nr_sections++;
	return p;
}

static int save_routing(struct virq_vm *vm, struct blob *b)
{
	struct kvm_irq_routing_entry *e = NULL;
	uint32_t n;
	void *p;

	/* One snapshot: count and copy under the same lock hold. */
	pthread_mutex_lock(&vm->irq_lock);
	n = virq_routing_copy(vm, NULL, 0);
	p = blob_section(b, VIRQ_SECTION_ROUTING, n, (size_t)n * sizeof(*e));
	if (p && n) {
		e = malloc((size_t)n * sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&vm->irq_lock);
			return -ENOMEM;
		}
		virq_routing_copy(vm, e, n);
		memcpy(p, e, (size_t)n * sizeof(*e));
		free(e);
	}
	pthread_mutex_unlock(&vm->irq_lock);
	return 0;
}

static int save_irqfd(struct virq_vm *vm, struct blob *b)
{
	uint32_t n = virq_irqfd_save(vm, NULL, 0);

	for (;;) {
		struct virq_state_irqfd *recs = malloc(((size_t)n ? n : 1) * sizeof(*recs));
		uint32_t got;
		void *p;

		if (!recs)
			return -ENOMEM;
		got = virq_irqfd_save(vm, recs, n);
		if (got > n) { /* bindings were added meanwhile */
			free(recs);
			n = got;
			continue;
		}
		p = blob_section(b, VIRQ_SECTION_IRQFD, got, (size_t)got * sizeof(*recs));
		if (p && got)
			memcpy(p, recs, (size_t)got * sizeof(*recs));
		free(recs);
		return 0;
	}
}

static int save_arch(struct virq_vm *vm, struct blob *b, uint32_t type)
{
	uint32_t count = 0;
	long n = vm->arch->state_save(vm, type, NULL, 0, &count), n2;
	char *p;

	if (n < 0)
		return (int)n;
	p = blob_section(b, type, count, (size_t)n);
	if (!p)
		return 0;
	n2 = vm->arch->state_save(vm, type, p, PAD8((size_t)n), &count);
	if (n2 < 0)
		return (int)n2;
	/* A vCPU appeared in between: report the larger size, so the caller
	 * retries with a buffer that fits. */
	if (n2 != n)
		b->len += PAD8((size_t)n2) + 8;
	return 0;
}

/* The blob of the sections @what selects. */
static long save(struct virq_vm *vm, void *buf, size_t size, unsigned what)
{
	struct blob b = { .buf = buf, .size = buf ? size : 0, .len = sizeof(struct virq_state_header) };
	int r = 0;

	if (what & VIRQ_STATE_ROUTING)
		r = save_routing(vm, &b);
	for (uint32_t i = 0; !r && (what & VIRQ_STATE_ARCH) && i < vm->arch->nr_state_sections; i++)
		r = save_arch(vm, &b, vm->arch->state_sections[i]);
	if (!r && (what & VIRQ_STATE_IRQFD))
		r = save_irqfd(vm, &b);
	if (r)
		return r;
	if (b.len > UINT32_MAX)
		return -EOVERFLOW;
	if (b.buf && b.len <= b.size) {
		struct virq_state_header h = {
			.magic = VIRQ_STATE_MAGIC,
			.version = VIRQ_STATE_VERSION,
			.arch = (uint16_t)vm->arch->arch,
			.size = (uint32_t)b.len,
			.nr_sections = b.nr_sections,
		};

		memcpy(buf, &h, sizeof(h));
	}
	return (long)b.len;
}

long virq_vm_save(int vm_fd, void *buf, size_t size, unsigned what)
{
	struct virq_vm *vm;
	long r;

	if (what & ~VIRQ_STATE_ALL)
		return -EINVAL;
	vm = virq_vm_get(vm_fd);
	if (!vm)
		return -EBADF;
	/* Measure, then write if it fits (a change in between shows up as a
	 * larger size on the second pass, like a first call that measured). */
	r = save(vm, NULL, 0, what);
	if (r >= 0 && buf && (size_t)r <= size)
		r = save(vm, buf, size, what);
	virq_obj_put(&vm->obj);
	return r;
}

/* ---- restore ------------------------------------------------------------------ */

struct section {
	struct virq_state_section hdr;
	void *payload; /* an aligned copy */
};

struct parsed {
	struct section s[MAX_SECTIONS];
	uint32_t n;
	unsigned what; /* VIRQ_STATE_* present */
};

static void parsed_free(struct parsed *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		free(p->s[i].payload);
	p->n = 0;
}

static bool arch_section(const struct virq_arch_ops *arch, uint32_t type)
{
	for (uint32_t i = 0; i < arch->nr_state_sections; i++)
		if (arch->state_sections[i] == type)
			return true;
	return false;
}

/* Layout checks, and aligned copies of the payloads. */
static int parse(const struct virq_arch_ops *arch, const void *buf, size_t size, struct parsed *p)
{
	struct virq_state_header h;
	size_t off;

	memset(p, 0, sizeof(*p));
	if (size < sizeof(h))
		return -EINVAL;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != VIRQ_STATE_MAGIC || h.version != VIRQ_STATE_VERSION || h.size > size ||
	    h.size < sizeof(h) || h.arch != (uint16_t)arch->arch || h.nr_sections > MAX_SECTIONS)
		return -EINVAL;
	off = sizeof(h);
	for (uint32_t i = 0; i < h.nr_sections; i++) {
		struct section *s = &p->s[p->n];
		size_t rec = 1;
		unsigned bit;

		if (h.size - off < sizeof(s->hdr))
			goto bad;
		memcpy(&s->hdr, (const char *)buf + off, sizeof(s->hdr));
		off += sizeof(s->hdr);
		if (s->hdr.size > h.size - off || s->hdr.size % 8 || s->hdr.version != 1 || s->hdr.flags)
			goto bad;
		switch (s->hdr.type) {
		case VIRQ_SECTION_ROUTING:
			rec = sizeof(struct kvm_irq_routing_entry);
			bit = VIRQ_STATE_ROUTING;
			break;
		case VIRQ_SECTION_IRQFD:
			rec = sizeof(struct virq_state_irqfd);
			bit = VIRQ_STATE_IRQFD;
			break;
		default:
			/* The arch checks its own record sizes; anything else
			 * comes from a newer virq or another architecture. */
			if (!arch_section(arch, s->hdr.type))
				goto bad;
			bit = VIRQ_STATE_ARCH;
			break;
		}
		for (uint32_t j = 0; j < p->n; j++)
			if (p->s[j].hdr.type == s->hdr.type)
				goto bad; /* each section at most once */
		if ((uint64_t)s->hdr.count * rec > s->hdr.size)
			goto bad;
		s->payload = malloc(s->hdr.size ? s->hdr.size : 8);
		if (!s->payload) {
			parsed_free(p);
			return -ENOMEM;
		}
		memcpy(s->payload, (const char *)buf + off, s->hdr.size);
		off += s->hdr.size;
		p->what |= bit;
		p->n++;
	}
	return 0;
bad:
	parsed_free(p);
	return -EINVAL;
}

/* Apply in dependency order: routing, the controllers, then irqfds
 * (which inject through both). */
static int apply(struct virq_vm *vm, struct parsed *p)
{
	static const unsigned order[] = { VIRQ_STATE_ROUTING, VIRQ_STATE_ARCH, VIRQ_STATE_IRQFD };
	int r = 0;

	for (unsigned o = 0; !r && o < ARRAY_SIZE(order); o++) {
		for (uint32_t i = 0; !r && i < p->n; i++) {
			struct section *s = &p->s[i];

			switch (s->hdr.type) {
			case VIRQ_SECTION_ROUTING:
				if (order[o] == VIRQ_STATE_ROUTING)
					r = virq_set_irq_routing(vm, s->payload, s->hdr.count, 0);
				break;
			case VIRQ_SECTION_IRQFD:
				if (order[o] == VIRQ_STATE_IRQFD)
					r = virq_irqfd_restore(vm, s->payload, s->hdr.count);
				break;
			default:
				if (order[o] == VIRQ_STATE_ARCH)
					r = vm->arch->state_restore(vm, s->hdr.type, s->payload, s->hdr.count);
				break;
			}
		}
	}
	return r;
}

static int check(struct virq_vm *vm, const struct parsed *p)
{
	for (uint32_t i = 0; i < p->n; i++) {
		const struct section *s = &p->s[i];
		int r = 0;

		switch (s->hdr.type) {
		case VIRQ_SECTION_ROUTING:
			if (s->hdr.count > virq_vm_gsi_limit(vm) || !vm->arch->can_set_irq_routing(vm))
				r = -EINVAL;
			break;
		case VIRQ_SECTION_IRQFD:
			break; /* virq_irqfd_restore() checks before it changes */
		default:
			r = vm->arch->state_check(vm, s->hdr.type, s->payload, s->hdr.count, s->hdr.size);
			break;
		}
		if (r)
			return r;
	}
	return 0;
}

int virq_vm_restore(int vm_fd, const void *buf, size_t size)
{
	struct parsed in, old;
	struct virq_vm *vm;
	void *undo = NULL;
	long n;
	int r;

	if (!buf)
		return -EFAULT;
	vm = virq_vm_get(vm_fd);
	if (!vm)
		return -EBADF;
	r = parse(vm->arch, buf, size, &in);
	if (r)
		goto out;
	r = check(vm, &in);
	if (r)
		goto out_in;

	/* What we are about to replace, to put it back on failure. */
	n = save(vm, NULL, 0, in.what);
	undo = n > 0 ? malloc((size_t)n) : NULL;
	if (!undo || save(vm, undo, (size_t)n, in.what) != n || parse(vm->arch, undo, (size_t)n, &old)) {
		r = n < 0 ? (int)n : -ENOMEM;
		goto out_in;
	}
	r = apply(vm, &in);
	if (r)
		apply(vm, &old); /* best effort: it was valid a moment ago */
	parsed_free(&old);
out_in:
	parsed_free(&in);
out:
	free(undo);
	virq_obj_put(&vm->obj);
	return r;
}
