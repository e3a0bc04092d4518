// Formats of the Docker Registry HTTP API v2 around the image documents themselves: the token
// endpoint's answer, the registry's error body, and the user's credentials file. All of it comes
// from the network or from a file the user edits by hand, so every field is bounded.
import { z } from 'zod';

/** A bearer token goes into an HTTP header verbatim: visible ASCII only, so it cannot inject a header. */
const TokenString = z.string().min(1).max(16384).regex(/^[\x21-\x7e]+$/, 'must be visible ASCII');

/** The token endpoint's JSON (distribution docs/spec/auth/token.md): token, or access_token (OAuth2). */
export const TokenResponse = z
  .object({
    token: TokenString.optional(),
    access_token: TokenString.optional(),
    /** Seconds; the spec says 60 when absent. */
    expires_in: z.number().int().nonnegative().max(366 * 86400).optional(),
    issued_at: z.string().max(64).optional(),
    refresh_token: z.string().max(16384).optional(),
  })
  .refine((t) => t.token !== undefined || t.access_token !== undefined, 'has neither "token" nor "access_token"');
export type TokenResponse = z.infer<typeof TokenResponse>;

/** {"errors":[{"code":"MANIFEST_UNKNOWN","message":"…","detail":…}]} (distribution docs/spec/api.md). */
export const RegistryErrorBody = z.object({
  errors: z
    .array(
      z.object({
        code: z.string().max(128),
        message: z.string().max(4096).optional(),
      }),
    )
    .max(64),
});

/**
 * ~/.config/ward/auth.json, in the shape of docker's config.json and containers' auth.json:
 * {"auths": {"HOST[:PORT]": {"auth": base64("user:password")}}}. Other top-level keys of those
 * files (credsStore, HttpHeaders…) are ignored, so a copied docker config still reads.
 */
export const AuthFile = z.object({
  auths: z
    .record(
      z.string().max(1024),
      z.object({
        auth: z.string().max(16384).optional(),
        username: z.string().max(4096).optional(),
        password: z.string().max(16384).optional(),
      }),
    )
    .optional(),
});
export type AuthFile = z.infer<typeof AuthFile>;
