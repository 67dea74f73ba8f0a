import { type IncomingMessage, type RequestOptions, request } from "node:http";
import type { Socket } from "node:net";
import { BerthError, type ErrorKind, unavailable } from "../../errors/index.js";

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

  private open(method: string, path: string, headers: Record<string, string> = {}) {
    // servername "": a unix socket has no TLS name; without it node:http's agent tests the Host
    // header with net.isIP, whose first call compiles a regex worth ~5 ms of every CLI call
    const opts: RequestOptions & { servername: string } = {
      socketPath: this.socketPath,
      servername: "",
      method,
      path,
      headers: { Host: "berthd", ...headers },
    };
    return request(opts);
  }

  private connErr(e: Error & { code?: string }): BerthError {
    if (e.code === "ENOENT" || e.code === "ECONNREFUSED")
      return unavailable(`Cannot connect to berthd at unix://${this.socketPath}. Is berthd running?`);
    if (e.code === "EACCES") return new BerthError("PermissionDenied", `permission denied on unix://${this.socketPath}`);
    return unavailable(`berthd at unix://${this.socketPath}: ${e.message}`);
  }

  /** A streaming response (logs, events, pull): the caller reads it; a non-2xx status is thrown. */
  stream(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = this.open(method, path, { ...(payload ? { "Content-Type": "application/json" } : {}), ...headers });
      req.on("error", (e) => reject(this.connErr(e)));
      req.on("response", (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          readAll(res).then((text) => reject(apiError(res.statusCode ?? 500, text)), reject);
          return;
        }
        resolve(res);
      });
      req.end(payload);
    });
  }

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await this.stream(method, path, body);
    const text = await readAll(res);
    return { status: res.statusCode ?? 200, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** A hijacked connection (attach, exec start): the raw socket after `101 UPGRADED`. */
  hijack(path: string, body?: unknown): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? "" : JSON.stringify(body);
      const req = this.open("POST", path, {
        Connection: "Upgrade",
        Upgrade: "tcp",
        "Content-Type": "application/json",
        "Content-Length": String(Buffer.byteLength(payload)),
      });
      req.on("error", (e) => reject(this.connErr(e)));
      req.on("upgrade", (_res, sock, head) => {
        if (head.length) sock.unshift(head);
        resolve(sock);
      });
      req.on("response", (res) => {
        readAll(res).then((text) => reject(apiError(res.statusCode ?? 500, text)), reject);
      });
      req.end(payload);
    });
  }
}

export function readAll(res: IncomingMessage): Promise<string> {
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
