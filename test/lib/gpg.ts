// Real GnuPG for signing tests: a private GNUPGHOME (its own agent, stopped by close()), keys of
// the kinds ward must accept or refuse, detached signatures over files, public key exports.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export type KeyKind = 'ed25519' | 'rsa4096' | 'rsa2048' | 'rsa1024';

export interface GpgKey {
  /** Primary key fingerprint, uppercase hex. */
  fingerprint: string;
  /** The signing subkey's fingerprint, when the key was made with one. */
  subkey?: string;
  uid: string;
}

export interface MakeKeyOptions {
  uid?: string;
  /** gpg expiry spec for the primary (e.g. "1d"); default never. */
  expire?: string;
  /** A certify-only primary with a signing subkey of this kind. */
  signingSubkey?: KeyKind;
  /** Unix seconds: make the key as if the clock said this (for expired keys). */
  at?: number;
}

export interface SignOptions {
  out?: string;
  armor?: boolean;
  /** e.g. SHA1 (weak digests are then allowed, so gpg makes what ward must refuse). */
  digest?: string;
  /** gpg expiry spec for the signature. */
  expire?: string;
  /** Unix seconds: sign as if the clock said this. */
  at?: number;
  /** Sign with this exact (sub)key fingerprint instead of gpg's choice. */
  exactKey?: string;
}

export class Gpg {
  readonly home: string;
  private n = 0;

  constructor(dir: string) {
    this.home = dir;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  run(args: string[], input?: string): string {
    const r = spawnSync('gpg', ['--homedir', this.home, '--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { encoding: 'utf8', input });
    if (r.status !== 0) throw new Error(`gpg ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  }

  private faked(at?: number): string[] {
    return at === undefined ? [] : ['--faked-system-time', `${at}!`, '--ignore-time-conflict'];
  }

  private fingerprints(uid: string): string[] {
    return this.run(['--with-colons', '--fixed-list-mode', '--list-keys', uid]).split('\n').filter((l) => l.startsWith('fpr:')).map((l) => l.split(':')[9]!);
  }

  makeKey(kind: KeyKind, opts: MakeKeyOptions = {}): GpgKey {
    const uid = opts.uid ?? `Ward Test ${++this.n} <test${this.n}-${process.pid}@ward.invalid>`;
    this.run([...this.faked(opts.at), '--quick-gen-key', uid, kind, opts.signingSubkey ? 'cert' : 'sign', opts.expire ?? 'never']);
    const [fingerprint] = this.fingerprints(uid);
    if (opts.signingSubkey) {
      this.run([...this.faked(opts.at), '--quick-add-key', fingerprint!, opts.signingSubkey, 'sign', opts.expire ?? 'never']);
      return { fingerprint: fingerprint!, subkey: this.fingerprints(uid)[1]!, uid };
    }
    return { fingerprint: fingerprint!, uid };
  }

  /** Revokes the key with the certificate gpg made when it generated it. */
  revoke(key: GpgKey): void {
    const cert = fs.readFileSync(path.join(this.home, 'openpgp-revocs.d', `${key.fingerprint}.rev`), 'utf8').replace(/^:-----BEGIN/m, '-----BEGIN');
    this.run(['--import'], cert);
  }

  /** A detached signature of file (default: file.asc, binary unless armor). */
  sign(file: string, key: GpgKey, opts: SignOptions = {}): string {
    const out = opts.out ?? `${file}.asc`;
    const args = [...this.faked(opts.at), '--yes', '--local-user', `${opts.exactKey ?? key.subkey ?? key.fingerprint}!`, '--detach-sign', '-o', out];
    if (opts.armor) args.push('--armor');
    if (opts.digest) args.push('--digest-algo', opts.digest, '--allow-weak-digest-algos');
    if (opts.expire) args.push('--ask-sig-expire', '--default-sig-expire', opts.expire);
    this.run([...args, file]);
    fs.chmodSync(out, 0o644);
    return out;
  }

  /** The armored public key (with its subkeys and any revocation). */
  exportPublic(key: GpgKey): string {
    return this.run(['--armor', '--export', key.fingerprint]);
  }

  /** Writes the armored public key to file, world-readable. */
  exportTo(key: GpgKey, file: string): string {
    fs.writeFileSync(file, this.exportPublic(key), { mode: 0o644 });
    return file;
  }

  close(): void {
    spawnSync('gpgconf', ['--homedir', this.home, '--kill', 'all']);
  }
}
