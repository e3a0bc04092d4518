// What TPM measurement costs a pod start, against swtpm: two helpers side by side, one measuring
// into ward's NV index and one not (and one into a PCR), each asked to run /bin/true from the
// same sealed busybox tree through the protocol (no CLI start-up in the figure), interleaved in
// alternating order, with the median of each and the difference. Then the measure step alone,
// a quote (NV certification) and its offline verification, in-process. Run as root after a
// build: node dist/bench/tpm.js [--rounds N]   (N >= 30, default 40)
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Measurer } from '../src/helper/tpm/measurer';
import { addon } from '../src/native/addon';
import { splitJsonSeq, type LogRecord } from '../src/schema/tpm-log';
import { MAX_RESPONSE_BYTES } from '../src/schema/protocol-limits';
import { verifyQuote } from '../src/trust/attest';
import { parsePublic } from '../src/trust/tpm2-wire';
import { buildBusyboxAci } from '../test/lib/aci-builder';
import { REPO, TestEnv } from '../test/lib/env';
import { connectAs } from '../test/lib/raw-client';
import { Swtpm } from '../test/lib/swtpm';
import { median } from './stats';

const fmt = (ms: number) => ms.toFixed(2);

function policyFile(env: TestEnv, tpm: object): string {
  const base = JSON.parse(fs.readFileSync(path.join(REPO, 'policies', 'helper.json'), 'utf8')) as Record<string, unknown>;
  const file = path.join(env.dir, 'bench-policy.json');
  fs.writeFileSync(file, JSON.stringify({ ...base, tpm }), { mode: 0o600 });
  return file;
}

interface RunTarget {
  name: string;
  env: TestEnv;
  times: number[];
}

/** One run of /bin/true through the helper's protocol, as user a, timed from request to exit. */
async function runOnce(env: TestEnv, req: object, devnull: number): Promise<number> {
  const fd = connectAs(env.socket, 'a');
  try {
    const t0 = process.hrtime.bigint();
    addon().sendFrame(fd, Buffer.from(JSON.stringify(req)), [devnull, devnull, devnull], 10_000);
    for (;;) {
      const f = await addon().recvFrame(fd, MAX_RESPONSE_BYTES, 0, 30_000);
      if (f === null) throw new Error('the helper hung up');
      const m = JSON.parse(f.data.toString()) as { ok: boolean; event?: string; code?: number; message?: string };
      if (!m.ok) throw new Error(`run refused: ${m.message}`);
      if (m.event === 'exited') {
        assert.equal(m.code, 0);
        return Number(process.hrtime.bigint() - t0) / 1e6;
      }
    }
  } finally {
    addon().close(fd);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '40' } } });
  const rounds = Math.max(30, Number(values.rounds));
  if (process.getuid?.() !== 0) throw new Error('run as root (it starts helpers)');
  const sw = await Swtpm.start();
  const targets: RunTarget[] = [
    { name: 'not measured', env: new TestEnv('bench-plain'), times: [] },
    { name: 'measured, NV index', env: new TestEnv('bench-nv'), times: [] },
    { name: 'measured, PCR 12', env: new TestEnv('bench-pcr'), times: [] },
  ];
  try {
    await targets[0]!.env.start(['--tpm-tcti', 'none']);
    await targets[1]!.env.start(['--tpm-tcti', sw.tcti, '--policy', policyFile(targets[1]!.env, { target: { nv: '0x01800ace' }, require: true, auditInterval: 0 })]);
    await targets[2]!.env.start(['--tpm-tcti', sw.tcti, '--policy', policyFile(targets[2]!.env, { target: { pcr: 12 }, require: true, auditInterval: 0 })]);
    // First run through the CLI: import, seal; the event log then names the tree and the image.
    const trees: string[] = [];
    let image: { name: string; id: string } | null = null;
    for (const t of targets) {
      const aci = t.env.fixture('busybox.aci');
      await buildBusyboxAci(aci, {});
      const r = await t.env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', 'true']);
      if (r.code !== 0) throw new Error(`first run under ${t.name}: ${r.stderr}`);
      trees.push(/started \S+ tree (sha256:[0-9a-f]{64})/.exec(fs.readFileSync(path.join(t.env.state, 'audit.log'), 'utf8'))![1]!);
      const log = path.join(t.env.state, 'tpm', 'events.log');
      if (!image && fs.existsSync(log)) {
        const recs = splitJsonSeq(fs.readFileSync(log, 'utf8')).records.map((x) => JSON.parse(x) as LogRecord);
        const pod = recs.find((x) => x.content.event_type === 'pod-start')?.content;
        if (pod?.event_type === 'pod-start') image = pod.image;
      }
    }
    const devnull = fs.openSync('/dev/null', 'r+');
    const req = (tree: string) => ({
      verb: 'run', insecureOptions: ['image'],
      apps: [{ tree, image: { ...image!, signer: 'unverified' }, app: { exec: ['/bin/true'], user: 0, group: 0, workingDirectory: '/', environment: [] } }],
    });
    for (let i = 0; i < 3; i++) for (const [k, t] of targets.entries()) await runOnce(t.env, req(trees[k]!), devnull); // warm-up
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 ? [...targets.keys()].reverse() : [...targets.keys()];
      for (const k of order) targets[k]!.times.push(await runOnce(targets[k]!.env, req(trees[k]!), devnull));
    }
    fs.closeSync(devnull);
    const base = median(targets[0]!.times);
    process.stdout.write(`\n## TPM measurement and pod start (swtpm, ${rounds} interleaved rounds, /bin/true through the helper protocol)\n\n`);
    process.stdout.write('| helper | median ms | added ms |\n|---|---:|---:|\n');
    for (const t of targets) process.stdout.write(`| ${t.name} | ${fmt(median(t.times))} | ${t === targets[0] ? '-' : fmt(median(t.times) - base)} |\n`);

    // The measure step, a quote and a verification alone, in this process.
    const dir = fs.mkdtempSync('/var/tmp/ward-bench-tpm-');
    const m = new Measurer({ policy: { tcti: null, target: { nv: '0x01800bbb' }, require: true, auditInterval: 0 }, tcti: sw.tcti, dir, note: () => undefined });
    await m.start();
    const measure: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await m.measure({ event_type: 'audit-head', time: new Date().toISOString(), reason: 'periodic', records: i, head: 'sha256:' + '0'.repeat(64) });
      measure.push(performance.now() - t0);
    }
    const quote: number[] = [];
    const verify: number[] = [];
    for (let i = 0; i < Math.min(rounds, 30); i++) {
      const nonce = crypto.randomBytes(20).toString('hex');
      let t0 = performance.now();
      const { attestation, log } = await m.attest(Buffer.from(nonce, 'hex'));
      quote.push(performance.now() - t0);
      const bundle = { format: 'ward-tpm-quote/1', ...attestation, nonce, log };
      const ak = parsePublic(Buffer.from(attestation.akPublic, 'base64')).key;
      t0 = performance.now();
      const v = verifyQuote(bundle, ak, nonce, { target: { nv: '0x01800bbb' } });
      verify.push(performance.now() - t0);
      assert.ok(v.ok);
    }
    m.close();
    fs.rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`\n| step (NV index, in-process) | median ms |\n|---|---:|\n`);
    process.stdout.write(`| measure (marker, extend, append) | ${fmt(median(measure))} |\n`);
    process.stdout.write(`| quote (NV certify, AK loaded, log read) | ${fmt(median(quote))} |\n`);
    process.stdout.write(`| verify (${rounds + 1}-event log) | ${fmt(median(verify))} |\n`);
  } finally {
    for (const t of targets) await t.env.stop();
    await sw.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/tpm: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
