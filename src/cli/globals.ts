// Global flags shared by every command (as rkt's): --dir, --helper-socket, --insecure-options.
import type { Command } from 'commander';
import { WardError } from '../image/errors';
import { defaultStoreDir } from '../image/store';
import { DEFAULT_SOCKET } from '../pod/client';
import type { InsecureOption } from '../schema/protocol';

const KNOWN: readonly InsecureOption[] = ['image'];

export function parseInsecure(list: string | undefined): InsecureOption[] {
  if (!list) return [];
  return list.split(',').map((o) => {
    const v = o.trim();
    if (v === 'none') return null;
    if (!(KNOWN as readonly string[]).includes(v)) throw new WardError('EUSAGE', `--insecure-options: unknown option '${v}'; known: ${KNOWN.join(', ')}, none`);
    return v as InsecureOption;
  }).filter((v): v is InsecureOption => v !== null);
}

export function globals(cmd: Command): { dir: string; socket: string; insecureOptions: InsecureOption[] } {
  const o = cmd.optsWithGlobals() as { dir?: string; helperSocket?: string; insecureOptions?: string };
  return {
    dir: o.dir ?? defaultStoreDir(),
    socket: o.helperSocket ?? process.env.WARD_HELPER_SOCKET ?? DEFAULT_SOCKET,
    insecureOptions: parseInsecure(o.insecureOptions),
  };
}
