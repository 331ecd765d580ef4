/* SPDX-License-Identifier: MIT */
/*
 * chipstate.h - the interrupt-controller state of one VM as the virq tool
 * sees it: read through the KVM ABI (from virq or from /dev/kvm), printed
 * as tables or JSON, looked up by path for a scenario's `expect`, and
 * compared field by field for `virq diff`.
 *
 * Paths name fields as <linux/kvm.h> and the hardware manuals do:
 *
 *   pic[0|1].<field>           kvm_pic_state fields (pic[0] is the master):
 *                              irr imr isr elcr irq_base last_irr
 *                              read_reg_select poll special_mask init_state
 *                              auto_eoi rotate_on_auto_eoi
 *                              special_fully_nested_mode init4 priority_add
 *                              elcr_mask
 *   ioapic.<field>             id base_address ioregsel irr
 *   ioapic.redir[N]            a redirection entry, 64 bits (also .raw)
 *   ioapic.redir[N].<field>    vector delivery_mode dest_mode delivery_status
 *                              polarity remote_irr trig_mode mask dest_id
 *   lapic[ID].<reg>            a LAPIC register of the vCPU with that id:
 *                              id version tpr apr ppr ldr dfr svr esr icr
 *                              icr2 lvt_cmci lvt_timer lvt_thermal lvt_pmc
 *                              lvt_lint0 lvt_lint1 lvt_error tmict tmcct tdcr
 *                              (and eoi, write-only: never printed or diffed)
 *   lapic[ID].isr|tmr|irr      a set of vectors
 *   lapic[ID].reg[OFF]         any 32-bit register by byte offset (0x80)
 *   lapic[ID].apic_base        the IA32_APIC_BASE MSR
 *   vcpu[ID].<field>           kvm_vcpu_events: nmi_pending nmi_masked
 *                              interrupt_injected interrupt_nr sipi_vector
 *                              nmi_injected interrupt_soft interrupt_shadow
 *                              exception_injected exception_nr
 *                              exception_has_error_code exception_pending
 *                              exception_error_code smi_smm smi_pending
 *                              smi_inside_nmi smi_latched_init
 *   route[GSI].count           number of routes of a GSI (virq only)
 *   route[GSI][I].delivered|coalesced|masked|no_destination   counters
 *   route[GSI][I].<field>      the entry: type flags, irqchip pin (irqchip
 *                              routes), address_lo address_hi data devid
 *                              (MSI), vcpu sint (Hyper-V SINT)
 *
 * Indices are decimal or 0x-hex.  Numbers are printed in hex (0x40) except
 * counts, one-bit flags and small enums (remote_irr, delivery_mode,
 * init_state, nmi_pending, type), which print in decimal; vector sets as
 * {0x40, 0x41}, and {} when empty.
 */
#ifndef VIRQ_TOOL_CHIPSTATE_H
#define VIRQ_TOOL_CHIPSTATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "virq/virq.h"

/* The ioctl of the implementation the state is read from: returns like
 * ioctl(2) (-1 and errno on failure). */
typedef int (*cs_ioctl_fn)(int fd, unsigned long req, void *arg);

#define CS_MAX_VCPUS 64

struct cs_vcpu {
	int fd;
	uint32_t id;
	bool have_lapic;
	struct kvm_lapic_state lapic;
	bool have_apic_base;
	uint64_t apic_base;
	bool have_events;
	struct kvm_vcpu_events events;
};

struct cs_route {
	struct kvm_irq_routing_entry e;
	bool have_stats;
	struct virq_route_stats st;
};

struct chipstate {
	bool have_pic; /* KVM_GET_IRQCHIP worked (full irqchip) */
	struct kvm_pic_state pic[2];
	bool have_ioapic;
	struct kvm_ioapic_state ioapic;
	int nvcpus;
	struct cs_vcpu vcpu[CS_MAX_VCPUS];
	bool have_routing; /* virq only: the table read back */
	uint32_t nroutes;
	struct cs_route *routes; /* malloc'ed, GSI order */
};

/*
 * Read everything available: KVM_GET_IRQCHIP for chips 0-2, and per vCPU
 * KVM_GET_LAPIC, KVM_GET_MSRS(IA32_APIC_BASE) and KVM_GET_VCPU_EVENTS.
 * With @is_virq, @vm_fd is a virq handle and the routing table and its
 * counters are read too (virq_routing_get, virq_route_stats).  What fails
 * to read is marked absent.  Returns 0, or -ENOMEM (-EINVAL if @nvcpus
 * is beyond CS_MAX_VCPUS).  @s need not be initialized; cs_free() it.
 */
int cs_read(struct chipstate *s, cs_ioctl_fn ioctl_fn, bool is_virq, int vm_fd,
	    const int *vcpu_fds, const uint32_t *vcpu_ids, int nvcpus);
void cs_free(struct chipstate *s);
/* A deep copy of @src (its own routes array) into @dst: 0 or -ENOMEM. */
int cs_dup(struct chipstate *dst, const struct chipstate *src);
/* The vCPU with id @id, or NULL. */
const struct cs_vcpu *cs_find_vcpu(const struct chipstate *s, uint32_t id);

enum {
	CS_PIC = 1,
	CS_IOAPIC = 2,
	CS_LAPIC = 4,
	CS_ROUTING = 8,
	CS_ALL = 15,
};

/* Parse "pic", "ioapic", "lapic", "routing", "all" (comma-separated). 0 or -1. */
int cs_parse_what(const char *text, unsigned *what);

/* Human tables: PIC registers, the decoded redirection table, each LAPIC's
 * registers and pending/in-service vectors, routes with counters (a run of
 * GSIs still holding KVM_CREATE_IRQCHIP's routes with no traffic is one
 * line: "0-15  default  PIC + IOAPIC ..."; the JSON lists every route). */
void cs_print(FILE *f, const struct chipstate *s, unsigned what);
/* The same as one JSON object. */
void cs_print_json(FILE *f, const struct chipstate *s, unsigned what);

struct cs_value {
	enum { CS_V_INT, CS_V_VECSET } kind;
	uint64_t u;      /* CS_V_INT */
	uint32_t set[8]; /* CS_V_VECSET: bit v = vector v */
};

/* Look up @path.  0, or -1 with a message ("no vCPU with id 3", "unknown
 * LAPIC register 'foo'", "no IOAPIC in this VM") in @err. */
int cs_lookup(const struct chipstate *s, const char *path, struct cs_value *out, char *err,
	      size_t errlen);
/*
 * The inverse of cs_lookup for the paths KVM_SET_IRQCHIP and KVM_SET_LAPIC
 * can write: pic[N].<field>, ioapic.<field>, ioapic.redir[N] (the 64-bit
 * entry) and ioapic.redir[N].<field> (the bits of the entry, the others
 * kept), lapic[ID].<reg> and lapic[ID].reg[OFF] (a 32-bit store at the
 * register's offset), lapic[ID].isr|tmr|irr (a CS_V_VECSET: eight words 16
 * bytes apart).  A number must fit the field: 0x100 for an 8-bit PIC field
 * or 8 for a 3-bit delivery_mode is rejected ("0x100 does not fit
 * pic[0].imr (8 bits: at most 0xff)"), never truncated.  A number for a
 * vector set, or a set for a number, is an error too.  Read-only paths
 * (vcpu[ID].<field>, route[...], lapic[ID].apic_base) and what cs_lookup
 * rejects fail the same way: -1 and a message in @err (unknown names list
 * the valid ones).  Returns 0 when stored.
 */
int cs_assign(struct chipstate *s, const char *path, const struct cs_value *v, char *err, size_t errlen);
/* The name of the LAPIC register at byte offset @offset (0xf0: "svr"; any
 * of the eight words of isr, tmr, irr: that name), or NULL. */
const char *cs_lapic_reg_name(uint32_t offset);

/* Every path name, from the field tables (virq help state-paths). */
void cs_print_paths(FILE *f);

/* "0x40", "{0x40, 0x41}", "{}".  Counts print in decimal: @path decides
 * (NULL: hex). */
void cs_value_str(const struct cs_value *v, const char *path, char *buf, size_t len);
bool cs_value_eq(const struct cs_value *a, const struct cs_value *b);

/*
 * Field-level differences between @a (named @an, e.g. "kernel") and @b,
 * within @what; one line per differing field, indented by two spaces:
 *   "  lapic[0].irr: kernel {0x40}  virq {}"
 *   "  ioapic.redir[17].remote_irr: kernel 1  virq 0"
 * Fields that legitimately differ between two implementations are skipped
 * (the LAPIC current count TMCCT, which follows each one's clock).
 * Routing is compared only if both have it.  Returns the number of lines.
 */
int cs_diff(FILE *f, const struct chipstate *a, const char *an, const struct chipstate *b,
	    const char *bn, unsigned what);

#endif
