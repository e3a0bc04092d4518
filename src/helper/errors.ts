// A refusal or failure the helper reports to its caller as an error frame.
import type { ErrorCode } from '../schema/protocol';

export class HelperError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}
