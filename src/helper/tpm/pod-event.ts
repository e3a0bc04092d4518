// What a pod start is measured as (REFERENCE §7): digests and identifiers only, computed by the
// helper from what it is about to hand to ward-stage1. measurePodStart is the one call run makes
// right before launch(); enter and stop get their own events and the same one-call shape.
import crypto from 'node:crypto';
import type { ImageRef } from '../../schema/protocol';
import type { PodStartEvent } from '../../schema/tpm-log';
import { HelperError } from '../errors';
import { encodeSpec, type LaunchSpec } from '../launch';
import type { SubIdRange } from '../peer';
import type { Helper } from '../server';
import { MeasurementRequiredError } from './measurer';

export interface PodStart {
  uuid: string;
  image: ImageRef;
  /** The sealed tree mounted as the lower layer. */
  tree: string;
  /** The launch spec exactly as launch() will encode it. */
  spec: LaunchSpec;
  ids: { uid: SubIdRange; gid: SubIdRange };
}

function sha256(...parts: (string | Buffer)[]): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return `sha256:${h.digest('hex')}`;
}

/** NUL after every item: ["a", "b"] and ["a\0b"] cannot collide (items never contain NUL). */
function listDigest(items: readonly string[]): string {
  return sha256(...items.map((s) => `${s}\0`));
}

/**
 * The launch spec digest: the bytes ward-stage1 receives, then what travels beside them (the
 * seccomp program's profile, the id maps the helper writes), in the same key\0value\0 form.
 */
export function launchSpecDigest(spec: LaunchSpec, seccompDigest: string, ids: PodStart['ids']): string {
  const extra: [string, string][] = [
    ['seccomp_profile', seccompDigest],
    ['uid_map', `0 ${ids.uid.base} ${ids.uid.count}`],
    ['gid_map', `0 ${ids.gid.base} ${ids.gid.count}`],
  ];
  return sha256(encodeSpec(spec), ...extra.map(([k, v]) => `${k}\0${v}\0`));
}

export function podStartEvent(p: PodStart, digests: { helper: string; stage1: string; seccomp: string }): PodStartEvent {
  return {
    event_type: 'pod-start',
    time: new Date().toISOString(),
    pod: p.uuid,
    helper: digests.helper,
    stage1: digests.stage1,
    image: { name: p.image.name, id: p.image.id },
    tree: p.tree,
    signer: p.image.signer,
    trustPolicy: p.image.trustPolicy ?? null,
    launchSpec: launchSpecDigest(p.spec, digests.seccomp, p.ids),
    seccomp: digests.seccomp,
    argv: listDigest(p.spec.args),
    env: listDigest(p.spec.env),
  };
}

/**
 * Measures a pod about to start. Resolves whether it was measured; throws a HelperError (ETPM)
 * when the policy requires measurement and it failed: the caller must then not launch.
 */
export async function measurePodStart(helper: Helper, p: PodStart): Promise<boolean> {
  const { measurer, helperDigest, stage1Digest, seccomp } = helper.opts;
  try {
    return await measurer.measure(podStartEvent(p, { helper: helperDigest, stage1: stage1Digest, seccomp: seccomp.digest }));
  } catch (e) {
    if (e instanceof MeasurementRequiredError) {
      throw new HelperError('ETPM', `pod not started: ${e.message}; fix the TPM or its TCTI (helper policy tpm.tcti), or an administrator can set tpm.require to false`);
    }
    throw e;
  }
}

/** Measures an action on a running pod before the helper takes it; throws ETPM when required and failed. */
export async function measurePodAction(helper: Helper, pod: string, action: 'stop' | 'kill' | 'enter', uid: number): Promise<boolean> {
  try {
    return await helper.opts.measurer.measure({ event_type: 'pod-action', time: new Date().toISOString(), pod, action, uid });
  } catch (e) {
    if (e instanceof MeasurementRequiredError) {
      throw new HelperError('ETPM', `pod ${pod} not ${action === 'enter' ? 'entered' : 'stopped'}: ${e.message}; fix the TPM or its TCTI (helper policy tpm.tcti), or an administrator can set tpm.require to false`);
    }
    throw e;
  }
}
