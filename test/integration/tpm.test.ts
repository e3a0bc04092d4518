// Measured launch, quotes and their offline verification, through a real helper measuring into a
// real TPM 2.0 (swtpm, started here on loopback ports), with `ward` run as an unprivileged user.
// What ward wrote into the TPM is read back with tpm2-tools, independently of ward's own code.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Measurer } from '../../src/helper/tpm/measurer';
import { canonicalJson } from '../../src/schema/canonical-json';
import { replay, splitJsonSeq, type HashAlg, type LogRecord } from '../../src/schema/tpm-log';
import { buildBusyboxAci } from '../lib/aci-builder';
import { REPO, TestEnv, USERS, type WardResult } from '../lib/env';
import { Swtpm } from '../lib/swtpm';

const NV = '0x01800ace';
const nonce = () => crypto.randomBytes(20).toString('hex');
const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

/** The shipped policy with a tpm section, and the tpm verbs granted to group ward. */
function policyFile(env: TestEnv, name: string, tpm: object): string {
  const base = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as { groups: Record<string, { verbs: string[] }> };
  base.groups.ward!.verbs.push('tpm-quote', 'tpm-log');
  const file = path.join(env.dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ ...base, tpm }), { mode: 0o600 });
  return file;
}

function records(text: string): LogRecord[] {
  return splitJsonSeq(text).records.map((r) => JSON.parse(r) as LogRecord);
}

function encode(recs: unknown[]): string {
  return recs.map((r) => `\u001e${JSON.stringify(r)}\n`).join('');
}

/** A tool that works on quote files in user a's home, where ward (as user a) reads and writes them. */
class Quotes {
  constructor(private readonly env: TestEnv) {}
  path(name: string): string {
    return path.join(this.env.dir, 'users', USERS.a, name);
  }
  async take(name: string, n: string): Promise<{ file: string; ak: string }> {
    const file = this.path(`${name}.json`);
    const ak = this.path(`${name}.ak.pem`);
    const r = await this.env.ward('a', ['tpm', 'quote', '--nonce', n, '--out', file, '--ak-out', ak]);
    assert.equal(r.code, 0, r.stderr);
    return { file, ak };
  }
  verify(file: string, ak: string, n: string, extra: string[] = []): Promise<WardResult> {
    return this.env.ward('a', ['tpm', 'verify', '--ak', ak, '--nonce', n, ...extra, file]);
  }
  /** A copy of a quote file with its event log changed by f. */
  tamper(file: string, name: string, f: (recs: Record<string, unknown>[]) => unknown[]): string {
    const b = JSON.parse(fs.readFileSync(file, 'utf8')) as { log: string };
    const out = this.path(`${name}.json`);
    fs.writeFileSync(out, JSON.stringify({ ...b, log: encode(f(records(b.log) as unknown as Record<string, unknown>[])) }), { mode: 0o644 });
    return out;
  }
}

/** The helper writes its start-up notes before it listens; they reach us a moment later. */
async function helperSaid(env: TestEnv, re: RegExp): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!re.test(env.helperLog) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.match(env.helperLog, re);
}

function refused(r: WardResult, reason: RegExp): void {
  assert.equal(r.code, 1, `verify should refuse: ${r.stdout} ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0]!, /^ward: tpm verify: not verified: /);
  assert.match(lines[0]!, reason);
}

describe('measured launch into an NV index, attested, verified offline', () => {
  const env = new TestEnv('tpm');
  const q = new Quotes(env);
  let sw: Swtpm;
  let aci = '';
  const uuids: string[] = [];
  const run = (script: string) => env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', script]);
  let args: string[] = [];

  before(async () => {
    sw = await Swtpm.start();
    args = ['--tpm-tcti', sw.tcti, '--policy', policyFile(env, 'nv', { target: { nv: NV }, require: true, auditInterval: 0 })];
    await env.start(args);
    aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci, {});
    for (let i = 0; i < 2; i++) {
      const r = await run('hostname');
      assert.equal(r.code, 0, r.stderr);
      uuids.push(UUID_RE.exec(r.stdout)![0]);
    }
  });
  after(async () => {
    await env.stop();
    await sw.stop();
  });

  test('each pod is measured before it runs: tpm2_nvread reads the replay of the log, the audit says measured', () => {
    const recs = records(fs.readFileSync(path.join(env.state, 'tpm', 'events.log'), 'utf8'));
    assert.equal(recs[0]!.content.event_type, 'audit-head', 'the audit head at helper start comes first');
    const pods = recs.filter((r) => r.content.event_type === 'pod-start');
    assert.deepEqual(pods.map((r) => r.content.event_type === 'pod-start' && r.content.pod), uuids);
    const stage1 = /stage1 (sha256:[0-9a-f]{64})/.exec(env.helperLog)![1];
    for (const p of pods) {
      assert.equal(p.nv_index, 0x01800ace);
      const c = p.content;
      assert.ok(c.event_type === 'pod-start');
      assert.equal(c.image.name, 'example.com/busybox');
      assert.match(c.image.id, /^sha512-[0-9a-f]{128}$/);
      assert.equal(c.signer, 'unverified');
      assert.equal(c.trustPolicy, null);
      assert.equal(c.stage1, stage1);
      for (const d of [c.helper, c.tree, c.launchSpec, c.seccomp, c.argv, c.env]) assert.match(d, /^sha256:[0-9a-f]{64}$/);
    }
    assert.deepEqual(sw.nvRead(NV), replay('sha256', recs.map((r) => r.digests)));
    const audit = fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8');
    for (const u of uuids) assert.match(audit, new RegExp(`started ${u} tree sha256:[0-9a-f]{64} seccomp sha256:[0-9a-f]{64} measured true`));
  });

  test('ward tpm verify passes on an honest quote and lists the pods with their images and signers', async () => {
    const n = nonce();
    const { file, ak } = await q.take('honest', n);
    const r = await q.verify(file, ak, n);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^verified: nv-certify of NV index 0x01800ace, \d+ event\(s\) replayed, 2 pod\(s\) measured/);
    for (const u of uuids) assert.match(r.stdout, new RegExp(`${u}\\s+example\\.com/busybox\\s+sha512-[0-9a-f]{128}\\s+sha256:[0-9a-f]{64}\\s+unverified`));
    const json = await q.verify(file, ak, n, ['--format', 'json']);
    const v = JSON.parse(json.stdout) as { ok: boolean; pods: { pod: string }[] };
    assert.deepEqual(v.pods.map((p) => p.pod), uuids);
  });

  test('verify refuses an edited record, with or without its digest recomputed', async () => {
    const n = nonce();
    const { file, ak } = await q.take('for-edit', n);
    const podAt = (recs: Record<string, unknown>[]) => recs.findIndex((r) => (r.content as { event_type: string }).event_type === 'pod-start');
    const edited = q.tamper(file, 'edited', (recs) => {
      const i = podAt(recs);
      (recs[i]!.content as { image: { name: string } }).image.name = 'example.com/innocent';
      return recs;
    });
    refused(await q.verify(edited, ak, n), /record \d+ was edited: its content does not match its digest/);
    const redigested = q.tamper(file, 'redigested', (recs) => {
      const i = podAt(recs);
      const c = recs[i]!.content as { image: { name: string } };
      c.image.name = 'example.com/innocent';
      recs[i]!.digests = [{ hashAlg: 'sha256', digest: crypto.createHash('sha256').update(canonicalJson(c)).digest('hex') }];
      return recs;
    });
    refused(await q.verify(redigested, ak, n), /does not replay to the attested value/);
  });

  test('verify refuses a removed record, renumbered or not', async () => {
    const n = nonce();
    const { file, ak } = await q.take('for-remove', n);
    refused(await q.verify(q.tamper(file, 'removed', (recs) => recs.filter((_, i) => i !== 1)), ak, n), /position 1 has recnum 2: records were removed, inserted or reordered/);
    const renumbered = q.tamper(file, 'removed-renumbered', (recs) => recs.filter((_, i) => i !== 1).map((r, i) => ({ ...r, recnum: i })));
    refused(await q.verify(renumbered, ak, n), /does not replay to the attested value/);
  });

  test('verify refuses reordered records and an inserted one', async () => {
    const n = nonce();
    const { file, ak } = await q.take('for-reorder', n);
    const swap = (recs: Record<string, unknown>[]) => [recs[0], recs[2], recs[1], ...recs.slice(3)] as Record<string, unknown>[];
    refused(await q.verify(q.tamper(file, 'reordered', swap), ak, n), /position 1 has recnum 2/);
    refused(await q.verify(q.tamper(file, 'reordered-renumbered', (recs) => swap(recs).map((r, i) => ({ ...r, recnum: i }))), ak, n), /does not replay/);
    const inserted = q.tamper(file, 'inserted', (recs) => [recs[0], recs[1], ...recs.slice(1)].map((r, i) => ({ ...r, recnum: i })));
    refused(await q.verify(inserted, ak, n), /does not replay/);
  });

  test('verify refuses a stale nonce, and a quote from another TPM', async () => {
    const old = nonce();
    const { file, ak } = await q.take('stale', old);
    const fresh = nonce();
    refused(await q.verify(file, ak, fresh), new RegExp(`answers nonce ${old}, not ${fresh}: it is stale or replayed`));

    const sw2 = await Swtpm.start();
    const env2 = new TestEnv('tpm-other');
    try {
      await env2.start(['--tpm-tcti', sw2.tcti, '--policy', policyFile(env2, 'nv', { target: { nv: NV } })]);
      const n = nonce();
      const theirs = path.join(env.dir, 'users', USERS.a, 'other-tpm.json');
      const r = await env2.ward('a', ['tpm', 'quote', '--nonce', n]);
      assert.equal(r.code, 0, r.stderr);
      fs.writeFileSync(theirs, r.stdout, { mode: 0o644 });
      refused(await q.verify(theirs, ak, n), /does not verify with the attestation key given: the quote comes from another TPM/);
    } finally {
      await env2.stop();
      await sw2.stop();
    }
  });

  test('ward tpm log prints the event log, as a table and as JSON', async () => {
    const t = await env.ward('a', ['tpm', 'log']);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^RECNUM\s+TARGET\s+EVENT\s+TIME\s+DETAILS\n0\s+nv:0x01800ace\s+audit-head /);
    for (const u of uuids) assert.match(t.stdout, new RegExp(`pod-start .* pod ${u} image example\\.com/busybox sha512-`));
    const j = await env.ward('a', ['tpm', 'log', '--format=json']);
    const recs = JSON.parse(j.stdout) as LogRecord[];
    assert.deepEqual(recs.map((r) => r.recnum), recs.map((_, i) => i));
  });

  test('ward audit verify: the audit log checks out against the anchors in a verified quote; edits and a cut end fail', async () => {
    // The helper anchors its audit head when it stops and when it starts.
    await env.stopHelper();
    await env.start(args);
    const n = nonce();
    const { file, ak } = await q.take('audit-quote', n);
    const copy = q.path('audit.log');
    fs.copyFileSync(path.join(env.state, 'audit.log'), copy);
    fs.chmodSync(copy, 0o644);
    const audit = (f: string, extra: string[] = []) => env.ward('a', ['audit', 'verify', f, ...extra]);
    const withQuote = ['--quote', file, '--ak', ak, '--nonce', n];
    const ok = await audit(copy, withQuote);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^verified: \d+ record\(s\), head sha256:[0-9a-f]{64}, \d+ TPM anchor\(s\) match\n$/);

    const lines = fs.readFileSync(copy, 'utf8').trim().split('\n');
    const variant = (name: string, rows: string[]) => {
      const f = q.path(name);
      fs.writeFileSync(f, rows.join('\n') + '\n', { mode: 0o644 });
      return f;
    };
    const fails = async (f: string, reason: RegExp, extra: string[] = []) => {
      const r = await audit(f, extra);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr.trim(), /^ward: audit verify: not verified: /);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, reason);
    };
    await fails(variant('edited.log', lines.map((l, i) => (i === 1 ? l.replace('"allow"', '"deny"') : l))), /line 2: record hash does not match its content/);
    await fails(variant('removed.log', lines.filter((_, i) => i !== 1)), /line 2: sequence 2, expected 1/);
    await fails(variant('inserted.log', [lines[0]!, lines[1]!, ...lines.slice(1)]), /line 3: sequence 1, expected 2/);
    await fails(variant('reordered.log', [lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)]), /line 2: sequence 2, expected 1/);
    // Cut at its end, the chain alone still holds: only the TPM's anchors show the loss.
    const cut = variant('cut.log', lines.slice(0, 1));
    assert.equal((await audit(cut)).code, 0);
    await fails(cut, /records were removed from its end/, withQuote);
  });
});

describe('measured launch into a PCR: every bank', () => {
  const env = new TestEnv('tpm-pcr');
  const q = new Quotes(env);
  let sw: Swtpm;

  before(async () => {
    sw = await Swtpm.start();
    await env.start(['--tpm-tcti', sw.tcti, '--policy', policyFile(env, 'pcr', { target: { pcr: 12 }, require: true, auditInterval: 0 })]);
  });
  after(async () => {
    await env.stop();
    await sw.stop();
  });

  test('a PCR of the OS range is used with a warning; tpm2_pcrread of each bank is the replay; the quote verifies', async () => {
    await helperSaid(env, /tpm: warning: PCR 12 is claimed on Linux/);
    const aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci, {});
    const r = await env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', 'true']);
    assert.equal(r.code, 0, r.stderr);
    const recs = records(fs.readFileSync(path.join(env.state, 'tpm', 'events.log'), 'utf8'));
    const banks = recs[0]!.digests.map((d) => d.hashAlg);
    assert.deepEqual([...banks].sort(), ['sha1', 'sha256', 'sha384', 'sha512']);
    for (const bank of banks) assert.deepEqual(sw.pcrRead(bank, 12), replay(bank as HashAlg, recs.map((x) => x.digests)), `bank ${bank}`);
    const n = nonce();
    const { file, ak } = await q.take('pcr', n);
    const v = await q.verify(file, ak, n, ['--target', 'pcr:12']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^verified: quote of PCR 12, 2 event\(s\) replayed, 1 pod\(s\) measured/);
    refused(await q.verify(file, ak, n), /not an NV certification \(0x8014\) as NV index 0x01800ace needs/);
  });
});

describe('when the TPM fails', () => {
  const env = new TestEnv('tpm-fail');
  let aci = '';
  let closedPort = 0;

  before(async () => {
    // A port nothing listens on: a TPM that is configured but unreachable.
    const sw = await Swtpm.start();
    closedPort = sw.port;
    await sw.stop();
    aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci, {});
  });
  after(() => env.stop());

  test('measurement required and the TPM unreachable: the pod is refused with one line and exit 254, nothing is left', async () => {
    await env.start(['--tpm-tcti', `swtpm:host=127.0.0.1,port=${closedPort}`, '--policy', policyFile(env, 'required', { require: true })]);
    await helperSaid(env, /TPM not usable yet .* pods will be refused until it works/);
    const r = await env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', 'echo the app ran']);
    assert.equal(r.code, 254);
    assert.equal(r.stdout, '', 'the app never ran');
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.match(r.stderr, /^ward: pod not started: measuring into NV index 0x01800ace failed: cannot reach the TPM through TCTI .*; fix the TPM or its TCTI/);
    assert.deepEqual(env.podDirs(), []);
    assert.match(fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8'), /"verb":"run".*"result":"ETPM"/);
    await env.stopHelper();
  });

  test('not required: the pod runs and is reported as not measured; with no TPM at all, too', async () => {
    for (const args of [['--tpm-tcti', `swtpm:host=127.0.0.1,port=${closedPort}`], ['--tpm-tcti', 'none']]) {
      await env.start([...args, '--policy', policyFile(env, 'lax', { require: false })]);
      const r = await env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', 'echo ran']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'ran\n');
      assert.match(fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8').trim().split('\n').pop()!, /started .* measured false/);
      await env.stopHelper();
    }
  });

  test('PCRs 16 and 23 are refused at helper start', async () => {
    for (const pcr of [16, 23]) {
      await assert.rejects(env.start(['--tpm-tcti', 'none', '--policy', policyFile(env, `pcr${pcr}`, { target: { pcr } })]), new RegExp(`TPM set-up: PCR ${pcr} can be reset without a reboot`));
      await env.stopHelper();
    }
  });

  test('the tpm verbs are not granted by the shipped policy to plain members of ward', async () => {
    await env.start(['--tpm-tcti', 'none']);
    for (const args of [['tpm', 'quote', '--nonce', nonce()], ['tpm', 'log']]) {
      const r = await env.ward('a', args);
      assert.equal(r.code, 252, r.stderr);
      assert.match(r.stderr, /may not use 'tpm-(quote|log)'/);
    }
    await env.stopHelper();
  });
});

describe('a helper that dies between extend and append', () => {
  const env = new TestEnv('tpm-crash');
  const q = new Quotes(env);
  let sw: Swtpm;
  let policy = '';

  before(async () => {
    sw = await Swtpm.start();
    policy = policyFile(env, 'nv', { require: true, auditInterval: 0 });
  });
  after(async () => {
    await env.stop();
    await sw.stop();
  });

  test('the pod does not run, and verify reports the lost event instead of passing silently', async () => {
    // Test-only fault injection: the measure step kills the helper right after its extend.
    process.env.WARD_FAULT = 'after-extend';
    try {
      await env.start(['--tpm-tcti', sw.tcti, '--policy', policy]);
    } finally {
      delete process.env.WARD_FAULT;
    }
    const aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci, {});
    const r = await env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', 'echo the app ran']);
    assert.equal(r.code, 254, r.stderr);
    assert.equal(r.stdout, '');
    assert.ok(fs.existsSync(path.join(env.state, 'tpm', 'events.pending')), 'the marker shows a writer died in between');
    await env.stopHelper();

    await env.start(['--tpm-tcti', sw.tcti, '--policy', policy]);
    await helperSaid(env, /a writer died between extend and append \(event 1\); recorded as a writer-died event/);
    const n = nonce();
    const { file, ak } = await q.take('after-crash', n);
    refused(await q.verify(file, ak, n), /a writer died between extend and append at record\(s\) 1: the TPM holds events whose content is lost \(pass --allow-lost to accept them\)/);
    const accepted = await q.verify(file, ak, n, ['--allow-lost']);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.match(accepted.stderr, /warning: a writer died between extend and append at record\(s\) 1/);
    assert.match(accepted.stdout, /0 pod\(s\) measured/);
  });
});

describe('an event log larger than a frame', () => {
  const env = new TestEnv('tpm-big');
  const q = new Quotes(env);
  let sw: Swtpm;
  const EVENTS = 6000;

  before(async () => {
    sw = await Swtpm.start();
    // Measured before the helper starts, into its state dir and TPM: the helper takes it over.
    const policy = { tcti: null, target: { nv: NV }, require: true, auditInterval: 0 };
    const m = new Measurer({ policy, tcti: sw.tcti, dir: path.join(env.state, 'tpm'), note: () => undefined });
    for (let i = 0; i < EVENTS; i++) {
      await m.measure({ event_type: 'audit-head', time: new Date().toISOString(), reason: 'periodic', records: i, head: 'sha256:' + crypto.createHash('sha256').update(String(i)).digest('hex') });
    }
    m.close();
    await env.start(['--tpm-tcti', sw.tcti, '--policy', policyFile(env, 'nv', policy)]);
  });
  after(async () => {
    await env.stop();
    await sw.stop();
  });

  test('tpm-log and tpm-quote send it whole, in pieces, and it verifies', async () => {
    assert.ok(fs.statSync(path.join(env.state, 'tpm', 'events.log')).size > 2 * 1024 * 1024, 'the log is larger than a response frame');
    const j = await env.ward('a', ['tpm', 'log', '--format=json']);
    assert.equal(j.code, 0, j.stderr);
    assert.ok((JSON.parse(j.stdout) as unknown[]).length >= EVENTS);
    const n = nonce();
    const { file, ak } = await q.take('big', n);
    const v = await q.verify(file, ak, n);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, new RegExp(`^verified: nv-certify of NV index 0x01800ace, ${EVENTS + 1} event\\(s\\) replayed`));
  });
});
