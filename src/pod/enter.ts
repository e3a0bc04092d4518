// ward enter: a command in one of the caller's running pods, with our stdio; returns its exit status.
import { WardError } from '../schema/errors';
import { HelperClient } from './client';
import { followPod } from './run';

export async function enterPod(socketPath: string, uuid: string, app: string | undefined, exec: string[]): Promise<number> {
  const client = new HelperClient(socketPath);
  try {
    client.send({ verb: 'enter', uuid, ...(app ? { app } : {}), ...(exec.length > 0 ? { exec } : {}) }, [0, 1, 2]);
    const first = await client.receive();
    if (!first.ok) throw new WardError(first.code, first.message);
    return await followPod(client);
  } finally {
    client.close();
  }
}
