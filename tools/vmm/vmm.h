/* SPDX-License-Identifier: MIT */
/*
 * vmm.h - `virq vm`: a small VMM on /dev/kvm with a built-in test guest.
 */
#ifndef VMM_VMM_H
#define VMM_VMM_H

/* The `virq vm` command; argv[0] is "vm".  Returns the exit status:
 * 0 the guest passed, 1 it failed (or faulted, or timed out), 2 bad usage,
 * 3 no /dev/kvm, 4 a system error or an irqchip mode not built. */
int vmm_main(int argc, char **argv);

#endif
