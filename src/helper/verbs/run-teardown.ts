// What a pod holds on the host besides its dir (network, cgroups) is undone here: when a pod
// this helper launched exits, and again (idempotently) by stop, rm and gc, which also finish what
// a helper killed at any step left behind. One teardown per pod at a time: a second caller
// waits for the one under way, then repeats it (a no-op once everything is gone).
import type { Helper } from '../server';
import { tearDownCgroups } from './run-cgroups';
import { podsWithNetwork, tearDownNetwork } from './run-net';

const underWay = new Map<string, Promise<void>>();

export function tearDownPod(helper: Helper, uuid: string): Promise<void> {
  const prev = underWay.get(uuid) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(async () => {
    const errors: string[] = [];
    await tearDownNetwork(helper.opts.net, uuid).catch((e: Error) => errors.push(e.message));
    await tearDownCgroups(helper.opts.cgroups, uuid, helper.opts.state.podStore.find(uuid)?.dir ?? null).catch((e: Error) => errors.push(e.message));
    if (errors.length > 0) throw new Error(errors.join('; '));
  });
  underWay.set(uuid, next);
  void next.finally(() => {
    if (underWay.get(uuid) === next) underWay.delete(uuid);
  }).catch(() => undefined);
  return next;
}

/** Networks whose pod no longer exists in the store (a helper killed between removing the dir and its network). */
export async function tearDownOrphans(helper: Helper): Promise<void> {
  for (const uuid of podsWithNetwork(helper.opts.net)) {
    if (!helper.opts.state.podStore.find(uuid)) await tearDownPod(helper, uuid).catch(() => undefined);
  }
}

/** At the helper's start: pods that exited while no helper was there to see it. */
export async function tearDownExited(helper: Helper): Promise<void> {
  const store = helper.opts.state.podStore;
  for (const p of store.all()) {
    if ((p.where === 'run' || p.where === 'exited-garbage') && !store.isLocked(p.dir)) await tearDownPod(helper, p.uuid).catch(() => undefined);
  }
  await tearDownOrphans(helper);
}
