// A fetch killed (kill -9) at several points leaves a store the next fetch completes and that
// verifies; gc then leaves nothing unreferenced, not even the extractor's half-made trees.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci } from '../lib/aci-builder';
import { account, TestEnv, USERS } from '../lib/env';
import { spawnSync } from 'node:child_process';

describe('interrupted fetches', () => {
  const env = new TestEnv('interrupt');
  let aci = '';
  before(async () => {
    await env.start();
    // Enough content that a fetch takes a while: 48 files of 1 MiB of random bytes.
    const extra = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-big-'));
    const files: Record<string, string> = {};
    for (let i = 0; i < 48; i++) {
      const f = path.join(extra, `f${i}`);
      fs.writeFileSync(f, crypto.randomBytes(1 << 20));
      files[`/data/f${i}`] = f;
    }
    aci = env.fixture('big.aci');
    await buildBusyboxAci(aci, { name: 'example.com/big', files });
    fs.rmSync(extra, { recursive: true });
  });
  after(() => env.stop());

  for (const delayMs of [30, 150, 400, 800]) {
    test(`kill -9 after ${delayMs} ms, then fetch again`, async () => {
      const killed = await env.ward('a', ['fetch', '--insecure-options=image', aci], {
        onSpawn: (c) => setTimeout(() => c.kill('SIGKILL'), delayMs),
      });
      assert.ok(killed.signal === 'SIGKILL' || killed.code === 0, `ended with ${killed.code}/${killed.signal}: ${killed.stderr}`);
      // Give an orphaned extractor the moment it needs to see its parent gone and clean up.
      await new Promise((r) => setTimeout(r, 300));
      const again = await env.ward('a', ['fetch', '--insecure-options=image', aci]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^sha512-[0-9a-f]{128}\n$/);
      const verify = await env.ward('a', ['image', 'verify']);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      const run = await env.ward('a', ['run', '--insecure-options=image', 'example.com/big', '--', '-c', 'ls /data | wc -l']);
      assert.equal(run.stdout.trim(), '48', run.stderr);
      // Remove it so the next round starts from nothing.
      assert.equal((await env.ward('a', ['image', 'rm', 'example.com/big'])).code, 0);
    });
  }

  test('gc removes what the killed fetches left, including half-made trees', async () => {
    const gc = await env.ward('a', ['image', 'gc', '--grace-period=0s']);
    assert.equal(gc.code, 0, gc.stderr);
    const store = env.storeDir('a');
    for (const d of ['tmp', 'images', 'trees']) assert.deepEqual(fs.readdirSync(path.join(store, d)), [], d);
    const owned = spawnSync('find', [store, '-uid', String(account(USERS.a).subuid)], { encoding: 'utf8' }).stdout.trim();
    assert.equal(owned, '');
  });
});
