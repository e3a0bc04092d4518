// What a caller may choose about a registry fetch, and the defaults. Every limit here bounds
// something a hostile registry controls: document sizes, how deep indexes nest, how many
// redirects, how large the response headers, how long an answer may take.
import { MAX_MANIFEST_BYTES } from '../../schema/oci';
import type { Credentials } from './credentials';
import type { TokenCache } from './token-cache';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface RegistryLimits {
  /** Largest manifest or index (REFERENCE §10: over 4 MiB is hostile). */
  maxManifestBytes: number;
  /** Largest image config. */
  maxConfigBytes: number;
  /** How many indexes may lead to the manifest: an index of indexes is 2. */
  maxIndexDepth: number;
  maxLayers: number;
  maxRedirects: number;
  /** Largest response header block (node's HTTP parser enforces it). */
  maxHeaderBytes: number;
  /** Largest token endpoint answer and largest error body read. */
  maxSmallBodyBytes: number;
}

export interface RegistryTimeouts {
  /** From sending a request to its response headers. */
  answerMs: number;
  /** Longest silence on a connection while reading a body. */
  idleMs: number;
}

export interface RegistryOptions {
  /** The credentials file (docker config.json "auths" shape); default ~/.config/ward/auth.json. */
  authFile?: string;
  /** Credentials to use instead of the file's (null: anonymous even if the file has some). */
  credentials?: Credentials | null;
  /** --insecure-options=tls: do not verify the registry's certificate. */
  insecureTls?: boolean;
  /** --insecure-options=http: fall back to plain http when the registry does not speak TLS. */
  allowHttp?: boolean;
  /** The platform to pick from an index; default linux and this machine's architecture. */
  platform?: Platform;
  limits?: Partial<RegistryLimits>;
  timeouts?: Partial<RegistryTimeouts>;
  /** Bearer tokens, reused across fetches for their lifetime; default one shared per process. */
  tokenCache?: TokenCache;
  userAgent?: string;
  /**
   * Called once the reference's top-level document (the index, or the manifest when there is no
   * index) is fetched and its digest known, before the config or any layer is: image signature
   * verification. A throw stops the pull there.
   */
  verify?: (top: TopLevel) => Promise<void>;
}

/** What signature verification gets to see of an image before anything else of it is read. */
export interface TopLevel {
  /** The digest of the document the reference names (an index's, for a multi-platform image). */
  digest: string;
  /** The cosign signatures stored at tag sha256-<hex>.sig beside it ([] when there are none). */
  cosignSignatures(): Promise<{ payload: Buffer; signature: string }[]>;
}

export const DEFAULT_REGISTRY_LIMITS: RegistryLimits = {
  maxManifestBytes: MAX_MANIFEST_BYTES,
  maxConfigBytes: MAX_MANIFEST_BYTES,
  maxIndexDepth: 2,
  maxLayers: 1024,
  maxRedirects: 5,
  maxHeaderBytes: 32 * 1024,
  maxSmallBodyBytes: 64 * 1024,
};

export const DEFAULT_REGISTRY_TIMEOUTS: RegistryTimeouts = { answerMs: 30_000, idleMs: 60_000 };
