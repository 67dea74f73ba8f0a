/**
 * The OCI distribution client (distribution-spec's pull side): manifests and blobs by digest or
 * tag, with docker's endpoint rules, mirrors, auth, retries, redirects and Range resume.
 */
import type { IncomingMessage } from "node:http";
import { type BerthError, internal, invalidArgument, notFound, permissionDenied, unavailable } from "../errors/index.js";
import { type Descriptor, digestOf, MediaType, manifestMediaTypes, splitDigest, validateDigest } from "../oci/index.js";
import { Authorizer, type Sent } from "./auth.js";
import { type CredentialStore, credentialKey } from "./credentials.js";
import { type Endpoint, InsecurePolicy, isLoopback, mirrorBase, registryHost } from "./endpoints.js";
import { discard, errorText, NetworkError, readBody, retryAfterMs, sleep, Transport, toNetworkError } from "./http.js";
import { formatReference, type Reference, validateReference } from "./reference.js";

export interface RegistryOptions {
  /** "host[:port]" or CIDR: plain HTTP and TLS without verification allowed; loopback always is, as in docker */
  insecureRegistries?: string[];
  /** registry domain -> mirror URLs, tried in order before the registry itself (docker's registry-mirrors, any domain) */
  mirrors?: Record<string, string[]>;
  credentials?: CredentialStore;
  userAgent?: string;
  /** retries on network errors, 5xx and 429 (default 4), exponential backoff with jitter; Retry-After is honoured (up to 60 s) */
  retries?: number;
  /** first backoff delay in ms (default 200), doubled on each retry */
  retryDelayMs?: number;
  /** idle socket timeout in ms (default 30 s) */
  timeoutMs?: number;
}

/** Where copyBlob writes: a content-store ingest, or anything with the same three members. */
export interface BlobSink {
  /** bytes already held; the download resumes here */
  readonly offset: number;
  write(chunk: Uint8Array): Promise<void>;
  /** drop everything from `offset` on (a server that ignored Range sends the blob from 0) */
  truncate(offset: number): Promise<void>;
}

export interface CopyBlobOptions {
  signal?: AbortSignal;
  /** called after each write with the sink's offset (bytes held so far) */
  onProgress?: (bytes: number) => void;
}

const manifestLimit = 4 << 20;
/** getBlob buffers in memory: configs are small; layers go through copyBlob */
const smallBlobLimit = 32 << 20;
const maxRedirects = 5;
const maxRetryAfterMs = 60_000;
const redirectStatus = new Set([301, 302, 303, 307, 308]);
const schema1Types: ReadonlySet<string> = new Set([MediaType.DockerManifestV1, MediaType.DockerManifestV1Signed]);
const knownManifestTypes: ReadonlySet<string> = new Set([...manifestMediaTypes, ...schema1Types]);

const isAbort = (e: unknown, signal?: AbortSignal) => signal?.aborted === true || (e instanceof Error && e.name === "AbortError");

export class RegistryClient {
  private readonly transport = new Transport();
  private readonly insecure: InsecurePolicy;
  private readonly mirrors = new Map<string, URL[]>();
  private readonly auth: Authorizer;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  /** the scheme found to work for an insecure registry, by domain */
  private readonly endpoints = new Map<string, Endpoint>();

  constructor(opts: RegistryOptions = {}) {
    this.insecure = new InsecurePolicy(opts.insecureRegistries);
    for (const [domain, urls] of Object.entries(opts.mirrors ?? {}))
      this.mirrors.set(credentialKey(domain), urls.map(mirrorBase));
    this.retries = Math.max(0, opts.retries ?? 4);
    this.retryDelayMs = Math.max(0, opts.retryDelayMs ?? 200);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.userAgent = opts.userAgent ?? "berth/0.1";
    this.auth = new Authorizer(
      opts.credentials,
      (url, init, signal) => this.exchange(`authenticate at ${url.host}`, signal, () => this.follow(url, init, signal)),
      this.userAgent,
      (host) => this.insecure.isInsecure(host),
    );
  }

  /** Close the pooled keep-alive sockets (they are unref'd, so an idle client never holds a process open). */
  close(): void {
    this.transport.close();
  }

  /** GET /v2/ on the registry itself: reachable when it answers 200, or 401 with a challenge. */
  async ping(domain: string): Promise<void> {
    const ep = await this.registryEndpoint(domain);
    const url = this.url(ep, "/v2/");
    const what = `ping registry ${domain}`;
    await this.exchange(
      what,
      undefined,
      () => this.follow(url, { method: "GET", headers: {} }),
      async (res) => {
        const s = res.statusCode ?? 0;
        if (s === 401 && res.headers["www-authenticate"]) this.auth.learn(ep, res.headers["www-authenticate"]);
        if (s === 200 || (s === 401 && res.headers["www-authenticate"])) return discard(res);
        const detail = await errorText(res);
        throw unavailable(`${what}: ${url.href} answered HTTP ${s}`, detail ? new Error(detail) : undefined);
      },
    );
  }

  /**
   * Check the credentials the store holds for `domain` (`berth login`): GET /v2/ with them, through
   * a token without scope for Bearer registries, as docker does. PermissionDenied when refused.
   */
  async login(domain: string): Promise<void> {
    const ep = await this.registryEndpoint(domain);
    const creds = this.auth.credentialsFor(ep);
    const what = `log in to ${domain}`;
    if (!creds) throw invalidArgument(`${what}: no credentials given`);
    await this.exchange(
      what,
      undefined,
      () => this.registryGet(ep, undefined, "/v2/", {}),
      async (res) => {
        const s = res.statusCode ?? 0;
        if (s === 200) return discard(res);
        const detail = await errorText(res);
        const cause = detail ? new Error(detail) : undefined;
        if (s === 401 || s === 403)
          throw permissionDenied(
            `${what}: the registry refused the credentials of user ${JSON.stringify(creds.username)}`,
            cause,
          );
        throw unavailable(`${what}: ${ep.base.host} answered HTTP ${s}`, cause);
      },
    );
  }

  /**
   * A manifest or index by `ref.digest` (the bytes' digest must match) or else `ref.tag`.
   * descriptor: digest of the bytes (a registry's differing Docker-Content-Digest is an error),
   * mediaType from Content-Type or else the document, size of the bytes. At most 4 MiB.
   */
  async getManifest(
    ref: Reference,
    accept: readonly string[] = manifestMediaTypes,
  ): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    validateReference(ref);
    const name = formatReference(ref);
    const reference = ref.digest ?? ref.tag;
    if (reference === undefined) throw invalidArgument(`fetch manifest ${name}: the reference has no tag or digest`);
    const what = `fetch manifest ${name}`;
    return this.onEndpoints(ref.domain, undefined, (ep) =>
      this.exchange(
        what,
        undefined,
        () => this.registryGet(ep, ref.path, `/v2/${ref.path}/manifests/${reference}`, { Accept: accept.join(", ") }),
        async (res) => {
          if (res.statusCode !== 200) throw await this.failure(res, ep, ref.path, what, `manifest unknown: ${name}`);
          const bytes = await readBody(res, manifestLimit, `manifest ${name} (limit ${manifestLimit} bytes)`);
          const ct = (String(res.headers["content-type"] ?? "").split(";")[0] ?? "").trim().toLowerCase();
          const mediaType = manifestType(ct, bytes);
          let digest = digestOf(bytes);
          if (ref.digest !== undefined) {
            const actual = digestOf(bytes, splitDigest(ref.digest).algorithm);
            if (actual !== ref.digest)
              throw invalidArgument(`${what}: digest mismatch: the content from ${ep.base.host} is ${actual}`);
            digest = ref.digest;
          }
          // schema 1's digest is of its payload without the signatures, never of the bytes: parseManifest refuses it anyway
          const claimed = res.headers["docker-content-digest"];
          if (typeof claimed === "string" && claimed !== "" && !schema1Types.has(mediaType)) {
            let alg: string;
            try {
              alg = splitDigest(claimed).algorithm;
            } catch (e) {
              throw invalidArgument(`${what}: ${ep.base.host} sent a malformed Docker-Content-Digest`, e);
            }
            const actual = digestOf(bytes, alg);
            if (actual !== claimed)
              throw invalidArgument(`${what}: digest mismatch: ${ep.base.host} says ${claimed}, the content is ${actual}`);
          }
          return { descriptor: { mediaType, digest, size: bytes.length }, bytes };
        },
      ),
    );
  }

  /** A small blob (an image config) in ref's repository, its size and digest verified. */
  async getBlob(ref: Reference, desc: Descriptor): Promise<Buffer> {
    validateReference(ref);
    checkDescriptor(desc);
    const what = `fetch blob ${ref.domain}/${ref.path}@${desc.digest}`;
    if (desc.size > smallBlobLimit)
      throw invalidArgument(`${what}: ${desc.size} bytes is too big to read into memory (copy it to a sink instead)`);
    return this.onEndpoints(ref.domain, undefined, (ep) =>
      this.exchange(
        what,
        undefined,
        () => this.registryGet(ep, ref.path, `/v2/${ref.path}/blobs/${desc.digest}`, {}),
        async (res) => {
          if (res.statusCode !== 200)
            throw await this.failure(res, ep, ref.path, what, `blob unknown: ${ref.domain}/${ref.path}@${desc.digest}`);
          const bytes = await readBody(res, desc.size, `blob ${desc.digest} (its descriptor says ${desc.size} bytes)`);
          if (bytes.length !== desc.size)
            throw invalidArgument(`${what}: size mismatch: got ${bytes.length} bytes, the descriptor says ${desc.size}`);
          const actual = digestOf(bytes, splitDigest(desc.digest).algorithm);
          if (actual !== desc.digest)
            throw invalidArgument(`${what}: digest mismatch: the content from ${ep.base.host} is ${actual}`);
          return bytes;
        },
      ),
    );
  }

  /**
   * Stream a blob into `sink` from `sink.offset` on (HTTP Range); a 200 to a Range request
   * restarts from 0 (`sink.truncate(0)`). A dropped connection or retryable error resumes from the
   * sink's offset, up to `retries` times in a row without progress. Never writes more than
   * `desc.size` bytes (InvalidArgument). The digest is the sink's to verify.
   */
  async copyBlob(ref: Reference, desc: Descriptor, sink: BlobSink, opts: CopyBlobOptions = {}): Promise<void> {
    validateReference(ref);
    checkDescriptor(desc);
    const { signal, onProgress } = opts;
    signal?.throwIfAborted();
    const what = `fetch blob ${ref.domain}/${ref.path}@${desc.digest}`;
    if (sink.offset > desc.size) await sink.truncate(0);
    if (sink.offset === desc.size) return;
    await this.onEndpoints(ref.domain, signal, async (ep) => {
      let start = 0;
      await this.exchange(
        what,
        signal,
        () => {
          start = sink.offset;
          return this.registryGet(
            ep,
            ref.path,
            `/v2/${ref.path}/blobs/${desc.digest}`,
            start > 0 ? { Range: `bytes=${start}-` } : {},
            signal,
          );
        },
        async (res) => {
          try {
            await this.receive(res, ep, ref, desc, sink, start, what, onProgress);
          } finally {
            if (!res.complete) res.destroy();
          }
        },
        () => sink.offset,
      );
    });
  }

  private async receive(
    res: IncomingMessage,
    ep: Endpoint,
    ref: Reference,
    desc: Descriptor,
    sink: BlobSink,
    start: number,
    what: string,
    onProgress?: (bytes: number) => void,
  ): Promise<void> {
    const s = res.statusCode ?? 0;
    if (s === 206) {
      const m = /^bytes (\d+)-/.exec(String(res.headers["content-range"] ?? ""));
      if (m && Number(m[1]) !== start) {
        // not the range asked for: start over rather than splice bytes from the wrong place
        await sink.truncate(0);
        throw new NetworkError(`${ep.base.host} answered a range from ${m[1]} to a request from ${start}`, "EBADRANGE", true);
      }
    } else if (s === 200) {
      if (sink.offset > 0) await sink.truncate(0);
    } else if (s === 416 && start > 0) {
      // the server's blob ends before our offset: what we hold cannot be its start; fetch it whole
      await sink.truncate(0);
      throw new NetworkError(`${ep.base.host} cannot serve the blob from byte ${start}`, "ERANGE", true);
    } else {
      throw await this.failure(res, ep, ref.path, what, `blob unknown: ${ref.domain}/${ref.path}@${desc.digest}`);
    }
    const tooBig = (n: number) =>
      invalidArgument(`${what}: the registry sends ${n} bytes or more, the descriptor says ${desc.size}`);
    const len = Number(res.headers["content-length"]);
    if (res.headers["content-length"] !== undefined && Number.isFinite(len) && sink.offset + len > desc.size)
      throw tooBig(sink.offset + len);
    const it = (res as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    for (;;) {
      let r: IteratorResult<Buffer>;
      try {
        r = await it.next();
      } catch (e) {
        throw toNetworkError(e);
      }
      if (r.done) break;
      if (sink.offset + r.value.length > desc.size) throw tooBig(sink.offset + r.value.length);
      await sink.write(r.value);
      onProgress?.(sink.offset);
    }
    if (sink.offset < desc.size)
      throw new NetworkError(`connection closed after ${sink.offset} of ${desc.size} bytes`, "ESHORT", true);
  }

  /** Mirrors first (any failure falls through to the next), then the registry, whose error is the one reported. */
  private async onEndpoints<T>(domain: string, signal: AbortSignal | undefined, fn: (ep: Endpoint) => Promise<T>): Promise<T> {
    for (const base of this.mirrors.get(credentialKey(domain)) ?? []) {
      const ep: Endpoint = {
        base,
        domain,
        credentialsFor: base.host,
        mirror: true,
        insecureTls: base.protocol === "https:" && (await this.insecure.isInsecure(base.host)),
      };
      try {
        return await fn(ep);
      } catch (e) {
        if (isAbort(e, signal)) throw e;
        // a mirror that lacks the content, is down or serves bad bytes: the registry is the authority
      }
    }
    return fn(await this.registryEndpoint(domain, signal));
  }

  /**
   * The registry's own endpoint. Secure: https. Insecure: https without verification, else http
   * (docker's order); loopback: http, else https without verification. The first scheme whose
   * GET /v2/ gets an HTTP answer is kept for the client's life.
   */
  private async registryEndpoint(domain: string, signal?: AbortSignal): Promise<Endpoint> {
    const known = this.endpoints.get(domain);
    if (known) return known;
    const host = registryHost(domain);
    const make = (scheme: "http" | "https", insecureTls: boolean): Endpoint => ({
      base: new URL(`${scheme}://${host}`),
      domain,
      credentialsFor: domain,
      mirror: false,
      insecureTls,
    });
    if (!(await this.insecure.isInsecure(host))) {
      const ep = make("https", false);
      this.endpoints.set(domain, ep);
      return ep;
    }
    const candidates = isLoopback(host) ? [make("http", false), make("https", true)] : [make("https", true), make("http", false)];
    for (const ep of candidates) {
      try {
        const res = await this.transport.send(this.url(ep, "/v2/"), {
          headers: { "User-Agent": this.userAgent },
          insecureTls: ep.insecureTls,
          timeoutMs: this.timeoutMs,
          signal,
        });
        // Go's TLS servers answer plain HTTP with "400 Client sent an HTTP request to an HTTPS server"
        const works = !(ep.base.protocol === "http:" && res.statusCode === 400);
        if (res.statusCode === 401) this.auth.learn(ep, res.headers["www-authenticate"]);
        discard(res);
        if (works) {
          this.endpoints.set(domain, ep);
          return ep;
        }
      } catch (e) {
        if (isAbort(e, signal)) throw e;
        // this scheme does not work (refused, TLS mismatch): try the next
      }
    }
    // none answered: use the first, whose requests will report why (after their retries)
    return candidates[0] as Endpoint;
  }

  private url(ep: Endpoint, path: string): URL {
    const prefix = ep.base.pathname === "/" ? "" : ep.base.pathname;
    return new URL(`${ep.base.origin}${prefix}${path}`);
  }

  /** A GET to the registry with authorization: on a 401 learn the challenge and try once more. */
  private async registryGet(
    ep: Endpoint,
    repository: string | undefined,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const url = this.url(ep, path);
    let sent: Sent = await this.auth.authorize(ep, repository, signal);
    for (let tries = 0; ; tries++) {
      const h = { ...headers };
      if (sent.header) h["Authorization"] = sent.header;
      const { res, url: last } = await this.followTo(url, { method: "GET", headers: h }, signal);
      if (
        res.statusCode === 401 &&
        tries === 0 &&
        last.origin === ep.base.origin &&
        this.auth.challenged(ep, res.headers["www-authenticate"], sent)
      ) {
        discard(res);
        sent = await this.auth.authorize(ep, repository, signal);
        continue;
      }
      return res;
    }
  }

  private async follow(url: URL, init: { method: string; headers: Record<string, string>; body?: string }, signal?: AbortSignal) {
    return (await this.followTo(url, init, signal)).res;
  }

  /** One request, following up to 5 redirects; Authorization never goes to another host. */
  private async followTo(
    url: URL,
    init: { method: string; headers: Record<string, string>; body?: string },
    signal?: AbortSignal,
  ): Promise<{ res: IncomingMessage; url: URL }> {
    let u = url;
    let method = init.method;
    let body = init.body;
    const headers: Record<string, string> = { "User-Agent": this.userAgent, ...init.headers };
    for (let hop = 0; ; hop++) {
      const insecureTls = u.protocol === "https:" && (await this.insecure.isInsecure(u.host));
      const o = { method, headers, insecureTls, timeoutMs: this.timeoutMs, signal, ...(body !== undefined ? { body } : {}) };
      const res = await this.transport.send(u, o);
      const location = res.headers.location;
      if (!redirectStatus.has(res.statusCode ?? 0) || !location) return { res, url: u };
      discard(res);
      if (hop === maxRedirects) throw unavailable(`${method} ${url.href}: more than ${maxRedirects} redirects`);
      let next: URL;
      try {
        next = new URL(location, u);
      } catch (e) {
        throw unavailable(`${method} ${url.href}: redirect to a bad location`, e);
      }
      if (next.protocol !== "https:" && next.protocol !== "http:")
        throw unavailable(`${method} ${url.href}: redirect to ${next.protocol} is not http(s)`);
      if (next.protocol === "http:" && u.protocol === "https:" && !(await this.insecure.isInsecure(next.host)))
        throw unavailable(`${method} ${url.href}: refusing a redirect from https to plain ${next.origin}`);
      // credentials are for the registry: blob storage on another host gets a pre-signed URL instead
      if (next.host !== url.host) delete headers["Authorization"];
      if (res.statusCode === 303 && method !== "GET" && method !== "HEAD") {
        method = "GET";
        body = undefined;
        delete headers["Content-Type"];
      }
      u = next;
    }
  }

  private backoff(attempt: number): number {
    return this.retryDelayMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
  }

  /**
   * Run `attempt` and `consume` its response, again after network errors, 5xx and 429 up to
   * `retries` times in a row (a `progress` that moved resets the count). Network failures in the
   * end are Unavailable; other errors pass through at once.
   */
  private async exchange<T = void>(
    what: string,
    signal: AbortSignal | undefined,
    attempt: () => Promise<IncomingMessage>,
    consume: (res: IncomingMessage) => Promise<T> = async (res) => res as unknown as T,
    progress?: () => number,
  ): Promise<T> {
    let failures = 0;
    let mark = progress?.();
    for (;;) {
      let delay: number;
      try {
        const res = await attempt();
        const s = res.statusCode ?? 0;
        if ((s === 429 || s >= 500) && failures < this.retries) {
          const ra = retryAfterMs(String(res.headers["retry-after"] ?? ""));
          discard(res);
          delay = ra !== undefined ? Math.min(ra, maxRetryAfterMs) : this.backoff(failures);
        } else {
          return await consume(res);
        }
      } catch (e) {
        if (isAbort(e, signal)) throw signal?.reason ?? e;
        if (!(e instanceof NetworkError)) throw e;
        const now = progress?.();
        if (now !== mark) {
          failures = 0;
          mark = now;
        }
        if (!e.retryable || failures >= this.retries) throw unavailable(`${what}: ${e.message}`, e);
        delay = this.backoff(failures);
      }
      failures++;
      await sleep(delay, signal);
    }
  }

  /** The error for a registry's non-success answer. */
  private async failure(
    res: IncomingMessage,
    ep: Endpoint,
    repository: string,
    what: string,
    unknown: string,
  ): Promise<BerthError> {
    const s = res.statusCode ?? 0;
    const detail = await errorText(res);
    const cause = detail ? new Error(detail) : undefined;
    const where = `${ep.domain}/${repository}${ep.mirror ? ` (mirror ${ep.base.host})` : ""}`;
    if (s === 404) return notFound(unknown, cause);
    if (s === 401) {
      const c = this.auth.credentialsFor(ep);
      const why = c
        ? `the registry refused the credentials for ${ep.credentialsFor}`
        : `no credentials for ${ep.credentialsFor} (log in first)`;
      return permissionDenied(`authentication required to pull ${where}: ${why}`, cause);
    }
    if (s === 403) return permissionDenied(`access denied to ${where}`, cause);
    if (s === 429 || s >= 500) return unavailable(`${what}: ${ep.base.host} answered HTTP ${s}`, cause);
    if (s === 400) return invalidArgument(`${what}: ${ep.base.host} answered HTTP 400`, cause);
    return internal(`${what}: ${ep.base.host} answered HTTP ${s}`, cause);
  }
}

function checkDescriptor(desc: Descriptor): void {
  validateDigest(desc.digest, "blob descriptor digest");
  if (!Number.isSafeInteger(desc.size) || desc.size < 0)
    throw invalidArgument(`blob ${desc.digest}: size ${desc.size} is not a size in bytes`);
}

/** Content-Type when it names a manifest type, else the document's own mediaType, else a guess from its shape. */
function manifestType(contentType: string, bytes: Buffer): string {
  if (knownManifestTypes.has(contentType)) return contentType;
  let own: unknown;
  try {
    own = JSON.parse(bytes.toString("utf8"));
  } catch {
    // not JSON: parseManifest will say so; the header is all there is
    return contentType || "application/octet-stream";
  }
  if (typeof own === "object" && own !== null) {
    const o = own as Record<string, unknown>;
    if (typeof o["mediaType"] === "string" && o["mediaType"] !== "") return o["mediaType"];
    if (o["schemaVersion"] === 1) return o["signatures"] ? MediaType.DockerManifestV1Signed : MediaType.DockerManifestV1;
    if (Array.isArray(o["manifests"])) return MediaType.OciIndex;
    if (typeof o["config"] === "object") return MediaType.OciManifest;
  }
  return contentType || "application/octet-stream";
}
