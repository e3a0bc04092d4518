// TPM defaults, kept free of zod so the frontend can name them without loading it.

/**
 * The default NV index, in the owner's range of the TCG handle registry (0x01800000-0x01bfffff);
 * 0x01c0xxxx and above are reserved for TCG-defined uses such as EK certificates.
 */
export const DEFAULT_NV_INDEX = '0x01800ace';
