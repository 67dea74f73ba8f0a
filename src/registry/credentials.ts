/**
 * Registry credentials from berth's own auth file and docker's config.json, both in docker's
 * layout: `{"auths": {"<registry>": {"auth": base64("user:pass")} | {"username", "password"} |
 * {"identitytoken"}}}`. berth's file wins over docker's for the same registry.
 *
 * Where the files are:
 * - berth: `opts.authFile`, else `$BERTH_AUTH_FILE`, else `$XDG_CONFIG_HOME/berth/auth.json`,
 *   else `~/.config/berth/auth.json`. `berth login` writes this one (saveCredentials).
 * - docker: `opts.dockerConfig` (a config.json, or a directory holding one), else
 *   `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. Only read.
 * Credential helpers (`credsStore`, `credHelpers`) are not run.
 */
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { errnoCode, internal, invalidArgument } from "../errors/index.js";

export interface Credentials {
  username: string;
  password: string;
}

/** An identity token (docker's `identitytoken`, an OAuth2 refresh token) is `{ username: IDENTITY_TOKEN_USER, password: token }`. */
export const IDENTITY_TOKEN_USER = "<token>";

export interface CredentialStore {
  /** credentials for a registry domain as in a Reference ("docker.io", "localhost:5000") */
  get(domain: string): Credentials | undefined;
}

const dockerHubKey = "https://index.docker.io/v1/";
const dockerHubAliases = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);

/** "https://index.docker.io/v1/" -> "docker.io"; "http://host:5000/v2/" -> "host:5000"; lowercase host. */
export function credentialKey(key: string): string {
  let k = key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, "");
  const slash = k.indexOf("/");
  if (slash !== -1) k = k.slice(0, slash);
  k = k.toLowerCase();
  return dockerHubAliases.has(k) ? "docker.io" : k;
}

export function defaultAuthFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env["BERTH_AUTH_FILE"]) return env["BERTH_AUTH_FILE"];
  const config = env["XDG_CONFIG_HOME"] || join(homedir(), ".config");
  return join(config, "berth", "auth.json");
}

export function defaultDockerConfig(env: NodeJS.ProcessEnv = process.env): string {
  return join(env["DOCKER_CONFIG"] || join(homedir(), ".docker"), "config.json");
}

function readJson(file: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    // no file (or a directory where a file was expected): no credentials from it
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR" || errnoCode(e) === "EISDIR") return undefined;
    throw internal(`read credentials file "${file}"`, e);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`read credentials file "${file}": not JSON`, e);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw invalidArgument(`read credentials file "${file}": not a JSON object`);
  return v as Record<string, unknown>;
}

function entryCredentials(v: unknown, file: string, key: string): Credentials | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const e = v as Record<string, unknown>;
  if (typeof e["identitytoken"] === "string" && e["identitytoken"] !== "")
    return { username: IDENTITY_TOKEN_USER, password: e["identitytoken"] };
  if (typeof e["auth"] === "string" && e["auth"] !== "") {
    const decoded = Buffer.from(e["auth"], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0)
      throw invalidArgument(`read credentials file "${file}": "auths.${key}.auth" is not base64 of "user:password"`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof e["username"] === "string" && typeof e["password"] === "string" && e["username"] !== "")
    return { username: e["username"], password: e["password"] };
  return undefined;
}

function readAuths(file: string): Map<string, Credentials> {
  const out = new Map<string, Credentials>();
  const auths = readJson(file)?.["auths"];
  if (typeof auths !== "object" || auths === null) return out;
  for (const [key, entry] of Object.entries(auths)) {
    const c = entryCredentials(entry, file, key);
    const k = credentialKey(key);
    // docker's own key for Docker Hub wins over its aliases
    if (c && (!out.has(k) || key === dockerHubKey)) out.set(k, c);
  }
  return out;
}

/** Read both files now (not at each get); a missing file is no credentials, a malformed one an InvalidArgument. */
export function loadCredentials(opts: { authFile?: string; dockerConfig?: string } = {}): CredentialStore {
  const authFile = opts.authFile ?? defaultAuthFile();
  let dockerFile = opts.dockerConfig ?? defaultDockerConfig();
  if (opts.dockerConfig !== undefined && !opts.dockerConfig.endsWith(".json"))
    dockerFile = join(opts.dockerConfig, "config.json");
  const berth = readAuths(authFile);
  const docker = readAuths(dockerFile);
  return { get: (domain) => berth.get(credentialKey(domain)) ?? docker.get(credentialKey(domain)) };
}

/** A store over a fixed map (tests, `--creds` on a command line). */
export function staticCredentials(map: Record<string, Credentials>): CredentialStore {
  const m = new Map(Object.entries(map).map(([k, v]) => [credentialKey(k), v]));
  return { get: (domain) => m.get(credentialKey(domain)) };
}

/**
 * Set (login) or remove (logout, `c` undefined) the credentials of `domain` in `authFile`, keeping
 * everything else in it. Written to a temp file, fsynced, renamed into place, mode 0600.
 */
export function saveCredentials(authFile: string, domain: string, c: Credentials | undefined): void {
  const doc = readJson(authFile) ?? {};
  const prev = doc["auths"];
  const auths: Record<string, unknown> = typeof prev === "object" && prev !== null && !Array.isArray(prev) ? { ...prev } : {};
  const k = credentialKey(domain);
  for (const key of Object.keys(auths)) if (credentialKey(key) === k) delete auths[key];
  if (c) {
    const key = k === "docker.io" ? dockerHubKey : k;
    auths[key] =
      c.username === IDENTITY_TOKEN_USER
        ? { identitytoken: c.password }
        : { auth: Buffer.from(`${c.username}:${c.password}`, "utf8").toString("base64") };
  }
  doc["auths"] = auths;
  mkdirSync(dirname(authFile), { recursive: true, mode: 0o700 });
  const tmp = `${authFile}.tmp-${process.pid}-${Date.now()}`;
  try {
    const fd = openSync(tmp, "wx", 0o600);
    try {
      writeSync(fd, `${JSON.stringify(doc, null, "\t")}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600); // the umask may have narrowed it; never wider than 0600
    renameSync(tmp, authFile);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw internal(`save credentials for ${k} in "${authFile}"`, e);
  }
}

/**
 * Docker's X-Registry-Auth header: base64url (or standard base64) of a JSON AuthConfig
 * ({username, password} or {identitytoken}, with serveraddress). Undefined for an empty
 * config ("{}", which the docker CLI sends when it has nothing); malformed: InvalidArgument.
 */
export function decodeRegistryAuth(header: string): Credentials | undefined {
  const text = Buffer.from(header.trim().replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8");
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw invalidArgument("X-Registry-Auth: not base64-encoded JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalidArgument("X-Registry-Auth: not a JSON object");
  const a = v as Record<string, unknown>;
  const str = (k: string) => (typeof a[k] === "string" ? (a[k] as string) : "");
  if (str("identitytoken")) return { username: IDENTITY_TOKEN_USER, password: str("identitytoken") };
  let username = str("username");
  let password = str("password");
  // "auth" is base64("user:password"), as in a config.json
  if (!username && str("auth")) {
    const pair = Buffer.from(str("auth"), "base64").toString("utf8");
    const colon = pair.indexOf(":");
    if (colon < 0) throw invalidArgument("X-Registry-Auth: auth is not base64 of user:password");
    username = pair.slice(0, colon);
    password = pair.slice(colon + 1);
  }
  if (!username && !password) return undefined;
  return { username, password };
}

/** The X-Registry-Auth value for `c` at `serverAddress` (base64url JSON, as the docker CLI sends it). */
export function encodeRegistryAuth(c: Credentials, serverAddress: string): string {
  const body =
    c.username === IDENTITY_TOKEN_USER
      ? { identitytoken: c.password, serveraddress: serverAddress }
      : { username: c.username, password: c.password, serveraddress: serverAddress };
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

/** `over` answers for `domain` (a request's own credentials), `base` for every other registry. */
export function credentialsFor(domain: string, over: Credentials, base: CredentialStore): CredentialStore {
  const key = credentialKey(domain);
  return { get: (d) => (credentialKey(d) === key ? over : base.get(d)) };
}
