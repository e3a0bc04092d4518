// ward's own failures, for every part of the frontend (image, trust, pod, cli): a code (which
// picks the exit status, src/cli/exit-codes.ts) and a one-line message naming the
// cause and the remedy.
export type WardErrorCode = 'EUSAGE' | 'EIMAGE' | 'ESIGNATURE' | 'ENOSUBID' | 'EHELPER' | 'EDENIED' | 'EINTERNAL';

export class WardError extends Error {
  constructor(readonly code: WardErrorCode | 'EAUTH' | 'ENOTFOUND' | 'ENETWORK' | 'ELIMIT' | 'EPLATFORM' | string, message: string) {
    super(message);
  }
}
