/* SPDX-License-Identifier: MIT */
/*
 * devices.c - the VMM's own port devices (docs/vmm.md has the guest's view).
 *
 *   0x3f8-0x3ff  COM1: transmit only, to stdout a line at a time
 *   0x510-0x511  fw_cfg, QEMU's PC port interface: signature, RAM, CPUs
 *   0xf4         debug exit, QEMU isa-debug-exit's convention
 *   0x2000-0x2017 IRQ test device (kvm-unit-tests' pc-testdev): line N = level
 *   0x2100-0x210b MSI test port: address latches, then data sends the MSI
 *   0x2200, 0x2204 resample test device (resample.c): irqfd + resamplefd
 *   0x2300, 0x2304 latency probe (probe.c)
 *
 * Everything else goes to the irqchip backend, and then to nobody.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vm.h"

#define COM1		0x3f8
#define  UART_THR	0	/* transmit holding (DLL when LCR.DLAB) */
#define  UART_LCR	3	/* line control; bit 7 is DLAB */
#define  UART_LSR	5	/* line status */
#define  LSR_THRE	0x20	/* transmit holding register empty */
#define  LSR_TEMT	0x40	/* transmitter empty */

#define DEBUG_EXIT	0xf4

#define FW_CFG_SEL	0x510
#define FW_CFG_DATA	0x511
#define  FW_CFG_SIGNATURE 0x00
#define  FW_CFG_ID	0x01
#define  FW_CFG_RAM_SIZE 0x03
#define  FW_CFG_NB_CPUS	0x05
#define  FW_CFG_MAX_CPUS 0x0f

#define TESTDEV_IRQ	0x2000	/* + line, 0..23 */
#define TESTDEV_NLINES	24

#define MSI_PORT	0x2100
#define  MSI_ADDR_LO	0
#define  MSI_ADDR_HI	4
#define  MSI_DATA	8

static uint32_t le_value(const uint8_t *data, int size)
{
	uint32_t v = 0;

	for (int i = 0; i < size && i < 4; i++)
		v |= (uint32_t)data[i] << (8 * i);
	return v;
}

static void backend_failed(struct vmm *vm, const char *hook, int err)
{
	fprintf(stderr, "virq vm: irqchip %s: %s: %s\n", vm->backend->name, hook, strerror(-err));
	vmm_stop(vm, VMM_EXIT_SYSTEM);
}

/* Called with dev.lock held. */
static void serial_flush_locked(struct vmm_devices *d)
{
	if (!d->len)
		return;
	fwrite(d->line, 1, d->len, stdout);
	fflush(stdout);
	d->len = 0;
}

static void serial_write(struct vmm *vm, int reg, uint8_t v)
{
	struct vmm_devices *d = &vm->dev;

	pthread_mutex_lock(&d->lock);
	if (reg == UART_LCR) {
		d->uart_lcr = v;
	} else if (reg == UART_THR && !(d->uart_lcr & 0x80)) {
		d->line[d->len++] = (char)v;
		if (v == '\n' || d->len == sizeof(d->line))
			serial_flush_locked(d);
	}
	pthread_mutex_unlock(&d->lock);
}

/* One byte of the selected fw_cfg item; the offset advances on each read. */
static uint8_t fw_cfg_read(struct vmm *vm)
{
	struct vmm_devices *d = &vm->dev;
	uint64_t item = 0;
	unsigned len = 0;
	uint8_t v = 0;

	pthread_mutex_lock(&d->lock);
	switch (d->fw_cfg_key) {
	case FW_CFG_SIGNATURE:
		item = 'Q' | 'E' << 8 | 'M' << 16 | (uint64_t)'U' << 24;
		len = 4;
		break;
	case FW_CFG_ID:
		item = 1;	/* traditional interface only, no DMA */
		len = 4;
		break;
	case FW_CFG_RAM_SIZE:
		item = vm->mem_size;
		len = 8;
		break;
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS:
		item = (uint64_t)vm->ncpus;
		len = 2;
		break;
	}
	if (d->fw_cfg_off < len)
		v = (uint8_t)(item >> (8 * d->fw_cfg_off));
	d->fw_cfg_off++;
	pthread_mutex_unlock(&d->lock);
	return v;
}

static void fw_cfg_select(struct vmm *vm, uint16_t key)
{
	pthread_mutex_lock(&vm->dev.lock);
	vm->dev.fw_cfg_key = key;
	vm->dev.fw_cfg_off = 0;
	pthread_mutex_unlock(&vm->dev.lock);
}

/*
 * QEMU's isa-debug-exit ends the VM with status (v << 1) | 1, so an image
 * can never exit 0.  The built-in guest writes 0 for "pass", which virq
 * reports as 0, and anything else as 1 (docs/vmm.md).
 */
static void debug_exit(struct vmm *vm, uint32_t v)
{
	int status;

	if (vm->builtin)
		status = v == 0 ? VMM_EXIT_OK : VMM_EXIT_FAILED;
	else
		status = (int)((v << 1) | 1) & 0xff;
	vmm_devices_flush(vm);
	vmm_stop(vm, status);
}

static void msi_port_write(struct vmm *vm, int reg, uint32_t v)
{
	uint64_t addr;
	int r;

	pthread_mutex_lock(&vm->dev.lock);
	if (reg == MSI_ADDR_LO)
		vm->dev.msi_addr = (vm->dev.msi_addr & ~0xffffffffull) | v;
	else if (reg == MSI_ADDR_HI)
		vm->dev.msi_addr = (vm->dev.msi_addr & 0xffffffffull) | (uint64_t)v << 32;
	addr = vm->dev.msi_addr;
	pthread_mutex_unlock(&vm->dev.lock);
	if (reg != MSI_DATA)
		return;
	/* The backend may kick vCPUs: call it without holding dev.lock. */
	vmm_probe_mark(vm);
	r = vm->backend->signal_msi(vm, addr, v);
	if (r < 0)
		backend_failed(vm, "signal_msi", r);
}

static void testdev_irq_write(struct vmm *vm, uint32_t line, uint8_t level)
{
	int r;

	if (level)
		vmm_probe_mark(vm);
	r = vm->backend->set_line(vm, line, level ? 1 : 0);

	if (r < 0)
		backend_failed(vm, "set_line", r);
}

static int devices_write(struct vmm *vm, uint16_t port, const uint8_t *data, int size)
{
	uint32_t v = le_value(data, size);

	if (port >= COM1 && port < COM1 + 8)
		serial_write(vm, port - COM1, (uint8_t)v);
	else if (port == DEBUG_EXIT)
		debug_exit(vm, v);
	else if (port == FW_CFG_SEL)
		fw_cfg_select(vm, (uint16_t)v);
	else if (port >= TESTDEV_IRQ && port < TESTDEV_IRQ + TESTDEV_NLINES)
		testdev_irq_write(vm, port - TESTDEV_IRQ, (uint8_t)v);
	else if (port >= MSI_PORT && port < MSI_PORT + 12 && !(port & 3))
		msi_port_write(vm, port - MSI_PORT, v);
	else if (port != FW_CFG_DATA)
		return 0;
	return 1;
}

static int devices_read(struct vmm *vm, uint16_t port, uint8_t *data, int size)
{
	memset(data, 0, (size_t)size);
	if (port == COM1 + UART_LSR)
		data[0] = LSR_THRE | LSR_TEMT;
	else if (port == FW_CFG_DATA)
		for (int i = 0; i < size; i++)
			data[i] = fw_cfg_read(vm);
	else if (!(port >= COM1 && port < COM1 + 8) && port != FW_CFG_SEL && port != DEBUG_EXIT &&
		 !(port >= TESTDEV_IRQ && port < TESTDEV_IRQ + TESTDEV_NLINES) &&
		 !(port >= MSI_PORT && port < MSI_PORT + 12))
		return 0;
	return 1;
}

int vmm_devices_pio(struct vmm *vm, int cpu, uint16_t port, uint8_t *data, int size, bool write)
{
	int r;

	(void)cpu;
	if ((r = vmm_resample_pio(vm, port, data, size, write)) ||
	    (r = vmm_probe_pio(vm, port, data, size, write)))
		return r;
	return write ? devices_write(vm, port, data, size) : devices_read(vm, port, data, size);
}

void vmm_devices_init(struct vmm *vm)
{
	pthread_mutex_init(&vm->dev.lock, NULL);
}

void vmm_devices_flush(struct vmm *vm)
{
	pthread_mutex_lock(&vm->dev.lock);
	serial_flush_locked(&vm->dev);
	pthread_mutex_unlock(&vm->dev.lock);
}

void vmm_devices_fini(struct vmm *vm)
{
	vmm_devices_flush(vm);
	pthread_mutex_destroy(&vm->dev.lock);
}
