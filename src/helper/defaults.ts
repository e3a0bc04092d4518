// What every pod gets unless a later, policy-checked option changes it (DESIGN.md §4).
import { CAP_NUMBERS, type CapName } from '../schema/app-names';

/** The appc default capability set (appc spec, "os/linux/capabilities-retain-set" defaults as rkt applied them). */
const APPC_DEFAULT_CAP_NAMES: readonly CapName[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_SYS_CHROOT', 'CAP_MKNOD', 'CAP_AUDIT_WRITE', 'CAP_SETFCAP',
];
/** The same, name to number (the numbers from schema/app-names, linux/capability.h). */
export const APPC_DEFAULT_CAPS: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries(APPC_DEFAULT_CAP_NAMES.map((n) => [n, CAP_NUMBERS[n]])));

/** Masked: files get /dev/null bound over them, directories an empty read-only tmpfs. */
export const MASKED_PATHS: readonly string[] = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/proc/interrupts', '/sys/firmware',
  '/sys/devices/virtual/powercap', '/sys/fs/selinux',
];

export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
