// The extractor's synchronous tar reader (src/image/tar-reader.ts) on archives from tar-stream
// and GNU tar, split at every byte, and on the hostile header tricks of REFERENCE §10: bad
// checksums, negative and huge sizes, malformed numbers and PAX records, oversized or repeated
// extended headers, global headers that try to rename, truncation anywhere.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { MAX_META, TarReader, type EntryBody, type TarHeader } from '../../src/image/tar-reader';
import { UnsafeEntryError } from '../../src/image/tar-paths';
import { tarOf } from '../lib/layers';

interface Seen {
  h: TarHeader;
  body: Buffer;
  whole: boolean;
  ended: boolean;
}

/** Reads tar through the reader, fed in pieces of `step` bytes; returns the entries seen. */
function read(tar: Buffer, step = tar.length, wantWhole = true): { seen: Seen[]; aborted: number } {
  const seen: Seen[] = [];
  let aborted = 0;
  const r = new TarReader((h) => {
    const s: Seen = { h, body: Buffer.alloc(0), whole: false, ended: false };
    seen.push(s);
    const sink: EntryBody = {
      data: (c) => void (s.body = Buffer.concat([s.body, c])),
      end: () => void (s.ended = true),
      abort: () => void aborted++,
    };
    if (wantWhole) {
      sink.whole = (b) => {
        s.body = Buffer.from(b);
        s.whole = true;
        s.ended = true;
      };
    }
    return sink;
  });
  try {
    for (let i = 0; i < tar.length; i += step) r.write(tar.subarray(i, Math.min(tar.length, i + step)));
    r.end();
  } catch (e) {
    r.abort();
    throw e;
  }
  return { seen, aborted };
}

function header(fields: { name?: string; size?: string | Buffer; type?: string; mode?: string; magic?: string; linkname?: string; prefix?: string }): Buffer {
  const h = Buffer.alloc(512);
  h.write(fields.name ?? 'f', 0, 100, 'utf8');
  h.write(fields.mode ?? '0000644\0', 100, 8, 'latin1');
  h.write('0000000\0', 108, 8, 'latin1');
  h.write('0000000\0', 116, 8, 'latin1');
  if (Buffer.isBuffer(fields.size)) fields.size.copy(h, 124);
  else h.write(fields.size ?? '00000000000\0', 124, 12, 'latin1');
  h.write('00000000000\0', 136, 12, 'latin1');
  h.write(fields.type ?? '0', 156, 1, 'latin1');
  if (fields.linkname) h.write(fields.linkname, 157, 100, 'utf8');
  h.write(fields.magic ?? 'ustar\u000000', 257, 8, 'latin1');
  if (fields.prefix) h.write(fields.prefix, 345, 155, 'utf8');
  return fixSum(h);
}

function fixSum(h: Buffer): Buffer {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
const END = Buffer.alloc(1024);

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

function pax(records: Record<string, string>, type = 'x'): Buffer {
  const data = Buffer.from(Object.entries(records).map(([k, v]) => paxRecord(k, v)).join(''));
  return Buffer.concat([header({ name: 'PaxHeader', type, size: data.length.toString(8).padStart(11, '0') + '\0' }), pad(data)]);
}

function refuses(tar: Buffer, pattern: RegExp): void {
  for (const step of [tar.length, 7, 512]) {
    assert.throws(() => read(tar, step), (e: Error) => e instanceof UnsafeEntryError && pattern.test(e.message) && !e.message.includes('\n'), `step ${step}`);
  }
}

describe('tar reader', () => {
  test('tar-stream archives: every entry, its fields and body, whatever the split', async () => {
    const big = Buffer.alloc(70_000, 7);
    const tar = await tarOf([
      { name: 'dir/', type: 'directory', mode: 0o755, uid: 1000, gid: 100 },
      { name: 'dir/a', body: 'hello', mode: 0o4755, mtime: new Date(1_700_000_000_000) },
      { name: 'dir/empty', body: '' },
      { name: 'dir/big', body: big },
      { name: 'dir/link', type: 'symlink', linkname: '../x' },
      { name: 'dir/hard', type: 'link', linkname: 'dir/a' },
      { name: `${'n'.repeat(120)}/${'m'.repeat(120)}`, body: 'long name' },
      { name: 'caf\u00e9', body: 'utf8', pax: { 'SCHILY.xattr.user.x': 'y' } },
    ]);
    const ref = read(tar).seen;
    assert.deepEqual(ref.map((s) => [s.h.name, s.h.type]), [
      ['dir/', 'directory'], ['dir/a', 'file'], ['dir/empty', 'file'], ['dir/big', 'file'], ['dir/link', 'symlink'],
      ['dir/hard', 'link'], [`${'n'.repeat(120)}/${'m'.repeat(120)}`, 'file'], ['caf\u00e9', 'file'],
    ]);
    assert.equal(ref[0]!.h.uid, 1000);
    assert.equal(ref[0]!.h.gid, 100);
    assert.equal(ref[1]!.h.mode, 0o4755);
    assert.equal(ref[1]!.h.mtime, 1_700_000_000);
    assert.equal(ref[1]!.body.toString(), 'hello');
    assert.ok(ref[1]!.whole, 'a body inside one chunk arrives whole');
    assert.ok(ref.every((s) => s.ended), 'every entry ended');
    assert.ok(ref[3]!.body.equals(big));
    assert.equal(ref[4]!.h.linkname, '../x');
    assert.equal(ref[5]!.h.linkname, 'dir/a');
    assert.equal(ref[7]!.h.pax?.['SCHILY.xattr.user.x'], 'y');
    for (const step of [1, 3, 511, 512, 513, 4096]) {
      for (const wantWhole of [true, false]) {
        const got = read(tar, step, wantWhole).seen;
        assert.deepEqual(got.map((s) => [s.h, s.body.toString('hex'), s.ended]), ref.map((s) => [s.h, s.body.toString('hex'), s.ended]), `step ${step}`);
      }
    }
    assert.ok(!read(tar, 1).seen[1]!.whole, 'a body split over chunks goes through data()');
  });

  test('GNU tar archives: long names and link targets (././@LongLink), old-GNU magic', (t) => {
    if (spawnSync('tar', ['--version']).status !== 0) return t.skip('no GNU tar');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-tar-reader-'));
    try {
      const long = 'd'.repeat(150);
      fs.mkdirSync(path.join(dir, 'src', long), { recursive: true });
      fs.writeFileSync(path.join(dir, 'src', long, 'f'), 'gnu');
      fs.symlinkSync('t'.repeat(140), path.join(dir, 'src', 'l'));
      const out = path.join(dir, 'x.tar');
      assert.equal(spawnSync('tar', ['--format=gnu', '-cf', out, '-C', path.join(dir, 'src'), '.']).status, 0);
      const seen = read(fs.readFileSync(out), 100).seen;
      assert.equal(seen.find((s) => s.h.name === `./${long}/f`)?.body.toString(), 'gnu');
      assert.equal(seen.find((s) => s.h.name === './l')?.h.linkname, 't'.repeat(140));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('PAX path, linkpath and size apply to the next entry only; a global header renames nothing', () => {
    const body = Buffer.from('0123456789');
    const tar = Buffer.concat([
      pax({ path: 'real/name', linkpath: 'ignored-for-files', size: '10' }),
      header({ name: 'short', size: '00000000000\0' }), pad(body),
      pax({ path: 'evil/../../x' }, 'g'),
      header({ name: 'after', size: '00000000012\0' }), pad(body),
      END,
    ]);
    const seen = read(tar, 5).seen;
    assert.deepEqual(seen.map((s) => [s.h.name, s.h.type, s.body.toString()]), [
      ['real/name', 'file', '0123456789'],
      ['', 'pax-global-header', ''],
      ['after', 'file', '0123456789'],
    ]);
    assert.equal(seen[1]!.h.pax?.path, 'evil/../../x', 'the global records are shown to the caller, which judges them');
  });

  test('links, symlinks, directories, devices and fifos carry no body whatever their size says', () => {
    const tar = Buffer.concat([
      header({ name: 'l', type: '2', linkname: 't', size: '00000001000\0' }),
      header({ name: 'd/', type: '5', size: '00000001000\0' }),
      header({ name: 'f', size: '00000000003\0' }), pad(Buffer.from('abc')),
      END,
    ]);
    const seen = read(tar).seen;
    assert.deepEqual(seen.map((s) => [s.h.name, s.h.size, s.body.toString()]), [['l', 0, ''], ['d/', 0, ''], ['f', 3, 'abc']]);
  });

  test('ustar prefixes join the name; an old-style name ending in / is a directory', () => {
    const tar = Buffer.concat([header({ name: 'file', prefix: 'some/prefix' }), header({ name: 'olddir/', type: '\0', magic: 'ustar  \0' }), END]);
    assert.deepEqual(read(tar).seen.map((s) => [s.h.name, s.h.type]), [['some/prefix/file', 'file'], ['olddir/', 'directory']]);
  });

  test('base-256 sizes are read; negative and unsafe ones refused', () => {
    const size = Buffer.alloc(12);
    size[0] = 0x80;
    size.writeUInt32BE(5, 8);
    const ok = Buffer.concat([header({ name: 'b256', size }), pad(Buffer.from('12345')), END]);
    assert.equal(read(ok).seen[0]!.body.toString(), '12345');
    const neg = Buffer.alloc(12, 0xff);
    refuses(Buffer.concat([header({ size: neg }), END]), /negative number/);
    const huge = Buffer.alloc(12, 0x7f);
    huge[0] = 0x80;
    refuses(Buffer.concat([header({ size: huge }), END]), /number too large/);
  });

  test('a bad checksum, a malformed number, an unknown format are refused', () => {
    const bad = header({ name: 'x' });
    bad[0] = 0x79; // changed after the checksum was computed
    refuses(Buffer.concat([bad, END]), /^the tar header at byte 0 has a bad checksum; the layer is corrupt or hostile$/);
    refuses(Buffer.concat([header({ size: '0000000009x\0' }), END]), /malformed number/);
    refuses(Buffer.concat([header({ mode: '-0000001' }), END]), /malformed number/);
    refuses(Buffer.concat([header({ magic: 'notustar' }), END]), /not ustar, GNU or PAX/);
  });

  test('malformed, oversized and repeated extended headers are refused', () => {
    refuses(Buffer.concat([pax({ size: '-1' }), header({}), END]), /malformed PAX size/);
    refuses(Buffer.concat([pax({ size: '99999999999999999' }), header({}), END]), /malformed PAX size/);
    const broken = Buffer.from('99 path=x\n');
    refuses(Buffer.concat([header({ type: 'x', size: broken.length.toString(8).padStart(11, '0') + '\0' }), pad(broken), header({}), END]), /malformed PAX record/);
    const nokey = Buffer.from('6 =xy\n');
    refuses(Buffer.concat([header({ type: 'x', size: nokey.length.toString(8).padStart(11, '0') + '\0' }), pad(nokey), header({}), END]), /without a key/);
    refuses(Buffer.concat([header({ type: 'L', size: (MAX_META + 1).toString(8).padStart(11, '0') + '\0' }), END]), /extended header of \d+ bytes/);
    refuses(Buffer.concat([pax({ path: 'a' }), pax({ path: 'b' }), header({}), END]), /repeats an extended header/);
  });

  test('truncation inside a header, a body or after an extended header is refused; an entry being written is aborted', async () => {
    const tar = await tarOf([{ name: 'a', body: 'x'.repeat(2000) }, { name: 'b', body: 'y' }]);
    for (const cut of [100, 700, 1500, 2560 + 100]) {
      assert.throws(() => read(tar.subarray(0, cut), 64), /the tar archive is truncated/, `cut at ${cut}`);
    }
    let aborted = 0;
    const r = new TarReader(() => ({ data: () => undefined, end: () => undefined, abort: () => void aborted++ }));
    r.write(tar.subarray(0, 700));
    assert.throws(() => r.end(), /truncated/);
    assert.equal(aborted, 1, 'the open entry was released');
    assert.throws(() => read(pax({ path: 'a' }), 64), /ends after an extended header/);
  });

  test('zero blocks are skipped; an archive without an end marker is complete at a header boundary', async () => {
    const tar = await tarOf([{ name: 'a', body: 'x' }]);
    const noEnd = tar.subarray(0, 1024);
    assert.equal(read(noEnd).seen.length, 1);
    assert.equal(read(Buffer.concat([noEnd, Buffer.alloc(512), tar.subarray(0, 1024)])).seen.length, 2);
  });
});
