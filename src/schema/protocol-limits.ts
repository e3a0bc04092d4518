// Protocol constants, kept free of zod so the frontend's hot path does not load it.
export const PROTOCOL_VERSION = 1;
export const MAX_REQUEST_BYTES = 64 * 1024;
export const MAX_RESPONSE_BYTES = 1024 * 1024;
export const MAX_REQUEST_FDS = 3;
