// Limits on what an image may make ward do; each error names the limit and how to raise it.
export interface ExtractLimits {
  maxEntries: number;
  maxBytes: number;
  maxPathLength: number;
  maxDepth: number;
  maxManifestBytes: number;
  /** Largest expansion of a compressed layer (REFERENCE §10: a ratio over 1000 is a bomb). */
  maxRatio: number;
}

export const DEFAULT_LIMITS: ExtractLimits = {
  maxEntries: 1_000_000,
  maxBytes: 16 * 1024 ** 3,
  maxPathLength: 4096,
  maxDepth: 256,
  maxManifestBytes: 4 * 1024 * 1024,
  maxRatio: 1000,
};
