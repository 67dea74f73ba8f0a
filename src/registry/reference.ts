/**
 * Image references with docker's normalisation (github.com/distribution/reference, the
 * `ParseNormalizedNamed` + `TagNameOnly` pair that `docker pull` uses): a name without a
 * registry domain is on docker.io, and a single-component docker.io name is under `library/`.
 */
import { invalidArgument } from "../errors/index.js";
import { validateDigest } from "../oci/index.js";

/** A parsed reference: the registry `domain`, the repository `path` in it, and a tag and/or a digest. */
export interface Reference {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}

export const dockerHubDomain = "docker.io";

// distribution/reference's grammar (reference.go), in the same pieces
const domainComponent = /(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/.source;
const ipv6 = /\[(?:[a-fA-F0-9:]+)\]/.source;
const domainRe = new RegExp(`^(?:${ipv6}|${domainComponent}(?:\\.${domainComponent})*)(?::[0-9]+)?$`);
const pathComponentRe = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagRe = /^[\w][\w.-]{0,127}$/;
const nameMaxLength = 255;

/** Parse and normalise `s` ("busybox", "localhost:5000/a/b:t", "name:tag@sha256:..."); InvalidArgument when it is not a reference. */
export function parseReference(s: string): Reference {
  const bad = (why: string) => invalidArgument(`invalid reference format ${JSON.stringify(s.slice(0, 300))}: ${why}`);
  if (s === "") throw bad("empty reference");
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    try {
      digest = validateDigest(rest.slice(at + 1), "digest");
    } catch (e) {
      throw invalidArgument(`invalid reference format ${JSON.stringify(s.slice(0, 300))}: bad digest`, e);
    }
    rest = rest.slice(0, at);
  }
  // a tag follows the last ":" after the last "/" (a ":" before it is a registry port)
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagRe.test(tag)) throw bad(`tag ${JSON.stringify(tag.slice(0, 140))} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  if (rest === "") throw bad("no repository name");
  if (/^[a-f0-9]{64}$/.test(rest)) throw bad("a repository name cannot be a 64-character hexadecimal string (an image ID?)");
  let domain: string;
  let path: string;
  const slash = rest.indexOf("/");
  const first = slash === -1 ? "" : rest.slice(0, slash);
  // docker's splitDockerDomain: the first component is a domain only if it looks like one
  if (slash === -1 || (!first.includes(".") && !first.includes(":") && first !== "localhost" && first.toLowerCase() === first)) {
    domain = dockerHubDomain;
    path = rest;
  } else {
    domain = first;
    path = rest.slice(slash + 1);
  }
  if (!domainRe.test(domain)) throw bad(`registry ${JSON.stringify(domain)} is not a host name with an optional port`);
  if (domain === "index.docker.io") domain = dockerHubDomain;
  if (domain === dockerHubDomain && !path.includes("/")) path = `library/${path}`;
  if (path.toLowerCase() !== path) throw bad("repository name must be lowercase");
  for (const c of path.split("/")) {
    if (!pathComponentRe.test(c))
      throw bad(
        `repository path component ${JSON.stringify(c)} must be lowercase letters and digits, separated by ".", "_", "__" or "-"`,
      );
  }
  if (domain.length + 1 + path.length > nameMaxLength)
    throw bad(`repository name must not be longer than ${nameMaxLength} characters`);
  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  else if (tag === undefined) ref.tag = "latest";
  return ref;
}

function suffix(r: Reference): string {
  return (r.tag !== undefined ? `:${r.tag}` : "") + (r.digest !== undefined ? `@${r.digest}` : "");
}

/** The full form: "docker.io/library/busybox:latest". */
export function formatReference(r: Reference): string {
  return `${r.domain}/${r.path}${suffix(r)}`;
}

/** The short form docker prints: "busybox:latest", "user/app:1", "quay.io/x/y@sha256:...". */
export function familiarName(r: Reference): string {
  return familiarRepository(r) + suffix(r);
}

/** The repository without tag or digest, as docker prints it ("busybox", "localhost:5000/a"). */
export function familiarRepository(r: Reference): string {
  if (r.domain !== dockerHubDomain) return `${r.domain}/${r.path}`;
  return r.path.startsWith("library/") && r.path.indexOf("/", 8) === -1 ? r.path.slice(8) : r.path;
}

/** Check a Reference built by hand (not by parseReference) before its parts go into a URL. */
export function validateReference(r: Reference, what = "reference"): Reference {
  const bad = (why: string) =>
    invalidArgument(`invalid ${what} ${JSON.stringify(`${r.domain}/${r.path}`.slice(0, 300))}: ${why}`);
  if (typeof r.domain !== "string" || !domainRe.test(r.domain)) throw bad("registry is not a host name with an optional port");
  if (typeof r.path !== "string" || r.path === "" || !r.path.split("/").every((c) => pathComponentRe.test(c)))
    throw bad("repository path is not lowercase components separated by /");
  if (r.tag !== undefined && !tagRe.test(r.tag)) throw bad(`tag ${JSON.stringify(r.tag.slice(0, 140))} is not a valid tag`);
  if (r.digest !== undefined) validateDigest(r.digest, `${what} digest`);
  return r;
}
