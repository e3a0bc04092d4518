// Global flags shared by every command (as rkt's): --dir, --helper-socket, --insecure-options.
import type { Command } from 'commander';
import { WardError } from '../schema/errors';
import { defaultStoreDir } from '../image/store';
import { DEFAULT_SOCKET } from '../pod/client';
import { DEFAULT_LOCAL_CONFIG, DEFAULT_SYSTEM_CONFIG, defaultUserConfig, type ConfigDirs } from '../trust/dirs';
/** image: run unverified (the helper checks this one too); tls, http: fetching only. */
export const INSECURE_OPTIONS = ['image', 'tls', 'http'] as const;
export type InsecureFlag = (typeof INSECURE_OPTIONS)[number];

export function parseInsecure(list: string | undefined): InsecureFlag[] {
  if (!list) return [];
  const out: InsecureFlag[] = [];
  for (const o of list.split(',')) {
    const v = o.trim();
    if (v === 'none') continue;
    if (v === 'all' || v === 'all-fetch') {
      out.push(...(v === 'all' ? INSECURE_OPTIONS : (['image', 'tls', 'http'] as const)));
      continue;
    }
    if (!(INSECURE_OPTIONS as readonly string[]).includes(v)) throw new WardError('EUSAGE', `--insecure-options: unknown option '${v}'; known: ${INSECURE_OPTIONS.join(', ')}, all, all-fetch, none`);
    out.push(v as InsecureFlag);
  }
  return [...new Set(out)];
}

export function globals(cmd: Command): { dir: string; socket: string; insecureOptions: InsecureFlag[]; config: ConfigDirs } {
  const o = cmd.optsWithGlobals() as { dir?: string; helperSocket?: string; insecureOptions?: string; systemConfig?: string; localConfig?: string; userConfig?: string };
  return {
    config: { system: o.systemConfig ?? DEFAULT_SYSTEM_CONFIG, local: o.localConfig ?? DEFAULT_LOCAL_CONFIG, user: o.userConfig ?? defaultUserConfig() },
    dir: o.dir ?? defaultStoreDir(),
    socket: o.helperSocket ?? process.env.WARD_HELPER_SOCKET ?? DEFAULT_SOCKET,
    insecureOptions: parseInsecure(o.insecureOptions),
  };
}
