// The helper as it is deployed: socket-activated by systemd, restarted with its state kept,
// and a caller whose sealed tree vanished from the helper's store gets it sealed again.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { buildBusyboxAci } from '../lib/aci-builder';
import { account, TestEnv, USERS } from '../lib/env';

describe('ward-helper deployment', () => {
  test('socket activation: the helper serves the socket systemd passed (LISTEN_FDS)', async () => {
    const env = new TestEnv('activation');
    try {
      await env.start([], { activation: true });
      const aci = env.fixture('busybox.aci');
      await buildBusyboxAci(aci);
      const r = await env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', 'echo activated']);
      assert.equal(r.stdout, 'activated\n', r.stderr + env.helperLog);
      assert.equal(r.code, 0);
      assert.match(env.helperLog, /listening on the socket systemd passed/);
    } finally {
      await env.stop();
    }
  });

  test('a tree missing from the helper\'s store is sealed again; the host cannot be seen from the pod', async () => {
    const env = new TestEnv('reseal');
    try {
      await env.start();
      const aci = env.fixture('busybox.aci');
      await buildBusyboxAci(aci);
      const first = await env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', 'true']);
      assert.equal(first.code, 0, first.stderr);
      const trees = path.join(env.state, 'trees', String(account(USERS.a).uid));
      const sealed = fs.readdirSync(trees);
      assert.equal(sealed.length, 1);
      fs.rmSync(path.join(trees, sealed[0]!), { recursive: true });
      const canary = env.fixture('host-canary');
      fs.writeFileSync(canary, 'host', { mode: 0o644 });
      const again = await env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', `test -e ${canary} && echo visible || echo invisible; test -e ${env.state} && echo state-visible || echo state-invisible`]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, 'invisible\nstate-invisible\n');
      assert.deepEqual(fs.readdirSync(trees), sealed, 'the same digest is sealed again');
    } finally {
      await env.stop();
    }
  });

  test('the helper refuses to start on a state dir others can write to', async () => {
    const env = new TestEnv('badstate');
    try {
      fs.mkdirSync(env.state, { mode: 0o777 });
      fs.chmodSync(env.state, 0o777);
      await assert.rejects(env.start(), /not writable by others/);
    } finally {
      await env.stop();
    }
  });
});
