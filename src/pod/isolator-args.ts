// --memory and --cpu (rkt's per-app isolator flags), and the image's own resource/memory and
// resource/cpu isolators when no flag overrides them, into AppSpec.isolators. Quantities are
// rkt's (Kubernetes resource quantities): memory in bytes with k, M, G, T (powers of 1000) or
// Ki, Mi, Gi, Ti (powers of 1024); cpu in cores (1, 0.5) or thousandths of a core (500m).
import { WardError } from '../schema/errors';
import type { ImageManifest } from '../schema/aci';
import type { AppSpec } from '../schema/protocol';

const MEMORY_UNITS: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
const MIN_MEMORY = 4 * 1024 * 1024;

export function parseMemory(v: string, what = '--memory'): number {
  const m = /^(\d+(?:\.\d+)?)([kKMGT]i?|)$/.exec(v.trim());
  const unit = m ? MEMORY_UNITS[m[2]!] : undefined;
  if (!m || unit === undefined) throw new WardError('EUSAGE', `${what} ${v}: expected bytes with an optional unit (e.g. 512M, 1G, 256Mi)`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < MIN_MEMORY) throw new WardError('EUSAGE', `${what} ${v}: at least 4Mi is needed for an app to start`);
  if (bytes > 2 ** 50) throw new WardError('EUSAGE', `${what} ${v} is too large`);
  return bytes;
}

export function parseCpu(v: string, what = '--cpu'): number {
  const s = v.trim();
  const milli = /^(\d+)m$/.exec(s);
  const cores = /^(\d+(?:\.\d{1,3})?)$/.exec(s);
  const millis = milli ? Number(milli[1]) : cores ? Math.round(Number(cores[1]) * 1000) : NaN;
  if (Number.isNaN(millis)) throw new WardError('EUSAGE', `${what} ${v}: expected cores (1, 0.5) or thousandths of a core (500m)`);
  if (millis < 10) throw new WardError('EUSAGE', `${what} ${v}: at least 10m (a hundredth of a core)`);
  if (millis > 1024 * 1000) throw new WardError('EUSAGE', `${what} ${v} is more than 1024 cores`);
  return millis;
}

/** The image's resource isolators ({name, value: {limit}}), as appc/spec's types/isolator_resources.go. */
function fromManifest(manifest: ImageManifest): { memory?: number; cpu?: number } {
  const out: { memory?: number; cpu?: number } = {};
  for (const iso of manifest.app?.isolators ?? []) {
    if (typeof iso !== 'object' || iso === null) continue;
    const { name, value } = iso as { name?: unknown; value?: unknown };
    if (name !== 'resource/memory' && name !== 'resource/cpu') continue;
    const limit = typeof value === 'object' && value !== null ? (value as { limit?: unknown }).limit : undefined;
    if (limit === undefined) continue;
    if (typeof limit !== 'string' && typeof limit !== 'number') throw new WardError('EIMAGE', `image ${manifest.name}: isolator ${name} has a malformed limit`);
    const what = `image ${manifest.name}'s ${name} limit`;
    try {
      if (name === 'resource/memory') out.memory = parseMemory(String(limit), what);
      else out.cpu = parseCpu(String(limit), what);
    } catch (e) {
      throw new WardError('EIMAGE', (e as Error).message);
    }
  }
  return out;
}

/** The app's isolators: flags over the image's; undefined when there are none. */
export function isolatorsFor(manifest: ImageManifest, flags: { memory?: string; cpu?: string }): AppSpec['isolators'] {
  const iso = fromManifest(manifest);
  if (flags.memory !== undefined) iso.memory = parseMemory(flags.memory);
  if (flags.cpu !== undefined) iso.cpu = parseCpu(flags.cpu);
  return iso.memory === undefined && iso.cpu === undefined ? undefined : iso;
}
