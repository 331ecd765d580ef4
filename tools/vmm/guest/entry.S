/* SPDX-License-Identifier: MIT */
/*
 * entry.S - the built-in guest's multiboot header, entry point, the APs'
 * real-mode start-up code and the interrupt stubs.
 *
 * The BSP enters at _start in flat 32-bit protected mode with interrupts
 * off, as multiboot says.  It copies the trampoline to TRAMPOLINE and
 * starts the APs with INIT and STARTUP IPIs (vector TRAMPOLINE >> 12): each
 * AP enters the trampoline in real mode, switches to protected mode and
 * joins at ap_start32.  Every CPU takes its stack by its LAPIC ID.
 */
#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00000002	/* we want mem_lower/mem_upper */
#define STACK_SIZE	8192
#define MAX_CPUS	16
#define LAPIC_ID_REG	0xfee00020
#define TRAMPOLINE	0x8000		/* below the multiboot info at 0x9000 */
#define SEL_CODE	0x08
#define SEL_DATA	0x10

/* %esp = the top of this CPU's stack: stacks + (LAPIC ID + 1) * STACK_SIZE. */
.macro	cpu_stack
	movl	LAPIC_ID_REG, %ecx	/* xAPIC ID in bits 31:24 */
	shrl	$24, %ecx
	andl	$(MAX_CPUS - 1), %ecx
	incl	%ecx
	shll	$13, %ecx
	leal	stacks(%ecx), %esp
.endm

	.section .multiboot, "a"
	.align 4
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)

	.text
	.globl	_start
_start:
	cli
	cpu_stack
	pushl	%ebx			/* multiboot info */
	pushl	%eax			/* multiboot magic */
	call	guest_main
1:	cli
	hlt
	jmp	1b

/*
 * The AP start-up code, copied to TRAMPOLINE by the BSP (start_aps()).  A
 * STARTUP IPI starts the AP here in real mode with CS = TRAMPOLINE >> 4
 * and IP = 0, so addresses are CS-relative until the far jump.  Its own
 * GDT has the same flat selectors as the kernel's (hw.c), which the AP
 * loads next.
 */
	.globl	trampoline_start, trampoline_end
	.code16
trampoline_start:
	cli
	lgdtl	%cs:tramp_gdtr - trampoline_start
	movl	%cr0, %eax
	orl	$1, %eax		/* CR0.PE */
	movl	%eax, %cr0
	ljmpl	$SEL_CODE, $ap_start32
	.align	8
tramp_gdt:
	.quad	0
	.quad	0x00cf9b000000ffff	/* SEL_CODE */
	.quad	0x00cf93000000ffff	/* SEL_DATA */
tramp_gdtr:
	.word	3 * 8 - 1
	.long	TRAMPOLINE + (tramp_gdt - trampoline_start)
trampoline_end:
	.code32

ap_start32:
	movl	$SEL_DATA, %eax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	cpu_stack
	call	guest_ap_main
1:	cli
	hlt
	jmp	1b

/*
 * One 16-byte stub per vector, so the IDT entry of vector v is
 * isr_stubs + 16 * v.  The stub makes every frame look alike: an error
 * code (the CPU's, or 0), then the vector.
 */
	.align	16
	.globl	isr_stubs
isr_stubs:
	.set	vec, 0
	.rept	256
	.align	16
	.if	!(vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30)
	pushl	$0
	.endif
	pushl	$vec
	jmp	isr_common
	.set	vec, vec + 1
	.endr

/*
 * The return is an iret done by hand: KVM's instruction emulator has no
 * protected-mode iret.  The stack holds EIP, CS, EFLAGS; rewrite it to
 * EFLAGS, EIP, then popfl and ret.  CS never changes (one flat code
 * segment, no privilege change), so nothing of iret is lost.  An interrupt
 * taken between popfl and ret nests on top and returns to the ret.
 */
isr_common:
	pushal
	cld
	pushl	%esp			/* struct frame * */
	call	isr_dispatch
	addl	$4, %esp
	popal
	addl	$8, %esp		/* vector and error code */
	pushl	%eax			/* EAX, EIP, CS, EFLAGS */
	movl	4(%esp), %eax
	xchgl	%eax, 12(%esp)		/* EAX, EIP, CS, EIP; EAX = EFLAGS */
	movl	%eax, 8(%esp)		/* EAX, EIP, EFLAGS, EIP */
	popl	%eax
	addl	$4, %esp		/* EFLAGS, EIP */
	popfl
	ret

	.bss
	.align	16
	.globl	stacks
stacks:
	.skip	STACK_SIZE * MAX_CPUS
	.section .note.GNU-stack, "", @progbits
