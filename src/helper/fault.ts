// Test-only crash points (WARD_FAULT=crash-at-<step>): the helper kills itself with SIGKILL at
// that step, so tests can show that a kill -9 at any step of a pod's life leaves something
// `ward gc` finishes (DESIGN §3.9). Unset in production: each check is one string comparison.
const fault = process.env.WARD_FAULT;

export function crashPoint(step: string): void {
  if (fault === `crash-at-${step}`) process.kill(process.pid, 'SIGKILL');
}
