// Tenancy (Pods issue §2): each pod belongs to the uid that made it, and the helper enforces it.
// User B cannot see or act on user A's pods, whatever B's frontend asks; B's gc leaves them
// alone; a member of ward-admin sees and acts on all. Refusals are one line and exit 252.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci } from '../lib/aci-builder';
import { account, TestEnv, USERS } from '../lib/env';
import { RawClient } from '../lib/raw-client';

const DENIED = /^ward: pod [0-9a-f-]{36} is not yours: only its owner (or a member of group ward-admin )?may \w+ it\n$/;

describe('pods belong to their owner', () => {
  const env = new TestEnv('pods-tenancy');
  let aci = '';
  let running = '';
  let exited = '';
  let prepared = '';

  before(async () => {
    await env.start();
    aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci);
    const r = await env.ward('a', ['run', '--insecure-options=image', '--detach', aci, '--', '-c', 'sleep 60']);
    assert.equal(r.code, 0, r.stderr);
    running = r.stdout.trim();
    const file = `${env.dir}/users/${USERS.a}/exited-uuid`;
    const e = await env.ward('a', ['run', '--insecure-options=image', '--uuid-file-save', file, aci, '--', '-c', 'exit 4']);
    assert.equal(e.code, 4);
    exited = (await import('node:fs')).readFileSync(file, 'utf8').trim();
    const p = await env.ward('a', ['prepare', '--insecure-options=image', aci, '--', '-c', 'true']);
    prepared = p.stdout.trim();
  });
  after(async () => {
    await env.ward('a', ['stop', '--force', running]);
    await env.ward('a', ['status', '--wait', running]);
    await env.stop();
  });

  test('B does not see A\'s pods in list', async () => {
    const b = await env.ward('b', ['list', '--format=json']);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(JSON.parse(b.stdout), []);
    const a = await env.ward('a', ['list', '--format=json']);
    const mine = (JSON.parse(a.stdout) as { uuid: string }[]).map((p) => p.uuid).sort();
    assert.deepEqual(mine, [running, exited, prepared].sort());
  });

  test('B cannot status, stop, enter, rm, cat-manifest or run-prepared A\'s pods: one line, exit 252, nothing changes', async () => {
    for (const args of [['enter', running, '--', '/bin/true'], ['status', running], ['stop', running], ['stop', '--force', running], ['rm', exited], ['rm', prepared], ['cat-manifest', exited], ['run-prepared', prepared], ['status', '--wait', running]]) {
      const r = await env.ward('b', args);
      assert.equal(r.code, 252, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, DENIED, args.join(' '));
      assert.equal(r.stdout, '');
    }
    const s = await env.ward('a', ['status', '--format=json', running]);
    assert.equal((JSON.parse(s.stdout) as { state: string }).state, 'running');
    assert.ok(env.podDir(exited));
    const p = await env.ward('a', ['status', '--format=json', prepared]);
    assert.equal((JSON.parse(p.stdout) as { state: string }).state, 'prepared');
  });

  test('a uuid prefix resolves only among the caller\'s own pods', async () => {
    const r = await env.ward('b', ['status', running.slice(0, 8)]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^ward: no pod of yours has a uuid starting with/);
  });

  test('the helper enforces ownership itself: B\'s raw requests naming A\'s pods are refused', async () => {
    for (const req of [{ verb: 'stop', uuid: running, force: true }, { verb: 'cat-manifest', uuid: running }, { verb: 'rm', uuid: exited }, { verb: 'status', uuid: running, wait: false }, { verb: 'cat-manifest', uuid: exited }, { verb: 'export', uuid: exited }]) {
      const c = RawClient.connect(env.socket, 'b');
      try {
        const reply = await c.request(req);
        assert.equal(reply.kind, 'frame');
        const json = (reply as { json: { ok: boolean; code: string } }).json;
        assert.equal(json.ok, false);
        assert.equal(json.code, 'EDENIED', JSON.stringify(json));
      } finally {
        c.close();
      }
    }
  });

  test('B\'s gc leaves A\'s pods alone; A\'s gc marks A\'s exited pod', async () => {
    const b = await env.ward('b', ['gc', '--grace-period=0s', '--expire-prepared=0s']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, '');
    assert.ok(env.podDir(exited), 'A\'s exited pod is still there');
    assert.ok(env.podDir(prepared), 'A\'s prepared pod is still there');
    const a = await env.ward('a', ['gc', '--mark-only']);
    assert.match(a.stdout, new RegExp(`marked ${exited}`));
  });

  test('a member of ward-admin sees every pod and may act on them', async () => {
    const l = await env.ward('admin', ['list', '--format=json']);
    assert.equal(l.code, 0, l.stderr);
    const pods = JSON.parse(l.stdout) as { uuid: string; owner: number }[];
    assert.ok(pods.some((p) => p.uuid === running && p.owner === account(USERS.a).uid));
    const s = await env.ward('admin', ['status', running]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^state=running$/m);
    const start = await env.ward('admin', ['run-prepared', prepared]);
    assert.equal(start.code, 252, 'starting a pod is its owner\'s alone (their ids, their tree)');
    assert.match(start.stderr, /^ward: pod [0-9a-f-]+ is not yours: only its owner may run it\n$/);
    const rm = await env.ward('admin', ['rm', exited]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(env.podDir(exited), null);
  });
});
