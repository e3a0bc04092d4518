// Anchors the audit log in the TPM: its head (record count and last hash) is measured as an
// audit-head event at helper start, at stop, and every policy.tpm.auditInterval seconds when it
// moved. A verifier holding an attested event log can then tell that records were cut from the
// end of the audit log, which the hash chain alone cannot show.
import type { AuditLog } from '../audit';
import type { Measurer } from './measurer';

export class AuditAnchor {
  private timer: NodeJS.Timeout | null = null;
  private lastHead: string | null = null;

  constructor(
    private readonly measurer: Measurer,
    private readonly audit: AuditLog,
    private readonly intervalSeconds: number,
    private readonly note: (text: string) => void,
  ) {}

  async start(): Promise<void> {
    await this.anchor('start');
    if (this.intervalSeconds > 0) {
      this.timer = setInterval(() => void this.anchor('periodic'), this.intervalSeconds * 1000);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.anchor('stop');
  }

  /** Measures the head now (periodic: only if it moved since the last anchor). */
  async anchor(reason: 'start' | 'stop' | 'periodic'): Promise<void> {
    if (!this.measurer.configured) return;
    const { records, head } = this.audit.position;
    if (reason === 'periodic' && head === this.lastHead) return;
    try {
      const measured = await this.measurer.measure({ event_type: 'audit-head', time: new Date().toISOString(), reason, records, head });
      if (measured) this.lastHead = head;
    } catch (e) {
      this.note(`anchoring the audit log (${reason}): ${(e as Error).message}`);
    }
  }
}
