// ward metadata-service [--listen-port N] [--listen-address A] [--socket PATH]: the appc metadata
// service for pods run with --mds-register (src/mds). Runs as root, in the foreground.
import type { Command } from 'commander';
import { WardError } from '../schema/errors';
import { MDS_DEFAULT_PORT, MDS_DEFAULT_SOCKET } from '../schema/mds';

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d{1,5}$/.test(v) || n > 65535) throw new WardError('EUSAGE', `--listen-port: '${v}' is not a port number (0-65535; 0 picks a free one)`);
  return n;
}

export function register(program: Command): void {
  program
    .command('metadata-service')
    .description('serve the appc metadata service to pods run with --mds-register (as root, in the foreground)')
    .option('--listen-port <port>', `TCP port the pods reach (default ${MDS_DEFAULT_PORT}; 0 picks a free one)`)
    .option('--listen-address <addr>', 'address to listen on for the pods (default 0.0.0.0)', '0.0.0.0')
    .option('--socket <path>', `the root-only registration socket the helper uses (default ${MDS_DEFAULT_SOCKET})`, MDS_DEFAULT_SOCKET)
    .action(async (opts: { listenPort?: string; listenAddress: string; socket: string }) => {
      if (process.getuid?.() !== 0) throw new WardError('EDENIED', 'metadata-service must run as root (its registration socket is root-only); start it with sudo or systemd (ward-metadata.service)');
      const port = opts.listenPort === undefined ? MDS_DEFAULT_PORT : parsePort(opts.listenPort);
      const { startMetadataService } = await import('../mds/service');
      const { peerUidOf } = await import('../mds/peer');
      const log = (line: string) => process.stderr.write(`ward metadata-service: ${line}\n`);
      let svc;
      try {
        svc = await startMetadataService({ port, host: opts.listenAddress, socketPath: opts.socket, peerUid: 0, peerUidOf, log });
      } catch (e) {
        throw new WardError('EINTERNAL', `metadata-service: ${(e as Error).message}`);
      }
      log(`listening on ${opts.listenAddress}:${svc.port}, registrations on ${opts.socket}`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await svc.close();
      log('stopped');
    });
}
