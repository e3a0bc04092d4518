// oci-archive:FILE[:REF], a tar of an OCI image layout. The tar's headers are indexed in place
// and blobs are streamed from their offsets, so the archive is never unpacked; everything the
// layout rules say about a directory holds here by construction (no file system is involved),
// and member names are checked by the tar index.
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Digest } from '../../schema/oci';
import { ImageSourceError, type ResolvedImage } from '../source';
import { openArchive, type ArchiveFile, type ArchiveOptions } from './archive-file';
import { resolveLayout, type LayoutReader } from './resolve-layout';
import type { WantedPlatform } from './select';
import { indexTar, lookupMember, type TarIndex, type TarMember } from './tar-index';

export class ArchiveLayout implements LayoutReader {
  constructor(private readonly archive: ArchiveFile, private readonly index: TarIndex, readonly what: string) {}

  private member(name: string, max?: number): TarMember {
    const m = lookupMember(this.index, name, this.what);
    if (max !== undefined && m.size > max) throw new ImageSourceError('ELIMIT', `${this.what}: ${name} is ${m.size} bytes, more than the ${max} ward reads; the archive is hostile`);
    return m;
  }

  private blobName(digest: string): string {
    if (!Digest.safeParse(digest).success) throw new ImageSourceError('EIMAGE', `${this.what}: '${digest.slice(0, 80)}' is not a valid digest`);
    return `blobs/${digest.replace(':', '/')}`;
  }

  private read(m: TarMember): Buffer {
    const buf = Buffer.alloc(m.size);
    let got = 0;
    while (got < m.size) {
      const n = fs.readSync(this.archive.fd, buf, got, m.size - got, m.offset + got);
      if (n === 0) throw new ImageSourceError('EIMAGE', `${this.what}: ${m.name} is truncated`);
      got += n;
    }
    return buf;
  }

  readFile(name: 'oci-layout' | 'index.json', max: number): Buffer {
    return this.read(this.member(name, max));
  }

  blobSize(digest: string): number {
    return this.member(this.blobName(digest)).size;
  }

  readBlob(digest: string, max: number): Buffer {
    return this.read(this.member(this.blobName(digest), max));
  }

  openBlob(digest: string, start: number, end: number): Readable {
    const m = this.member(this.blobName(digest));
    return this.archive.stream(m.offset + start, m.offset + end, `${this.what}: blob ${digest}`);
  }

  async close(): Promise<void> {
    this.archive.close();
  }
}

export async function openOciArchive(file: string, ref: string | undefined, o: ArchiveOptions & { platform?: WantedPlatform } = {}): Promise<ResolvedImage> {
  const location = path.resolve(file);
  const what = `oci-archive:${location}`;
  const archive = openArchive(file, what, o);
  try {
    const reader = new ArchiveLayout(archive, indexTar(archive.fd, archive.size, what), what);
    return await resolveLayout(reader, ref, { transport: 'oci-archive', location, ...(o.platform ? { platform: o.platform } : {}) });
  } catch (e) {
    archive.close();
    throw e;
  }
}
