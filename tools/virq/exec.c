/* SPDX-License-Identifier: MIT */
/*
 * exec.c - the scenario executor.
 *
 * A target is one implementation of the KVM ABI (virq, or the kernel's
 * /dev/kvm) with the VM a scenario builds on it: the VM is created before
 * the first line; vCPUs are named by the id given to KVM_CREATE_VCPU;
 * eventfds and saved states by the names the scenario gives them.
 *
 * Every operation yields a result (ret, errno).  Native calls that return
 * -errno are shown the ioctl way (-1 and the errno name), so `expect
 * errno=EAGAIN` reads the same for both.  An operation that fails must be
 * followed by an `expect` naming its errno, or the run fails: scenarios
 * are tests, and a silent failure is a broken test.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "chipstate.h"
#include "names.h"
#include "virq/virq.h"
#include "virq/virq-trace.h"

#define MAX_EFDS 64
#define MAX_BLOBS 16

struct target {
	const char *name;
	bool is_virq;
	int (*open)(void);
	int (*ioctl)(int fd, unsigned long req, void *arg);
	int (*close)(int fd);

	int sys, vm;
	int nvcpus;
	int vfd[CS_MAX_VCPUS];
	uint32_t vid[CS_MAX_VCPUS];
	struct {
		char *name;
		int fd;
	} efd[MAX_EFDS];
	int nefd;
	struct {
		char *name;
		void *buf;
		long size;
	} blob[MAX_BLOBS];
	int nblobs;
	uint64_t clock_ns;
	const struct run_opts *opts;
	FILE *evout; /* where trace lines and events go while an op runs */
};

struct res {
	long long ret;
	int err;      /* when ret == -1 */
	bool handle;  /* ret is a new handle: compare success only */
	char note[200];
};

/* ---------------------------------------------------------------------- */
/* The two implementations                                                */
/* ---------------------------------------------------------------------- */

static int v_open(void)
{
	return virq_open(VIRQ_ARCH_X86);
}

static int v_ioctl(int fd, unsigned long req, void *arg)
{
	return virq_ioctl(fd, req, arg);
}

static int k_open(void)
{
	return open("/dev/kvm", O_RDWR | O_CLOEXEC);
}

static int k_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg);
}

static uint64_t clock_read(void *opaque)
{
	return ((struct target *)opaque)->clock_ns;
}

static void trace_print(void *opaque, const struct virq_trace_event *ev)
{
	struct target *t = opaque;
	char buf[256];

	virq_trace_format(ev, buf, sizeof(buf));
	fprintf(t->evout ? t->evout : t->opts->out, "            %s: %s\n", virq_trace_name(ev->id), buf);
}

static void event_print(void *opaque, int vcpu_fd, const struct virq_event *ev)
{
	struct target *t = opaque;
	FILE *f = t->evout ? t->evout : t->opts->out;

	(void)vcpu_fd;
	if (ev->type == VIRQ_EVENT_KICK)
		fprintf(f, "            event: kick vCPU %u\n", ev->vcpu_id);
	else if (ev->type == VIRQ_EVENT_IOAPIC_EOI)
		fprintf(f, "            event: vCPU %u EOI of vector %#x for the VMM's IOAPIC\n",
			ev->vcpu_id, ev->vector);
}

static void target_init(struct target *t, bool virq, const struct run_opts *o)
{
	memset(t, 0, sizeof(*t));
	t->is_virq = virq;
	t->name = virq ? "virq" : "kernel";
	t->open = virq ? v_open : k_open;
	t->ioctl = virq ? v_ioctl : k_ioctl;
	t->close = virq ? virq_close : close;
	t->sys = t->vm = -1;
	t->clock_ns = 1000000;
	t->opts = o;
}

/* A new VM on virq: a clock the scenario advances, and irqfds dispatched
 * by the executor right after each write, so runs are deterministic. */
static int vm_setup(struct target *t)
{
	if (!t->is_virq)
		return 0;
	virq_vm_set_clock(t->vm, clock_read, t);
	if (virq_irqfd_set_mode(t->vm, VIRQ_IRQFD_POLL) < 0)
		return ENOMEM;
	if (t->opts->trace)
		virq_vm_set_trace_fn(t->vm, trace_print, t);
	return 0;
}

/* Open the system handle and create the VM. 0 or an errno. */
static int target_start(struct target *t)
{
	t->sys = t->open();
	if (t->sys < 0)
		return errno;
	t->vm = t->ioctl(t->sys, KVM_CREATE_VM, (void *)0);
	if (t->vm < 0)
		return errno;
	return vm_setup(t);
}

static void target_stop(struct target *t)
{
	for (int i = 0; i < t->nvcpus; i++)
		t->close(t->vfd[i]);
	if (t->vm >= 0)
		t->close(t->vm);
	if (t->sys >= 0)
		t->close(t->sys);
	for (int i = 0; i < t->nefd; i++) {
		if (t->efd[i].fd >= 0)
			close(t->efd[i].fd);
		free(t->efd[i].name);
	}
	for (int i = 0; i < t->nblobs; i++) {
		free(t->blob[i].name);
		free(t->blob[i].buf);
	}
	t->nvcpus = t->nefd = t->nblobs = 0;
	t->sys = t->vm = -1;
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */
/* ---------------------------------------------------------------------- */

struct ctx {
	const struct sc_script *sc;
	const struct sc_op *op;
	char *err; /* a run-time error in the scenario: file:line:col: ... */
	size_t errlen;
};

static int op_error(struct ctx *c, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int op_error(struct ctx *c, int col, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, c->errlen, "%s:%d:%d: ", c->sc->file, c->op->line, col ? col : c->op->col);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static void set_res(struct res *r, long long ret)
{
	r->ret = ret;
	r->err = ret < 0 ? errno : 0;
}

/* A native -errno return, shown the ioctl way. */
static void set_native(struct res *r, long long ret)
{
	if (ret < 0) {
		r->ret = -1;
		r->err = (int)-ret;
	} else {
		r->ret = ret;
		r->err = 0;
	}
}

static int vcpu_index(const struct target *t, uint32_t id)
{
	for (int i = 0; i < t->nvcpus; i++)
		if (t->vid[i] == id)
			return i;
	return -1;
}

/* The vCPU an operation names (vcpu=ID, default the first one created). */
static int op_vcpu(struct ctx *c, const struct target *t, const struct sc_args *a, int *fd)
{
	const struct sc_arg *v = sc_arg(a, "vcpu");
	int i;

	if (!v) {
		if (!t->nvcpus)
			return op_error(c, 0, "no vCPU yet: KVM_CREATE_VCPU first");
		*fd = t->vfd[0];
		return 0;
	}
	if (v->v.kind != SC_V_NUM)
		return op_error(c, v->vcol, "vcpu= takes the id given to KVM_CREATE_VCPU");
	i = vcpu_index(t, (uint32_t)v->v.num);
	if (i < 0)
		return op_error(c, v->vcol, "no vCPU with id %lld", v->v.num);
	*fd = t->vfd[i];
	return 0;
}

/* An eventfd named by @key: a name given to `eventfd`, or (@raw_ok, for
 * KVM_IRQFD's errno cases) a raw descriptor number. */
static int op_efd(struct ctx *c, const struct target *t, const struct sc_args *a, const char *key,
		  bool raw_ok, int *fd)
{
	const struct sc_arg *v = sc_arg(a, key);

	if (!v) {
		*fd = -1;
		return 0;
	}
	if (v->v.kind == SC_V_NUM && raw_ok) {
		*fd = (int)v->v.num;
		return 0;
	}
	if (v->v.kind == SC_V_NAME)
		for (int i = 0; i < t->nefd; i++)
			if (!strcmp(t->efd[i].name, v->v.name)) {
				*fd = t->efd[i].fd;
				return 0;
			}
	return op_error(c, v->vcol, "no eventfd called '%s': create it with `eventfd %s`",
			v->v.kind == SC_V_NAME ? v->v.name : "?", v->v.kind == SC_V_NAME ? v->v.name : "NAME");
}

static int need_num(struct ctx *c, const struct sc_args *a, const char *key, long long *out)
{
	const struct sc_arg *v = sc_arg(a, key);

	if (!v)
		return 0;
	if (v->v.kind != SC_V_NUM)
		return op_error(c, v->vcol, "%s= takes a number%s", key,
				v->v.kind == SC_V_NAME ? " or a <linux/kvm.h> constant" : "");
	*out = v->v.num;
	return 0;
}

/* The numeric fields of @a must all be numbers (names are for a few keys). */
static int check_nums(struct ctx *c, const struct sc_args *a, const char *const *name_keys)
{
	for (int i = 0; i < a->n; i++) {
		bool ok = a->a[i].v.kind == SC_V_NUM;

		for (const char *const *k = name_keys; !ok && k && *k; k++)
			ok = !strcmp(a->a[i].key, *k);
		if (!ok)
			return op_error(c, a->a[i].vcol, "%s= takes a number%s", a->a[i].key,
					a->a[i].v.kind == SC_V_NAME ? " or a <linux/kvm.h> constant" : "");
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* KVM_SET_LAPIC and KVM_SET_IRQCHIP: fields changed by chipstate path     */
/* ---------------------------------------------------------------------- */

/* Store each field of @a but @skip (the key naming the vCPU or the chip)
 * into @s at the path "<prefix>.<key>": the names, the widths and the
 * messages are chipstate's (cs_assign). */
static int patch_state(struct ctx *c, struct chipstate *s, const char *prefix, const struct sc_args *a,
		       const char *skip)
{
	for (int i = 0; i < a->n; i++) {
		const struct sc_arg *arg = &a->a[i];
		struct cs_value v;
		char path[256], err[512];
		int n;

		if (!strcmp(arg->key, skip))
			continue;
		memset(&v, 0, sizeof(v));
		if (arg->v.kind == SC_V_NUM) {
			v.kind = CS_V_INT;
			v.u = (uint64_t)arg->v.num;
		} else if (arg->v.kind == SC_V_SET) {
			v.kind = CS_V_VECSET;
			memcpy(v.set, arg->v.set, sizeof(v.set));
		} else {
			return op_error(c, arg->vcol, "%s= takes a number", arg->key);
		}
		n = snprintf(path, sizeof(path), "%s.%s", prefix, arg->key);
		if (n < 0 || (size_t)n >= sizeof(path))
			return op_error(c, arg->col, "field name too long: '%.40s...'", arg->key);
		if (cs_assign(s, path, &v, err, sizeof(err)))
			return op_error(c, arg->col, "%s", err);
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Routing entries                                                        */
/* ---------------------------------------------------------------------- */

static int make_entries(struct ctx *c, const struct sc_op *op, struct kvm_irq_routing_entry *e)
{
	for (int i = 0; i < op->nentries; i++) {
		const struct sc_args *a = &op->entries[i].args;
		struct kvm_irq_routing_entry *x = &e[i];

		if (check_nums(c, a, NULL))
			return -1;
		memset(x, 0, sizeof(*x));
		x->gsi = (uint32_t)sc_num(a, "gsi", 0);
		x->type = (uint32_t)sc_num(a, "type", 0);
		x->flags = (uint32_t)sc_num(a, "flags", 0);
		switch (x->type) {
		case KVM_IRQ_ROUTING_IRQCHIP:
			x->u.irqchip.irqchip = (uint32_t)sc_num(a, "irqchip", 0);
			x->u.irqchip.pin = (uint32_t)sc_num(a, "pin", 0);
			break;
		case KVM_IRQ_ROUTING_MSI:
			x->u.msi.address_lo = (uint32_t)sc_num(a, "address_lo", 0xfee00000);
			x->u.msi.address_hi = (uint32_t)sc_num(a, "address_hi", 0);
			x->u.msi.data = (uint32_t)sc_num(a, "data", 0);
			x->u.msi.devid = (uint32_t)sc_num(a, "devid", 0);
			break;
		case KVM_IRQ_ROUTING_S390_ADAPTER:
			x->u.adapter.ind_addr = (uint64_t)sc_num(a, "ind_addr", 0);
			x->u.adapter.summary_addr = (uint64_t)sc_num(a, "summary_addr", 0);
			x->u.adapter.ind_offset = (uint64_t)sc_num(a, "ind_offset", 0);
			x->u.adapter.summary_offset = (uint32_t)sc_num(a, "summary_offset", 0);
			x->u.adapter.adapter_id = (uint32_t)sc_num(a, "adapter_id", 0);
			break;
		case KVM_IRQ_ROUTING_HV_SINT:
			x->u.hv_sint.vcpu = (uint32_t)sc_num(a, "vcpu", 0);
			x->u.hv_sint.sint = (uint32_t)sc_num(a, "sint", 0);
			break;
		case KVM_IRQ_ROUTING_XEN_EVTCHN:
			x->u.xen_evtchn.port = (uint32_t)sc_num(a, "port", 0);
			x->u.xen_evtchn.vcpu = (uint32_t)sc_num(a, "vcpu", 0);
			x->u.xen_evtchn.priority = (uint32_t)sc_num(a, "priority", 0);
			break;
		default:
			break; /* an unknown type: the implementation says EINVAL */
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Running one operation                                                  */
/* ---------------------------------------------------------------------- */

static void note(struct res *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct res *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->note, sizeof(r->note), fmt, ap);
	va_end(ap);
}

/* After an eventfd write, let the implementation deliver: virq's irqfds
 * are dispatched here (poll mode); the kernel consumes the count in the
 * write's wake-up and injects non-MSI routes from a workqueue, so give it
 * time. */
static void settle(struct target *t)
{
	if (t->is_virq) {
		while (virq_irqfd_dispatch(t->vm) > 0)
			;
	} else {
		nanosleep(&(struct timespec){ .tv_nsec = 3000000 }, NULL);
	}
}

static int run_op(struct ctx *c, struct target *t, const struct sc_op *op, struct res *r)
{
	const struct sc_args *a = &op->args;
	int vfd = -1;
	long long x = 0;

	memset(r, 0, sizeof(*r));
	c->op = op;
	switch (op->spec->kind) {
	case SC_KVM_CREATE_VM: {
		int vm = t->ioctl(t->sys, KVM_CREATE_VM, (void *)0);

		set_res(r, vm);
		r->handle = true;
		if (vm < 0)
			return 0;
		for (int i = 0; i < t->nvcpus; i++)
			t->close(t->vfd[i]);
		t->nvcpus = 0;
		t->close(t->vm);
		t->vm = vm;
		if (vm_setup(t))
			return op_error(c, 0, "out of memory");
		return 0;
	}
	case SC_KVM_CHECK_EXTENSION: {
		const struct sc_arg *on = sc_arg(a, "on");
		int fd = t->vm;

		if (need_num(c, a, "cap", &x))
			return -1;
		if (on && (on->v.kind != SC_V_NAME || (strcmp(on->v.name, "vm") && strcmp(on->v.name, "system"))))
			return op_error(c, on->vcol, "on= is vm or system");
		if (on && !strcmp(on->v.name, "system"))
			fd = t->sys;
		set_res(r, t->ioctl(fd, KVM_CHECK_EXTENSION, (void *)(long)x));
		return 0;
	}
	case SC_KVM_CREATE_IRQCHIP:
		set_res(r, t->ioctl(t->vm, KVM_CREATE_IRQCHIP, NULL));
		return 0;
	case SC_KVM_ENABLE_CAP: {
		struct kvm_enable_cap cap = { 0 };

		if (check_nums(c, a, NULL))
			return -1;
		cap.cap = (uint32_t)sc_num(a, "cap", 0);
		cap.flags = (uint32_t)sc_num(a, "flags", 0);
		cap.args[0] = (uint64_t)sc_num(a, "args", sc_num(a, "args[0]", 0));
		cap.args[1] = (uint64_t)sc_num(a, "args[1]", 0);
		cap.args[2] = (uint64_t)sc_num(a, "args[2]", 0);
		cap.args[3] = (uint64_t)sc_num(a, "args[3]", 0);
		set_res(r, t->ioctl(t->vm, KVM_ENABLE_CAP, &cap));
		return 0;
	}
	case SC_KVM_CREATE_VCPU: {
		long long id = t->nvcpus ? t->vid[t->nvcpus - 1] + 1 : 0;
		int fd;

		if (need_num(c, a, "id", &id))
			return -1;
		if (t->nvcpus == CS_MAX_VCPUS)
			return op_error(c, 0, "scenarios hold at most %d vCPUs", CS_MAX_VCPUS);
		fd = t->ioctl(t->vm, KVM_CREATE_VCPU, (void *)(long)id);
		set_res(r, fd);
		r->handle = true;
		if (fd >= 0) {
			t->vfd[t->nvcpus] = fd;
			t->vid[t->nvcpus++] = (uint32_t)id;
			if (t->is_virq && t->opts->events)
				virq_vcpu_set_event_fn(fd, event_print, t);
			note(r, "vCPU %lld", id);
		}
		return 0;
	}
	case SC_KVM_IRQ_LINE:
	case SC_KVM_IRQ_LINE_STATUS: {
		struct kvm_irq_level l = { 0 };
		bool status = op->spec->kind == SC_KVM_IRQ_LINE_STATUS;
		int ret;

		if (check_nums(c, a, NULL))
			return -1;
		l.irq = (uint32_t)sc_num(a, "irq", 0);
		l.level = (uint32_t)sc_num(a, "level", 0);
		ret = t->ioctl(t->vm, status ? KVM_IRQ_LINE_STATUS : KVM_IRQ_LINE, &l);
		set_res(r, ret);
		if (ret == 0 && status) {
			r->ret = l.status;
			note(r, "status");
		}
		return 0;
	}
	case SC_KVM_SIGNAL_MSI: {
		struct kvm_msi m = { 0 };

		if (check_nums(c, a, NULL))
			return -1;
		m.address_lo = (uint32_t)sc_num(a, "address_lo", 0xfee00000);
		m.address_hi = (uint32_t)sc_num(a, "address_hi", 0);
		m.data = (uint32_t)sc_num(a, "data", 0);
		m.flags = (uint32_t)sc_num(a, "flags", 0);
		m.devid = (uint32_t)sc_num(a, "devid", 0);
		set_res(r, t->ioctl(t->vm, KVM_SIGNAL_MSI, &m));
		return 0;
	}
	case SC_KVM_SET_GSI_ROUTING:
	case SC_VIRQ_ROUTE_SET: {
		size_t n = (size_t)op->nentries;
		struct kvm_irq_routing *rt = calloc(1, sizeof(*rt) + (n ? n : 1) * sizeof(rt->entries[0]));

		if (!rt)
			return op_error(c, 0, "out of memory");
		if (make_entries(c, op, rt->entries)) {
			free(rt);
			return -1;
		}
		rt->nr = (uint32_t)n;
		rt->flags = (uint32_t)sc_num(a, "flags", 0);
		if (op->spec->kind == SC_KVM_SET_GSI_ROUTING)
			set_res(r, t->ioctl(t->vm, KVM_SET_GSI_ROUTING, rt));
		else
			set_native(r, virq_route_set(t->vm, (uint32_t)sc_num(a, "gsi", 0), rt->entries, rt->nr));
		note(r, "%zu route%s", n, n == 1 ? "" : "s");
		free(rt);
		return 0;
	}
	case SC_KVM_IRQFD: {
		struct kvm_irqfd f = { 0 };
		int fd, rfd;

		if (op_efd(c, t, a, "fd", true, &fd) || op_efd(c, t, a, "resamplefd", true, &rfd) ||
		    check_nums(c, a, (const char *const[]){ "fd", "resamplefd", NULL }))
			return -1;
		f.fd = (uint32_t)fd;
		f.gsi = (uint32_t)sc_num(a, "gsi", 0);
		f.flags = (uint32_t)sc_num(a, "flags", 0);
		f.resamplefd = (uint32_t)(rfd < 0 ? 0 : rfd);
		set_res(r, t->ioctl(t->vm, KVM_IRQFD, &f));
		return 0;
	}
	case SC_KVM_GET_LAPIC:
	case SC_KVM_SET_LAPIC: {
		struct chipstate s; /* just this vCPU, for its paths */
		struct cs_vcpu *v = &s.vcpu[0];
		char prefix[32];

		if (op_vcpu(c, t, a, &vfd))
			return -1;
		memset(&s, 0, sizeof(s));
		set_res(r, t->ioctl(vfd, KVM_GET_LAPIC, &v->lapic));
		if (r->ret < 0 || op->spec->kind == SC_KVM_GET_LAPIC)
			return 0;
		s.nvcpus = 1;
		v->fd = vfd;
		for (int i = 0; i < t->nvcpus; i++)
			if (t->vfd[i] == vfd)
				v->id = t->vid[i];
		v->have_lapic = true;
		snprintf(prefix, sizeof(prefix), "lapic[%u]", v->id);
		if (patch_state(c, &s, prefix, a, "vcpu"))
			return -1;
		set_res(r, t->ioctl(vfd, KVM_SET_LAPIC, &v->lapic));
		return 0;
	}
	case SC_KVM_GET_IRQCHIP:
	case SC_KVM_SET_IRQCHIP: {
		struct kvm_irqchip chip = { 0 };
		struct chipstate s;
		char prefix[16];

		if (need_num(c, a, "chip", &x))
			return -1;
		chip.chip_id = (uint32_t)x;
		set_res(r, t->ioctl(t->vm, KVM_GET_IRQCHIP, &chip));
		if (r->ret < 0 || op->spec->kind == SC_KVM_GET_IRQCHIP)
			return 0;
		/* Just this chip in a chipstate, for its paths.  KVM_GET_IRQCHIP
		 * refused any other chip id above. */
		memset(&s, 0, sizeof(s));
		if (chip.chip_id == KVM_IRQCHIP_IOAPIC) {
			s.have_ioapic = true;
			s.ioapic = chip.chip.ioapic;
			snprintf(prefix, sizeof(prefix), "ioapic");
		} else if (chip.chip_id <= KVM_IRQCHIP_PIC_SLAVE) {
			s.have_pic = true;
			s.pic[chip.chip_id] = chip.chip.pic;
			snprintf(prefix, sizeof(prefix), "pic[%u]", chip.chip_id);
		} else {
			return op_error(c, sc_arg(a, "chip")->vcol, "no chip %u (PIC_MASTER, PIC_SLAVE, IOAPIC)",
					chip.chip_id);
		}
		if (patch_state(c, &s, prefix, a, "chip"))
			return -1;
		if (chip.chip_id == KVM_IRQCHIP_IOAPIC)
			chip.chip.ioapic = s.ioapic;
		else
			chip.chip.pic = s.pic[chip.chip_id];
		set_res(r, t->ioctl(t->vm, KVM_SET_IRQCHIP, &chip));
		return 0;
	}
	case SC_KVM_GET_MSRS:
	case SC_KVM_SET_MSRS: {
		struct {
			struct kvm_msrs h;
			struct kvm_msr_entry e;
		} m = { 0 };
		bool set = op->spec->kind == SC_KVM_SET_MSRS;

		if (op_vcpu(c, t, a, &vfd) || check_nums(c, a, NULL))
			return -1;
		m.h.nmsrs = 1;
		m.e.index = (uint32_t)sc_num(a, "index", 0);
		m.e.data = (uint64_t)sc_num(a, "data", 0);
		set_res(r, t->ioctl(vfd, set ? KVM_SET_MSRS : KVM_GET_MSRS, &m));
		if (!set && r->ret == 1)
			note(r, "data %#" PRIx64, (uint64_t)m.e.data);
		return 0;
	}
	case SC_KVM_SET_CPUID2: {
		/* A minimal CPUID, the same on both sides: leaf 0 and leaf 1
		 * with the APIC bit and the asked-for interrupt features. */
		struct {
			struct kvm_cpuid2 h;
			struct kvm_cpuid_entry2 e[2];
		} id = { .h.nent = 2 };

		if (op_vcpu(c, t, a, &vfd) || check_nums(c, a, NULL))
			return -1;
		id.e[0].function = 0;
		id.e[0].eax = 1;
		id.e[1].function = 1;
		id.e[1].edx = 1u << 9;
		id.e[1].ecx = (sc_num(a, "x2apic", 0) ? 1u << 21 : 0) | (sc_num(a, "tsc_deadline", 0) ? 1u << 24 : 0);
		set_res(r, t->ioctl(vfd, KVM_SET_CPUID2, &id));
		return 0;
	}
	case SC_KVM_INTERRUPT: {
		struct kvm_interrupt irq = { .irq = (uint32_t)sc_num(a, "irq", 0) };

		if (op_vcpu(c, t, a, &vfd) || check_nums(c, a, NULL))
			return -1;
		set_res(r, t->ioctl(vfd, KVM_INTERRUPT, &irq));
		return 0;
	}
	case SC_KVM_NMI:
		if (op_vcpu(c, t, a, &vfd))
			return -1;
		set_res(r, t->ioctl(vfd, KVM_NMI, NULL));
		return 0;

	case SC_EVENTFD: {
		const struct sc_arg *n = sc_arg(a, "name");
		int fd;

		if (n->v.kind != SC_V_NAME)
			return op_error(c, n->vcol, "an eventfd needs a name: eventfd irq5");
		for (int i = 0; i < t->nefd; i++)
			if (!strcmp(t->efd[i].name, n->v.name))
				return op_error(c, n->vcol, "there is already an eventfd called '%s'", n->v.name);
		if (t->nefd == MAX_EFDS)
			return op_error(c, 0, "at most %d eventfds", MAX_EFDS);
		fd = eventfd((unsigned)sc_num(a, "initval", 0),
			     EFD_NONBLOCK | EFD_CLOEXEC | (sc_num(a, "semaphore", 0) ? EFD_SEMAPHORE : 0));
		set_res(r, fd);
		r->handle = true;
		if (fd >= 0) {
			t->efd[t->nefd].name = strdup(n->v.name);
			t->efd[t->nefd++].fd = fd;
		}
		return 0;
	}
	case SC_WRITE:
	case SC_READ:
	case SC_CLOSE: {
		int fd;
		uint64_t v = (uint64_t)sc_num(a, "value", 1);

		if (op_efd(c, t, a, "name", false, &fd))
			return -1;
		if (fd < 0) {
			set_res(r, (errno = EBADF, -1)); /* closed by `close` */
		} else if (op->spec->kind == SC_WRITE) {
			set_res(r, write(fd, &v, 8) == 8 ? 0 : -1);
			if (r->ret == 0)
				settle(t);
		} else if (op->spec->kind == SC_READ) {
			set_res(r, read(fd, &v, 8) == 8 ? (long long)v : -1);
		} else {
			set_res(r, close(fd));
			for (int i = 0; i < t->nefd; i++)
				if (t->efd[i].fd == fd)
					t->efd[i].fd = -1;
		}
		return 0;
	}

	case SC_MMIO_WRITE:
	case SC_MMIO_READ: {
		uint64_t addr = (uint64_t)sc_num(a, "addr", 0), base = 0xfee00000;
		uint32_t val = (uint32_t)sc_num(a, "value", 0);
		unsigned len = (unsigned)sc_num(a, "len", 4);
		bool wr = op->spec->kind == SC_MMIO_WRITE;
		int ret;

		if (check_nums(c, a, NULL))
			return -1;
		if (len > 4)
			return op_error(c, 0, "len= is 1, 2 or 4");
		if (addr >= 0xfec00000 && addr < 0xfec00100) {
			ret = wr ? virq_ioapic_write(t->vm, (uint32_t)(addr - 0xfec00000), &val, len)
				 : virq_ioapic_read(t->vm, (uint32_t)(addr - 0xfec00000), &val, len);
			note(r, "IOAPIC %s", addr - 0xfec00000 == 0 ? "IOREGSEL" : "IOWIN");
		} else {
			uint64_t apic_base = 0;

			if (op_vcpu(c, t, a, &vfd))
				return -1;
			if (virq_msr_read(vfd, 0x1b, &apic_base) == 0)
				base = apic_base & ~0xfffull;
			if (addr < base || addr >= base + 0x1000)
				return op_error(c, sc_arg(a, "addr")->vcol,
						"%#" PRIx64 " is neither the LAPIC page (%#" PRIx64
						") nor the IOAPIC window (0xfec00000)", addr, base);
			ret = wr ? virq_lapic_write(vfd, (uint32_t)(addr - base), &val, len)
				 : virq_lapic_read(vfd, (uint32_t)(addr - base), &val, len);
			const char *rn = cs_lapic_reg_name((uint32_t)(addr - base) & ~0xfu);

			note(r, "LAPIC %s", rn ? rn : "register");
		}
		set_native(r, ret);
		if (!wr && ret == 0)
			r->ret = val;
		return 0;
	}
	case SC_IOAPIC_WRITE:
	case SC_IOAPIC_READ: {
		uint32_t reg = (uint32_t)sc_num(a, "reg", 0), val = (uint32_t)sc_num(a, "value", 0);
		int ret;

		if (check_nums(c, a, NULL))
			return -1;
		ret = virq_ioapic_write(t->vm, 0, &reg, 4);
		if (ret == 0)
			ret = op->spec->kind == SC_IOAPIC_WRITE ? virq_ioapic_write(t->vm, 0x10, &val, 4)
								 : virq_ioapic_read(t->vm, 0x10, &val, 4);
		set_native(r, ret);
		if (op->spec->kind == SC_IOAPIC_READ && ret == 0)
			r->ret = val;
		if (reg >= 0x10 && reg < 0x10 + 2 * KVM_IOAPIC_NUM_PINS)
			note(r, "redirection entry %u, %s half", (reg - 0x10) / 2, reg % 2 ? "high" : "low");
		return 0;
	}
	case SC_PIO_WRITE:
	case SC_PIO_READ: {
		uint32_t val = (uint32_t)sc_num(a, "value", 0);
		unsigned len = (unsigned)sc_num(a, "len", 1);
		uint16_t port = (uint16_t)sc_num(a, "port", 0);
		int ret;

		if (check_nums(c, a, NULL))
			return -1;
		if (len > 4)
			return op_error(c, 0, "len= is 1, 2 or 4");
		ret = op->spec->kind == SC_PIO_WRITE ? virq_pio_write(t->vm, port, &val, len)
						     : virq_pio_read(t->vm, port, &val, len);
		set_native(r, ret);
		if (op->spec->kind == SC_PIO_READ && ret == 0)
			r->ret = val & (len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1);
		return 0;
	}
	case SC_WRMSR:
	case SC_RDMSR: {
		uint64_t v = (uint64_t)sc_num(a, "value", 0);
		int ret;

		if (op_vcpu(c, t, a, &vfd) || check_nums(c, a, NULL))
			return -1;
		if (op->spec->kind == SC_WRMSR) {
			ret = virq_msr_write(vfd, (uint32_t)sc_num(a, "index", 0), v);
			set_native(r, ret);
		} else {
			ret = virq_msr_read(vfd, (uint32_t)sc_num(a, "index", 0), &v);
			set_native(r, ret == 0 ? (long long)v : ret);
		}
		if (ret == 1)
			note(r, "#GP");
		return 0;
	}
	case SC_HAS_INTERRUPT:
	case SC_ACK:
	case SC_EOI:
		if (op_vcpu(c, t, a, &vfd))
			return -1;
		set_native(r, op->spec->kind == SC_ACK	 ? virq_vcpu_ack_interrupt(vfd)
			      : op->spec->kind == SC_EOI ? virq_vcpu_eoi(vfd)
							 : virq_vcpu_has_interrupt(vfd));
		if (op->spec->kind != SC_HAS_INTERRUPT && r->ret >= 0)
			note(r, "vector %#llx", r->ret);
		return 0;
	case SC_CLOCK: {
		int64_t next;

		if (need_num(c, a, "advance", &x))
			return -1;
		if (x < 0)
			return op_error(c, sc_arg(a, "advance")->vcol, "the clock never goes backwards");
		t->clock_ns += (uint64_t)x;
		next = virq_vm_poll_timers(t->vm);
		set_native(r, 0);
		if (next == INT64_MAX)
			note(r, "now %" PRIu64 " ns, no timer armed", t->clock_ns);
		else if (next >= 0)
			note(r, "now %" PRIu64 " ns, next timer in %" PRId64 " ns", t->clock_ns, next);
		return 0;
	}
	case SC_TRIGGER: {
		int fd;

		if (op_efd(c, t, a, "name", false, &fd))
			return -1;
		set_native(r, virq_irqfd_trigger(t->vm, fd));
		return 0;
	}
	case SC_SAVE: {
		const struct sc_arg *n = sc_arg(a, "name"), *w = sc_arg(a, "what");
		unsigned what = VIRQ_STATE_ALL;
		long size;
		void *buf;

		if (n->v.kind != SC_V_NAME)
			return op_error(c, n->vcol, "save needs a name: save before");
		if (w) {
			if (w->v.kind != SC_V_NAME)
				return op_error(c, w->vcol, "what= is routing, irqfd, arch or all (comma-separated)");
			what = 0;
			for (char *s = w->v.name; *s;) {
				size_t len = strcspn(s, ",");

				if (len == 7 && !strncmp(s, "routing", 7))
					what |= VIRQ_STATE_ROUTING;
				else if (len == 5 && !strncmp(s, "irqfd", 5))
					what |= VIRQ_STATE_IRQFD;
				else if (len == 4 && !strncmp(s, "arch", 4))
					what |= VIRQ_STATE_ARCH;
				else if (len == 3 && !strncmp(s, "all", 3))
					what |= VIRQ_STATE_ALL;
				else
					return op_error(c, w->vcol, "what= is routing, irqfd, arch or all");
				s += len;
				if (*s == ',')
					s++;
			}
		}
		size = virq_vm_save(t->vm, NULL, 0, what);
		if (size < 0) {
			set_native(r, size);
			return 0;
		}
		buf = malloc((size_t)size);
		if (!buf)
			return op_error(c, 0, "out of memory");
		size = virq_vm_save(t->vm, buf, (size_t)size, what);
		set_native(r, size < 0 ? size : 0);
		if (size < 0) {
			free(buf);
			return 0;
		}
		for (int i = 0; i < t->nblobs; i++)
			if (!strcmp(t->blob[i].name, n->v.name)) {
				free(t->blob[i].buf);
				t->blob[i].buf = buf;
				t->blob[i].size = size;
				note(r, "%ld bytes", size);
				return 0;
			}
		if (t->nblobs == MAX_BLOBS) {
			free(buf);
			return op_error(c, 0, "at most %d saved states", MAX_BLOBS);
		}
		t->blob[t->nblobs].name = strdup(n->v.name);
		t->blob[t->nblobs].buf = buf;
		t->blob[t->nblobs++].size = size;
		note(r, "%ld bytes", size);
		return 0;
	}
	case SC_RESTORE: {
		const struct sc_arg *n = sc_arg(a, "name");

		for (int i = 0; n->v.kind == SC_V_NAME && i < t->nblobs; i++)
			if (!strcmp(t->blob[i].name, n->v.name)) {
				set_native(r, virq_vm_restore(t->vm, t->blob[i].buf, (size_t)t->blob[i].size));
				return 0;
			}
		return op_error(c, n->vcol, "nothing saved under that name");
	}
	default:
		return op_error(c, 0, "'%s' is not an operation on the VM", op->spec->name);
	}
}

static const char *res_str(const struct res *r, char *buf, size_t len)
{
	if (r->ret == -1 && r->err)
		snprintf(buf, len, "-1/%s", errno_name(r->err));
	else if (r->handle)
		snprintf(buf, len, "ok");
	else if (r->ret > 9 || r->ret < -9)
		snprintf(buf, len, "%#llx", r->ret);
	else
		snprintf(buf, len, "%lld", r->ret);
	return buf;
}

/* ---------------------------------------------------------------------- */
/* expect                                                                 */
/* ---------------------------------------------------------------------- */

static int read_state(struct target *t, struct chipstate *s)
{
	return cs_read(s, t->ioctl, t->is_virq, t->vm, t->vfd, t->vid, t->nvcpus);
}

/*
 * Check one `expect` against @last.  Returns 0 if every check held, 1 if
 * one failed (described in @why), -1 for an error in the scenario.
 */
static int run_expect(struct ctx *c, struct target *t, const struct sc_op *op, const struct res *last,
		      bool have_last, char *why, size_t whylen)
{
	struct chipstate st;
	bool have_state = false;
	int failed = 0;

	c->op = op;
	why[0] = 0;
	for (int i = 0; i < op->args.n; i++) {
		const struct sc_arg *a = &op->args.a[i];
		char got[128], want[128];
		size_t used = strlen(why);

		if (!strcmp(a->key, "ok") || !strcmp(a->key, "ret") || !strcmp(a->key, "errno")) {
			char rb[64];

			if (!have_last)
				return op_error(c, a->col, "expect %s: no operation before it", a->key);
			if (!strcmp(a->key, "ok")) {
				if (a->v.kind != SC_V_NAME || strcmp(a->v.name, "ok"))
					return op_error(c, a->col, "write `expect ok`, `expect ret=N` or "
								   "`expect errno=ENAME`");
				if (last->ret == -1 && last->err) {
					snprintf(why + used, whylen - used, "%sgot %s", used ? "; " : "",
						 res_str(last, rb, sizeof(rb)));
					failed = 1;
				}
			} else if (!strcmp(a->key, "ret")) {
				if (a->v.kind != SC_V_NUM)
					return op_error(c, a->vcol, "ret= takes a number");
				if (last->ret != a->v.num || (last->ret == -1 && last->err)) {
					snprintf(why + used, whylen - used, "%sret: got %s", used ? "; " : "",
						 res_str(last, rb, sizeof(rb)));
					failed = 1;
				}
			} else {
				int e = 0;

				if (a->v.kind == SC_V_NUM)
					e = (int)a->v.num;
				else if (a->v.kind != SC_V_NAME || !errno_lookup(a->v.name, &e))
					return op_error(c, a->vcol, "errno= takes an errno name (EINVAL) or 0");
				if (e ? !(last->ret == -1 && last->err == e) : (last->ret == -1 && last->err)) {
					snprintf(why + used, whylen - used, "%serrno: got %s", used ? "; " : "",
						 res_str(last, rb, sizeof(rb)));
					failed = 1;
				}
			}
			continue;
		}

		/* A state path. */
		struct cs_value v, w;
		char err[256];

		if (!have_state) {
			if (read_state(t, &st))
				return op_error(c, 0, "out of memory");
			have_state = true;
		}
		if (cs_lookup(&st, a->key, &v, err, sizeof(err))) {
			cs_free(&st);
			return op_error(c, a->col, "%s", err);
		}
		memset(&w, 0, sizeof(w));
		if (a->v.kind == SC_V_SET) {
			w.kind = CS_V_VECSET;
			memcpy(w.set, a->v.set, sizeof(w.set));
		} else if (a->v.kind == SC_V_NUM && v.kind == CS_V_VECSET) {
			/* A number against a vector set: exactly that vector. */
			if (a->v.num < 0 || a->v.num > 255) {
				cs_free(&st);
				return op_error(c, a->vcol, "a vector is 0-255");
			}
			w.kind = CS_V_VECSET;
			w.set[a->v.num / 32] = 1u << (a->v.num % 32);
		} else if (a->v.kind == SC_V_NUM) {
			w.kind = CS_V_INT;
			w.u = (uint64_t)a->v.num;
		} else {
			cs_free(&st);
			return op_error(c, a->vcol, "%s= takes a number or a vector set", a->key);
		}
		if (v.kind != w.kind) {
			cs_free(&st);
			return op_error(c, a->vcol, "%s is %s", a->key,
					v.kind == CS_V_VECSET ? "a vector set: {0x40} or {}" : "a number");
		}
		if (!cs_value_eq(&v, &w)) {
			cs_value_str(&v, a->key, got, sizeof(got));
			cs_value_str(&w, a->key, want, sizeof(want));
			snprintf(why + used, whylen - used, "%s%s: got %s, want %s", used ? "; " : "", a->key, got,
				 want);
			failed = 1;
		}
	}
	if (have_state)
		cs_free(&st);
	return failed;
}

/* ---------------------------------------------------------------------- */
/* virq run                                                               */
/* ---------------------------------------------------------------------- */

static void print_op(FILE *f, const struct sc_op *op, const char *result, const char *n)
{
	int w = fprintf(f, "%4d  %s", op->line, op->text);

	fprintf(f, "%*s -> %s", w < 52 ? 52 - w : 1, "", result);
	if (*n)
		fprintf(f, "  (%s)", n);
	fputc('\n', f);
	for (int i = 0; i < op->nentries; i++)
		fprintf(f, "%4d      %s\n", op->entries[i].line, op->entries[i].text);
}

/* The next operation is an expect that checks errno? */
static bool errno_expected(const struct sc_script *sc, int i)
{
	if (i + 1 >= sc->nops || sc->ops[i + 1].spec->kind != SC_EXPECT)
		return false;
	return sc_arg(&sc->ops[i + 1].args, "errno") || sc_arg(&sc->ops[i + 1].args, "ret");
}

/*
 * Run @sc on @t.  With @quiet_all nothing is printed but errors (virq
 * state).  Returns the exit code.
 */
static int run_on(const struct sc_script *sc, struct target *t, const struct run_opts *o, bool quiet_all)
{
	struct ctx c = { .sc = sc };
	char err[512], why[512], rb[64];
	struct res last = { 0 };
	bool have_last = false;
	int nexpect = 0, nfailed = 0;
	FILE *f = o->out;

	c.err = err;
	c.errlen = sizeof(err);
	for (int i = 0; i < sc->nops; i++) {
		const struct sc_op *op = &sc->ops[i];
		int r;

		switch (op->spec->kind) {
		case SC_SECTION:
			if (!o->quiet && !quiet_all)
				fprintf(f, "\n-- %s\n", op->rest);
			continue;
		case SC_PRINT:
			if (!o->quiet && !quiet_all)
				fprintf(f, "      %s\n", op->rest);
			continue;
		case SC_STATE: {
			const struct sc_arg *w = sc_arg(&op->args, "what");
			unsigned what = CS_ALL;
			struct chipstate st;

			c.op = op;
			if (w && (w->v.kind != SC_V_NAME || cs_parse_what(w->v.name, &what))) {
				fprintf(stderr, "%s:%d:%d: what= is pic, ioapic, lapic, routing or all "
						"(comma-separated)\n", sc->file, op->line, w->vcol);
				return EXIT_USAGE;
			}
			if (o->quiet || quiet_all)
				continue;
			if (read_state(t, &st)) {
				fprintf(stderr, "virq: out of memory\n");
				return EXIT_SYSTEM;
			}
			fprintf(f, "%4d  state\n", op->line);
			cs_print(f, &st, what);
			cs_free(&st);
			continue;
		}
		case SC_EXPECT:
			nexpect++;
			r = run_expect(&c, t, op, &last, have_last, why, sizeof(why));
			if (r < 0) {
				fprintf(stderr, "%s\n", err);
				return EXIT_USAGE;
			}
			if (r) {
				nfailed++;
				fprintf(f, "%4d  %s    FAILED: %s\n", op->line, op->text, why);
				if (o->quiet || quiet_all)
					fprintf(stderr, "%s:%d: expectation failed: %s: %s\n", sc->file, op->line,
						op->text, why);
			} else if (!o->quiet && !quiet_all) {
				fprintf(f, "%4d  %s%*s    ok\n", op->line, op->text,
					(int)(strlen(op->text) < 46 ? 46 - strlen(op->text) : 0), "");
			}
			continue;
		default:
			break;
		}
		/* Events and trace lines fire inside the operation: collect
		 * them and print them under its line. */
		char *evbuf = NULL;
		size_t evlen = 0;

		if (!o->quiet && !quiet_all)
			t->evout = open_memstream(&evbuf, &evlen);
		r = run_op(&c, t, op, &last);
		if (t->evout) {
			fclose(t->evout);
			t->evout = NULL;
		}
		if (r < 0) {
			free(evbuf);
			fprintf(stderr, "%s\n", err);
			return EXIT_USAGE;
		}
		have_last = true;
		if (!o->quiet && !quiet_all) {
			print_op(f, op, res_str(&last, rb, sizeof(rb)), last.note);
			if (evbuf)
				fputs(evbuf, f);
		}
		free(evbuf);
		if (last.ret == -1 && last.err && !errno_expected(sc, i)) {
			nfailed++;
			fprintf(quiet_all ? stderr : f, "%s:%d: %s failed with %s; if that is intended, follow it "
					"with `expect errno=%s`\n", sc->file, op->line, op->spec->name,
				errno_name(last.err), errno_name(last.err));
		}
	}
	if (!quiet_all) {
		fprintf(f, "\n%s: %d operations, %d expectations: %s\n", sc->file, sc->nops, nexpect,
			nfailed ? "FAILED" : "all held");
		if (nfailed)
			fprintf(f, "%d failure%s\n", nfailed, nfailed == 1 ? "" : "s");
	}
	return nfailed ? EXIT_FAILED : EXIT_OK;
}

/* A virq target with its VM, or false (said on stderr). */
static bool start_virq(struct target *t, const struct run_opts *o)
{
	int r;

	target_init(t, true, o);
	if ((r = target_start(t))) {
		fprintf(stderr, "virq: cannot create a VM: %s\n", strerror(r));
		target_stop(t);
		return false;
	}
	return true;
}

int exec_run(const struct sc_script *sc, const struct run_opts *o)
{
	struct target t;
	int r;

	if (!start_virq(&t, o))
		return EXIT_SYSTEM;
	r = run_on(sc, &t, o, false);
	target_stop(&t);
	return r;
}

int exec_state(const struct sc_script *sc, unsigned what, bool json, FILE *out)
{
	struct run_opts o = { .quiet = true, .out = out };
	struct chipstate st;
	struct target t;
	int r;

	if (!start_virq(&t, &o))
		return EXIT_SYSTEM;
	r = run_on(sc, &t, &o, true);
	if (r == EXIT_OK || r == EXIT_FAILED) {
		if (read_state(&t, &st)) {
			r = EXIT_SYSTEM;
		} else {
			if (json)
				cs_print_json(out, &st, what);
			else
				cs_print(out, &st, what);
			cs_free(&st);
		}
	}
	target_stop(&t);
	return r;
}

/* ---------------------------------------------------------------------- */
/* virq diff                                                              */
/* ---------------------------------------------------------------------- */

/* The capability an operation needs from the running kernel (0: none). */
static long needed_cap(const struct sc_op *op)
{
	switch (op->spec->kind) {
	case SC_KVM_CREATE_IRQCHIP:
		return KVM_CAP_IRQCHIP;
	case SC_KVM_ENABLE_CAP:
		return sc_num(&op->args, "cap", 0);
	case SC_KVM_IRQ_LINE_STATUS:
		return KVM_CAP_IRQ_INJECT_STATUS;
	case SC_KVM_SIGNAL_MSI:
		return sc_num(&op->args, "flags", 0) & KVM_MSI_VALID_DEVID ? KVM_CAP_MSI_DEVID : KVM_CAP_SIGNAL_MSI;
	case SC_KVM_IRQFD:
		return sc_num(&op->args, "flags", 0) & KVM_IRQFD_FLAG_RESAMPLE ? KVM_CAP_IRQFD_RESAMPLE
									    : KVM_CAP_IRQFD;
	case SC_KVM_SET_GSI_ROUTING:
		for (int i = 0; i < op->nentries; i++) {
			long type = sc_num(&op->entries[i].args, "type", 0);

			if (type == KVM_IRQ_ROUTING_HV_SINT)
				return KVM_CAP_HYPERV_SYNIC;
			if (type == KVM_IRQ_ROUTING_XEN_EVTCHN)
				return KVM_CAP_XEN_HVM;
			if (type == KVM_IRQ_ROUTING_S390_ADAPTER)
				return KVM_CAP_S390_IRQCHIP;
			if (sc_num(&op->entries[i].args, "flags", 0) & KVM_MSI_VALID_DEVID)
				return KVM_CAP_MSI_DEVID;
		}
		return KVM_CAP_IRQ_ROUTING;
	default:
		return 0;
	}
}

static const char *cap_name(long cap)
{
	static char buf[32];
	const char *n = kvm_name_of("KVM_CAP_", cap);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "capability %ld", cap);
	return buf;
}

int exec_diff(const struct sc_script *sc, const struct run_opts *o)
{
	struct target t[2];
	struct ctx c = { .sc = sc };
	char err[512], ra[64], rb[64];
	int code = EXIT_OK, compared = 0, r;
	FILE *f = o->out;
	struct run_opts ko = *o;

	ko.trace = ko.events = false;
	c.err = err;
	c.errlen = sizeof(err);
	if (access("/dev/kvm", R_OK | W_OK)) {
		fprintf(stderr, "virq diff: /dev/kvm is not available here (%s): there is no kernel to "
				"compare with. Run on a machine with KVM (and access to /dev/kvm).\n",
			strerror(errno));
		return EXIT_NOCOMPARE;
	}
	target_init(&t[0], false, &ko);
	target_init(&t[1], true, &ko);
	for (int i = 0; i < 2; i++)
		if ((r = target_start(&t[i]))) {
			fprintf(stderr, "virq diff: cannot create a VM on %s: %s\n", t[i].name, strerror(r));
			target_stop(&t[0]);
			target_stop(&t[1]);
			return i == 0 ? EXIT_NOCOMPARE : EXIT_SYSTEM;
		}

	/* Features the running kernel lacks, said up front. */
	for (int i = 0; i < sc->nops; i++) {
		long cap = needed_cap(&sc->ops[i]);

		if (cap && t[0].ioctl(t[0].vm, KVM_CHECK_EXTENSION, (void *)cap) <= 0)
			fprintf(f, "note: line %d needs %s, which the running kernel does not have\n",
				sc->ops[i].line, cap_name(cap));
	}
	if (!o->quiet)
		fprintf(f, "%4s  %-46s %10s %10s\n", "line", "operation", "kernel", "virq");

	for (int i = 0; i < sc->nops && code == EXIT_OK; i++) {
		const struct sc_op *op = &sc->ops[i];
		struct res res[2];
		struct chipstate st[2];

		if (op->spec->flags & SCF_TOOL) {
			if (op->spec->kind == SC_SECTION && !o->quiet)
				fprintf(f, "\n-- %s\n", op->rest);
			continue;
		}
		if (!(op->spec->flags & SCF_KERNEL)) {
			fprintf(f, "\n%s:%d:%d: `%s` %s; the comparison stops here.\n", sc->file, op->line, op->col,
				op->spec->name,
				op->spec->flags & SCF_GUEST
					? "is a guest action: /dev/kvm performs it only for a running guest"
					: "is virq's own API: the kernel has no equivalent");
			fprintf(f, "compared %d operations: no divergence before that\n", compared);
			code = EXIT_NOCOMPARE;
			break;
		}
		for (int k = 0; k < 2; k++)
			if (run_op(&c, &t[k], op, &res[k])) {
				fprintf(stderr, "%s\n", err);
				code = EXIT_USAGE;
				break;
			}
		if (code != EXIT_OK)
			break;
		compared++;
		res_str(&res[0], ra, sizeof(ra));
		res_str(&res[1], rb, sizeof(rb));
		bool same = res[0].ret == res[1].ret && res[0].err == res[1].err;

		if (res[0].handle && res[1].handle)
			same = (res[0].ret >= 0) == (res[1].ret >= 0) && res[0].err == res[1].err;
		if (!o->quiet)
			fprintf(f, "%4d  %-46.46s %10s %10s%s\n", op->line, op->text, ra, rb, same ? "" : "  <-- differs");
		if (read_state(&t[0], &st[0]) || read_state(&t[1], &st[1])) {
			fprintf(stderr, "virq diff: out of memory\n");
			code = EXIT_SYSTEM;
			break;
		}
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);
		int nd = m ? cs_diff(m, &st[0], "kernel", &st[1], "virq", CS_PIC | CS_IOAPIC | CS_LAPIC) : 0;

		if (m)
			fclose(m);
		cs_free(&st[0]);
		cs_free(&st[1]);
		if (!same || nd) {
			long cap = needed_cap(op);
			bool absent = cap && t[0].ioctl(t[0].vm, KVM_CHECK_EXTENSION, (void *)cap) <= 0;

			fprintf(f, "\nfirst divergence at %s:%d:%d: %s\n", sc->file, op->line, op->col, op->text);
			fprintf(f, "  result: kernel %s, virq %s%s\n", ra, rb, same ? " (same)" : "");
			if (nd)
				fprintf(f, "  state after it (%d field%s):\n%s", nd, nd == 1 ? "" : "s", buf);
			if (absent) {
				fprintf(f, "  the running kernel lacks %s, which this operation needs: the "
					   "difference says nothing about virq\n", cap_name(cap));
				code = EXIT_NOCOMPARE;
			} else {
				code = EXIT_FAILED;
			}
		}
		free(buf);
	}
	if (code == EXIT_OK)
		fprintf(f, "\n%s: %d operations compared: virq and the kernel agree (results, errno, PIC, "
			   "IOAPIC and LAPIC state after each)\n", sc->file, compared);
	target_stop(&t[0]);
	target_stop(&t[1]);
	return code;
}

/* ---------------------------------------------------------------------- */
/* virq caps                                                              */
/* ---------------------------------------------------------------------- */

/* The capabilities of the interrupt subsystem: virq's scope.  The others
 * (memory, CPU state, debugging) belong to a whole hypervisor. */
static bool cap_in_scope(const char *name)
{
	static const char *const scope[] = {
		"IRQCHIP", "IRQ_ROUTING", "IRQ_INJECT_STATUS", "IRQFD", "IRQFD_RESAMPLE",
		"SET_BOOT_CPU_ID", "VCPU_EVENTS", "SIGNAL_MSI", "MSI_DEVID", "TSC_DEADLINE_TIMER",
		"SPLIT_IRQCHIP", "X2APIC_API", "USER_NMI", "IOAPIC_POLARITY_IGNORED", "HYPERV_SYNIC",
		"HYPERV_SYNIC2", "XEN_HVM", "S390_IRQCHIP", "ARM_IRQ_LINE_LAYOUT_2", "IRQ_MPIC",
		"ASSIGN_DEV_IRQ", "EXT_CPUID", "CHECK_EXTENSION_VM", "ENABLE_CAP_VM", "NR_VCPUS",
		"MAX_VCPUS", "MAX_VCPU_ID", "TSC_CONTROL", "PCI_2_3", "DEVICE_CTRL", "IRQ_XICS",
		"ARM_SET_DEVICE_ADDR", "ONE_REG", "S390_IRQ_STATE", "S390_INJECT_IRQ",
	};

	for (size_t i = 0; i < sizeof(scope) / sizeof(scope[0]); i++)
		if (!strcmp(name + 8, scope[i]))
			return true;
	return false;
}

int exec_caps(bool all, bool json, FILE *out)
{
	struct run_opts o = { .quiet = true, .out = out };
	struct target t[2];
	bool have_kernel;
	int shown = 0, differ = 0;

	target_init(&t[0], false, &o);
	target_init(&t[1], true, &o);
	have_kernel = target_start(&t[0]) == 0;
	if (target_start(&t[1])) {
		fprintf(stderr, "virq caps: cannot create a virq VM\n");
		target_stop(&t[0]);
		target_stop(&t[1]);
		return EXIT_SYSTEM;
	}
	if (json)
		fprintf(out, "{\"kernel\": %s, \"caps\": [", have_kernel ? "true" : "false");
	else if (have_kernel)
		fprintf(out, "%-34s %8s %8s %8s %8s\n", "capability (KVM_CHECK_EXTENSION)", "kernel", "(vm)", "virq",
			"(vm)");
	else
		fprintf(out, "/dev/kvm is not available: virq's capabilities only\n%-34s %8s %8s\n",
			"capability (KVM_CHECK_EXTENSION)", "virq", "(vm)");
	for (unsigned i = 0; i < kvm_nr_names; i++) {
		const char *n = kvm_names[i].name;
		long cap = (long)kvm_names[i].value;
		int v[4] = { 0, 0, 0, 0 };

		if (strncmp(n, "KVM_CAP_", 8))
			continue;
		for (int k = have_kernel ? 0 : 1; k < 2; k++) {
			v[2 * k] = t[k].ioctl(t[k].sys, KVM_CHECK_EXTENSION, (void *)cap);
			v[2 * k + 1] = t[k].ioctl(t[k].vm, KVM_CHECK_EXTENSION, (void *)cap);
			if (v[2 * k] < 0)
				v[2 * k] = 0;
			if (v[2 * k + 1] < 0)
				v[2 * k + 1] = 0;
		}
		if (!all && !v[0] && !v[1] && !v[2] && !v[3])
			continue;
		bool d = have_kernel && (v[0] != v[2] || v[1] != v[3]);
		bool in = cap_in_scope(n);

		differ += d && in;
		if (json) {
			fprintf(out, "%s\n  {\"name\": \"%s\", \"number\": %ld, ", shown ? "," : "", n, cap);
			if (have_kernel)
				fprintf(out, "\"kernel\": %d, \"kernel_vm\": %d, ", v[0], v[1]);
			fprintf(out, "\"virq\": %d, \"virq_vm\": %d, \"interrupt_scope\": %s}", v[2], v[3],
				in ? "true" : "false");
		} else if (have_kernel) {
			fprintf(out, "%-34s %8d %8d %8d %8d%s\n", n, v[0], v[1], v[2], v[3],
				!in ? "  -" : d ? "  *" : "");
		} else {
			fprintf(out, "%-34s %8d %8d%s\n", n, v[2], v[3], in ? "" : "  -");
		}
		shown++;
	}
	if (json)
		fprintf(out, "\n]}\n");
	else if (have_kernel)
		fprintf(out, "\n%d capabilities shown%s.\n- outside the interrupt subsystem (memory, CPU "
			     "state, debugging: a whole hypervisor's business)\n* in virq's scope and "
			     "different from the kernel: %d (docs/kvm-differences.md)\n",
			shown, all ? "" : " (those nonzero somewhere; --all for every one)", differ);
	target_stop(&t[0]);
	target_stop(&t[1]);
	return EXIT_OK;
}
