/**
 * Registry authorization, as docker and containerd do it: learn each registry's challenge from a
 * 401 (`WWW-Authenticate`), then send Basic credentials, or a Bearer token from the challenge's
 * realm (docs: distribution's spec/auth/token.md, oauth.md), cached per (realm, service, scope,
 * user) until it expires.
 */
import type { IncomingMessage } from "node:http";
import { permissionDenied, unavailable } from "../errors/index.js";
import { type Challenge, parseChallenges } from "./challenge.js";
import { type CredentialStore, type Credentials, IDENTITY_TOKEN_USER } from "./credentials.js";
import type { Endpoint } from "./endpoints.js";
import { discard, errorText, readBody } from "./http.js";

/** How the authorizer reaches a token server: one request with the client's retries and TLS policy. */
export type TokenRequester = (
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: string },
  signal?: AbortSignal,
) => Promise<IncomingMessage>;

/** What was sent with a request, so a 401 can tell "no credentials yet" from "credentials refused". */
export interface Sent {
  header?: string;
  /** the header came from the token cache (it may have been revoked: drop it and ask again) */
  cached?: boolean;
  scheme?: "basic" | "bearer";
}

const defaultExpiresIn = 60;
const tokenBodyLimit = 1 << 20;

export class Authorizer {
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, { token: string; expires: number }>();

  constructor(
    private readonly credentials: CredentialStore | undefined,
    private readonly request: TokenRequester,
    private readonly userAgent: string,
    /** whether plain HTTP to `host` is allowed (insecure registries, loopback) */
    private readonly plainAllowed: (host: string) => Promise<boolean>,
  ) {}

  /** The Authorization header for a request to `ep` about `repository` (undefined before any challenge). */
  async authorize(ep: Endpoint, repository: string | undefined, signal?: AbortSignal): Promise<Sent> {
    const ch = this.challenges.get(ep.base.origin);
    if (!ch) return {};
    const creds = this.credentials?.get(ep.credentialsFor);
    if (ch.scheme === "basic") {
      if (!creds || creds.username === IDENTITY_TOKEN_USER) return {};
      return { header: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`, scheme: "basic" };
    }
    const scopes = repository === undefined ? [] : [`repository:${repository}:pull`];
    const extra = ch.params["scope"];
    // a registry may name the scope it wants (error="insufficient_scope"); ask for it too when it is this repository's
    if (extra && repository !== undefined && extra.startsWith(`repository:${repository}:`) && !scopes.includes(extra))
      scopes.push(extra);
    const key = JSON.stringify([ch.params["realm"], ch.params["service"], scopes, creds?.username]);
    const hit = this.tokens.get(key);
    if (hit && hit.expires > Date.now()) return { header: `Bearer ${hit.token}`, cached: true, scheme: "bearer" };
    const { token, expiresIn } = await this.fetchToken(ep, ch, scopes, creds, signal);
    // renew a little early, so a token does not expire between cache and registry
    this.tokens.set(key, { token, expires: Date.now() + Math.max(0, expiresIn - 5) * 1000 });
    return { header: `Bearer ${token}`, scheme: "bearer" };
  }

  /**
   * Learn from a 401's challenge. True when trying the request again may succeed: a new scheme, a
   * cached token to replace, or credentials not yet sent.
   */
  challenged(ep: Endpoint, header: string | string[] | undefined, sent: Sent): boolean {
    const all = parseChallenges(Array.isArray(header) ? header.join(", ") : header);
    const ch = all.find((c) => c.scheme === "bearer" && c.params["realm"]) ?? all.find((c) => c.scheme === "basic");
    if (!ch) return false;
    this.challenges.set(ep.base.origin, ch);
    if (ch.scheme === "bearer") {
      if (sent.cached) for (const [k, v] of this.tokens) if (`Bearer ${v.token}` === sent.header) this.tokens.delete(k);
      return sent.scheme !== "bearer" || sent.cached === true;
    }
    const creds = this.credentials?.get(ep.credentialsFor);
    return sent.scheme !== "basic" && creds !== undefined && creds.username !== IDENTITY_TOKEN_USER;
  }

  /** Remember a challenge seen outside a request that will be retried (ping). */
  learn(ep: Endpoint, header: string | string[] | undefined): void {
    this.challenged(ep, header, {});
  }

  /** The credentials configured for `ep`, if any (for error messages). */
  credentialsFor(ep: Endpoint): Credentials | undefined {
    return this.credentials?.get(ep.credentialsFor);
  }

  private async fetchToken(
    ep: Endpoint,
    ch: Challenge,
    scopes: string[],
    creds: Credentials | undefined,
    signal?: AbortSignal,
  ): Promise<{ token: string; expiresIn: number }> {
    const realmText = ch.params["realm"] ?? "";
    let realm: URL;
    try {
      realm = new URL(realmText);
    } catch (e) {
      throw unavailable(`authenticate to ${ep.domain}: token realm ${JSON.stringify(realmText)} is not a URL`, e);
    }
    if (realm.protocol !== "https:" && realm.protocol !== "http:")
      throw unavailable(`authenticate to ${ep.domain}: token realm ${JSON.stringify(realmText)} is not http or https`);
    if (creds && realm.protocol === "http:" && ep.base.protocol !== "http:" && !(await this.plainAllowed(realm.host)))
      throw permissionDenied(
        `authenticate to ${ep.domain}: refusing to send credentials to the plain-HTTP token server ${realm.origin}`,
      );
    const headers: Record<string, string> = { "User-Agent": this.userAgent, Accept: "application/json" };
    const service = ch.params["service"];
    let res: IncomingMessage;
    if (creds?.username === IDENTITY_TOKEN_USER) {
      // an identity token is an OAuth2 refresh token (distribution's spec/auth/oauth.md)
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: creds.password, client_id: "berth" });
      if (service) form.set("service", service);
      if (scopes.length) form.set("scope", scopes.join(" "));
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      res = await this.request(realm, { method: "POST", headers, body: form.toString() }, signal);
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set("service", service);
      for (const s of scopes) url.searchParams.append("scope", s);
      if (creds) {
        url.searchParams.set("account", creds.username);
        headers["Authorization"] = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
      }
      res = await this.request(url, { method: "GET", headers }, signal);
    }
    const status = res.statusCode ?? 0;
    const who = `the token server ${realm.host}`;
    if (status === 401 || status === 403) {
      const detail = await errorText(res);
      const msg = creds
        ? `authenticate to ${ep.domain}: ${who} rejected the credentials of user ${JSON.stringify(creds.username === IDENTITY_TOKEN_USER ? "(identity token)" : creds.username)}`
        : `authenticate to ${ep.domain}: ${who} refused an anonymous token`;
      throw permissionDenied(msg, detail ? new Error(detail) : undefined);
    }
    if (status !== 200) {
      const detail = await errorText(res);
      throw unavailable(`authenticate to ${ep.domain}: ${who} answered HTTP ${status}`, detail ? new Error(detail) : undefined);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse((await readBody(res, tokenBodyLimit, "token response")).toString("utf8"));
    } catch (e) {
      discard(res);
      throw unavailable(`authenticate to ${ep.domain}: ${who} sent no JSON`, e);
    }
    const token = typeof body.token === "string" && body.token !== "" ? body.token : body.access_token;
    if (typeof token !== "string" || token === "") throw unavailable(`authenticate to ${ep.domain}: ${who} sent no token`);
    const e = body.expires_in;
    const expiresIn = typeof e === "number" && Number.isFinite(e) && e > 0 ? e : defaultExpiresIn;
    return { token, expiresIn };
  }
}
