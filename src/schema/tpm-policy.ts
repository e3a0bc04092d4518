// The TPM section of the helper policy (policies/helper.json "tpm"): where pods are measured and
// whether a pod may start when measuring fails.
import { z } from 'zod';
import { DEFAULT_NV_INDEX } from './tpm-defaults';

export { DEFAULT_NV_INDEX };

export const NvIndexText = z.string().regex(/^0x01[0-9a-f]{6}$/, 'must be an NV index 0x01000000..0x01ffffff in lowercase hex');

export const TpmTarget = z.union([
  z.strictObject({ nv: NvIndexText }),
  z.strictObject({ pcr: z.number().int().min(0).max(23) }),
]);
export type TpmTarget = z.infer<typeof TpmTarget>;

export const PolicyTpm = z.strictObject({
  /**
   * The TCTI config of the TPM (tpm2-tss syntax: "device:/dev/tpmrm0", "swtpm:host=127.0.0.1,port=2321").
   * null: /dev/tpmrm0 when the host has one, else no TPM. "none": never measure.
   */
  tcti: z.string().min(1).max(1024).refine((s) => !/[\u0000-\u001f]/.test(s), 'must not contain control characters').nullable().default(null),
  /** An NV index of type extend (defined by the helper if absent) or a PCR. */
  target: TpmTarget.default({ nv: DEFAULT_NV_INDEX }),
  /** true: a pod whose measurement fails does not start. false: it runs and is reported as not measured. */
  require: z.boolean().default(false),
  /** Seconds between extends of the audit log's head (besides helper start and stop); 0: only those two. */
  auditInterval: z.number().int().min(0).max(604800).default(300),
});
export type PolicyTpm = z.infer<typeof PolicyTpm>;
