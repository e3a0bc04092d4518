// Where trust configuration lives, as rkt: the system dir (shipped defaults), the local dir (the
// host's administrator) and the user's dir, each overlaying the one before. Trusted keys live in
// <dir>/trustedkeys/{root.d,prefix.d}, the image signature policy in <dir>/policy.json and the
// signature lookaside configuration in <dir>/registries.d/*.yaml.
import os from 'node:os';
import path from 'node:path';

export interface ConfigDirs {
  /** Shipped defaults (--system-config, default /usr/lib/ward). */
  system: string;
  /** The host's configuration (--local-config, default /etc/ward). */
  local: string;
  /** The caller's own (--user-config, default $XDG_CONFIG_HOME/ward or ~/.config/ward). */
  user: string;
}

export const DEFAULT_SYSTEM_CONFIG = '/usr/lib/ward';
export const DEFAULT_LOCAL_CONFIG = '/etc/ward';

export function defaultUserConfig(): string {
  return path.join(process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'ward');
}

/** Lowest precedence first: system, local, user. */
export function overlayOrder(dirs: ConfigDirs): string[] {
  return [dirs.system, dirs.local, dirs.user];
}
