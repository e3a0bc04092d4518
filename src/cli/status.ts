// ward status [--wait] [--format=json] UUID
import type { Command } from 'commander';
import { podStatus, resolveUuid } from '../pod/pods';
import type { PodInfo } from '../schema/pod';
import { parseFormat } from './format';
import { globals } from './globals';

/** key=value lines, as rkt status prints them. */
function describe(p: PodInfo): string {
  const lines = [
    `uuid=${p.uuid}`,
    `state=${p.state}`,
    `created=${p.created}`,
    `started=${p.started ?? ''}`,
    `pid=${p.pid ?? ''}`,
    `exited=${p.state === 'exited' || p.state === 'exited-garbage'}`,
    ...(p.exited ? [`exited-at=${p.exited}`] : []),
    ...p.apps.map((a) => `app-${a.name}=${a.exitCode ?? ''}${a.signal ? ` (${a.signal})` : ''}${a.oomKilled ? ' oom-killed' : ''}`),
    ...(p.networks ? [`networks=${p.networks.map((n) => `${n.network}:ip4=${n.address.split('/')[0]}`).join(',')}`] : []),
    `image=${p.image}`,
    `image-id=${p.imageId}`,
    `signer=${p.signer}`,
    p.selinux ? `selinux=process ${p.selinux.process ?? 'none'} file ${p.selinux.file}` : 'selinux=none',
    `tpm=${p.measured === null ? '' : p.measured ? 'measured' : 'not measured'}`,
  ];
  return lines.join('\n') + '\n';
}

export function register(program: Command): void {
  program
    .command('status')
    .description('the state of one of your pods: its apps\' exit statuses, image, signer, SELinux labels, TPM measurement')
    .argument('<uuid>', 'the pod (a unique prefix will do)')
    .option('--wait', 'wait until the pod has exited')
    .option('--format <format>', 'table (key=value lines) or json', 'table')
    .action(async (given: string, opts: { wait?: boolean; format: string }, cmd: Command) => {
      const format = parseFormat(opts.format);
      const socket = globals(cmd).socket;
      const pod = await podStatus(socket, await resolveUuid(socket, given), Boolean(opts.wait));
      process.stdout.write(format === 'json' ? JSON.stringify(pod, null, 2) + '\n' : describe(pod));
    });
}
