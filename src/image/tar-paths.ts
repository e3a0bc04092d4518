// Normalising tar entry names. Pure functions: the hostile cases of REFERENCE §10 are tested here.

export class UnsafeEntryError extends Error {}

/** Splits an ACI entry name into path components, refusing anything that could leave the tree. */
export function entryComponents(name: string): string[] {
  if (name.includes('\u0000')) throw new UnsafeEntryError(`entry name contains NUL`);
  if (name.startsWith('/')) throw new UnsafeEntryError(`entry '${name}' is an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new UnsafeEntryError(`entry '${name}' contains '..'`);
  return parts;
}

/** The rootfs-relative components of an ACI entry, or null for entries outside rootfs/. */
export function rootfsComponents(name: string): string[] | null {
  const parts = entryComponents(name);
  if (parts[0] !== 'rootfs') return null;
  return parts.slice(1);
}
