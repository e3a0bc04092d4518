// Where measurements go: an NV index of type extend (ward's own, defined on first use) or a PCR,
// as the helper policy says. Extending and reading it in every bank the log records.
import { TPMA_NV_CLEAR_STCLEAR, type TpmClient } from '../../native/tpm';
import { HASH_ALGS, hashAlgOfTpm, resetValue, type EventDigest, type HashAlg } from '../../schema/tpm-log';
import type { TpmTarget } from '../../schema/tpm-policy';

/**
 * Refuses a target whose values prove nothing or that ward cannot extend, and returns a warning
 * for one that others also use. Called at helper start: a refused target stops the helper.
 */
export function checkTarget(t: TpmTarget): string | null {
  if ('nv' in t) {
    const n = parseInt(t.nv, 16);
    if (n < 0x01800000 || n > 0x01bfffff) {
      return `NV index ${t.nv} is outside the owner range of the TCG handle registry (0x01800000-0x01bfffff): another component may own it`;
    }
    return null;
  }
  if (t.pcr === 16 || t.pcr === 23) {
    throw new Error(`PCR ${t.pcr} can be reset without a reboot (debug/application PCR), so what it holds proves nothing; set the policy's tpm.target to an NV index (the default) or to a PCR other than 16 and 23`);
  }
  if (t.pcr >= 17 && t.pcr <= 22) {
    throw new Error(`PCR ${t.pcr} belongs to the dynamic root of trust and can only be extended from a higher locality; set the policy's tpm.target to an NV index (the default)`);
  }
  if (t.pcr <= 7) {
    return `PCR ${t.pcr} holds firmware measurements: extending it breaks the replay of the boot log and secrets sealed to it; an NV index (the default) is the better target`;
  }
  return `PCR ${t.pcr} is claimed on Linux (8-9 boot loader, 10 IMA, 11-15 systemd): ward's log replays only if nothing else extends it; an NV index (the default) is the better target`;
}

export class MeasureTarget {
  private banks: HashAlg[] = [];
  private survivesReboot = false;

  constructor(private readonly tpm: TpmClient, readonly spec: TpmTarget) {}

  /** The field a log record carries for this target. */
  get field(): { pcr: number } | { nv_index: number } {
    return 'nv' in this.spec ? { nv_index: parseInt(this.spec.nv, 16) } : { pcr: this.spec.pcr };
  }

  describe(): string {
    return 'nv' in this.spec ? `NV index ${this.spec.nv}` : `PCR ${this.spec.pcr}`;
  }

  /**
   * Whether the register keeps its value across a power loss: only an NV index defined without
   * CLEAR_STCLEAR (by an administrator; ward's own is reset at boot, as PCRs are). Then the
   * marker and the record must reach the disk before the next step, or a log would lose what
   * the register keeps.
   */
  get durable(): boolean {
    return this.survivesReboot;
  }

  /** The banks every event is extended in: sha256 for the NV index, every active bank for a PCR. */
  get algs(): readonly HashAlg[] {
    return this.banks;
  }

  /** Connects, defines the NV index if it is absent, learns the PCR banks. */
  async prepare(): Promise<void> {
    if ('nv' in this.spec) {
      const { attributes } = await this.tpm.nvEnsureExtend(parseInt(this.spec.nv, 16));
      this.survivesReboot = (attributes & TPMA_NV_CLEAR_STCLEAR) === 0;
      this.banks = ['sha256'];
      return;
    }
    const active = await this.tpm.connect();
    const algs: HashAlg[] = [];
    for (const b of active) {
      const name = hashAlgOfTpm(b.alg);
      // A bank left unextended could be extended by anyone to any value: refuse rather than skip it.
      if (!name) throw new Error(`the TPM has an active PCR bank with algorithm 0x${b.alg.toString(16).padStart(4, '0')}, which ward cannot compute; deactivate that bank or measure into an NV index`);
      algs.push(name);
    }
    if (!algs.includes('sha256')) throw new Error('the TPM has no active sha256 PCR bank, which ward quotes; activate it or measure into an NV index');
    this.banks = algs;
  }

  /** The current value in every bank; an NV index never written reads as its reset value (zeros). */
  async read(): Promise<Map<HashAlg, Buffer>> {
    const out = new Map<HashAlg, Buffer>();
    if ('nv' in this.spec) {
      out.set('sha256', (await this.tpm.nvRead(parseInt(this.spec.nv, 16))) ?? resetValue('sha256'));
      return out;
    }
    for (const d of await this.tpm.pcrRead(this.spec.pcr, this.banks.map((a) => HASH_ALGS[a].tpm))) {
      const name = hashAlgOfTpm(d.alg);
      if (name) out.set(name, d.digest);
    }
    return out;
  }

  async extend(digests: readonly EventDigest[]): Promise<void> {
    if ('nv' in this.spec) {
      const d = digests.find((x) => x.hashAlg === 'sha256');
      if (!d) throw new Error('no sha256 digest to extend the NV index with');
      await this.tpm.nvExtend(parseInt(this.spec.nv, 16), Buffer.from(d.digest, 'hex'));
      return;
    }
    await this.tpm.pcrExtend(this.spec.pcr, digests.map((d) => ({ alg: HASH_ALGS[d.hashAlg].tpm, digest: Buffer.from(d.digest, 'hex') })));
  }
}
