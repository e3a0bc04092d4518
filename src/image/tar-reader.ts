// A synchronous tar reader over decompressed chunks: headers are parsed in place and each entry's
// body is handed to its sink as slices of the chunk it arrived in, with no stream, promise or
// copy per entry. The archive is hostile: checksums are checked (unsigned or signed sums, as
// GNU tar), only ustar, GNU and PAX headers are read, numbers must be well-formed octal or
// positive base-256, sizes must be safe integers, extended headers (PAX, GNU long names) are
// bounded, and an archive that ends inside a header or a body is truncated. As in Go's
// archive/tar (which writes most layers), hard links, symlinks, devices, directories and fifos
// carry no body whatever their size field says. PAX global headers are passed on as entries of
// their own and never change later entries: each entry is judged by its own header.
import { headerSums } from './tar-checksum';
import { UnsafeEntryError } from './tar-paths';

export interface TarHeader {
  name: string;
  type: string;
  linkname: string | null;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** The entry's own PAX records, if it had any. */
  pax: Record<string, string> | null;
}

/**
 * Where an entry's body goes: `data` gets exactly `size` bytes in order, then `end` once; or, if
 * the sink has `whole` and the body arrives in one piece, `whole` gets all of it instead of both.
 */
export interface EntryBody {
  data(chunk: Buffer): void;
  end(): void;
  whole?(body: Buffer): void;
  /** The archive failed before the body was complete: release what was opened. */
  abort(): void;
}

const BLOCK = 512;
/** PAX records and GNU long names larger than this are hostile. */
export const MAX_META = 1 << 20;

const TYPES: Record<number, string> = {
  0x30: 'file', 0x00: 'file', 0x31: 'link', 0x32: 'symlink', 0x33: 'character-device', 0x34: 'block-device',
  0x35: 'directory', 0x36: 'fifo', 0x37: 'contiguous-file', 0x67: 'pax-global-header', 0x53: 'gnu-sparse',
};
const NO_BODY = new Set(['link', 'symlink', 'character-device', 'block-device', 'directory', 'fifo']);

const enum State { Header, Body, Meta, Skip }

export class TarReader {
  private state = State.Header;
  /** Bytes of the stream consumed so far (for messages). */
  private pos = 0;
  /** A header split across chunks. */
  private partial = Buffer.alloc(BLOCK);
  private partialLen = 0;
  private remaining = 0;
  /** No byte of the current body has been handed over yet. */
  private fresh = false;
  private padding = 0;
  private sink: EntryBody | null = null;
  private meta: Buffer | null = null;
  private metaLen = 0;
  private metaType = 0;
  private pax: Record<string, string> | null = null;
  private longName: string | null = null;
  private longLink: string | null = null;

  constructor(private readonly onEntry: (h: TarHeader) => EntryBody | null) {}

  write(chunk: Buffer): void {
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      switch (this.state) {
        case State.Header: {
          if (this.partialLen === 0 && len - off >= BLOCK) {
            this.pos += BLOCK;
            this.header(chunk.subarray(off, off + BLOCK));
            off += BLOCK;
          } else {
            const n = Math.min(BLOCK - this.partialLen, len - off);
            chunk.copy(this.partial, this.partialLen, off, off + n);
            this.partialLen += n;
            off += n;
            this.pos += n;
            if (this.partialLen === BLOCK) {
              this.partialLen = 0;
              this.header(this.partial);
            }
          }
          break;
        }
        case State.Body: {
          const n = Math.min(this.remaining, len - off);
          if (this.fresh && n === this.remaining && this.sink?.whole) {
            // The whole body is in this chunk: handed over in one piece, for one call per file.
            const s = this.sink;
            this.sink = null;
            s.whole!(chunk.subarray(off, off + n));
            off += n;
            this.pos += n;
            this.remaining = 0;
            this.endBody();
            break;
          }
          this.fresh = false;
          this.sink?.data(chunk.subarray(off, off + n));
          off += n;
          this.pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endBody();
          break;
        }
        case State.Meta: {
          const n = Math.min(this.remaining, len - off);
          chunk.copy(this.meta!, this.metaLen, off, off + n);
          this.metaLen += n;
          off += n;
          this.pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endMeta();
          break;
        }
        case State.Skip: {
          const n = Math.min(this.padding, len - off);
          off += n;
          this.pos += n;
          this.padding -= n;
          if (this.padding === 0) this.state = State.Header;
          break;
        }
      }
    }
  }

  /** The input has ended: anything but a header boundary is a truncated archive. */
  end(): void {
    if (this.state !== State.Header || this.partialLen !== 0) {
      this.abort();
      throw new UnsafeEntryError(`the tar archive is truncated (it ends inside an entry at byte ${this.pos})`);
    }
    if (this.pax !== null || this.longName !== null || this.longLink !== null) throw new UnsafeEntryError('the tar archive is truncated (it ends after an extended header)');
  }

  /** Releases the entry being written, if any (after a failure). */
  abort(): void {
    const s = this.sink;
    this.sink = null;
    s?.abort();
  }

  private bad(msg: string): UnsafeEntryError {
    return new UnsafeEntryError(`the tar header at byte ${this.pos - BLOCK} ${msg}; the layer is corrupt or hostile`);
  }

  private header(h: Buffer): void {
    const { unsigned, signed } = headerSums(h);
    if (unsigned === 8 * 0x20) return; // a zero block (the end-of-archive marker)
    const stored = this.number(h, 148, 8);
    if (stored !== unsigned && stored !== signed) throw this.bad('has a bad checksum');
    const posix = h[257] === 0x75 && h.toString('latin1', 257, 263) === 'ustar\0';
    const gnu = !posix && h.toString('latin1', 257, 265) === 'ustar  \0';
    if (!posix && !gnu) throw this.bad('is not ustar, GNU or PAX');
    const flag = h[156]!;
    let size = this.number(h, 124, 12);
    if (flag === 0x78 /* x */ || flag === 0x67 /* g */ || flag === 0x4c /* L */ || flag === 0x4b /* K */) {
      if (size > MAX_META) throw this.bad(`has an extended header of ${size} bytes (more than ${MAX_META})`);
      if (flag !== 0x67 && (flag === 0x78 ? this.pax !== null : flag === 0x4c ? this.longName !== null : this.longLink !== null)) {
        throw this.bad('repeats an extended header for one entry');
      }
      this.metaType = flag;
      this.meta = Buffer.allocUnsafe(size);
      this.metaLen = 0;
      this.remaining = size;
      this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
      if (size === 0) this.endMeta();
      else this.state = State.Meta;
      return;
    }
    let name = cstr(h, 0, 100);
    if (posix && h[345] !== 0) name = `${cstr(h, 345, 155)}/${name}`;
    let linkname = h[157] === 0 ? null : cstr(h, 157, 100);
    let type = TYPES[flag] ?? `typeflag '${String.fromCharCode(flag)}'`;
    if (type === 'file' && name.endsWith('/')) type = 'directory'; // old tars mark directories so
    const pax = this.pax;
    if (this.longName !== null) name = this.longName;
    if (this.longLink !== null) linkname = this.longLink;
    if (pax !== null) {
      if (pax.path !== undefined) name = pax.path;
      if (pax.linkpath !== undefined) linkname = pax.linkpath;
      if (pax.size !== undefined) {
        if (!/^[0-9]{1,16}$/.test(pax.size) || Number(pax.size) > Number.MAX_SAFE_INTEGER) throw this.bad(`has a malformed PAX size '${pax.size.slice(0, 20)}'`);
        size = Number(pax.size);
      }
    }
    this.pax = this.longName = this.longLink = null;
    if (NO_BODY.has(type)) size = 0;
    const hdr: TarHeader = {
      name,
      type,
      linkname,
      mode: this.number(h, 100, 8),
      uid: this.number(h, 108, 8),
      gid: this.number(h, 116, 8),
      size,
      mtime: this.number(h, 136, 12),
      pax,
    };
    this.sink = this.onEntry(hdr);
    this.remaining = size;
    this.fresh = true;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0) this.endBody();
    else this.state = State.Body;
  }

  private endBody(): void {
    const s = this.sink;
    this.sink = null;
    s?.end();
    this.state = this.padding > 0 ? State.Skip : State.Header;
  }

  private endMeta(): void {
    const data = this.meta!.subarray(0, this.metaLen);
    this.meta = null;
    if (this.metaType === 0x78) this.pax = this.parsePax(data);
    else if (this.metaType === 0x67) {
      // Global records are judged like any entry (the caller decides) but never inherited.
      this.sink = this.onEntry({ name: '', type: 'pax-global-header', linkname: null, mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, pax: this.parsePax(data) });
      this.sink = null;
    } else {
      const nul = data.indexOf(0);
      const s = data.toString('utf8', 0, nul < 0 ? data.length : nul);
      if (this.metaType === 0x4c) this.longName = s;
      else this.longLink = s;
    }
    this.state = this.padding > 0 ? State.Skip : State.Header;
  }

  /** PAX records: "LEN key=value\n", LEN counting the whole record. */
  private parsePax(data: Buffer): Record<string, string> {
    const out: Record<string, string> = Object.create(null) as Record<string, string>;
    let i = 0;
    while (i < data.length) {
      if (data[i] === 0) break;
      const sp = data.indexOf(0x20, i);
      const lenStr = sp < 0 ? '' : data.toString('latin1', i, sp);
      const len = /^[1-9][0-9]{0,7}$/.test(lenStr) ? Number(lenStr) : NaN;
      if (!(len > 0) || i + len > data.length || data[i + len - 1] !== 0x0a || sp >= i + len) throw this.bad('has a malformed PAX record');
      const rec = data.toString('utf8', sp + 1, i + len - 1);
      const eq = rec.indexOf('=');
      if (eq <= 0) throw this.bad('has a PAX record without a key');
      out[rec.slice(0, eq)] = rec.slice(eq + 1);
      i += len;
    }
    return out;
  }

  /** A numeric field: octal (NUL- or space-terminated) or positive base-256; a safe integer. */
  private number(h: Buffer, off: number, len: number): number {
    const first = h[off]!;
    if (first & 0x80) {
      if (first === 0xff) throw this.bad('has a negative number');
      let v = first & 0x7f;
      for (let i = 1; i < len; i++) {
        v = v * 256 + h[off + i]!;
        if (v > Number.MAX_SAFE_INTEGER) throw this.bad('has a number too large');
      }
      return v;
    }
    let i = off;
    const endOff = off + len;
    while (i < endOff && h[i] === 0x20) i++;
    let v = 0;
    let digits = 0;
    for (; i < endOff; i++) {
      const c = h[i]!;
      if (c < 0x30 || c > 0x37) break;
      v = v * 8 + (c - 0x30);
      digits++;
    }
    // Spaces may follow the digits; whatever follows a NUL is not part of the field (as Go reads it).
    for (; i < endOff && h[i] !== 0; i++) {
      if (h[i] !== 0x20) throw this.bad(`has a malformed number '${h.toString('latin1', off, endOff).replace(/[^\x20-\x7e]/g, '?')}'`);
    }
    if (digits > 17 && v > Number.MAX_SAFE_INTEGER) throw this.bad('has a number too large');
    return v;
  }
}

function cstr(h: Buffer, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && h[end] !== 0) end++;
  return h.toString('utf8', off, end);
}
