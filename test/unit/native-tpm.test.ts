// The TPM bindings against a real TPM 2.0 (swtpm), each result read back with tpm2-tools.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { TpmClient } from '../../src/native/tpm';
import { HASH_ALGS, hashAlgOfTpm } from '../../src/schema/tpm-log';
import { parseAttest, parseNvPublic, parsePublic, parseSignature, TPM_ST_ATTEST_NV, TPM_ST_ATTEST_QUOTE, TPMA_OBJECT, verifySignature } from '../../src/trust/tpm2-wire';
import { Swtpm } from '../lib/swtpm';

const NV = 0x01800ace;
const bankName: Record<string, string> = { sha1: 'sha1', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

describe('TPM bindings against swtpm', () => {
  let sw: Swtpm;
  let tpm: TpmClient;

  before(async () => {
    sw = await Swtpm.start();
    tpm = new TpmClient(sw.tcti);
  });
  after(async () => {
    tpm.close();
    await sw.stop();
  });

  test('PCR extend reaches every active bank: tpm2_pcrread sees H(old || digest) in each', async () => {
    const banks = await tpm.connect();
    assert.ok(banks.length >= 2, 'swtpm has several banks');
    const before = await tpm.pcrRead(12, banks.map((b) => b.alg));
    assert.equal(before.length, banks.length);
    const digests = banks.map((b) => ({ alg: b.alg, digest: crypto.randomBytes(b.size) }));
    await tpm.pcrExtend(12, digests);
    for (const d of digests) {
      const name = hashAlgOfTpm(d.alg)!;
      const old = before.find((x) => x.alg === d.alg)!.digest;
      const want = crypto.createHash(HASH_ALGS[name].node).update(old).update(d.digest).digest();
      assert.deepEqual(sw.pcrRead(bankName[name]!, 12), want, `bank ${name}`);
    }
  });

  test('an NV extend index: defined once, unwritten reads null, extends as H(old || data), tpm2_nvread agrees', async () => {
    const first = await tpm.nvEnsureExtend(NV);
    assert.equal(first.created, true);
    assert.equal((first.attributes >>> 4) & 0xf, 4, 'type extend');
    assert.equal((await tpm.nvEnsureExtend(NV)).created, false, 'the second call finds it');
    assert.equal(await tpm.nvRead(NV), null);
    const a = crypto.randomBytes(32);
    const b = crypto.randomBytes(32);
    await tpm.nvExtend(NV, a);
    await tpm.nvExtend(NV, b);
    const one = crypto.createHash('sha256').update(Buffer.alloc(32)).update(a).digest();
    const two = crypto.createHash('sha256').update(one).update(b).digest();
    assert.deepEqual(await tpm.nvRead(NV), two);
    assert.deepEqual(sw.nvRead('0x01800ace'), two);
  });

  test('an existing NV index of another type is refused, not used', async () => {
    sw.tools('tpm2_nvdefine', ['0x01800bad', '-C', 'o', '-s', '32', '-a', 'authread|authwrite']);
    await assert.rejects(tpm.nvEnsureExtend(0x01800bad), /exists but is not a sha256 extend index/);
  });

  test('the attestation key is a restricted ECC signing key; quote and NV certification verify with it', async () => {
    const ak = await tpm.createAk();
    const pub = parsePublic(ak.public);
    assert.equal(pub.type, 'ecc');
    for (const bit of [TPMA_OBJECT.restricted, TPMA_OBJECT.sign, TPMA_OBJECT.fixedTPM]) assert.ok(pub.attributes & bit);
    const nonce = crypto.randomBytes(16);
    const q = await tpm.quote(ak, 12, HASH_ALGS.sha256.tpm, nonce);
    assert.ok(verifySignature(pub.key, q.attest, parseSignature(q.signature)));
    const qa = parseAttest(q.attest);
    assert.equal(qa.type, TPM_ST_ATTEST_QUOTE);
    assert.deepEqual(qa.extraData, nonce);
    assert.deepEqual(qa.quote!.pcrDigest, crypto.createHash('sha256').update(sw.pcrRead('sha256', 12)).digest());
    const c = await tpm.nvCertify(ak, NV, nonce);
    assert.ok(verifySignature(pub.key, c.attest, parseSignature(c.signature)));
    const ca = parseAttest(c.attest);
    assert.equal(ca.type, TPM_ST_ATTEST_NV);
    assert.deepEqual(ca.nv!.nvContents, sw.nvRead('0x01800ace'));
    assert.deepEqual(parseNvPublic(c.nvPublic!).name, ca.nv!.indexName);
    // The transient keys are flushed: no slot leaks on a TPM without a resource manager.
    assert.doesNotMatch(sw.tools('tpm2_getcap', ['handles-transient']).toString(), /0x80/);
  });

  test('errors name the command and decode the return code', async () => {
    await assert.rejects(tpm.nvRead(0x01800123), (e: Error) => /NV index 0x01800123 is not usable: .*\(0x[0-9a-f]{8}\)/.test(e.message) && (e as { code?: string }).code === 'ETPM');
    // The client reconnects after a failure and goes on working.
    assert.ok((await tpm.nvRead(NV)) !== null);
    const gone = new TpmClient('swtpm:host=127.0.0.1,port=1');
    await assert.rejects(gone.connect(), /cannot reach the TPM through TCTI "swtpm:host=127.0.0.1,port=1": tcti:/);
    gone.close();
  });

  test('bad arguments are refused before anything reaches the TPM', async () => {
    await assert.rejects(tpm.pcrExtend(24, [{ alg: 0x0b, digest: Buffer.alloc(32) }]), /pcrExtend/);
    await assert.rejects(tpm.nvExtend(0x02000000, Buffer.alloc(32)), /nvExtend/);
    await assert.rejects(tpm.nvExtend(NV, Buffer.alloc(65)), /nvExtend/);
    await assert.rejects(tpm.pcrExtend(12, [{ alg: 0x0b, digest: Buffer.alloc(20) }]), /has 20 bytes/);
  });

  test('a TPM that stops answering does not hang the caller', async () => {
    process.kill(sw.pid, 'SIGSTOP');
    const slow = new TpmClient(sw.tcti, 500);
    try {
      const t = Date.now();
      await assert.rejects(slow.connect(), /did not answer within 500 ms/);
      assert.ok(Date.now() - t < 2000);
    } finally {
      slow.close();
      process.kill(sw.pid, 'SIGCONT');
    }
  });
});
