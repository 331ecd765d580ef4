/* SPDX-License-Identifier: MIT */
/*
 * trace.h - emitting the events of VIRQ_TRACE_EVENTS (virq-trace.h).
 *
 * For each event the list generates one inline,
 *
 *   virq_trace_<name>(const struct virq_trace_sink *sink, int32_t vcpu_id, <fields>)
 *
 * which fires the USDT probe virq:<name> with the fields as arguments and,
 * if the VM has a trace callback, hands the event to it.  The device
 * models call these at the places the kernel calls trace_<name>(); they
 * get the sink from their creator (NULL: no callback, probes only).
 *
 * Cost when nobody traces: the USDT probe is a single NOP whose operands
 * are values the caller has in registers anyway, and the callback test is
 * one relaxed load of the sink pointer and a branch predicted not taken.
 * Everything else (building the event, RCU, the call) is out of line in
 * trace.c.
 */
#ifndef VIRQ_CORE_TRACE_H
#define VIRQ_CORE_TRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "virq-config.h"
#include "virq/virq-trace.h"

#if VIRQ_HAVE_SDT
#include <sys/sdt.h>
#endif

/* The VM's callback: an immutable {fn, opaque} pair published by RCU (trace.c). */
struct virq_trace_cb;

/* One per VM (struct virq_vm embeds it). */
struct virq_trace_sink {
	struct virq_trace_cb *_Atomic cb;
	int vm_fd;
};

/* Build the event and call the callback (if still installed). */
void virq_trace_emit(const struct virq_trace_sink *sink, uint32_t id, int32_t vcpu_id, uint32_t nr,
		     const uint64_t *field);
/* Install or remove (fn NULL) the callback; 0 or -ENOMEM. */
int virq_trace_sink_set(struct virq_trace_sink *sink, virq_trace_fn fn, void *opaque);
/* Free the callback at VM destruction (no reader is left). */
void virq_trace_sink_destroy(struct virq_trace_sink *sink);

static inline bool virq_trace_enabled(const struct virq_trace_sink *sink)
{
	return sink && atomic_load_explicit(&((struct virq_trace_sink *)sink)->cb, memory_order_relaxed);
}

/* ---- list machinery: apply a macro to each (type, name) field ------------- */

#define VIRQ_TR_NARGS(...) VIRQ_TR_NARGS_(__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
#define VIRQ_TR_NARGS_(a1, a2, a3, a4, a5, a6, n, ...) n
#define VIRQ_TR_CAT(a, b) VIRQ_TR_CAT_(a, b)
#define VIRQ_TR_CAT_(a, b) a##b

/* A seventh field has no VIRQ_TR_MAP_7: the build fails (VIRQ_TRACE_MAX_FIELDS). */
#define VIRQ_TR_MAP(f, ...) VIRQ_TR_CAT(VIRQ_TR_MAP_, VIRQ_TR_NARGS(__VA_ARGS__))(f, __VA_ARGS__)
#define VIRQ_TR_MAP_1(f, a) f a
#define VIRQ_TR_MAP_2(f, a, ...) f a, VIRQ_TR_MAP_1(f, __VA_ARGS__)
#define VIRQ_TR_MAP_3(f, a, ...) f a, VIRQ_TR_MAP_2(f, __VA_ARGS__)
#define VIRQ_TR_MAP_4(f, a, ...) f a, VIRQ_TR_MAP_3(f, __VA_ARGS__)
#define VIRQ_TR_MAP_5(f, a, ...) f a, VIRQ_TR_MAP_4(f, __VA_ARGS__)
#define VIRQ_TR_MAP_6(f, a, ...) f a, VIRQ_TR_MAP_5(f, __VA_ARGS__)

#define VIRQ_TR_PARAM(type, name) type name
#define VIRQ_TR_ARG(type, name) name
#define VIRQ_TR_NAME(type, name) #name
/* Conversion to uint64_t sign-extends signed fields. */
#define VIRQ_TR_VALUE(type, name) (uint64_t)(name)

#if VIRQ_HAVE_SDT
/* DTRACE_PROBE<n>(virq, ev, fields...): the indirection expands the field
 * list before DTRACE_PROBE<n> counts its arguments. */
#define VIRQ_TR_CALL(m, ...) m(__VA_ARGS__)
#define VIRQ_TR_SDT(ev, ...)                                                      \
	VIRQ_TR_CALL(VIRQ_TR_CAT(DTRACE_PROBE, VIRQ_TR_NARGS(__VA_ARGS__)), virq, ev, \
		     VIRQ_TR_MAP(VIRQ_TR_ARG, __VA_ARGS__))
#else
#define VIRQ_TR_SDT(ev, ...) do { } while (0)
#endif

/* clang-format off */
#define VIRQ_TR_DEFINE(ev, ...)                                                                    \
	static inline void virq_trace_##ev(const struct virq_trace_sink *sink_, int32_t vcpu_id_,  \
					   VIRQ_TR_MAP(VIRQ_TR_PARAM, __VA_ARGS__))                \
	{                                                                                          \
		VIRQ_TR_SDT(ev, __VA_ARGS__);                                                      \
		if (__builtin_expect(virq_trace_enabled(sink_), 0))                                \
			virq_trace_emit(sink_, VIRQ_TRACE_##ev, vcpu_id_, VIRQ_TR_NARGS(__VA_ARGS__), \
					(const uint64_t[]){ VIRQ_TR_MAP(VIRQ_TR_VALUE, __VA_ARGS__) }); \
	}
/* clang-format on */

VIRQ_TRACE_EVENTS(VIRQ_TR_DEFINE)

#endif /* VIRQ_CORE_TRACE_H */
