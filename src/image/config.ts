// Loading the frontend's configuration (src/schema/config.ts): system file, then the user's.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WardError } from '../schema/errors';
import { DEFAULT_LIMITS, type ExtractLimits } from './limits';

export function userConfigFile(): string {
  return path.join(process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'ward', 'config.json');
}

export const SYSTEM_CONFIG_FILE = '/etc/ward/config.json';

/** The extraction limits in force: defaults, then /etc/ward/config.json, then the user's file. */
export function extractLimits(files = [SYSTEM_CONFIG_FILE, userConfigFile()]): ExtractLimits {
  let limits = { ...DEFAULT_LIMITS };
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const { WardConfig } = require('../schema/config') as typeof import('../schema/config');
    let parsed;
    try {
      parsed = WardConfig.safeParse(JSON.parse(text));
    } catch (e) {
      throw new WardError('EUSAGE', `${file} is not valid JSON (${(e as Error).message}); fix or remove it`);
    }
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new WardError('EUSAGE', `${file}: ${issue?.path.join('.') || '(top)'}: ${issue?.message}; fix or remove it`);
    }
    limits = { ...limits, ...parsed.data.limits };
  }
  return limits;
}
