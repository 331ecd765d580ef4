/* SPDX-License-Identifier: MIT */
/*
 * object.c - reference-counted objects and the handle table.
 *
 * Handles play the role of KVM's file descriptors.  They are numbered from
 * VIRQ_HANDLE_BASE so they can never equal a descriptor the process owns,
 * and, like descriptors, the lowest free number is reused.  The table is a
 * two-level array of atomic pointers: lookups take no lock (they run inside
 * an RCU read-side section), install and remove serialise on one mutex.
 * Pages are never freed, so a reader never sees a page disappear.
 */
#include <stdlib.h>

#include "virq-int.h"

#define HANDLE_PAGE_SHIFT 10
#define HANDLE_PAGE_SIZE (1u << HANDLE_PAGE_SHIFT)
#define HANDLE_NR_PAGES (1u << 14) /* 2^24 handles */
#define HANDLE_MAX (HANDLE_PAGE_SIZE * HANDLE_NR_PAGES)

typedef struct virq_obj *_Atomic handle_slot;

static handle_slot *_Atomic handle_pages[HANDLE_NR_PAGES];
static pthread_mutex_t handle_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t handle_lowest_free; /* guarded by handle_lock */

void virq_obj_init(struct virq_obj *obj, enum virq_obj_type type, void (*release)(struct virq_obj *))
{
	obj->type = type;
	atomic_init(&obj->refs, 1);
	obj->release = release;
}

void virq_obj_get(struct virq_obj *obj)
{
	atomic_fetch_add_explicit(&obj->refs, 1, memory_order_relaxed);
}

static void obj_release_rcu(struct rcu_head *head)
{
	struct virq_obj *obj = container_of(head, struct virq_obj, rcu);

	obj->release(obj);
}

/*
 * The last reference is gone, but an injection that looked the object up
 * without a reference (inside an RCU read-side section) may still use it:
 * release it only after a grace period.  Waiting for one from inside a
 * read-side section would wait for ourselves, so there the release is
 * queued instead.
 */
void virq_obj_put(struct virq_obj *obj)
{
	if (atomic_fetch_sub_explicit(&obj->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (rcu_read_ongoing()) {
		call_rcu(&obj->rcu, obj_release_rcu);
		return;
	}
	synchronize_rcu();
	obj->release(obj);
}

/* Take a reference unless the count already dropped to zero. */
static bool obj_get_unless_zero(struct virq_obj *obj)
{
	int r = atomic_load_explicit(&obj->refs, memory_order_relaxed);

	while (r > 0) {
		if (atomic_compare_exchange_weak_explicit(&obj->refs, &r, r + 1, memory_order_acquire,
							  memory_order_relaxed))
			return true;
	}
	return false;
}

static handle_slot *slot_of(uint32_t idx, bool create)
{
	handle_slot *page = atomic_load_explicit(&handle_pages[idx >> HANDLE_PAGE_SHIFT], memory_order_acquire);

	if (!page && create) {
		page = calloc(HANDLE_PAGE_SIZE, sizeof(*page));
		if (!page)
			return NULL;
		atomic_store_explicit(&handle_pages[idx >> HANDLE_PAGE_SHIFT], page, memory_order_release);
	}
	return page ? &page[idx & (HANDLE_PAGE_SIZE - 1)] : NULL;
}

/* A slot taken by virq_handle_reserve(): occupied, but never found. */
static struct virq_obj reserved_slot;

int virq_handle_install(struct virq_obj *obj)
{
	int ret = -EMFILE;

	pthread_mutex_lock(&handle_lock);
	for (uint32_t idx = handle_lowest_free; idx < HANDLE_MAX; idx++) {
		handle_slot *slot = slot_of(idx, true);

		if (!slot) {
			ret = -ENOMEM;
			break;
		}
		if (atomic_load_explicit(slot, memory_order_relaxed))
			continue;
		atomic_store_explicit(slot, obj, memory_order_release);
		handle_lowest_free = idx + 1;
		ret = (int)(VIRQ_HANDLE_BASE + idx);
		break;
	}
	pthread_mutex_unlock(&handle_lock);
	return ret;
}

static bool handle_index(int handle, uint32_t *idx)
{
	if (handle < VIRQ_HANDLE_BASE || (uint32_t)(handle - VIRQ_HANDLE_BASE) >= HANDLE_MAX)
		return false;
	*idx = (uint32_t)(handle - VIRQ_HANDLE_BASE);
	return true;
}

struct virq_obj *virq_handle_lookup_rcu(int handle)
{
	struct virq_obj *obj;
	uint32_t idx;
	handle_slot *slot;

	if (!handle_index(handle, &idx))
		return NULL;
	slot = slot_of(idx, false);
	obj = slot ? atomic_load_explicit(slot, memory_order_acquire) : NULL;
	return obj == &reserved_slot ? NULL : obj;
}

struct virq_obj *virq_handle_get(int handle)
{
	struct virq_obj *obj;

	rcu_read_lock();
	obj = virq_handle_lookup_rcu(handle);
	if (obj && !obj_get_unless_zero(obj))
		obj = NULL;
	rcu_read_unlock();
	return obj;
}

int virq_handle_reserve(void)
{
	return virq_handle_install(&reserved_slot);
}

void virq_handle_commit(int handle, struct virq_obj *obj)
{
	uint32_t idx;
	handle_slot *slot;

	if (!handle_index(handle, &idx))
		return;
	pthread_mutex_lock(&handle_lock);
	slot = slot_of(idx, false);
	if (slot && atomic_load_explicit(slot, memory_order_relaxed) == &reserved_slot)
		atomic_store_explicit(slot, obj, memory_order_release);
	pthread_mutex_unlock(&handle_lock);
}

int virq_handle_remove(int handle)
{
	uint32_t idx;
	handle_slot *slot;
	struct virq_obj *obj = NULL;

	if (!handle_index(handle, &idx))
		return -EBADF;
	pthread_mutex_lock(&handle_lock);
	slot = slot_of(idx, false);
	if (slot)
		obj = atomic_exchange_explicit(slot, NULL, memory_order_acq_rel);
	if (obj && idx < handle_lowest_free)
		handle_lowest_free = idx;
	pthread_mutex_unlock(&handle_lock);
	if (obj == &reserved_slot)
		return 0; /* virq_handle_reserve() undone */
	if (!obj)
		return -EBADF;
	virq_obj_put(obj); /* the table's reference */
	return 0;
}
