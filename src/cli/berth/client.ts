import type { Socket } from "node:net";
import { BerthError, type ErrorKind, unavailable } from "../../errors/index.js";
import { type Response, send } from "./http-lite.js";

export type { Response } from "./http-lite.js";

export const DEFAULT_HOST = "unix:///run/berth/berth.sock";

const KIND: Record<number, ErrorKind> = {
  400: "InvalidArgument",
  404: "NotFound",
  409: "FailedPrecondition",
  403: "PermissionDenied",
  501: "NotImplemented",
  503: "Unavailable",
};

/** berthd's API over its unix socket (`-H unix:///path` or BERTH_HOST, as docker's DOCKER_HOST). */
export class DaemonClient {
  readonly socketPath: string;

  constructor(host: string) {
    if (host.startsWith("unix://")) this.socketPath = host.slice(7);
    else if (host.startsWith("/")) this.socketPath = host;
    else throw new BerthError("InvalidArgument", `host ${host}: only unix:// sockets are supported`);
  }

  private connErr(e: Error & { code?: string }): BerthError {
    if (e.code === "ENOENT" || e.code === "ECONNREFUSED")
      return unavailable(`Cannot connect to berthd at unix://${this.socketPath}. Is berthd running?`);
    if (e.code === "EACCES") return new BerthError("PermissionDenied", `permission denied on unix://${this.socketPath}`);
    return unavailable(`berthd at unix://${this.socketPath}: ${e.message}`);
  }

  /** A streaming response (logs, events, pull): the caller reads it; a non-2xx status is thrown. */
  async stream(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const answer = await send({
      socketPath: this.socketPath,
      method,
      path,
      headers: { Host: "berthd", ...(payload ? { "Content-Type": "application/json" } : {}), ...headers },
      ...(payload ? { body: payload } : {}),
    }).catch((e: Error) => {
      throw this.connErr(e);
    });
    const res = answer.res as Response;
    if (res.statusCode >= 400) throw apiError(res.statusCode, await readAll(res));
    return res;
  }

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await this.stream(method, path, body);
    const text = await readAll(res);
    return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** A hijacked connection (attach, exec start): the raw socket after `101 UPGRADED`. */
  async hijack(path: string, body?: unknown): Promise<Socket> {
    const answer = await send({
      socketPath: this.socketPath,
      method: "POST",
      path,
      headers: { Host: "berthd", "Content-Type": "application/json" },
      body: body === undefined ? "" : JSON.stringify(body),
      upgrade: true,
    }).catch((e: Error) => {
      throw this.connErr(e);
    });
    if (answer.upgraded) return answer.upgraded;
    throw apiError(answer.res.statusCode, await readAll(answer.res));
  }
}

export function readAll(res: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (d: Buffer) => chunks.push(d));
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", reject);
  });
}

function apiError(status: number, text: string): BerthError {
  let msg = text;
  try {
    msg = (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    // not JSON
  }
  return new BerthError(KIND[status] ?? "Internal", msg || `HTTP ${status}`);
}

/**
 * Split docker's multiplexed stream into stdout and stderr writes; `raw` (a terminal's stream)
 * passes bytes through.
 */
export function demux(
  src: NodeJS.ReadableStream,
  out: (b: Buffer) => void,
  err: (b: Buffer) => void,
  raw: boolean,
): Promise<void> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    src.on("data", (d: Buffer) => {
      if (raw) {
        out(d);
        return;
      }
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 8) {
        const size = buf.readUInt32BE(4);
        if (buf.length < 8 + size) break;
        const payload = buf.subarray(8, 8 + size);
        if (buf[0] === 2) err(payload);
        else out(payload);
        buf = buf.subarray(8 + size);
      }
    });
    src.on("end", () => resolve());
    src.on("close", () => resolve());
    src.on("error", () => resolve());
  });
}
