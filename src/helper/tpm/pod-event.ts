// What a pod start is measured as (REFERENCE §7): digests and identifiers only, computed by the
// helper from what it is about to hand to ward-stage1. measurePodStart is the one call run makes
// right before launch(); enter and stop get their own events and the same one-call shape.
import crypto from 'node:crypto';
import type { PodRecord } from '../../schema/pod';
import type { PodStartEvent } from '../../schema/tpm-log';
import { HelperError } from '../errors';
import { encodeSpec, type LaunchSpec } from '../launch';
import type { SubIdRange } from '../peer';
import type { Helper } from '../server';
import { MeasurementRequiredError } from './measurer';

export interface PodStart {
  uuid: string;
  /** Every app: its name, image and the sealed tree mounted as its lower layer. */
  apps: Pick<PodRecord['apps'][number], 'name' | 'image' | 'tree'>[];
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

/**
 * The event names the first app at its top level (image, tree, signer, argv, env: the fields a
 * one-app pod has always had) and every app, the first included, in apps.
 */
export function podStartEvent(p: PodStart, digests: { helper: string; stage1: string; seccomp: string }): PodStartEvent {
  const first = p.apps[0]!;
  const spec0 = p.spec.apps[0]!;
  return {
    event_type: 'pod-start',
    time: new Date().toISOString(),
    pod: p.uuid,
    helper: digests.helper,
    stage1: digests.stage1,
    image: { name: first.image.name, id: first.image.id },
    tree: first.tree,
    signer: first.image.signer,
    trustPolicy: first.image.trustPolicy ?? null,
    launchSpec: launchSpecDigest(p.spec, digests.seccomp, p.ids),
    seccomp: digests.seccomp,
    argv: listDigest(spec0.args),
    env: listDigest(spec0.env),
    apps: p.apps.map((a, i) => ({
      name: a.name,
      image: { name: a.image.name, id: a.image.id },
      tree: a.tree,
      signer: a.image.signer,
      trustPolicy: a.image.trustPolicy ?? null,
      argv: listDigest(p.spec.apps[i]!.args),
      env: listDigest(p.spec.apps[i]!.env),
    })),
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
