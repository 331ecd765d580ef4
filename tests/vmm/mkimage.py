#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a tiny multiboot ELF32 kernel: mkimage.py OUTPUT KIND

KIND is "hang" (cli; hlt forever: for --timeout) or "fault" (a divide
error with no IDT: a triple fault)."""
import struct
import sys

out, kind = sys.argv[1:3]
code = {
    "hang": bytes([0xfa, 0xf4, 0xeb, 0xfd]),              # cli; hlt; jmp .-3
    "fault": bytes([0x31, 0xc9, 0xf7, 0xf1, 0xeb, 0xfe]),  # xor ecx,ecx; div ecx
}[kind]
magic, flags = 0x1BADB002, 0
body = struct.pack("<III", magic, flags, (-(magic + flags)) & 0xFFFFFFFF) + code
load, off = 0x100000, 0x54                      # one PT_LOAD after the headers
ehdr = struct.pack("<16sHHIIIIIHHHHHH",
                   b"\x7fELF\x01\x01\x01" + bytes(9), 2, 3, 1,
                   load + 12, 52, 0, 0, 52, 32, 1, 40, 0, 0)
phdr = struct.pack("<IIIIIIII", 1, off, load, load, len(body), len(body), 5, 4)
with open(out, "wb") as f:
    f.write(ehdr + phdr + body)
