// ward's own failures: a code (which picks the exit status) and a one-line message naming the
// cause and the remedy.
export type WardErrorCode = 'EUSAGE' | 'EIMAGE' | 'ESIGNATURE' | 'ENOSUBID' | 'EHELPER' | 'EDENIED' | 'EINTERNAL';

export class WardError extends Error {
  constructor(readonly code: WardErrorCode | 'EAUTH' | 'ENOTFOUND' | 'ENETWORK' | 'ELIMIT' | 'EPLATFORM' | string, message: string) {
    super(message);
  }
}
