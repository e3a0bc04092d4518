// Readers for the TPM 2.0 structures a verifier needs (TPM 2.0 Library Part 2), big-endian and
// bounded: TPMS_ATTEST, TPMT_SIGNATURE, TPM2B_PUBLIC (ECC and RSA keys), TPMS_NV_PUBLIC. Every
// reader refuses trailing bytes and lengths past the end.
import crypto from 'node:crypto';
import { HASH_ALGS, hashAlgOfTpm, type HashAlg } from '../schema/tpm-log';

export const TPM_GENERATED_VALUE = 0xff544347;
export const TPM_ST_ATTEST_QUOTE = 0x8018;
export const TPM_ST_ATTEST_NV = 0x8014; // TPM_ST_ATTEST_NV (0x8016 is TPM_ST_ATTEST_SESSION_AUDIT)
const TPM_ALG = { RSA: 0x0001, NULL: 0x0010, RSASSA: 0x0014, RSAPSS: 0x0016, ECDSA: 0x0018, ECDAA: 0x001a, ECC: 0x0023 } as const;
const ECC_CURVES: Record<number, { jwk: string; size: number }> = {
  0x0003: { jwk: 'P-256', size: 32 },
  0x0004: { jwk: 'P-384', size: 48 },
  0x0005: { jwk: 'P-521', size: 66 },
};
export const TPMA_OBJECT = { fixedTPM: 0x2, fixedParent: 0x10, sensitiveDataOrigin: 0x20, restricted: 0x10000, decrypt: 0x20000, sign: 0x40000 } as const;
export const TPM_NT_EXTEND = 0x4;

export class WireError extends Error {}

class Reader {
  private off = 0;
  constructor(private readonly buf: Buffer, private readonly what: string) {}
  private need(n: number): void {
    if (this.off + n > this.buf.length) throw new WireError(`${this.what} ends early (needs ${n} more bytes at offset ${this.off})`);
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.off++);
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.off);
    this.off += 8;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return Buffer.from(v);
  }
  /** A TPM2B: u16 size, then that many bytes. */
  sized(): Buffer {
    return this.bytes(this.u16());
  }
  end(): void {
    if (this.off !== this.buf.length) throw new WireError(`${this.what} has ${this.buf.length - this.off} trailing bytes`);
  }
}

export interface PcrSelection {
  hash: number;
  pcrs: number[];
}

export interface Attest {
  magic: number;
  type: number;
  qualifiedSigner: Buffer;
  extraData: Buffer;
  clock: { clock: bigint; resetCount: number; restartCount: number; safe: boolean };
  firmwareVersion: bigint;
  quote?: { pcrSelect: PcrSelection[]; pcrDigest: Buffer };
  nv?: { indexName: Buffer; offset: number; nvContents: Buffer };
}

export function parseAttest(buf: Buffer): Attest {
  const r = new Reader(buf, 'TPMS_ATTEST');
  const magic = r.u32();
  const type = r.u16();
  const a: Attest = {
    magic,
    type,
    qualifiedSigner: r.sized(),
    extraData: r.sized(),
    clock: { clock: r.u64(), resetCount: r.u32(), restartCount: r.u32(), safe: r.u8() !== 0 },
    firmwareVersion: r.u64(),
  };
  if (type === TPM_ST_ATTEST_QUOTE) {
    const count = r.u32();
    if (count > 16) throw new WireError(`TPMS_ATTEST selects ${count} banks`);
    const pcrSelect: PcrSelection[] = [];
    for (let i = 0; i < count; i++) {
      const hash = r.u16();
      const bits = r.bytes(r.u8());
      const pcrs: number[] = [];
      bits.forEach((byte, j) => {
        for (let b = 0; b < 8; b++) if (byte & (1 << b)) pcrs.push(j * 8 + b);
      });
      pcrSelect.push({ hash, pcrs });
    }
    a.quote = { pcrSelect, pcrDigest: r.sized() };
  } else if (type === TPM_ST_ATTEST_NV) {
    a.nv = { indexName: r.sized(), offset: r.u16(), nvContents: r.sized() };
  } else {
    throw new WireError(`TPMS_ATTEST of type 0x${type.toString(16)}, neither a quote (0x8018) nor an NV certification (0x8014)`);
  }
  r.end();
  return a;
}

export interface Signature {
  sigAlg: number;
  hash: HashAlg;
  /** ECDSA: r and s; RSA: the signature. */
  parts: Buffer[];
}

export function parseSignature(buf: Buffer): Signature {
  const r = new Reader(buf, 'TPMT_SIGNATURE');
  const sigAlg = r.u16();
  const hashId = r.u16();
  const hash = hashAlgOfTpm(hashId);
  if (!hash) throw new WireError(`TPMT_SIGNATURE uses hash algorithm 0x${hashId.toString(16)}, which ward does not know`);
  let parts: Buffer[];
  if (sigAlg === TPM_ALG.ECDSA) parts = [r.sized(), r.sized()];
  else if (sigAlg === TPM_ALG.RSASSA || sigAlg === TPM_ALG.RSAPSS) parts = [r.sized()];
  else throw new WireError(`TPMT_SIGNATURE of scheme 0x${sigAlg.toString(16)}; ward verifies ECDSA, RSASSA and RSAPSS`);
  r.end();
  return { sigAlg, hash, parts };
}

export interface PublicKey {
  type: 'ecc' | 'rsa';
  nameAlg: number;
  attributes: number;
  key: crypto.KeyObject;
}

function symmetricAndScheme(r: Reader): void {
  if (r.u16() !== TPM_ALG.NULL) {
    r.u16(); // keyBits
    r.u16(); // mode
  }
  const scheme = r.u16();
  if (scheme !== TPM_ALG.NULL) {
    r.u16(); // hashAlg
    if (scheme === TPM_ALG.ECDAA) r.u16(); // count
  }
}

/** A TPM2B_PUBLIC (as tpm2-tools writes a .pub file and the helper sends the AK) as a node KeyObject. */
export function parsePublic(buf: Buffer): PublicKey {
  const outer = new Reader(buf, 'TPM2B_PUBLIC');
  const inner = outer.sized();
  outer.end();
  const r = new Reader(inner, 'TPMT_PUBLIC');
  const type = r.u16();
  const nameAlg = r.u16();
  const attributes = r.u32();
  r.sized(); // authPolicy
  const b64u = (b: Buffer) => b.toString('base64url');
  let key: crypto.KeyObject;
  if (type === TPM_ALG.ECC) {
    symmetricAndScheme(r);
    const curveId = r.u16();
    const curve = ECC_CURVES[curveId];
    if (!curve) throw new WireError(`ECC curve 0x${curveId.toString(16)} is not one ward verifies with`);
    if (r.u16() !== TPM_ALG.NULL) r.u16(); // kdf
    const pad = (b: Buffer) => Buffer.concat([Buffer.alloc(Math.max(0, curve.size - b.length)), b]);
    const x = pad(r.sized());
    const y = pad(r.sized());
    r.end();
    key = crypto.createPublicKey({ key: { kty: 'EC', crv: curve.jwk, x: b64u(x), y: b64u(y) }, format: 'jwk' });
  } else if (type === TPM_ALG.RSA) {
    symmetricAndScheme(r);
    r.u16(); // keyBits
    const exponent = r.u32() || 65537;
    const n = r.sized();
    r.end();
    const e = Buffer.alloc(4);
    e.writeUInt32BE(exponent);
    let i = 0;
    while (i < 3 && e[i] === 0) i++;
    key = crypto.createPublicKey({ key: { kty: 'RSA', n: b64u(n), e: b64u(e.subarray(i)) }, format: 'jwk' });
  } else {
    throw new WireError(`key type 0x${type.toString(16)}; ward verifies with ECC and RSA keys`);
  }
  return { type: type === TPM_ALG.ECC ? 'ecc' : 'rsa', nameAlg, attributes, key };
}

export interface NvPublic {
  nvIndex: number;
  nameAlg: number;
  attributes: number;
  dataSize: number;
  /** TPM2B_NAME of the index: nameAlg || H_nameAlg(this structure as marshaled). */
  name: Buffer;
}

export function parseNvPublic(buf: Buffer): NvPublic {
  const r = new Reader(buf, 'TPMS_NV_PUBLIC');
  const nvIndex = r.u32();
  const nameAlg = r.u16();
  const attributes = r.u32();
  r.sized(); // authPolicy
  const dataSize = r.u16();
  r.end();
  const alg = hashAlgOfTpm(nameAlg);
  if (!alg) throw new WireError(`NV index name algorithm 0x${nameAlg.toString(16)} is not one ward knows`);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(nameAlg);
  const name = Buffer.concat([head, crypto.createHash(HASH_ALGS[alg].node).update(buf).digest()]);
  return { nvIndex, nameAlg, attributes, dataSize, name };
}

/** DER length of n bytes. */
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function derInteger(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  let v = b.subarray(i);
  if (v.length === 0) v = Buffer.from([0]);
  if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return Buffer.concat([Buffer.from([0x02]), derLength(v.length), v]);
}

/** Checks sig over data with key; false on any mismatch of scheme and key. */
export function verifySignature(key: crypto.KeyObject, data: Buffer, sig: Signature): boolean {
  const hash = HASH_ALGS[sig.hash].node;
  try {
    if (sig.sigAlg === TPM_ALG.ECDSA) {
      if (key.asymmetricKeyType !== 'ec') return false;
      const body = Buffer.concat([derInteger(sig.parts[0]!), derInteger(sig.parts[1]!)]);
      return crypto.verify(hash, data, key, Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]));
    }
    if (key.asymmetricKeyType !== 'rsa') return false;
    if (sig.sigAlg === TPM_ALG.RSAPSS) {
      return crypto.verify(hash, data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_AUTO }, sig.parts[0]!);
    }
    return crypto.verify(hash, data, key, sig.parts[0]!);
  } catch {
    return false;
  }
}
