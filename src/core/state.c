/* SPDX-License-Identifier: MIT */
/*
 * state.c - save and restore of what virq holds for one VM, as one
 * versioned blob (docs/state-format.md):
 *
 *   struct virq_state_header
 *   nr_sections x { struct virq_state_section, payload padded to 8 bytes }
 *
 * Restore parses and checks the whole blob before it changes anything.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define PAD8(x) (((x) + 7u) & ~(size_t)7u)

struct blob {
	char *buf;
	size_t size, len; /* len may exceed size: then we only measure */
	uint32_t nr_sections;
};

static void *blob_section(struct blob *b, uint32_t type, uint32_t count, size_t payload)
{
	struct virq_state_section s = {
		.type = type,
		.version = 1,
		.size = (uint32_t)PAD8(payload),
		.count = count,
	};
	void *p = NULL;

	if (b->len + sizeof(s) + s.size <= b->size) {
		memcpy(b->buf + b->len, &s, sizeof(s));
		p = b->buf + b->len + sizeof(s);
		memset(p, 0, s.size);
	}
	b->len += sizeof(s) + s.size;
	b->nr_sections++;
	return p;
}

static long save(struct virq_vm *vm, void *buf, size_t size, unsigned what)
{
	struct blob b = { .buf = buf, .size = buf ? size : 0, .len = sizeof(struct virq_state_header) };
	struct virq_state_header h;

	if (what & VIRQ_STATE_ROUTING) {
		/* One snapshot: count and copy under the same lock hold. */
		pthread_mutex_lock(&vm->irq_lock);
		uint32_t n = virq_routing_copy(vm, NULL, 0);
		void *p = blob_section(&b, VIRQ_SECTION_ROUTING, n, (size_t)n * sizeof(struct kvm_irq_routing_entry));

		if (p) {
			struct kvm_irq_routing_entry *e = malloc(((size_t)n ? n : 1) * sizeof(*e));

			if (!e) {
				pthread_mutex_unlock(&vm->irq_lock);
				return -ENOMEM;
			}
			virq_routing_copy(vm, e, n);
			memcpy(p, e, (size_t)n * sizeof(*e));
			free(e);
		}
		pthread_mutex_unlock(&vm->irq_lock);
	}
	if (what & VIRQ_STATE_IRQFD) {
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
			p = blob_section(&b, VIRQ_SECTION_IRQFD, got, (size_t)got * sizeof(*recs));
			if (p)
				memcpy(p, recs, (size_t)got * sizeof(*recs));
			free(recs);
			break;
		}
	}
	if (b.len > UINT32_MAX)
		return -EOVERFLOW;
	if (b.len <= b.size) {
		h = (struct virq_state_header){
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

struct parsed {
	const struct virq_state_section *hdr; /* unaligned: copy before use */
	struct virq_state_section sec;
	const char *payload;
};

int virq_vm_restore(int vm_fd, const void *buf, size_t size)
{
	struct parsed routing = { 0 }, irqfd = { 0 };
	struct kvm_irq_routing_entry *entries = NULL, *saved = NULL;
	struct virq_state_irqfd *recs = NULL;
	struct virq_state_header h;
	struct virq_vm *vm;
	uint32_t nsaved = 0;
	size_t off;
	int r;

	if (!buf)
		return -EFAULT;
	if (size < sizeof(h))
		return -EINVAL;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != VIRQ_STATE_MAGIC || h.version != VIRQ_STATE_VERSION || h.size > size ||
	    h.size < sizeof(h))
		return -EINVAL;

	/* Parse every section first. */
	off = sizeof(h);
	for (uint32_t i = 0; i < h.nr_sections; i++) {
		struct parsed p;
		size_t rec;

		if (h.size - off < sizeof(p.sec))
			return -EINVAL;
		memcpy(&p.sec, (const char *)buf + off, sizeof(p.sec));
		off += sizeof(p.sec);
		if (p.sec.size > h.size - off || p.sec.version != 1 || p.sec.flags)
			return -EINVAL;
		p.payload = (const char *)buf + off;
		off += p.sec.size;
		switch (p.sec.type) {
		case VIRQ_SECTION_ROUTING:
			rec = sizeof(struct kvm_irq_routing_entry);
			if (routing.payload || (uint64_t)p.sec.count * rec > p.sec.size)
				return -EINVAL;
			routing = p;
			break;
		case VIRQ_SECTION_IRQFD:
			rec = sizeof(struct virq_state_irqfd);
			if (irqfd.payload || (uint64_t)p.sec.count * rec > p.sec.size)
				return -EINVAL;
			irqfd = p;
			break;
		default:
			return -EINVAL; /* a newer format than this library knows */
		}
	}

	vm = virq_vm_get(vm_fd);
	if (!vm)
		return -EBADF;
	if (h.arch != (uint16_t)vm->arch->arch) {
		r = -EINVAL;
		goto out;
	}
	/* Aligned copies of the payloads. */
	if (routing.payload) {
		entries = malloc(((size_t)routing.sec.count ? routing.sec.count : 1) * sizeof(*entries));
		if (!entries) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(entries, routing.payload, (size_t)routing.sec.count * sizeof(*entries));
		if (routing.sec.count > virq_vm_gsi_limit(vm) || !vm->arch->can_set_irq_routing(vm)) {
			r = -EINVAL;
			goto out;
		}
	}
	if (irqfd.payload) {
		recs = malloc(((size_t)irqfd.sec.count ? irqfd.sec.count : 1) * sizeof(*recs));
		if (!recs) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(recs, irqfd.payload, (size_t)irqfd.sec.count * sizeof(*recs));
	}

	/* Routing first (irqfds inject through it); if the irqfds then fail,
	 * the old routing goes back. */
	if (routing.payload) {
		if (irqfd.payload) {
			pthread_mutex_lock(&vm->irq_lock);
			nsaved = virq_routing_copy(vm, NULL, 0);
			saved = malloc(((size_t)nsaved ? nsaved : 1) * sizeof(*saved));
			if (saved)
				virq_routing_copy(vm, saved, nsaved);
			pthread_mutex_unlock(&vm->irq_lock);
			if (!saved) {
				r = -ENOMEM;
				goto out;
			}
		}
		r = virq_set_irq_routing(vm, entries, routing.sec.count, 0);
		if (r)
			goto out;
	}
	if (irqfd.payload) {
		r = virq_irqfd_restore(vm, recs, irqfd.sec.count);
		if (r && saved)
			virq_set_irq_routing(vm, saved, nsaved, 0);
	} else {
		r = 0;
	}
out:
	free(entries);
	free(saved);
	free(recs);
	virq_obj_put(&vm->obj);
	return r;
}
