// The helper's measurer and the offline verifier together against swtpm, for the cases a pod run
// cannot easily stage: a writer that died at each point, a TPM reset, a log ahead of its quote,
// a quote of the wrong register, a forged NV public area, an attestation key that is not one.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Measurer } from '../../src/helper/tpm/measurer';
import { TpmClient } from '../../src/native/tpm';
import { encodeRecord, eventDigests, type EventContent, type PodStartEvent } from '../../src/schema/tpm-log';
import type { PolicyTpm } from '../../src/schema/tpm-policy';
import type { QuoteBundle } from '../../src/schema/tpm-quote';
import { loadAk, verifyQuote } from '../../src/trust/attest';
import { parsePublic } from '../../src/trust/tpm2-wire';
import { Swtpm } from '../lib/swtpm';

const NV = { nv: '0x01800ace' };
const sha = (c: string) => 'sha256:' + crypto.createHash('sha256').update(c).digest('hex');

function pod(n: number): PodStartEvent {
  return {
    event_type: 'pod-start', time: new Date().toISOString(), pod: crypto.randomUUID(), helper: sha('helper'), stage1: sha('stage1'),
    image: { name: `example.com/app${n}`, id: sha(`image${n}`) }, tree: sha(`tree${n}`), signer: 'unverified', trustPolicy: null,
    launchSpec: sha(`spec${n}`), seccomp: sha('seccomp'), argv: sha('argv'), env: sha('env'),
  };
}

describe('measurer and verifier against swtpm', () => {
  let sw: Swtpm;
  let dir: string;
  const notes: string[] = [];
  const policy = (target: PolicyTpm['target']): PolicyTpm => ({ tcti: null, target, require: true, auditInterval: 0 });
  const measurer = (target: PolicyTpm['target'] = NV, sub = 'nv') =>
    new Measurer({ policy: policy(target), tcti: sw.tcti, dir: path.join(dir, sub), note: (t) => notes.push(t) });

  async function bundle(m: Measurer, nonce = crypto.randomBytes(16).toString('hex')): Promise<{ b: QuoteBundle; nonce: string; ak: crypto.KeyObject }> {
    const { attestation, log } = await m.attest(Buffer.from(nonce, 'hex'));
    return { b: { format: 'ward-tpm-quote/1', ...attestation, nonce, log }, nonce, ak: parsePublic(Buffer.from(attestation.akPublic, 'base64')).key };
  }

  before(async () => {
    sw = await Swtpm.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-measure-'));
  });
  after(async () => {
    await sw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('NV target: pods measured, certified and listed; the wrong register or a forged NV public area is refused', async () => {
    const m = measurer();
    await m.start();
    for (let i = 0; i < 3; i++) assert.equal(await m.measure(pod(i)), true);
    const { b, nonce, ak } = await bundle(m);
    const v = verifyQuote(b, ak, nonce, { target: NV });
    assert.ok(v.ok, JSON.stringify(v));
    assert.deepEqual(v.pods.map((p) => p.image.name), ['example.com/app0', 'example.com/app1', 'example.com/app2']);
    const other = verifyQuote(b, ak, nonce, { target: { nv: '0x01800bbb' } });
    assert.ok(!other.ok && /certified NV index is 0x01800ace, not 0x01800bbb/.test(other.reason), JSON.stringify(other));
    const asPcr = verifyQuote(b, ak, nonce, { target: { pcr: 12 } });
    assert.ok(!asPcr.ok && /not a quote/.test(asPcr.reason));
    const pub = Buffer.from(b.nvPublic!, 'base64');
    pub[9] = pub[9]! ^ 0x40; // flip an attribute bit: a different public area, so a different name
    const forged = verifyQuote({ ...b, nvPublic: pub.toString('base64') }, ak, nonce, { target: NV });
    assert.ok(!forged.ok && /not the one the TPM certified/.test(forged.reason));
    m.close();
  });

  test('a log that ran ahead of its attestation verifies up to the attested point, with a warning', async () => {
    const m = measurer();
    await m.start();
    const { b, nonce, ak } = await bundle(m);
    await m.measure(pod(9));
    const later = { ...b, log: await m.readLog() };
    const v = verifyQuote(later, ak, nonce, { target: NV });
    assert.ok(v.ok);
    assert.equal(v.pods.length, 3);
    assert.match(v.warnings.join(), /1 record\(s\) after record 2 are not covered/);
    m.close();
  });

  test('a writer that died after its marker but before the extend leaves nothing behind', async () => {
    const m = measurer();
    await m.start();
    const log = await m.readLog();
    const marker = { recnum: 99, digests: eventDigests(pod(5), ['sha256']) };
    m.close();
    fs.writeFileSync(path.join(dir, 'nv', 'events.pending'), JSON.stringify(marker));
    const m2 = measurer();
    await m2.start();
    assert.equal(fs.existsSync(path.join(dir, 'nv', 'events.pending')), false);
    assert.equal(await m2.readLog(), log);
    const { b, nonce, ak } = await bundle(m2);
    assert.ok(verifyQuote(b, ak, nonce, { target: NV }).ok);
    m2.close();
  });

  test('a writer that died between extend and append (its record half-written): the event is recorded as lost, verify refuses it unless told', async () => {
    const m = measurer();
    await m.start();
    const lost: EventContent = pod(6);
    const digests = eventDigests(lost, ['sha256']);
    const logFile = path.join(dir, 'nv', 'events.log');
    const recnum = (await m.readLog()).split('\u001e').length - 1;
    m.close();
    // What a helper killed at that moment leaves: the marker, the extend done, a record cut short.
    fs.writeFileSync(path.join(dir, 'nv', 'events.pending'), JSON.stringify({ recnum, digests }));
    const tpm = new TpmClient(sw.tcti);
    await tpm.nvExtend(0x01800ace, Buffer.from(digests[0]!.digest, 'hex'));
    tpm.close();
    fs.appendFileSync(logFile, encodeRecord({ recnum, nv_index: 0x01800ace, digests, content_type: 'ward', content: lost }).slice(0, 50));
    notes.length = 0;
    const m2 = measurer();
    await m2.start();
    assert.match(notes.join('\n'), /cut short/);
    assert.match(notes.join('\n'), /a writer died between extend and append/);
    await m2.measure(pod(7));
    const { b, nonce, ak } = await bundle(m2);
    const v = verifyQuote(b, ak, nonce, { target: NV });
    assert.ok(!v.ok && new RegExp(`a writer died between extend and append at record\\(s\\) ${recnum}`).test(v.reason), JSON.stringify(v));
    const accepted = verifyQuote(b, ak, nonce, { target: NV, allowLost: true });
    assert.ok(accepted.ok && /writer died/.test(accepted.warnings.join()));
    assert.ok(accepted.pods.some((p) => p.image.name === 'example.com/app7'));
    m2.close();
  });

  test('a TPM reset (a reboot) starts a new log and keeps the old one aside', async () => {
    sw.reset();
    notes.length = 0;
    const m = measurer();
    await m.start();
    assert.match(notes.join('\n'), /at its reset value .* the old event log is now .*events-.*\.log/);
    assert.equal(await m.readLog(), '');
    await m.measure(pod(8));
    const { b, nonce, ak } = await bundle(m);
    const v = verifyQuote(b, ak, nonce, { target: NV });
    assert.ok(v.ok && v.records === 1);
    m.close();
  });

  test('PCR target: every bank extended and replayable, the quote verifies; PCRs 16 to 23 are refused at start', async () => {
    const m = measurer({ pcr: 12 }, 'pcr');
    await m.start();
    await m.measure(pod(1));
    await m.measure(pod(2));
    const { b, nonce, ak } = await bundle(m);
    const v = verifyQuote(b, ak, nonce, { target: { pcr: 12 } });
    assert.ok(v.ok && v.pods.length === 2, JSON.stringify(v));
    const asNv = verifyQuote(b, ak, nonce, { target: NV });
    assert.ok(!asNv.ok && /not an NV certification/.test(asNv.reason));
    const asOther = verifyQuote(b, ak, nonce, { target: { pcr: 13 } });
    assert.ok(!asOther.ok && /not PCR 13 alone/.test(asOther.reason));
    m.close();
    const { checkTarget } = await import('../../src/helper/tpm/target');
    for (const pcr of [16, 17, 22, 23]) assert.throws(() => checkTarget({ pcr }), /PCR/);
    assert.match(checkTarget({ pcr: 11 })!, /claimed on Linux/);
    assert.match(checkTarget({ pcr: 7 })!, /firmware/);
    assert.equal(checkTarget(NV), null);
  });

  test('an attestation key that is not a restricted signing key is refused as such', async () => {
    const tpm = new TpmClient(sw.tcti);
    const ak = await tpm.createAk();
    tpm.close();
    assert.ok(loadAk(ak.public));
    const unrestricted = Buffer.from(ak.public);
    unrestricted[7] = unrestricted[7]! & ~0x01; // clear TPMA_OBJECT_RESTRICTED (attribute bit 16: byte 7 of the TPM2B_PUBLIC)
    assert.throws(() => loadAk(unrestricted), /not a restricted signing key/);
    assert.throws(() => loadAk(Buffer.from('junk')), /neither a PEM public key nor a TPM2B_PUBLIC/);
  });

  test('with require set, a TPM that is not there refuses; without, the event is reported unmeasured', async () => {
    const down = new Measurer({ policy: policy(NV), tcti: 'swtpm:host=127.0.0.1,port=1', dir: path.join(dir, 'down'), note: (t) => notes.push(t) });
    await down.start();
    await assert.rejects(down.measure(pod(1)), /cannot reach the TPM/);
    down.close();
    const lax = new Measurer({ policy: { ...policy(NV), require: false }, tcti: 'swtpm:host=127.0.0.1,port=1', dir: path.join(dir, 'down'), note: (t) => notes.push(t) });
    assert.equal(await lax.measure(pod(1)), false);
    lax.close();
    const none = new Measurer({ policy: { ...policy(NV), require: false }, tcti: null, dir: path.join(dir, 'none'), note: (t) => notes.push(t) });
    assert.equal(await none.measure(pod(1)), false);
    none.close();
  });
});
