// The typed face of the TPM addon's Tpm object (addon/tpm/tpm.cc), and a client in front of it that
// runs one operation at a time, connects on demand, and gives up on a TPM that does not answer
// in time (the hung operation keeps its own session; the next one connects afresh).
import { tpmAddon } from './addon';

export interface TpmBank {
  /** TPM algorithm id (TPM2_ALG_SHA256 = 0x000b, ...). */
  alg: number;
  /** Digest size in bytes; 0 for an algorithm the addon does not know. */
  size: number;
}

export interface TpmKeyBlob {
  /** Marshaled TPM2B_PUBLIC. */
  public: Buffer;
  /** Marshaled TPM2B_PRIVATE, wrapped by the TPM's storage key: useless off this TPM. */
  private: Buffer;
}

export interface TpmAttestation {
  /** TPMS_ATTEST as signed. */
  attest: Buffer;
  /** Marshaled TPMT_SIGNATURE. */
  signature: Buffer;
  /** NV certification only: marshaled TPMS_NV_PUBLIC of the certified index. */
  nvPublic?: Buffer;
}

/** The native object; every method rejects with an Error whose code is "ETPM" and whose message decodes the TPM return code. */
export interface NativeTpm {
  connect(tcti: string): Promise<{ banks: TpmBank[] }>;
  /** Detaches the session now; an operation still running finishes on its own. */
  close(): void;
  pcrRead(pcr: number, algs: number[]): Promise<{ alg: number; digest: Buffer }[]>;
  pcrExtend(pcr: number, digests: { alg: number; digest: Buffer }[]): Promise<void>;
  /** Defines the sha256 extend index if it is absent; its TPMA_NV attributes. */
  nvEnsureExtend(index: number): Promise<{ created: boolean; attributes: number }>;
  /** null while the index was never written. */
  nvRead(index: number): Promise<Buffer | null>;
  nvExtend(index: number, data: Buffer): Promise<void>;
  createAk(): Promise<TpmKeyBlob>;
  quote(ak: TpmKeyBlob, pcr: number, bankAlg: number, nonce: Buffer): Promise<TpmAttestation>;
  nvCertify(ak: TpmKeyBlob, index: number, nonce: Buffer): Promise<TpmAttestation>;
}

type NativeTpmClass = new () => NativeTpm;

/** TPMA_NV_CLEAR_STCLEAR: the index is reset at every TPM reset, as a PCR. */
export const TPMA_NV_CLEAR_STCLEAR = 0x08000000;

export class TpmError extends Error {
  readonly code = 'ETPM';
}

/** The default bound on one TPM operation, connecting included. */
export const TPM_TIMEOUT_MS = 10_000;

export class TpmClient {
  private native: NativeTpm | null = null;
  private generation = 0; // bumped by close(): a connection that completes after it is dropped
  private queue: Promise<unknown> = Promise.resolve();
  private bankList: TpmBank[] = [];

  constructor(readonly tcti: string, readonly timeoutMs = TPM_TIMEOUT_MS) {
    // tpm2-tss logs every failed command to stderr; ward reports failures itself, with their
    // decoded return codes. An explicit TSS2_LOG from the environment still wins.
    process.env.TSS2_LOG ??= 'all+none';
  }

  /** The active PCR banks, as of the last connection. */
  get banks(): readonly TpmBank[] {
    return this.bankList;
  }

  /** Drops the connection; the next operation connects again. */
  close(): void {
    this.generation++;
    this.native?.close();
    this.native = null;
  }

  pcrRead(pcr: number, algs: number[]): Promise<{ alg: number; digest: Buffer }[]> {
    return this.op((t) => t.pcrRead(pcr, algs));
  }
  pcrExtend(pcr: number, digests: { alg: number; digest: Buffer }[]): Promise<void> {
    return this.op((t) => t.pcrExtend(pcr, digests));
  }
  nvEnsureExtend(index: number): Promise<{ created: boolean; attributes: number }> {
    return this.op((t) => t.nvEnsureExtend(index));
  }
  nvRead(index: number): Promise<Buffer | null> {
    return this.op((t) => t.nvRead(index));
  }
  nvExtend(index: number, data: Buffer): Promise<void> {
    return this.op((t) => t.nvExtend(index, data));
  }
  createAk(): Promise<TpmKeyBlob> {
    return this.op((t) => t.createAk());
  }
  quote(ak: TpmKeyBlob, pcr: number, bankAlg: number, nonce: Buffer): Promise<TpmAttestation> {
    return this.op((t) => t.quote(ak, pcr, bankAlg, nonce));
  }
  nvCertify(ak: TpmKeyBlob, index: number, nonce: Buffer): Promise<TpmAttestation> {
    return this.op((t) => t.nvCertify(ak, index, nonce));
  }
  /** Connects now (if not connected), to learn the banks or fail early. */
  connect(): Promise<readonly TpmBank[]> {
    return this.op(async () => this.bankList);
  }

  /** Queues fn after every earlier operation; connects first if needed; bounded by timeoutMs. */
  private op<T>(fn: (t: NativeTpm) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const work = (async () => {
        if (!this.native) {
          const generation = this.generation;
          const Tpm = (tpmAddon() as { Tpm: NativeTpmClass }).Tpm;
          const t = new Tpm();
          const { banks } = await t.connect(this.tcti);
          if (generation !== this.generation) {
            t.close();
            throw new TpmError('the connection was dropped while it was being made');
          }
          this.bankList = banks;
          this.native = t;
        }
        return fn(this.native);
      })();
      work.catch(() => undefined); // a timed-out operation may still fail later: nobody waits for it
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TpmError(`the TPM (${this.tcti}) did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      });
      try {
        return await Promise.race([work, expired]);
      } catch (e) {
        // Whatever failed, start the next operation on a fresh connection: a TCTI whose peer
        // went away or a TPM that was restarted does not recover in place.
        this.close();
        throw e instanceof TpmError ? e : new TpmError((e as Error).message.replace(/^tpm: /, ''));
      } finally {
        clearTimeout(timer);
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
