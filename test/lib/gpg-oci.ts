// Real GnuPG for the OCI signature tests: a private GNUPGHOME, keys made by gpg itself (ed25519,
// rsa4096, a certify-only primary with a signing subkey), public keyrings exported for
// policy.json, signatures made by `skopeo copy --sign-by` / `skopeo standalone-sign` or by
// `gpg --sign` over a payload of our own. stop() kills the home's agent.
import fs from 'node:fs';
import path from 'node:path';
import { run } from './registry';

export interface GpgKey {
  /** The primary key's fingerprint, uppercase hex. */
  fpr: string;
  /** A binary public keyring of this key alone (gpg --export). */
  keyring: string;
}

export class GpgHome {
  constructor(readonly home: string) {
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  }

  gpg(args: string[]): Promise<Buffer> {
    return run('gpg', ['--homedir', this.home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--no-tty', ...args]);
  }

  private async fingerprintOf(uid: string): Promise<string> {
    const out = (await this.gpg(['--with-colons', '--list-keys', uid])).toString();
    const fpr = /^fpr:+([0-9A-F]{40,64}):/m.exec(out);
    if (!fpr) throw new Error(`no fingerprint for ${uid}: ${out}`);
    return fpr[1]!;
  }

  /** A new key; `subkey`: the primary only certifies and a separate subkey signs. */
  /** `at` makes it in the past (gpg's --faked-system-time), `expires` as gpg reads it (1d, never). */
  async key(uid: string, algo: 'ed25519' | 'rsa4096' | 'rsa1024', o: { subkey?: boolean; at?: string; expires?: string } = {}): Promise<GpgKey> {
    await this.gpg([...(o.at ? ['--faked-system-time', `${o.at}!`] : []), '--quick-gen-key', uid, algo, o.subkey ? 'cert' : 'sign', o.expires ?? 'never']);
    const fpr = await this.fingerprintOf(uid);
    if (o.subkey) await this.gpg(['--quick-add-key', fpr, algo, 'sign', 'never']);
    // Beside the (private, 0700) home, where the test users can read it.
    const keys = `${this.home}-public`;
    fs.mkdirSync(keys, { recursive: true, mode: 0o755 });
    const keyring = path.join(keys, `${fpr}.gpg`);
    fs.writeFileSync(keyring, await this.gpg(['--export', fpr]));
    fs.chmodSync(keyring, 0o644);
    return { fpr, keyring };
  }

  /** An OpenPGP Signed Message over `payload` by `fpr` (binary, as containers' signatures are). */
  async sign(fpr: string, payload: Buffer | string, o: { digestAlgo?: string; armor?: boolean; uncompressed?: boolean; at?: string } = {}): Promise<Buffer> {
    const input = path.join(this.home, 'payload.in');
    const output = path.join(this.home, 'payload.sig');
    fs.writeFileSync(input, payload);
    fs.rmSync(output, { force: true });
    await this.gpg([...(o.at ? ['--faked-system-time', `${o.at}!`] : []), '--local-user', fpr, ...(o.digestAlgo ? ['--digest-algo', o.digestAlgo] : []), ...(o.armor ? ['--armor'] : []), ...(o.uncompressed ? ['--compress-algo', 'none'] : []), '--output', output, '--sign', input]);
    return fs.readFileSync(output);
  }

  /** skopeo standalone-sign: a simple signature of a manifest file claiming `identity`. */
  async standaloneSign(manifest: Buffer, identity: string, fpr: string): Promise<Buffer> {
    const m = path.join(this.home, 'manifest.json');
    const out = path.join(this.home, 'standalone.sig');
    fs.writeFileSync(m, manifest);
    fs.rmSync(out, { force: true });
    await runWithHome(this.home, 'skopeo', ['standalone-sign', m, identity, fpr, '--output', out]);
    return fs.readFileSync(out);
  }

  /** skopeo copy --sign-by into a registry; signatures land in the lookaside `registriesD` names. */
  async pushSigned(layout: string, tag: string, dest: string, fpr: string, registriesD: string): Promise<void> {
    await runWithHome(this.home, 'skopeo', ['--registries.d', registriesD, 'copy', '--quiet', '--dest-tls-verify=false', '--sign-by', fpr, `oci:${layout}:${tag}`, `docker://${dest}`]);
  }

  async stop(): Promise<void> {
    await run('gpgconf', ['--homedir', this.home, '--kill', 'gpg-agent']).catch(() => undefined);
  }
}

/** A payload as containers writes it (the tests vary it to make bad ones). */
export function simplePayload(digest: string, identity: string, extraCritical: Record<string, unknown> = {}): string {
  return JSON.stringify({
    critical: { type: 'atomic container signature', image: { 'docker-manifest-digest': digest }, identity: { 'docker-reference': identity }, ...extraCritical },
    optional: { creator: 'ward test' },
  });
}

function runWithHome(home: string, cmd: string, args: string[]): Promise<Buffer> {
  const prev = process.env.GNUPGHOME;
  process.env.GNUPGHOME = home;
  try {
    return run(cmd, args);
  } finally {
    if (prev === undefined) delete process.env.GNUPGHOME;
    else process.env.GNUPGHOME = prev;
  }
}
