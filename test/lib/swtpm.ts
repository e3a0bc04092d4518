// A real TPM 2.0 for tests: swtpm on loopback ports the test picks, with its state in a temp dir,
// and tpm2-tools pointed at it to read back what ward wrote, independently of ward's own code.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Two consecutive free loopback ports (swtpm's server and control channels). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 20000 + 2 * Math.floor(Math.random() * 15000);
    if ((await portFree(p)) && (await portFree(p + 1))) return p;
  }
  throw new Error('no two consecutive free loopback ports for swtpm');
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export class Swtpm {
  private child: ChildProcess | null = null;
  private log = '';

  private constructor(readonly port: number, readonly dir: string) {}

  static async start(): Promise<Swtpm> {
    const port = await freePortPair();
    const t = new Swtpm(port, fs.mkdtempSync(path.join(os.tmpdir(), 'ward-swtpm-')));
    const child = spawn('swtpm', ['socket', '--tpm2', '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`, '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
      '--tpmstate', `dir=${t.dir}`, '--flags', 'not-need-init,startup-clear'], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.child = child;
    child.stdout!.on('data', (c: Buffer) => (t.log += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (t.log += c.toString()));
    const deadline = Date.now() + 10_000;
    while (!(await connects(port))) {
      if (child.exitCode !== null) throw new Error(`swtpm exited: ${t.log}`);
      if (Date.now() > deadline) throw new Error(`swtpm did not listen on ${port}: ${t.log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return t;
  }

  get pid(): number {
    return this.child!.pid!;
  }

  /** The TCTI config for ward (--tpm-tcti) and for tpm2-tools. */
  get tcti(): string {
    return `swtpm:host=127.0.0.1,port=${this.port}`;
  }

  /** Runs a tpm2-tools command against this TPM; throws with its stderr on failure. */
  tools(cmd: string, args: string[]): Buffer {
    const r = spawnSync(cmd, args, { env: { ...process.env, TPM2TOOLS_TCTI: this.tcti, TSS2_LOG: 'all+none' } });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.toString()}`);
    return r.stdout;
  }

  /** The NV index's value read with tpm2_nvread (authorized by the index itself). */
  nvRead(index: string): Buffer {
    return this.tools('tpm2_nvread', [index, '-C', index]);
  }

  /** One PCR in one bank read with tpm2_pcrread, as raw bytes. */
  pcrRead(bank: string, pcr: number): Buffer {
    const out = this.tools('tpm2_pcrread', [`${bank}:${pcr}`]).toString();
    const m = /0x([0-9A-Fa-f]+)/.exec(out);
    if (!m) throw new Error(`tpm2_pcrread ${bank}:${pcr} printed no value: ${out}`);
    return Buffer.from(m[1]!, 'hex');
  }

  /** TPM reset, as at a reboot: power-cycle through the control channel, then Startup(CLEAR). */
  reset(): void {
    const r = spawnSync('swtpm_ioctl', ['--tcp', `127.0.0.1:${this.port + 1}`, '-i']);
    if (r.status !== 0) throw new Error(`swtpm_ioctl -i: ${r.stderr.toString()}`);
    this.tools('tpm2_startup', ['-c']);
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (c && c.exitCode === null) {
      const done = new Promise((r) => c.once('close', r));
      c.kill('SIGTERM');
      await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
      if (c.exitCode === null) c.kill('SIGKILL');
    }
    this.child = null;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
