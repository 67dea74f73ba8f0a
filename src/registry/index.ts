/**
 * The OCI distribution client: image references with docker's normalisation, manifests and blobs
 * pulled from registries (and their mirrors) with docker's insecure-registry rules, Basic and
 * Bearer-token auth, retries, redirects and resumable blob downloads, and the credentials files
 * that `berth login` writes and docker's config.json.
 */
export { type Challenge, parseChallenges } from "./challenge.js";
export { type BlobSink, type CopyBlobOptions, RegistryClient, type RegistryOptions } from "./client.js";
export {
  type CredentialStore,
  type Credentials,
  credentialKey,
  credentialsFor,
  decodeRegistryAuth,
  encodeRegistryAuth,
  defaultAuthFile,
  defaultDockerConfig,
  IDENTITY_TOKEN_USER,
  loadCredentials,
  saveCredentials,
  staticCredentials,
} from "./credentials.js";
export { isLoopback, registryHost } from "./endpoints.js";
export {
  dockerHubDomain,
  familiarName,
  familiarRepository,
  formatReference,
  parseReference,
  type Reference,
  validateReference,
} from "./reference.js";
