// The in-place tar index that oci-archive and docker-archive read through: real writers'
// formats (tar-stream, GNU tar, PAX long names) and the hostile header tricks of REFERENCE §10.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ImageSourceError } from '../../src/image/source';
import { indexTar, lookupMember, type TarIndex } from '../../src/image/oci/tar-index';
import { tarOf, type TarEntry } from '../lib/oci-fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-tarindex-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

function index(bytes: Buffer): TarIndex {
  const f = path.join(tmp, `t${n++}.tar`);
  fs.writeFileSync(f, bytes);
  const fd = fs.openSync(f, 'r');
  try {
    return indexTar(fd, bytes.length, 'test.tar');
  } finally {
    fs.closeSync(fd);
  }
}
const body = (bytes: Buffer, idx: TarIndex, name: string) => {
  const m = lookupMember(idx, name, 'test.tar');
  return bytes.subarray(m.offset, m.offset + m.size).toString();
};
const refused = (re: RegExp, code = 'EIMAGE') => (e: unknown) => e instanceof ImageSourceError && e.code === code && re.test(e.message);

/** Rewrites a header field in place and fixes the checksum, to forge what no writer would. */
function forge(bytes: Buffer, headerAt: number, off: number, value: Buffer): Buffer {
  const b = Buffer.from(bytes);
  value.copy(b, headerAt + off);
  b.fill(0x20, headerAt + 148, headerAt + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[headerAt + i]!;
  Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `).copy(b, headerAt + 148);
  return b;
}

describe('reading real archives', () => {
  test('tar-stream output: offsets and sizes lead to the bodies; ./ prefixes normalised', async () => {
    const bytes = await tarOf([{ name: './dir/', type: 'directory' }, { name: './dir/a', body: 'hello' }, { name: 'b', body: 'x'.repeat(1000) }]);
    const idx = index(bytes);
    assert.equal(body(bytes, idx, 'dir/a'), 'hello');
    assert.equal(body(bytes, idx, './b'), 'x'.repeat(1000));
    assert.equal(idx.get('dir')?.type, 'directory');
  });
  test('GNU tar and PAX long names (> 100 characters)', () => {
    const src = path.join(tmp, 'src');
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    fs.mkdirSync(path.join(src, 'd'.repeat(120)), { recursive: true });
    fs.writeFileSync(path.join(src, long), 'long');
    for (const format of ['gnu', 'posix']) {
      const out = path.join(tmp, `${format}.tar`);
      const r = spawnSync('tar', ['-C', src, `--format=${format}`, '-cf', out, '.']);
      assert.equal(r.status, 0);
      const bytes = fs.readFileSync(out);
      assert.equal(body(bytes, index(bytes), long), 'long', format);
    }
  });
  test('symlinks and hard links are followed inside the archive only', async () => {
    const bytes = await tarOf([
      { name: 'a/layer.tar', body: 'data' },
      { name: 'b/layer.tar', type: 'symlink', linkname: '../a/layer.tar' },
      { name: 'c', type: 'link', linkname: 'a/layer.tar' },
      { name: 'up', type: 'symlink', linkname: '../../etc/passwd' },
      { name: 'abs', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'loop', type: 'symlink', linkname: 'loop' },
      { name: 'dir/', type: 'directory' },
    ]);
    const idx = index(bytes);
    assert.equal(body(bytes, idx, 'b/layer.tar'), 'data');
    assert.equal(body(bytes, idx, 'c'), 'data');
    assert.throws(() => lookupMember(idx, 'up', 't'), refused(/links outside the archive/));
    assert.throws(() => lookupMember(idx, 'abs', 't'), refused(/absolute path/));
    assert.throws(() => lookupMember(idx, 'loop', 't'), refused(/chain of more than 8 links/));
    assert.throws(() => lookupMember(idx, 'dir', 't'), refused(/not a regular file/));
    assert.throws(() => lookupMember(idx, 'missing', 't'), refused(/has no member 'missing'/, 'ENOTFOUND'));
  });
});

describe('hostile archives', () => {
  const one = async (e: TarEntry) => tarOf([e]);
  test("'..' and absolute member names refuse the whole archive", async () => {
    const plain = await one({ name: 'xx/blob', body: 'x' });
    const pax = await one({ name: 'ok', body: 'x', pax: { path: 'a/../../b' } });
    assert.throws(() => index(forge(plain, 0, 0, Buffer.from('../blob\0'))), refused(/contains '\.\.'/));
    assert.throws(() => index(forge(plain, 0, 0, Buffer.from('/etc/blob\0'))), refused(/absolute path/));
    assert.throws(() => index(pax), refused(/contains '\.\.'/));
  });
  test('a name given twice is refused', async () => {
    const twice = await tarOf([{ name: 'index.json', body: '{}' }, { name: './index.json', body: '{"x":1}' }]);
    assert.throws(() => index(twice), refused(/appears twice/));
  });
  test('a bad checksum, an unknown format, a size past the end, a negative size', async () => {
    const good = await one({ name: 'f', body: 'x' });
    const bad = Buffer.from(good);
    bad[0] = 0x67;
    assert.throws(() => index(bad), refused(/bad checksum/));
    assert.throws(() => index(forge(good, 0, 257, Buffer.from('notus\0'))), refused(/not ustar, GNU or PAX/));
    assert.throws(() => index(forge(good, 0, 124, Buffer.from('77777777777\0'))), refused(/past the end of the archive/));
    const neg = Buffer.alloc(12, 0xff);
    assert.throws(() => index(forge(good, 0, 124, neg)), refused(/negative/));
  });
  test('a PAX size larger than the archive, and a global header that renames, are refused', async () => {
    const big = await one({ name: 'f', body: 'x', pax: { size: '99999999' } });
    assert.throws(() => index(big), refused(/past the end|malformed|truncated/));
    const g = await one({ name: 'f', body: 'x' });
    // Turn the file into a PAX global header carrying a path record.
    const rec = '15 path=evil/x\n';
    const forged = forge(forge(g, 0, 156, Buffer.from('g')), 0, 124, Buffer.from(`${rec.length.toString(8).padStart(11, '0')}\0`));
    Buffer.from(rec).copy(forged, 512);
    assert.throws(() => index(forged), refused(/global header sets 'path'/));
  });
  test('a link whose header claims a body has none (as Go reads it): the next member is not hidden', async () => {
    const bytes = await tarOf([{ name: 'l', type: 'symlink', linkname: 'f' }, { name: 'f', body: 'real' }]);
    const forged = forge(bytes, 0, 124, Buffer.from('00000001000\0'));
    const idx = index(forged);
    assert.equal(body(forged, idx, 'l'), 'real');
  });
  test('a truncated archive is refused', async () => {
    const good = await one({ name: 'f', body: 'x'.repeat(2000) });
    assert.throws(() => index(good.subarray(0, 1024)), refused(/past the end|truncated/));
    assert.throws(() => index(good.subarray(0, 300)), refused(/ends inside a header/));
  });
  test('more members than the limit is refused', async () => {
    const entries = Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, body: '' }));
    const bytes = await tarOf(entries);
    const f = path.join(tmp, 'many.tar');
    fs.writeFileSync(f, bytes);
    const fd = fs.openSync(f, 'r');
    try {
      assert.throws(() => indexTar(fd, bytes.length, 't', 10), refused(/more than 10 tar members/, 'ELIMIT'));
    } finally {
      fs.closeSync(fd);
    }
  });
});
