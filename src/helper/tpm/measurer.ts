// The helper's measurements: extend the target, then append the event to the log, under the
// log's flock with a pending marker in between (DESIGN §3.7: measure, then launch). Everything
// that measures (pod start now; enter and stop with the Pods verbs; the audit head) goes through
// measure(), one call with the event's content.
//
// With no TPM configured, measure() answers false and the pod runs unmeasured. With a TPM that
// fails, it answers false too unless the policy requires measurement: then it throws and the
// caller must not launch.
import fs from 'node:fs';
import { TpmClient } from '../../native/tpm';
import type { Attestation } from '../../schema/tpm-quote';
import {
  encodeRecord,
  eventDigests,
  LogRecord,
  replay,
  splitJsonSeq,
  type EventContent,
  type EventDigest,
  type HashAlg,
} from '../../schema/tpm-log';
import type { PolicyTpm } from '../../schema/tpm-policy';
import { loadOrCreateAk } from './ak';
import { EventLog } from './event-log';
import { MeasureTarget } from './target';

export interface MeasurerOptions {
  policy: PolicyTpm;
  /** The TCTI to use (flag or policy, resolved), or null: no TPM. */
  tcti: string | null;
  /** STATE/tpm */
  dir: string;
  /**
   * Test-only fault injection (WARD_FAULT): "after-extend" kills the helper right after the
   * extend of a pod start, before its record is appended, to prove a verifier reports the lost event.
   */
  fault?: string;
  /** Where notes about the log and the TPM go (the helper's stderr). */
  note: (text: string) => void;
}

/** Measurement was required by policy and failed: the pod must not start. */
export class MeasurementRequiredError extends Error {}

/** The TCTI the helper uses: the flag wins over the policy; policy null means /dev/tpmrm0 if the host has one. */
export function resolveTcti(flag: string | undefined, policy: PolicyTpm): string | null {
  if (flag !== undefined) return flag === 'none' ? null : flag;
  if (policy.tcti === 'none') return null;
  if (policy.tcti !== null) return policy.tcti;
  return fs.existsSync('/dev/tpmrm0') ? 'device:/dev/tpmrm0' : null;
}

export class Measurer {
  private readonly tpm: TpmClient | null;
  readonly target: MeasureTarget | null;
  private readonly log: EventLog;
  private ready = false;
  private nextRecnum = 0;
  private knownSize = -1;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: MeasurerOptions) {
    this.tpm = opts.tcti === null ? null : new TpmClient(opts.tcti);
    this.target = this.tpm ? new MeasureTarget(this.tpm, opts.policy.target) : null;
    this.log = new EventLog(opts.dir);
    if (this.tpm) this.log.open();
  }

  get configured(): boolean {
    return this.tpm !== null;
  }

  get required(): boolean {
    return this.opts.policy.require;
  }

  /** What the helper says about measurement at start. */
  describe(): string {
    if (!this.tpm || !this.target) return 'pods are not measured (no TPM configured)';
    return `pods are measured into ${this.target.describe()} through ${this.opts.tcti}${this.required ? ' (required)' : ''}`;
  }

  /** Connects and reconciles the log with the TPM now; a TPM that is not there yet is only noted. */
  async start(): Promise<void> {
    if (!this.tpm) return;
    try {
      await this.exclusive(async () => {
        await this.log.lock();
        try {
          await this.ensureReady();
        } finally {
          this.log.unlock();
        }
      });
    } catch (e) {
      this.opts.note(`TPM not usable yet (${(e as Error).message}); measurements will retry it${this.required ? ' and pods will be refused until it works' : ''}`);
    }
  }

  /**
   * Extends the target with the event and appends it to the log. Resolves true when both
   * happened, false when there is no TPM or it failed and measurement is not required; rejects
   * with MeasurementRequiredError when it failed and is required.
   */
  async measure(content: EventContent): Promise<boolean> {
    if (!this.tpm || !this.target) {
      if (this.required) throw new MeasurementRequiredError('the helper policy requires TPM measurement but no TPM is configured (policy tpm.tcti, or --tpm-tcti)');
      return false;
    }
    try {
      await this.exclusive(() => this.extendThenAppend(content));
      return true;
    } catch (e) {
      const why = `measuring into ${this.target.describe()} failed: ${(e as Error).message}`;
      if (this.required) throw new MeasurementRequiredError(why);
      this.opts.note(`${why}; continuing unmeasured (the policy does not require measurement)`);
      return false;
    }
  }

  /** Quote (PCR target) or NV certification (NV target) over nonce, with the log as it is at that moment. */
  async attest(nonce: Buffer): Promise<{ attestation: Attestation; log: string }> {
    const tpm = this.tpm;
    const target = this.target;
    if (!tpm || !target) throw new Error('this helper measures into no TPM (set tpm.tcti in the helper policy, or pass --tpm-tcti)');
    return this.exclusive(async () => {
      await this.log.lock();
      try {
        await this.ensureReady();
        const ak = await loadOrCreateAk(tpm, this.opts.dir);
        const spec = target.spec;
        const a = 'nv' in spec ? await tpm.nvCertify(ak, parseInt(spec.nv, 16), nonce) : await tpm.quote(ak, spec.pcr, 0x000b, nonce);
        const attestation: Attestation = {
          kind: 'nv' in spec ? 'nv-certify' : 'quote',
          target: spec,
          attest: a.attest.toString('base64'),
          signature: a.signature.toString('base64'),
          akPublic: ak.public.toString('base64'),
          ...(a.nvPublic ? { nvPublic: a.nvPublic.toString('base64') } : {}),
        };
        return { attestation, log: this.log.read() };
      } catch (e) {
        this.ready = false;
        throw e;
      } finally {
        this.log.unlock();
      }
    });
  }

  /** The log text, read under the lock (consistent with no half-appended record). */
  async readLog(): Promise<string> {
    // Without a TPM nothing is written; a log from when there was one is still shown.
    if (!this.tpm) return fs.existsSync(this.log.file) ? fs.readFileSync(this.log.file, 'utf8') : '';
    return this.exclusive(async () => {
      await this.log.lock();
      try {
        return this.log.read();
      } finally {
        this.log.unlock();
      }
    });
  }

  close(): void {
    if (!this.tpm) return;
    this.tpm.close();
    this.log.close();
  }

  private async extendThenAppend(content: EventContent): Promise<void> {
    const target = this.target!;
    // A process that dies leaves the page cache behind: the marker survives it without a sync.
    // A power loss resets the register too (and the log is then archived), unless it is an
    // NV index that survives reboots: only then must each step reach the disk first.
    const durable = target.durable;
    await this.log.lock();
    try {
      await this.ensureReady();
      const digests = eventDigests(content, target.algs);
      const recnum = this.nextRecnum;
      this.log.writeMarker({ recnum, digests }, durable);
      try {
        await target.extend(digests);
        if (this.opts.fault === 'after-extend' && content.event_type === 'pod-start') process.kill(process.pid, 'SIGKILL');
        const rec: LogRecord = { recnum, ...target.field, digests, content_type: 'ward', content };
        this.log.append(encodeRecord(rec), durable);
      } catch (e) {
        // Did the extend reach the TPM, did the record reach the log? The marker stays, and the
        // next measurement reconciles before it writes a marker of its own.
        this.ready = false;
        throw e;
      }
      this.nextRecnum = recnum + 1;
      this.knownSize = this.log.size();
      this.log.clearMarker();
    } finally {
      this.log.unlock();
    }
  }

  /** Prepares the target and reconciles the log with it, unless done and nothing changed since. */
  private async ensureReady(): Promise<void> {
    if (this.ready && this.log.size() === this.knownSize) return;
    this.ready = false;
    await this.target!.prepare();
    await this.reconcile();
    this.ready = true;
  }

  /**
   * Brings the log in line with the TPM after a restart or a failure: a half-written last record
   * is cut, a marker whose event the TPM holds becomes a writer-died record (its digests, content
   * lost), a target at its reset value starts a new log. Anything else is noted, never hidden.
   */
  private async reconcile(): Promise<void> {
    const target = this.target!;
    const algs = target.algs;
    let text = this.log.read();
    const { truncated } = safeSplit(text);
    if (truncated !== null) {
      const keep = Buffer.byteLength(text) - Buffer.byteLength(truncated) - 1;
      this.log.truncate(keep);
      text = this.log.read();
      this.opts.note(`the event log's last record was cut short by a writer that died; removed it (${Buffer.byteLength(truncated)} bytes)`);
    }
    const parsed = parseLog(text);
    if (parsed.problem) this.opts.note(`the event log ${this.log.file} is damaged (${parsed.problem}); quotes will not verify until the target is reset`);
    let expected = replayAll(algs, parsed.digests);
    const values = await target.read();
    const marker = this.log.readMarker();
    let recnum = parsed.count;
    if (marker === 'unreadable') {
      this.opts.note(`the pending marker ${this.log.markerFile} is unreadable: a writer died while writing it (before its extend)`);
      this.log.clearMarker();
    } else if (marker !== null) {
      const withMarker = replayAll(algs, [...parsed.digests, marker.digests]);
      if (sameValues(algs, values, expected)) {
        // The writer died before its extend reached the TPM: nothing to record.
      } else if (sameValues(algs, values, withMarker)) {
        const rec: LogRecord = {
          recnum,
          ...target.field,
          digests: marker.digests,
          content_type: 'ward',
          content: { event_type: 'writer-died', time: new Date().toISOString(), note: 'a writer died between extend and append: the TPM holds this event, its content is lost' },
        };
        this.log.append(encodeRecord(rec), true);
        recnum++;
        expected = withMarker;
        this.opts.note(`a writer died between extend and append (event ${marker.recnum}); recorded as a writer-died event`);
      }
      this.log.clearMarker();
    }
    if (!sameValues(algs, values, expected)) {
      if (isReset(algs, values) && recnum > 0) {
        const old = this.log.archive();
        recnum = 0;
        this.opts.note(`${target.describe()} is at its reset value (a reboot, or the index was redefined): the old event log is now ${old}`);
      } else {
        this.opts.note(`the event log does not replay to the value of ${target.describe()}: something else extends it or the log was altered; quotes will not verify until the target is reset`);
      }
    }
    this.nextRecnum = recnum;
    this.knownSize = this.log.size();
  }

  /** Runs fn after every earlier measurement or quote of this helper (the flock covers other processes). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.chain.then(fn, fn);
    this.chain = result.catch(() => undefined);
    return result;
  }
}

function safeSplit(text: string): { records: string[]; truncated: string | null } {
  try {
    return splitJsonSeq(text);
  } catch {
    return { records: [], truncated: null };
  }
}

/** The digests of every record, in order, and the first problem met (records after it are not used). */
function parseLog(text: string): { digests: EventDigest[][]; count: number; problem: string | null } {
  let records: string[];
  try {
    records = splitJsonSeq(text).records;
  } catch (e) {
    return { digests: [], count: 0, problem: (e as Error).message };
  }
  const digests: EventDigest[][] = [];
  for (const [i, r] of records.entries()) {
    let rec;
    try {
      rec = LogRecord.safeParse(JSON.parse(r));
    } catch {
      rec = null;
    }
    if (!rec?.success) return { digests, count: records.length, problem: `record ${i} is not a valid record` };
    digests.push(rec.data.digests);
  }
  return { digests, count: records.length, problem: null };
}

function replayAll(algs: readonly HashAlg[], digests: EventDigest[][]): Map<HashAlg, Buffer> {
  const out = new Map<HashAlg, Buffer>();
  for (const alg of algs) {
    try {
      out.set(alg, replay(alg, digests));
    } catch {
      /* a record lacks this bank: no expected value, which never matches */
    }
  }
  return out;
}

function sameValues(algs: readonly HashAlg[], a: Map<HashAlg, Buffer>, b: Map<HashAlg, Buffer>): boolean {
  return algs.every((alg) => {
    const x = a.get(alg);
    const y = b.get(alg);
    return x !== undefined && y !== undefined && x.equals(y);
  });
}

function isReset(algs: readonly HashAlg[], values: Map<HashAlg, Buffer>): boolean {
  return algs.every((alg) => values.get(alg)?.every((byte) => byte === 0) ?? false);
}
