// Choosing an image for this machine from an index, and checking that the image chosen really is
// for it: an index can say amd64 for a manifest whose config says arm64 (REFERENCE §10: platform
// substitution), and the config is what the image is.
import type { Descriptor, ImageConfig, Index } from '../../schema/oci';
import { clean } from './errors';
import type { Platform } from './options';

/** node's process.arch in the GOARCH spelling images use. */
const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips: 'mips', mipsel: 'mipsle', loong64: 'loong64' };

export function hostPlatform(): Platform {
  return { os: 'linux', architecture: GOARCH[process.arch] ?? process.arch };
}

export function platformText(p: { os?: string; architecture?: string; variant?: string }): string {
  return clean(`${p.os ?? '?'}/${p.architecture ?? '?'}${p.variant ? `/${p.variant}` : ''}`, 80);
}

/** arm64 images often omit their only variant, v8. */
function variantOf(p: { architecture?: string; variant?: string }): string | undefined {
  return p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
}

/**
 * The descriptor for `want`: the first with the same os and architecture (and variant, if one is
 * wanted), preferring an entry without os.features (Windows-only hints we cannot honour).
 */
export function selectPlatform(index: Index, want: Platform): Descriptor | null {
  const hits = index.manifests.filter(
    (d) => d.platform && d.platform.os === want.os && d.platform.architecture === want.architecture && (want.variant === undefined || variantOf(d.platform) === variantOf(want)),
  );
  return hits.find((d) => !d.platform?.['os.features']?.length) ?? hits[0] ?? null;
}

/** The platforms an index offers, for the error that says ours is not among them. */
export function offered(index: Index): string {
  const all = [...new Set(index.manifests.filter((d) => d.platform).map((d) => platformText(d.platform!)))];
  if (all.length === 0) return 'none (no entry names a platform)';
  return all.length > 12 ? `${all.slice(0, 12).join(', ')} and ${all.length - 12} more` : all.join(', ');
}

/** Why the config's platform is not `want`, or null when it is (or the config does not say). */
export function configMismatch(config: ImageConfig, want: Platform): string | null {
  if (config.os !== undefined && config.os !== want.os) return `the image's config says ${platformText(config)}`;
  if (config.architecture !== undefined && config.architecture !== want.architecture) return `the image's config says ${platformText(config)}`;
  return null;
}
