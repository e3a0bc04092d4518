// Exit statuses of ward's own failures (apps' statuses pass through unchanged). 254 is rkt's
// "ward failed"; the others say which kind of failure, so scripts can tell them apart.
export const EXIT = {
  failure: 254,   // the helper, the launcher or ward itself failed
  usage: 253,     // a bad flag or argument
  denied: 252,    // refused by policy or by the socket's permissions
  image: 251,     // a malformed or hostile image or manifest
  signature: 250, // an image that cannot be verified
  setup: 249,     // the host is not set up for the caller (no subordinate ids)
} as const;

export function exitCodeFor(code: string): number {
  switch (code) {
    case 'EUSAGE':
      return EXIT.usage;
    case 'EDENIED':
    case 'EAUTH':
      return EXIT.denied;
    case 'EIMAGE':
    case 'ESEAL':
    case 'ENOTFOUND':
    case 'ELIMIT':
    case 'EPLATFORM':
      return EXIT.image;
    case 'ESIGNATURE':
      return EXIT.signature;
    case 'ENOSUBID':
      return EXIT.setup;
    default:
      return EXIT.failure;
  }
}
