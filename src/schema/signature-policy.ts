// The image signature policy (policy.json, the containers-policy.json(5) model) and the
// signature lookaside configuration (registries.d/*.yaml, containers-registries.d(5)). Both are
// strict: an unknown or misspelt field rejects the whole file, because a requirement ward did not
// understand is a requirement it would silently not enforce.
import { z } from 'zod';

/** What the signature's claimed identity must match (containers-policy.json(5) "signedIdentity"). */
export const SignedIdentity = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('matchRepoDigestOrExact') }),
  z.strictObject({ type: z.literal('matchExact') }),
  z.strictObject({ type: z.literal('matchRepository') }),
  z.strictObject({ type: z.literal('exactReference'), dockerReference: z.string().min(1).max(1024) }),
  z.strictObject({ type: z.literal('exactRepository'), dockerRepository: z.string().min(1).max(1024) }),
]);
export type SignedIdentity = z.infer<typeof SignedIdentity>;

const AbsPath = z.string().min(2).max(4096).refine((p) => p.startsWith('/') && !p.includes('\0'), 'must be an absolute path');
const Base64 = z.string().min(1).max(1 << 20).regex(/^[A-Za-z0-9+/\s]+={0,2}\s*$/, 'must be base64');

function exactlyOne<T extends Record<string, unknown>>(fields: readonly (keyof T & string)[]) {
  return (v: T, ctx: z.RefinementCtx) => {
    const present = fields.filter((f) => v[f] !== undefined);
    if (present.length !== 1) ctx.addIssue({ code: 'custom', message: `exactly one of ${fields.join(', ')} must be present (found ${present.length === 0 ? 'none' : present.join(', ')})` });
  };
}

const SignedBy = z
  .strictObject({
    type: z.literal('signedBy'),
    keyType: z.literal('GPGKeys'),
    keyPath: AbsPath.optional(),
    keyPaths: z.array(AbsPath).min(1).max(64).optional(),
    keyData: Base64.optional(),
    signedIdentity: SignedIdentity.optional(),
  })
  .superRefine(exactlyOne(['keyPath', 'keyPaths', 'keyData']));

const SigstoreSigned = z
  .strictObject({
    type: z.literal('sigstoreSigned'),
    keyPath: AbsPath.optional(),
    keyPaths: z.array(AbsPath).min(1).max(64).optional(),
    keyData: Base64.optional(),
    keyDatas: z.array(Base64).min(1).max(64).optional(),
    signedIdentity: SignedIdentity.optional(),
  })
  .superRefine(exactlyOne(['keyPath', 'keyPaths', 'keyData', 'keyDatas']));

export const Requirement = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('insecureAcceptAnything') }),
  z.strictObject({ type: z.literal('reject') }),
  SignedBy,
  SigstoreSigned,
]);
export type Requirement = z.infer<typeof Requirement>;
export type SignedByRequirement = z.infer<typeof SignedBy>;
export type SigstoreRequirement = z.infer<typeof SigstoreSigned>;

/** An empty list would mean "no requirement", which is spelt insecureAcceptAnything. */
const Requirements = z.array(Requirement).min(1).max(64);

export const POLICY_TRANSPORTS = ['docker', 'oci', 'oci-archive', 'docker-archive'] as const;
export type PolicyTransport = (typeof POLICY_TRANSPORTS)[number];

const LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const HOST = `(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
/** host[:port][/ns.../repo[:tag|@digest]] in the fully expanded form, or *.domain. */
const DOCKER_SCOPE = new RegExp(
  `^(?:\\*\\.${LABEL}(?:\\.${LABEL})*|${HOST}(?:/${PATH_COMPONENT})*(?:/${PATH_COMPONENT}(?::[\\w][\\w.-]{0,127}|@sha256:[0-9a-f]{64}))?)$`,
);

const DockerScopes = z.record(
  z.string().max(1024).refine((s) => s === '' || DOCKER_SCOPE.test(s), 'is not a docker scope: host[:port][/namespace...][/repository[:tag|@digest]] in the fully expanded form, or *.domain'),
  Requirements,
);
/** Absolute paths (no "/", no "." or ".." components); "" is the transport's default. */
const PathScopes = z.record(
  z.string().max(4096).refine((s) => s === '' || (s.startsWith('/') && s !== '/' && !s.split(/[/:]/).some((c) => c === '.' || c === '..')), 'is not a scope: an absolute path other than "/" (or "" for the default)'),
  Requirements,
);

export const SignaturePolicy = z.strictObject({
  default: Requirements,
  transports: z
    .strictObject({
      docker: DockerScopes.optional(),
      oci: PathScopes.optional(),
      'oci-archive': PathScopes.optional(),
      /** Only the transport's default scope: an archive has no name to scope by. */
      'docker-archive': z.strictObject({ '': Requirements.optional() }).optional(),
    })
    .optional(),
});
export type SignaturePolicy = z.infer<typeof SignaturePolicy>;

/** One configuration section of registries.d (lookaside: where simple signatures are read). */
export const RegistriesDSection = z.strictObject({
  lookaside: z.string().min(1).max(4096).optional(),
  'lookaside-staging': z.string().min(1).max(4096).optional(),
  /** The deprecated spellings containers still reads. */
  sigstore: z.string().min(1).max(4096).optional(),
  'sigstore-staging': z.string().min(1).max(4096).optional(),
  'use-sigstore-attachments': z.boolean().optional(),
});
export type RegistriesDSection = z.infer<typeof RegistriesDSection>;

export const RegistriesDFile = z
  .strictObject({
    'default-docker': RegistriesDSection.optional(),
    docker: z.record(z.string().min(1).max(1024), RegistriesDSection).optional(),
  })
  .nullable();
export type RegistriesDFile = z.infer<typeof RegistriesDFile>;
