// The Docker Registry HTTP API v2 as an image source: `docker://[REGISTRY[:PORT]/]NAME[:TAG|@DIGEST]`.
export { resolveDocker, type RegistryImage } from './resolve';
export { parseDockerReference, type DockerReference } from './reference';
export { defaultAuthFile, loadCredentials, type Credentials } from './credentials';
export { DEFAULT_REGISTRY_LIMITS, DEFAULT_REGISTRY_TIMEOUTS, type Platform, type RegistryLimits, type RegistryOptions, type RegistryTimeouts, type TopLevel } from './options';
export { TokenCache } from './token-cache';
