/**
 * One HTTP exchange over node:http / node:https with keep-alive agents, an idle timeout, an abort
 * signal, and body helpers that never leave a response half-read: every response this module
 * hands out is either returned to the caller, drained back into the pool, or destroyed.
 */
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as tls from "node:tls";
import { invalidArgument } from "../errors/index.js";

export interface SendOptions {
  method?: string;
  headers: Record<string, string>;
  /** TLS without certificate verification (insecure registries) */
  insecureTls: boolean;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  body?: string | Buffer;
}

/** A failure below HTTP (connect, TLS, reset, timeout), with whether trying again may help. */
export class NetworkError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  constructor(message: string, code: string, retryable: boolean, cause?: unknown) {
    super(message, { cause });
    this.name = "NetworkError";
    this.code = code;
    this.retryable = retryable;
  }
}

const retryableCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ENETDOWN",
  "EHOSTDOWN",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET",
  "HPE_INVALID_CONSTANT",
]);

const reasons: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection closed",
  ETIMEDOUT: "timed out",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "temporary DNS failure",
  ENETUNREACH: "network unreachable",
  EHOSTUNREACH: "host unreachable",
};

/** Node's error as a NetworkError (its code, a short reason); AbortErrors pass through unchanged. */
export function toNetworkError(err: unknown): unknown {
  if (err instanceof NetworkError) return err;
  if (!(err instanceof Error) || err.name === "AbortError") return err;
  const code = (err as { code?: unknown }).code;
  const c = typeof code === "string" ? code : "EUNKNOWN";
  // TLS handshake failures (bad certificate, wrong protocol) are not fixed by trying again
  const tls = /CERT|SSL|TLS|EPROTO|SELF_SIGNED|UNABLE_TO|HOSTNAME|ALTNAME/.test(c);
  const retryable = !tls && (retryableCodes.has(c) || err.message === "aborted" || err.message === "socket hang up");
  const short = reasons[c];
  // keep node's error as the cause only where it adds something (the address) to the short reason
  if (short) return new NetworkError(short, c, retryable, err);
  return new NetworkError(tls ? `tls: ${err.message}` : err.message || c, c, retryable);
}

/** how long a pooled keep-alive socket may sit idle before it is closed (the agent re-arms it on release) */
const idleSocketMs = 5000;

/**
 * The host's extra CA bundle. bin/berth starts Node without NODE_EXTRA_CA_CERTS (parsing it
 * costs every command 50-100 ms) and passes its path as BERTH_EXTRA_CA_CERTS; it is read here,
 * by the commands that talk TLS, on top of Node's own roots.
 */
function extraCa(): { ca?: string[] } {
  const file = process.env["BERTH_EXTRA_CA_CERTS"];
  if (!file || process.env["NODE_EXTRA_CA_CERTS"]) return {};
  try {
    return { ca: [...tls.rootCertificates, readFileSync(file, "utf8")] };
  } catch {
    // as Node does with a missing NODE_EXTRA_CA_CERTS file: carry on with its own roots
    return {};
  }
}

export class Transport {
  private readonly agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 32, timeout: idleSocketMs }),
    https: new https.Agent({ keepAlive: true, maxSockets: 32, timeout: idleSocketMs, ...extraCa() }),
    insecure: new https.Agent({ keepAlive: true, maxSockets: 32, timeout: idleSocketMs, rejectUnauthorized: false }),
  };

  /** One request, no redirects, no retries. Rejects with a NetworkError (or the signal's AbortError). */
  send(url: URL, o: SendOptions): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const secure = url.protocol === "https:";
      const agent = secure ? (o.insecureTls ? this.agents.insecure : this.agents.https) : this.agents.http;
      const options: http.RequestOptions = { method: o.method ?? "GET", headers: o.headers, agent };
      if (o.signal) options.signal = o.signal;
      let response: http.IncomingMessage | undefined;
      const req = (secure ? https : http).request(url, options, (res) => {
        response = res;
        resolve(res);
      });
      // an idle socket, while connecting, waiting for headers or reading the body
      req.setTimeout(o.timeoutMs, () => {
        const err = new NetworkError(`timed out after ${o.timeoutMs} ms without data`, "ETIMEDOUT", true);
        response?.destroy(err);
        req.destroy(err);
      });
      req.on("error", (e) => reject(toNetworkError(e)));
      req.end(o.body);
    });
  }

  /** Destroy every pooled socket. */
  close(): void {
    for (const a of Object.values(this.agents)) a.destroy();
  }
}

/** The whole body, refusing more than `limit` bytes (InvalidArgument, `what` names it). */
export async function readBody(res: http.IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers["content-length"]);
  const tooBig = () => invalidArgument(`${what} is larger than ${limit} bytes`);
  if (Number.isFinite(declared) && declared > limit) {
    res.destroy();
    throw tooBig();
  }
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > limit) break;
      chunks.push(chunk);
    }
  } catch (e) {
    res.destroy();
    throw toNetworkError(e);
  }
  if (n > limit) {
    res.destroy();
    throw tooBig();
  }
  return Buffer.concat(chunks, n);
}

/** Done with a response: drain a small body so the socket goes back to the pool, destroy a big one. */
export function discard(res: http.IncomingMessage): void {
  const len = Number(res.headers["content-length"]);
  // even a complete body must be read to its end: only then does the socket go back to the pool
  if (res.complete || (Number.isFinite(len) && len <= 65536)) {
    res.on("error", () => {}); // a reset while draining matters to no one
    res.resume();
  } else {
    res.destroy();
  }
}

/** An error body's text, shortened: the registry's `{"errors":[{code,message,detail}]}` as "message (detail)". */
export async function errorText(res: http.IncomingMessage): Promise<string | undefined> {
  let body: Buffer;
  try {
    body = await readBody(res, 65536, "error body");
  } catch {
    return undefined;
  }
  const text = body.toString("utf8");
  try {
    const v = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown; detail?: unknown }[] };
    if (Array.isArray(v.errors) && v.errors.length > 0) {
      return v.errors
        .map((e) => {
          const msg = typeof e.message === "string" && e.message !== "" ? e.message : String(e.code ?? "error").toLowerCase();
          const detail = typeof e.detail === "string" && e.detail !== "" ? ` (${e.detail})` : "";
          return msg + detail;
        })
        .join("; ")
        .slice(0, 500);
    }
  } catch {
    // not the registry's error JSON: show the start of the text instead
  }
  const t = text.trim().replace(/\s+/g, " ");
  return t === "" ? undefined : t.slice(0, 200);
}

/** Retry-After (seconds or an HTTP date) in ms, or undefined. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Wait `ms`, or reject with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
