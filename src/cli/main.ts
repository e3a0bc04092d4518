// ward: the unprivileged frontend. Each command lives in its own file; this one wires them up
// and turns failures into one line and an exit status.
import { Command, CommanderError } from 'commander';
import { WardError } from '../image/errors';
import { register as registerAudit } from './audit';
import { EXIT, exitCodeFor } from './exit-codes';
import { register as registerFetch } from './fetch';
import { register as registerImage } from './image';
import { register as registerRun } from './run';
import { register as registerTpm } from './tpm';
import { register as registerPrepare } from './prepare';
import { register as registerRunPrepared } from './run-prepared';
import { register as registerList } from './list';
import { register as registerStatus } from './status';
import { register as registerStop } from './stop';
import { register as registerRm } from './rm';
import { register as registerGc } from './gc';
import { register as registerCatManifest } from './cat-manifest';
import { register as registerEnter } from './enter';
import { register as registerExport } from './export';
import { register as registerVersion } from './version';

const program = new Command('ward')
  .description('a security-hardened, privilege-separated container runtime')
  .option('--dir <dir>', 'the image store (default ~/.local/share/ward)')
  .option('--helper-socket <path>', 'the ward-helper socket (default /run/ward/helper.sock, or $WARD_HELPER_SOCKET)')
  .option('--insecure-options <list>', 'disable checks: image')
  .option('--system-config <dir>', 'shipped trust configuration (default /usr/lib/ward)')
  .option('--local-config <dir>', "the host's trust configuration (default /etc/ward)")
  .option('--user-config <dir>', "the caller's trust configuration (default ~/.config/ward)")
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `ward: ${s.slice(7)}` : s) })
  .showSuggestionAfterError(true);
registerRun(program);
registerPrepare(program);
registerRunPrepared(program);
registerList(program);
registerStatus(program);
registerStop(program);
registerRm(program);
registerGc(program);
registerCatManifest(program);
registerEnter(program);
registerExport(program);
registerFetch(program);
registerImage(program);
registerTpm(program);
registerAudit(program);
registerVersion(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : EXIT.usage;
    return;
  }
  if (e instanceof WardError) {
    process.stderr.write(`ward: ${e.message}\n`);
    process.exitCode = exitCodeFor(e.code);
    return;
  }
  process.stderr.write(`ward: internal error: ${(e as Error).stack ?? e}\n`);
  process.exitCode = EXIT.failure;
});
