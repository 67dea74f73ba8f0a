/** OCI spec types (runtime config and state) and their validation at the trust boundary. */
export * from "./runtime-spec.js";
export { validateProcess, validateSpec } from "./validate-spec.js";
