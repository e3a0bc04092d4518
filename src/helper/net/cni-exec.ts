// Runs one CNI plugin as the spec says: the command and its arguments in CNI_* variables, the
// network configuration on stdin, a result or an error object on stdout. Plugins are root
// programs from the host's CNI path; their output is bounded and checked all the same.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CniError, CniResult } from '../../schema/cni';
import { parseStrictJson } from '../../schema/strict-json';
import { HelperError } from '../errors';

const MAX_OUTPUT = 1 << 20;
const TIMEOUT_MS = 30_000;

export interface PluginCall {
  command: 'ADD' | 'DEL' | 'CHECK';
  containerId: string;
  /** A path to the pod's network namespace; empty for a DEL whose namespace is gone. */
  netns: string;
  ifName: string;
  cniPath: string;
  /** The plugin's configuration with name, cniVersion, prevResult and runtimeConfig filled in. */
  conf: Record<string, unknown> & { type: string };
}

/** ADD answers a result; DEL and CHECK answer nothing. Failures are ENETWORK with the plugin's message. */
export async function execPlugin(call: PluginCall): Promise<CniResult | null> {
  const bin = path.join(call.cniPath, call.conf.type);
  let st: fs.Stats;
  try {
    st = fs.statSync(bin);
  } catch {
    throw new HelperError('ENETWORK', `CNI plugin '${call.conf.type}' is not in ${call.cniPath}; install containernetworking-plugins or fix the network's "type"`);
  }
  // The helper runs it as root: only root may be able to change it.
  if (!st.isFile() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new HelperError('ENETWORK', `CNI plugin ${bin} must be a regular file owned by root and writable by nobody else`);
  }
  const env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.netns,
    CNI_IFNAME: call.ifName,
    CNI_PATH: call.cniPath,
  };
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve, reject) => {
    const child = spawn(bin, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let outLen = 0;
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.stdout.on('data', (c: Buffer) => {
      outLen += c.length;
      if (outLen > MAX_OUTPUT) child.kill('SIGKILL');
      else out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 4096) err += c.toString();
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(call.conf));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new HelperError('ENETWORK', `CNI plugin ${call.conf.type} could not run: ${e.message}`));
    });
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve({ code: outLen > MAX_OUTPUT ? null : c, stdout: Buffer.concat(out), stderr: err });
    });
  });
  const what = `CNI plugin ${call.conf.type} (${call.command} ${call.ifName})`;
  if (code !== 0) {
    let msg = stderr.trim().split('\n').pop() || `exited ${code === null ? 'on a signal or after too much output' : code}`;
    try {
      const e = CniError.parse(parseStrictJson(stdout));
      msg = `${e.msg}${e.details ? `: ${e.details}` : ''} (CNI error ${e.code})`;
    } catch {
      /* not an error object: keep what stderr said */
    }
    throw new HelperError('ENETWORK', `${what} failed: ${msg.replace(/[\r\n]+/g, ' ')}`);
  }
  if (call.command !== 'ADD') return null;
  const parsed = (() => {
    try {
      return CniResult.safeParse(parseStrictJson(stdout));
    } catch (e) {
      throw new HelperError('ENETWORK', `${what} answered something that is not JSON: ${(e as Error).message}`);
    }
  })();
  if (!parsed.success) throw new HelperError('ENETWORK', `${what} answered a malformed result: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}
