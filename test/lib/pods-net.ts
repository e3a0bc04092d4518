// What a pod's network and cgroups may leave on the host, looked at from outside: host-side
// interfaces with an address on the env's subnets, iptables nat rules naming the pod, pins and
// records in the helper's STATE/net, cgroup dirs under the env's cgroup parent.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestEnv } from './env';

export function netLeftovers(env: TestEnv, uuids: string[] = []): { links: string[]; rules: string[]; pins: string[]; cgroups: string[] } {
  const prefixes = [env.netSubnets.default, env.netSubnets.restricted].map((s) => s.split('.').slice(0, 3).join('.') + '.');
  const links = execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).split('\n').filter((l) => prefixes.some((p) => l.includes(` ${p}`)));
  const nat = execFileSync('iptables', ['-w', '-t', 'nat', '-S'], { encoding: 'utf8' }).split('\n');
  const rules = nat.filter((l) => uuids.some((u) => l.includes(u)) || prefixes.some((p) => l.includes(p)));
  let pins: string[] = [];
  try {
    pins = fs.readdirSync(path.join(env.state, 'net'));
  } catch {
    /* never made */
  }
  const cgroups = env.cgroupParentDirs().flatMap((d) => fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(d, e.name)));
  return { links, rules, pins, cgroups };
}

export const NOTHING_LEFT = { links: [], rules: [], pins: [], cgroups: [] };
