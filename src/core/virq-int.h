/* SPDX-License-Identifier: MIT */
/*
 * virq-int.h - the architecture-free core: handles, VM and vCPU objects,
 * the arch ops table, the GSI routing snapshot and the injection entry
 * point.  Nothing here knows x86, ARM, ia64 or s390.
 */
#ifndef VIRQ_CORE_INT_H
#define VIRQ_CORE_INT_H

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define _LGPL_SOURCE
#include <urcu-bp.h>

#include "virq/virq.h"
#include "trace.h"

#define VIRQ_HIDDEN __attribute__((visibility("hidden")))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct virq_vm;
struct virq_vcpu;
struct virq_route;

/* ---- objects and handles ------------------------------------------------ */

enum virq_obj_type {
	VIRQ_OBJ_SYSTEM = 1,
	VIRQ_OBJ_VM,
	VIRQ_OBJ_VCPU,
	VIRQ_OBJ_DEVICE,
};

struct virq_obj {
	enum virq_obj_type type;
	atomic_int refs;
	void (*release)(struct virq_obj *obj); /* refs reached zero */
	struct rcu_head rcu;
};

void virq_obj_init(struct virq_obj *obj, enum virq_obj_type type, void (*release)(struct virq_obj *));
void virq_obj_get(struct virq_obj *obj);
void virq_obj_put(struct virq_obj *obj);

/* Install @obj (its reference moves to the table) and return its handle, or -EMFILE. */
int virq_handle_install(struct virq_obj *obj);
/* Look up a handle; the caller must be inside rcu_read_lock(). */
struct virq_obj *virq_handle_lookup_rcu(int handle);
/* Look up a handle and take a reference; NULL if not live. */
struct virq_obj *virq_handle_get(int handle);
int virq_handle_remove(int handle);
/* Take a handle number that lookups do not find yet; commit an object to
 * it, or give it back with virq_handle_remove(). */
int virq_handle_reserve(void);
void virq_handle_commit(int handle, struct virq_obj *obj);

/* ---- the architecture ops table --------------------------------------- */

/*
 * One per architecture.  The core calls these and nothing else; an
 * architecture registers its caps, its routing entry types, the irqchips
 * KVM_CREATE_IRQCHIP makes and the ioctls only it understands.
 * Ioctl hooks return >= 0 or -errno, and -ENOTTY for requests they do not
 * know (the core then answers ENOTTY).
 */
struct virq_arch_ops {
	enum virq_arch arch;
	const char *name;
	uint32_t max_vcpus;     /* KVM_CAP_MAX_VCPUS */
	uint32_t vcpus_limit;   /* the most a VM may opt into (virq_vm_set_max_vcpus) */
	uint32_t max_vcpu_ids;  /* KVM_CAP_MAX_VCPU_ID */
	uint32_t nr_irqchips;   /* KVM_NR_IRQCHIPS */
	uint32_t irqchip_pins;  /* KVM_IRQCHIP_NUM_PINS */
	uint32_t max_irq_routes; /* KVM_MAX_IRQ_ROUTES */

	/* KVM_CHECK_EXTENSION; @vm is NULL on the system handle. */
	int (*check_extension)(struct virq_vm *vm, long cap);

	int (*vm_init)(struct virq_vm *vm, unsigned long type);
	void (*vm_destroy)(struct virq_vm *vm);
	long (*vm_ioctl)(struct virq_vm *vm, unsigned int req, void *argp);
	/* KVM_ENABLE_CAP on a VM, after the generic caps. */
	int (*vm_enable_cap)(struct virq_vm *vm, const struct kvm_enable_cap *cap);

	/* KVM_CREATE_VCPU: checked with the VM lock held before allocation. */
	int (*vcpu_precreate)(struct virq_vm *vm, uint32_t id);
	int (*vcpu_init)(struct virq_vcpu *vcpu);
	/* Called once the vCPU is visible in vm->vcpus. */
	void (*vcpu_postcreate)(struct virq_vcpu *vcpu);
	void (*vcpu_destroy)(struct virq_vcpu *vcpu);
	long (*vcpu_ioctl)(struct virq_vcpu *vcpu, unsigned int req, void *argp);

	/* Routing. */
	bool (*can_set_irq_routing)(struct virq_vm *vm);
	/* Validate one user entry and fill @e (including e->set); -errno. */
	int (*set_routing_entry)(struct virq_vm *vm, struct virq_route *e,
				 const struct kvm_irq_routing_entry *ue);
	/* Optional: turn a validated route back into the user's entry (after
	 * the core filled the generic fields), undoing what
	 * set_routing_entry changed (x86: PIC slave pins are stored + 8). */
	void (*route_to_user)(const struct virq_route *e, struct kvm_irq_routing_entry *ue);
	/* The routing table changed (irq_lock held; must not block). */
	void (*irq_routing_update)(struct virq_vm *vm);
	/* KVM_IRQ_LINE(_STATUS): 0 or -errno; fills level->status. */
	int (*irq_line)(struct virq_vm *vm, struct kvm_irq_level *level, bool line_status);
	/* KVM_SIGNAL_MSI after the generic checks: the raw delivery result. */
	int (*signal_msi)(struct virq_vm *vm, const struct kvm_msi *msi);
	/* Whether MSIs may be signalled at all (irqchip "in kernel"). */
	bool (*irqchip_in_kernel)(struct virq_vm *vm);
	/* KVM_IRQFD assign: kvm_arch_irqfd_allowed() (false -> EINVAL). */
	bool (*irqfd_allowed)(struct virq_vm *vm, bool resample);

	/* Architecture sections of the state blob (state.c), in save order. */
	const uint32_t *state_sections;
	uint32_t nr_state_sections;
	/* Write section @type's payload into @buf (NULL or too small: only
	 * measure).  Returns the payload bytes and *@count, or -errno. */
	long (*state_save)(struct virq_vm *vm, uint32_t type, void *buf, size_t size, uint32_t *count);
	/* Check a payload (8-byte aligned copy of @size bytes holding @count
	 * records) without changing anything. */
	int (*state_check)(struct virq_vm *vm, uint32_t type, const void *payload, uint32_t count,
			   uint32_t size);
	/* Apply a checked payload. */
	int (*state_restore)(struct virq_vm *vm, uint32_t type, const void *payload, uint32_t count);

	/* Native calls (see virq.h for their contracts). */
	int64_t (*poll_timers)(struct virq_vm *vm);
	int (*vcpu_has_interrupt)(struct virq_vcpu *vcpu);
	int (*vcpu_ack_interrupt)(struct virq_vcpu *vcpu);
	int (*vcpu_eoi)(struct virq_vcpu *vcpu);
};

extern const struct virq_arch_ops virq_x86_ops;

/* ---- GSI routing --------------------------------------------------------- */

/* The per-entry delivery function: the kernel's tri-state. */
typedef int (*virq_route_set_fn)(const struct virq_route *e, struct virq_vm *vm,
				 int irq_source_id, int level, bool line_status);

struct virq_route {
	uint32_t gsi;
	uint32_t type; /* KVM_IRQ_ROUTING_* */
	virq_route_set_fn set;
	union {
		struct {
			uint32_t irqchip;
			uint32_t pin;
		} irqchip;
		struct {
			uint32_t address_lo;
			uint32_t address_hi;
			uint32_t data;
			uint32_t flags;
			uint32_t devid;
		} msi;
		struct kvm_irq_routing_s390_adapter adapter;
		struct kvm_irq_routing_hv_sint hv_sint;
		struct kvm_irq_routing_xen_evtchn xen_evtchn;
	};
};

/* Per-route counters (virq_route_stats), bumped with relaxed atomics. */
struct virq_route_counters {
	_Atomic uint64_t delivered;
	_Atomic uint64_t coalesced;
	_Atomic uint64_t masked;
	_Atomic uint64_t no_destination;
};

/*
 * The routes of one GSI: immutable once published (only the counters
 * move).  Replaced as a whole, by pointer, and freed after a grace period.
 */
struct virq_gsi_routes {
	uint32_t gsi;
	uint16_t nr;
	uint16_t bulk; /* carved from the table's bulk block, not malloc'ed */
	struct rcu_head rcu;
	struct virq_route_counters *counters; /* [nr] */
	struct virq_route e[];
};

/*
 * The routing table: a two-level radix over the GSI space, so a lookup is
 * two dependent loads and a one-GSI change is one pointer store.
 * KVM_SET_GSI_ROUTING builds a whole new table off to the side (one bulk
 * allocation for all its routes) and publishes it with one pointer store;
 * single-GSI edits store into the table in force.  Tables, leaves and
 * replaced GSIs are freed after an RCU grace period; writers never wait.
 */
#define VIRQ_RT_LEAF_SHIFT 8
#define VIRQ_RT_LEAF_SIZE (1u << VIRQ_RT_LEAF_SHIFT)

struct virq_rt_leaf {
	struct virq_gsi_routes *_Atomic slot[VIRQ_RT_LEAF_SIZE];
};

struct virq_routing {
	uint32_t limit;      /* GSIs: valid gsi < limit */
	uint32_t nr_leaves;  /* DIV_ROUND_UP(limit, VIRQ_RT_LEAF_SIZE) */
	_Atomic uint32_t nr_routes; /* statistics for readers; exact under irq_lock */
	uint32_t nchip;      /* nr_irqchips * irqchip_pins */
	_Atomic int32_t *chip;   /* [nchip] reverse map (irqchip, pin) -> GSI, -1 */
	uint32_t *chip_refs; /* [nchip] routes on each pin (writers only) */
	void *bulk;          /* the block KVM_SET_GSI_ROUTING carved routes from */
	size_t bulk_size;
	uint32_t keep_leaves; /* retiring a shell: leaves below moved on */
	uint32_t nr_own;      /* individually allocated GSIs in the slots */
	/* Some route of this table counted something: written once, by
	 * the first injection that counts, so injectors share it read-only. */
	_Atomic bool counted;
	struct rcu_head rcu;
	struct virq_rt_leaf *_Atomic leaf[]; /* [nr_leaves] */
};

/* The routes of @gsi in @rt (caller inside rcu_read_lock), or NULL. */
static inline const struct virq_gsi_routes *virq_routing_lookup(struct virq_routing *rt, uint32_t gsi)
{
	struct virq_rt_leaf *l;

	if (!rt || gsi >= rt->limit)
		return NULL;
	l = atomic_load_explicit(&rt->leaf[gsi >> VIRQ_RT_LEAF_SHIFT], memory_order_acquire);
	if (!l)
		return NULL;
	return atomic_load_explicit(&l->slot[gsi & (VIRQ_RT_LEAF_SIZE - 1)], memory_order_acquire);
}

/* KVM_SET_GSI_ROUTING semantics, all or nothing.  @ue may be memory the
 * caller can still change: every entry is read once per pass and the
 * result is memory-safe whatever happens to it.  Never waits for readers. */
int virq_set_irq_routing(struct virq_vm *vm, const struct kvm_irq_routing_entry *ue,
			 uint32_t nr, uint32_t flags);
/* The VM's GSI space (KVM_MAX_IRQ_ROUTES unless the VMM opted into more). */
static inline uint32_t virq_vm_gsi_limit(struct virq_vm *vm);
/* Fill @ue from a validated route (the inverse of set_routing_entry). */
void virq_route_to_user(struct virq_vm *vm, const struct virq_route *e, struct kvm_irq_routing_entry *ue);
/* The kernel's kvm_set_irq(): sum of the tri-states of the GSI's routes. */
int virq_set_irq(struct virq_vm *vm, int irq_source_id, uint32_t gsi, int level, bool line_status);
/* Reverse map lookup (caller inside rcu_read_lock). -1 if none. */
int virq_irqchip_pin_to_gsi(struct virq_vm *vm, uint32_t irqchip, uint32_t pin);
/* The guest acknowledged (irqchip, pin): run the ack notifiers of its GSI. */
void virq_notify_acked_irq(struct virq_vm *vm, uint32_t irqchip, uint32_t pin);
/* Whether any ack notifier listens on (irqchip, pin). */
bool virq_irq_has_notifier(struct virq_vm *vm, uint32_t irqchip, uint32_t pin);
/* The guest acknowledged @gsi (split mode: a level MSI route's vector was
 * EOIed): run the GSI's ack notifiers.  Any context; takes no lock. */
void virq_notify_acked_gsi(struct virq_vm *vm, uint32_t gsi);
/* Whether any ack notifier listens at all (cheap, racy hint). */
bool virq_has_ack_notifiers(struct virq_vm *vm);

/* ---- irqfd (irqfd.c) --------------------------------------------------------- */

struct virq_irqfds;
/* KVM_IRQFD with the arguments copied in. 0 or -errno. */
long virq_irqfd_ioctl(struct virq_vm *vm, const struct kvm_irqfd *args);
/* kvm_notify_irqfd_resampler(): signal the resamplefds of the resampling
 * irqfds on @gsi (no deassert).  Runs under device locks: RCU only, never
 * blocks.  Returns whether the GSI has a resampler. */
bool virq_notify_irqfd_resampler(struct virq_vm *vm, uint32_t gsi);
/* The routing table changed (VM irq_lock held; must not block). */
void virq_irqfd_routing_update(struct virq_vm *vm);
/* Save: fill @out[0 .. @max) with the bindings, return how many exist. */
uint32_t virq_irqfd_save(struct virq_vm *vm, struct virq_state_irqfd *out, uint32_t max);
/* Restore: validate every record (the errno KVM_IRQFD would give), then
 * replace all bindings.  0 or -errno; on error nothing changed. */
int virq_irqfd_restore(struct virq_vm *vm, const struct virq_state_irqfd *recs, uint32_t n);
/* Stop delivery and drop every binding (VM destruction, before the
 * routing and the irqchips go away). */
void virq_irqfds_destroy(struct virq_vm *vm);

/* Listeners for guest acknowledgement of a GSI (kvm_irq_ack_notifier). */
struct virq_irq_ack_notifier {
	uint32_t gsi;
	void (*irq_acked)(struct virq_irq_ack_notifier *kian);
	struct virq_irq_ack_notifier *_Atomic next;
};
void virq_register_irq_ack_notifier(struct virq_vm *vm, struct virq_irq_ack_notifier *kian);
void virq_unregister_irq_ack_notifier(struct virq_vm *vm, struct virq_irq_ack_notifier *kian);

/* IRQ source ids, as the kernel's (one bit of a per-pin line-state word). */
#define VIRQ_USERSPACE_IRQ_SOURCE_ID 0
#define VIRQ_IRQFD_RESAMPLE_IRQ_SOURCE_ID 1

/* ---- VM and vCPU ------------------------------------------------------------ */

struct virq_vm {
	struct virq_obj obj;
	const struct virq_arch_ops *arch;
	void *arch_vm;

	/* Configuration lock: vCPU and irqchip creation, routing updates,
	 * KVM_ENABLE_CAP.  Never taken on an injection path. */
	pthread_mutex_t lock;
	/* Serialises routing publication (the kernel's irq_lock). */
	pthread_mutex_t irq_lock;

	/* vcpus[0 .. nr_vcpus) are fully constructed; nr_vcpus is published
	 * with release order after the slot is written. */
	struct virq_vcpu **vcpus;
	_Atomic uint32_t nr_vcpus;
	uint32_t max_vcpus;
	uint32_t created_vcpus; /* under lock; counts vCPUs being created */

	struct virq_routing *_Atomic routing; /* RCU */
	_Atomic uint32_t gsi_limit; /* written under irq_lock */
	struct virq_ack_notifiers *ack; /* routing.c */
	struct virq_irqfds *_Atomic irqfds; /* irqfd.c, created at first use */

	virq_clock_fn clock;
	void *clock_opaque;

	/* The trace callback and the VM handle events carry (trace.h). */
	struct virq_trace_sink trace;
};

struct virq_vcpu {
	struct virq_obj obj;
	struct virq_vm *vm;
	uint32_t vcpu_id;  /* the id passed to KVM_CREATE_VCPU */
	uint32_t vcpu_idx; /* creation order */
	int handle;
	void *arch_vcpu;

	/* The VMM's event callback: an immutable pair published by RCU, so
	 * kicking a vCPU from an injection path takes no lock. */
	struct virq_event_sink *_Atomic event_sink;
};

struct virq_event_sink {
	virq_event_fn fn;
	void *opaque;
	struct rcu_head rcu;
};

/* The routing table in force; the caller is inside rcu_read_lock(). */
static inline struct virq_routing *virq_routing_deref(struct virq_vm *vm)
{
	return atomic_load_explicit(&vm->routing, memory_order_acquire);
}

static inline uint32_t virq_vm_gsi_limit(struct virq_vm *vm)
{
	return atomic_load_explicit(&vm->gsi_limit, memory_order_relaxed);
}

static inline uint32_t virq_vm_nr_vcpus(struct virq_vm *vm)
{
	return atomic_load_explicit(&vm->nr_vcpus, memory_order_acquire);
}

static inline struct virq_vcpu *virq_vm_vcpu(struct virq_vm *vm, uint32_t idx)
{
	return idx < virq_vm_nr_vcpus(vm) ? vm->vcpus[idx] : NULL;
}

struct virq_vcpu *virq_vm_vcpu_by_id(struct virq_vm *vm, uint32_t id);

/* Handle -> object with a reference (drop with virq_obj_put); NULL if the
 * handle is not live or not of that kind. */
struct virq_vm *virq_vm_get(int fd);
struct virq_vcpu *virq_vcpu_get(int fd);

static inline uint64_t virq_vm_now(struct virq_vm *vm)
{
	return vm->clock(vm->clock_opaque);
}

/* Report an event to the vCPU's callback (no lock may be held). */
void virq_vcpu_event(struct virq_vcpu *vcpu, uint32_t type, uint32_t vector);
static inline void virq_vcpu_kick(struct virq_vcpu *vcpu)
{
	/* Most injections find nobody to tell: test before the call. */
	if (atomic_load_explicit(&vcpu->event_sink, memory_order_relaxed))
		virq_vcpu_event(vcpu, VIRQ_EVENT_KICK, 0);
}

/* Errno helper for the ioctl face. */
static inline int virq_err(int neg_errno)
{
	errno = -neg_errno;
	return -1;
}

#endif /* VIRQ_CORE_INT_H */
