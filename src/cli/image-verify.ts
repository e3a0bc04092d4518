// ward image verify: re-hash blobs and rendered trees (exit 251 if anything changed), and check
// every verified ACI's signature again against today's keystore (exit 250 if one fails: its key
// was removed, revoked or has expired since it was fetched).
import type { Command } from 'commander';
import { verifyImages } from '../image/verify';
import { EXIT } from './exit-codes';
import { parseFormat } from './format';
import { globals } from './globals';
import { storeFor } from './store-arg';

export function register(image: Command): void {
  image
    .command('verify')
    .description('re-hash every blob and rendered tree, check ACI signatures again, and report any change')
    .option('--format <format>', 'table or json', 'table')
    .action(async (opts: { format: string }, cmd: Command) => {
      const store = storeFor(cmd);
      const results = await verifyImages(store);
      let badSignature = false;
      for (const r of results) {
        const rec = store.get(r.id);
        if (!rec || rec.kind !== 'aci' || rec.signer === 'unverified') continue;
        const { verifyAciFile } = await import('../trust/aci-verify');
        try {
          if (!rec.signature || !store.blobs.has(rec.signature)) throw new Error('its signature is no longer in the store; fetch it again');
          const v = await verifyAciFile(globals(cmd).config, store.blobs.path(rec.id), store.blobs.read(rec.signature, 1 << 20), `image ${rec.name}`, rec.name);
          if (v.signer !== rec.signer) throw new Error(`it is now verified as signed by ${v.signer}, not ${rec.signer}`);
        } catch (e) {
          r.ok = false;
          r.problems.push(`signature: ${(e as Error).message}`);
          badSignature = true;
        }
      }
      if (parseFormat(opts.format) === 'json') process.stdout.write(JSON.stringify(results, null, 2) + '\n');
      else for (const r of results) process.stdout.write(r.ok ? `ok       ${r.id} ${r.name}\n` : `CHANGED  ${r.id} ${r.name}: ${r.problems.join('; ')}\n`);
      if (results.some((r) => !r.ok)) process.exitCode = badSignature ? EXIT.signature : EXIT.image;
    });
}
