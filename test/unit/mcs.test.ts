// The MCS allocator: unique pairs under real concurrency (several processes racing on one state
// dir, as requests and a restarted helper would), persistence across restarts, release by the
// owner only, reclaim of orphans, and exhaustion as a clear error.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { McsAllocator } from '../../src/helper/mcs';
import { McsLevel } from '../../src/schema/selinux';

const MCS_JS = path.join(__dirname, '..', '..', 'src', 'helper', 'mcs.js');

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ward-mcs-'));
}

/** One process allocating `count` pairs for owners prefix-i, as fast as it can; prints the levels. */
function worker(dir: string, prefix: string, count: number, categories: number): Promise<string[]> {
  const script = `
    const { McsAllocator } = require(${JSON.stringify(MCS_JS)});
    const a = new McsAllocator(${JSON.stringify(dir)}, { categories: ${categories} });
    const out = [];
    for (let i = 0; i < ${count}; i++) out.push(a.allocate('${prefix}' + i.toString(16).padStart(4, '0')));
    process.stdout.write(out.join('\\n'));`;
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('close', (code) => (code === 0 ? resolve(out.split('\n').filter(Boolean)) : reject(new Error(`worker ${prefix}: ${err}`))));
  });
}

async function concurrently(dir: string, total: number, procs: number, categories: number, tag: string): Promise<string[]> {
  const per = total / procs;
  const results = await Promise.all(Array.from({ length: procs }, (_, p) => worker(dir, `${tag}${p.toString(16)}-`, per, categories)));
  return results.flat();
}

test('500 concurrent allocations from 10 processes are all distinct, and stay distinct across a restart', async () => {
  const dir = tmpDir();
  try {
    new McsAllocator(dir).init();
    const first = await concurrently(dir, 500, 10, 1024, 'a');
    assert.equal(first.length, 500);
    assert.equal(new Set(first).size, 500, 'no pair handed out twice');
    for (const l of first) assert.ok(McsLevel.safeParse(l).success, l);
    // A "restarted helper": new processes, new allocator objects, the same state on disk.
    const again = new McsAllocator(dir);
    again.init();
    assert.equal(again.held().length, 500, 'every claim survives the restart');
    const second = await concurrently(dir, 500, 10, 1024, 'b');
    assert.equal(new Set([...first, ...second]).size, 1000);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('in a crowded space (780 pairs) racing processes fill it exactly, then allocation fails clearly', async () => {
  const dir = tmpDir();
  try {
    new McsAllocator(dir, { categories: 40 }).init();
    const first = await concurrently(dir, 500, 10, 40, 'a');
    const second = await concurrently(dir, 280, 8, 40, 'b');
    const all = [...first, ...second];
    assert.equal(all.length, 780);
    assert.equal(new Set(all).size, 780, 'every pair exactly once');
    const a = new McsAllocator(dir, { categories: 40 });
    assert.throws(() => a.allocate('f00d'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ESELINUX');
      assert.match(e.message, /^no free SELinux MCS category pair: all 780 are held by pods; stop or remove pods to release theirs$/);
      return true;
    });
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.startsWith('.claim-')), [], 'no temp file left behind');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('c1 < c2 within c0..c1023; release frees only the owner\'s pair; reclaim frees orphans', () => {
  const dir = tmpDir();
  try {
    const a = new McsAllocator(dir, { categories: 3 });
    a.init();
    const l1 = a.allocate('aaaa');
    const l2 = a.allocate('bbbb');
    const l3 = a.allocate('cccc');
    assert.deepEqual(new Set([l1, l2, l3]), new Set(['s0:c0,c1', 's0:c0,c2', 's0:c1,c2']));
    assert.equal(a.heldBy('bbbb'), l2);
    a.release(l2, 'aaaa');
    assert.equal(a.heldBy('bbbb'), l2, 'a stale release by another pod frees nothing');
    a.release(l2, 'bbbb');
    assert.equal(a.heldBy('bbbb'), null);
    assert.equal(a.allocate('dddd'), l2, 'the freed pair is the only one left');
    assert.equal(a.reclaim((o) => o !== 'aaaa' && o !== 'cccc'), 2);
    assert.deepEqual(a.held(), [[l2, 'dddd']]);
    fs.writeFileSync(path.join(dir, '.claim-deadbeef'), 'eeee\n');
    a.init();
    assert.equal(fs.existsSync(path.join(dir, '.claim-deadbeef')), false, 'a claim cut short by a crash is cleaned at start');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the full space is 523776 pairs and every pair index maps to a valid level', () => {
  const a = new McsAllocator('/nonexistent');
  assert.equal(a.pairs, 523776);
  const at = (k: number) => (a as unknown as { pairAt(k: number): [number, number] }).pairAt(k);
  assert.deepEqual(at(0), [0, 1]);
  assert.deepEqual(at(1022), [0, 1023]);
  assert.deepEqual(at(1023), [1, 2]);
  assert.deepEqual(at(523775), [1022, 1023]);
  assert.ok(!McsLevel.safeParse('s0:c5,c5').success);
  assert.ok(!McsLevel.safeParse('s0:c7,c3').success);
  assert.ok(!McsLevel.safeParse('s0:c1,c1024').success);
});
