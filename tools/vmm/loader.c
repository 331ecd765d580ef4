/* SPDX-License-Identifier: MIT */
/*
 * loader.c - load a multiboot (v1) ELF32 kernel, as GRUB or QEMU -kernel do.
 *
 * The PT_LOAD segments go to their physical addresses; the multiboot info
 * (memory sizes, a memory map, the command line, the loader's name) goes to
 * low memory at MBI_BASE, below anything a kernel linked at 1 MiB uses.
 * The multiboot header must be present and valid; its a.out-kludge
 * addresses are ignored, since the ELF headers say the same thing.
 */
#include <elf.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "vm.h"

#define MB_HEADER_MAGIC		0x1badb002
#define MB_SEARCH		8192	/* the header lies in the first 8 KiB */
#define MB_FLAG_PAGE_ALIGN	(1u << 0)
#define MB_FLAG_MEMORY		(1u << 1)
#define MB_FLAG_VIDEO		(1u << 2)
#define MB_FLAG_AOUT_KLUDGE	(1u << 16)
/* Required-feature bits (0-15) we can honour: no modules, memory info. */
#define MB_FLAGS_OK		(MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY | MB_FLAG_VIDEO)

#define MBI_BASE		0x9000
#define MBI_MMAP		(MBI_BASE + 0x100)
#define MBI_LOADER_NAME		(MBI_BASE + 0x200)
#define MBI_CMDLINE		(MBI_BASE + 0x400)
#define MBI_CMDLINE_MAX		0x1000
#define MBI_END			(MBI_CMDLINE + MBI_CMDLINE_MAX)
#define LOW_MEM_END		0x9fc00	/* 639 KiB, the conventional EBDA start */

#define MBI_INFO_MEMORY		(1u << 0)
#define MBI_INFO_CMDLINE	(1u << 2)
#define MBI_INFO_MMAP		(1u << 6)
#define MBI_INFO_LOADER_NAME	(1u << 9)

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower;	/* KiB from 0 */
	uint32_t mem_upper;	/* KiB from 1 MiB */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;
	uint32_t mmap_addr;
	uint32_t drives_length;
	uint32_t drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
} __attribute__((packed));

struct mb_mmap_entry {
	uint32_t size;		/* of the rest of the entry: 20 */
	uint64_t addr;
	uint64_t len;
	uint32_t type;		/* 1: available RAM */
} __attribute__((packed));

_Static_assert(sizeof(struct mb_info) == 68, "multiboot info layout");
_Static_assert(offsetof(struct mb_info, mmap_length) == 44, "multiboot info layout");
_Static_assert(sizeof(struct mb_mmap_entry) == 24, "multiboot mmap entry layout");

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int check_multiboot_header(const uint8_t *image, size_t size, char *err, size_t errlen)
{
	size_t end = size < MB_SEARCH ? size : MB_SEARCH;

	for (size_t off = 0; off + 12 <= end; off += 4) {
		uint32_t magic = rd32(image + off), flags = rd32(image + off + 4);

		if (magic != MB_HEADER_MAGIC)
			continue;
		if (magic + flags + rd32(image + off + 8) != 0)
			return fail(err, errlen, "multiboot header at offset %zu: bad checksum", off);
		if (flags & 0xffff & ~MB_FLAGS_OK)
			return fail(err, errlen, "multiboot header asks for unsupported features (flags 0x%x)",
				    flags);
		return 0;
	}
	return fail(err, errlen, "no multiboot header in the first %d bytes", MB_SEARCH);
}

/* Copy the PT_LOAD segments; the bytes past p_filesz are zeroed. */
static int load_segments(struct vmm *vm, const uint8_t *image, size_t size, const Elf32_Ehdr *eh,
			 char *err, size_t errlen)
{
	if (eh->e_phentsize != sizeof(Elf32_Phdr) || eh->e_phoff > size ||
	    (size - eh->e_phoff) / sizeof(Elf32_Phdr) < eh->e_phnum)
		return fail(err, errlen, "bad program header table");
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf32_Phdr ph;

		memcpy(&ph, image + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		if (ph.p_filesz > ph.p_memsz || ph.p_offset > size || size - ph.p_offset < ph.p_filesz)
			return fail(err, errlen, "segment %u lies outside the file", i);
		if (ph.p_paddr < MBI_END || (uint64_t)ph.p_paddr + ph.p_memsz > vm->mem_size)
			return fail(err, errlen, "segment %u (0x%x-0x%llx) is outside RAM above 0x%x",
				    i, ph.p_paddr, (unsigned long long)ph.p_paddr + ph.p_memsz, MBI_END);
		memcpy(vm->mem + ph.p_paddr, image + ph.p_offset, ph.p_filesz);
		memset(vm->mem + ph.p_paddr + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}
	return 0;
}

static void put_mmap(struct vmm *vm, struct mb_info *mbi)
{
	struct mb_mmap_entry e[2] = {
		{ .size = 20, .addr = 0, .len = LOW_MEM_END, .type = 1 },
		{ .size = 20, .addr = 0x100000, .len = vm->mem_size - 0x100000, .type = 1 },
	};

	memcpy(vm->mem + MBI_MMAP, e, sizeof(e));
	mbi->mmap_addr = MBI_MMAP;
	mbi->mmap_length = sizeof(e);
	mbi->flags |= MBI_INFO_MMAP;
}

static int put_info(struct vmm *vm, const char *cmdline, char *err, size_t errlen)
{
	static const char name[] = "virq vm";
	struct mb_info mbi = {
		.flags = MBI_INFO_MEMORY | MBI_INFO_LOADER_NAME,
		.mem_lower = LOW_MEM_END / 1024,
		.mem_upper = (uint32_t)((vm->mem_size - 0x100000) / 1024),
		.boot_loader_name = MBI_LOADER_NAME,
	};

	memcpy(vm->mem + MBI_LOADER_NAME, name, sizeof(name));
	put_mmap(vm, &mbi);
	if (cmdline) {
		size_t len = strlen(cmdline);

		if (len >= MBI_CMDLINE_MAX)
			return fail(err, errlen, "--append: command line longer than %d bytes",
				    MBI_CMDLINE_MAX - 1);
		memcpy(vm->mem + MBI_CMDLINE, cmdline, len + 1);
		mbi.cmdline = MBI_CMDLINE;
		mbi.flags |= MBI_INFO_CMDLINE;
	}
	memcpy(vm->mem + MBI_BASE, &mbi, sizeof(mbi));
	return 0;
}

int vmm_load_multiboot(struct vmm *vm, const uint8_t *image, size_t size,
		       const char *cmdline, struct vmm_boot *boot, char *err, size_t errlen)
{
	Elf32_Ehdr eh;

	if (size < sizeof(eh) || memcmp(image, ELFMAG, SELFMAG))
		return fail(err, errlen, "not an ELF file");
	memcpy(&eh, image, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS32 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_386 || eh.e_type != ET_EXEC)
		return fail(err, errlen, "not an i386 ELF32 executable (x86-64 kernels must be "
				 "converted with objcopy -O elf32-i386)");
	if (check_multiboot_header(image, size, err, errlen) ||
	    load_segments(vm, image, size, &eh, err, errlen) ||
	    put_info(vm, cmdline, err, errlen))
		return -1;
	boot->entry = eh.e_entry;
	boot->mbi = MBI_BASE;
	return 0;
}
