// `ward image list`: one row per image, with stable field names (the --format=json output).
import type { ImageRecord, Store } from './store';

export interface ImageRow {
  id: string;
  name: string;
  kind: 'aci' | 'oci';
  transport: string;
  source: string;
  importTime: string;
  lastUsed: string;
  size: number;
  signer: string;
  sealed: boolean;
}

export const IMAGE_FIELDS = ['id', 'name', 'kind', 'transport', 'source', 'importTime', 'lastUsed', 'size', 'signer', 'sealed'] as const;
export type ImageField = (typeof IMAGE_FIELDS)[number];

export function row(rec: ImageRecord): ImageRow {
  return {
    id: rec.id,
    name: rec.name,
    kind: rec.kind,
    transport: rec.transport,
    source: rec.source,
    importTime: rec.importedAt,
    lastUsed: rec.lastUsed,
    size: rec.layers.reduce((n, l) => n + l.size, 0),
    signer: rec.signer,
    sealed: Boolean(rec.sealed),
  };
}

export function listImages(store: Store): ImageRow[] {
  return store.all().map(row).sort((a, b) => a.importTime.localeCompare(b.importTime) || a.id.localeCompare(b.id));
}
