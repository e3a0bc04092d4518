// Pods and the TPM (TPM issue): ward status says whether a pod was measured; stop is measured
// before the helper acts on it, and the event log shows it. With no TPM (and no requirement)
// pods run and status says "not measured".
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci } from '../lib/aci-builder';
import { REPO, TestEnv } from '../lib/env';
import { Swtpm } from '../lib/swtpm';

function policyFile(env: TestEnv, tpm: object): string {
  const base = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as { groups: Record<string, { verbs: string[] }> };
  base.groups.ward!.verbs.push('tpm-quote', 'tpm-log');
  const file = path.join(env.dir, 'tpm-policy.json');
  fs.writeFileSync(file, JSON.stringify({ ...base, tpm }), { mode: 0o600 });
  return file;
}

describe('pods and TPM measurement', () => {
  const env = new TestEnv('pods-tpm');
  let sw: Swtpm;
  let aci = '';

  before(async () => {
    sw = await Swtpm.start();
    aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci);
  });
  after(async () => {
    await env.stop();
    await sw.stop();
  });

  test('measured: status says so; stop and stop --force are measured before they act, and the log shows them', async () => {
    await env.start(['--tpm-tcti', sw.tcti, '--policy', policyFile(env, { target: { nv: '0x01800ace' }, require: true, auditInterval: 0 })]);
    try {
      const uuids: string[] = [];
      for (const force of [false, true]) {
        const r = await env.ward('a', ['run', '--insecure-options=image', '--detach', aci, '--', '-c', 'sleep 60']);
        assert.equal(r.code, 0, r.stderr);
        const uuid = r.stdout.trim();
        uuids.push(uuid);
        const s = await env.ward('a', ['status', uuid]);
        assert.match(s.stdout, /^tpm=measured$/m);
        const e = await env.ward('a', ['enter', uuid, '--', '/bin/true']);
        assert.equal(e.code, 0, e.stderr);
        assert.equal((await env.ward('a', ['stop', ...(force ? ['--force'] : []), uuid])).code, 0);
        await env.ward('a', ['status', '--wait', uuid]);
      }
      const log = await env.ward('a', ['tpm', 'log', '--format=json']);
      assert.equal(log.code, 0, log.stderr);
      const events = (JSON.parse(log.stdout) as { content: { event_type: string; pod?: string; action?: string } }[]).map((r) => r.content);
      for (const [i, uuid] of uuids.entries()) {
        const start = events.findIndex((c) => c.event_type === 'pod-start' && c.pod === uuid);
        const stop = events.findIndex((c) => c.event_type === 'pod-action' && c.pod === uuid && c.action === (i === 0 ? 'stop' : 'kill'));
        assert.ok(start >= 0, 'the start is in the log');
        assert.ok(stop > start, 'the stop is in the log, after the start');
        const entered = events.findIndex((c) => c.event_type === 'pod-action' && c.pod === uuid && c.action === 'enter');
        assert.ok(entered > start && entered < stop, 'the enter is in the log, between start and stop');
      }
      const table = await env.ward('a', ['tpm', 'log']);
      assert.match(table.stdout, new RegExp(`pod-action .* pod ${uuids[0]} stop by uid \\d+`));
    } finally {
      await env.stopHelper();
    }
  });

  test('no TPM and no requirement: the pod runs and status says "not measured"', async () => {
    await env.start(['--tpm-tcti', 'none']);
    try {
      const r = await env.ward('a', ['run', '--insecure-options=image', '--detach', aci, '--', '-c', 'sleep 60']);
      assert.equal(r.code, 0, r.stderr);
      const uuid = r.stdout.trim();
      const s = await env.ward('a', ['status', uuid]);
      assert.match(s.stdout, /^tpm=not measured$/m);
      assert.equal((await env.ward('a', ['stop', uuid])).code, 0, 'stop works unmeasured where measurement is not required');
      await env.ward('a', ['status', '--wait', uuid]);
    } finally {
      await env.stopHelper();
    }
  });
});
