// What every image source (registry, OCI layout, archives) yields: the manifest bytes as
// fetched, the parsed config, the layers to apply in order, and a way to read each layer.
// The store verifies every byte against its digest; a source only finds and streams them.
import type { Readable } from 'node:stream';
import type { ImageConfig } from '../schema/oci';
import { WardError } from '../schema/errors';

export interface LayerRef {
  digest: string;
  size: number;
  mediaType: string;
}

export interface ResolvedImage {
  transport: 'docker' | 'oci' | 'oci-archive' | 'docker-archive';
  /** Canonical reference, e.g. 127.0.0.1:5000/library/busybox:latest or oci:/path:tag. */
  name: string;
  /** Digest of the manifest bytes below (sha256:…), checked by the source. */
  manifestDigest: string;
  manifest: Buffer;
  configDigest: string;
  config: ImageConfig;
  /** Raw config bytes (checked against configDigest). */
  configBytes: Buffer;
  layers: LayerRef[];
  /** Compressed bytes of one layer from offset (for resuming); the caller checks digest and size. */
  openLayer(layer: LayerRef, offset?: number): Promise<Readable>;
  /** Releases whatever the source holds open (archive fds, HTTP agents). */
  close(): Promise<void>;
}

/** A source's refusal or failure; a WardError, so the CLI prints it as one line with its status. */
export class ImageSourceError extends WardError {
  constructor(
    override readonly code: 'EIMAGE' | 'ENOTFOUND' | 'EAUTH' | 'ENETWORK' | 'ELIMIT' | 'EPLATFORM',
    message: string,
  ) {
    super(code, message);
  }
}
