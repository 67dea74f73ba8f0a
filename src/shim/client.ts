import net from "node:net";
import type { ErrorKind } from "../errors/index.js";
import { BerthError, unavailable } from "../errors/index.js";
import { FrameDecoder } from "./frames.js";
import type { AttachRequest, Request, Response, ShimEvent } from "./protocol.js";
import { STREAM_EXIT } from "./protocol.js";

/** A request as a caller writes it: the client numbers it. */
export type ShimCall = Request extends infer R ? (R extends unknown ? Omit<R, "seq"> : never) : never;

/** A control connection to a shim: requests answered by seq, events to a callback. */
export class ShimClient {
  private seq = 0;
  private buf = "";
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(e: ShimEvent) => void>();
  private readonly closeHandlers: Array<() => void> = [];

  private constructor(private readonly conn: net.Socket) {
    conn.setEncoding("utf8");
    conn.on("data", (d: string) => this.data(d));
    conn.on("error", () => {
      // reported to every pending request by 'close'
    });
    conn.on("close", () => {
      const err = unavailable("the shim closed the connection");
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      for (const h of this.closeHandlers) h();
    });
  }

  /** the connection is gone (the shim exited, or `close` was called) */
  get closed(): boolean {
    return this.conn.destroyed;
  }

  /** Called once when the connection goes away. */
  onClose(h: () => void): void {
    this.closeHandlers.push(h);
  }

  static connect(socket: string): Promise<ShimClient> {
    return new Promise((resolve, reject) => {
      const conn = net.connect(socket);
      conn.once("error", (e) => reject(unavailable(`connect to the shim at ${socket}`, e)));
      conn.once("connect", () => resolve(new ShimClient(conn)));
    });
  }

  /** Send a request; resolves with its result, rejects with a BerthError of the shim's kind. */
  request<T = unknown>(call: ShimCall): Promise<T> {
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      if (this.conn.destroyed) {
        reject(unavailable("the shim connection is closed"));
        return;
      }
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      this.conn.write(`${JSON.stringify({ ...call, seq })}\n`);
    });
  }

  /** Subscribe to the shim's events (for every container). */
  async subscribe(onEvent: (e: ShimEvent) => void): Promise<void> {
    this.listeners.add(onEvent);
    await this.request({ op: "subscribe" });
  }

  close(): void {
    this.conn.destroy();
  }

  private data(d: string): void {
    this.buf += d;
    for (let nl = this.buf.indexOf("\n"); nl >= 0; nl = this.buf.indexOf("\n")) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line) as Response | ShimEvent;
      if ("type" in msg) {
        for (const l of this.listeners) l(msg);
        continue;
      }
      const p = this.pending.get(msg.seq);
      if (!p) continue;
      this.pending.delete(msg.seq);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new BerthError((msg.error?.kind ?? "Internal") as ErrorKind, msg.error?.message ?? "shim error"));
    }
  }
}

/** An attach connection: the process's output as frames, stdin as raw bytes, the exit code last. */
export class AttachStream {
  /** resolves with the exit code from the STREAM_EXIT frame; rejects when the shim refused the attach */
  readonly exit: Promise<number>;
  private settle: { resolve: (n: number) => void; reject: (e: Error) => void } | undefined;

  private constructor(
    private readonly conn: net.Socket,
    onOutput: (stream: number, data: Buffer) => void,
    registered: () => void,
  ) {
    this.exit = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // callers that only look at the output must not see an unhandled rejection
    this.exit.catch(() => undefined);
    const frames = new FrameDecoder();
    let first = true;
    conn.on("data", (d: Buffer) => {
      for (const f of frames.push(d)) {
        if (first) {
          first = false;
          registered();
        }
        if (f.stream !== STREAM_EXIT) {
          if (f.data.length) onOutput(f.stream, f.data);
          continue;
        }
        const v = JSON.parse(f.data.toString()) as { exitCode?: number; error?: { kind: string; message: string } };
        if (v.error) this.settle?.reject(new BerthError(v.error.kind as ErrorKind, v.error.message));
        else this.settle?.resolve(v.exitCode ?? -1);
      }
    });
    conn.on("error", () => undefined);
    conn.on("close", () => this.settle?.reject(unavailable("the attach stream closed before the process exited")));
  }

  /**
   * Attach; resolves once the shim registered the client (its first, empty frame), so output
   * produced after that (a start sent next) reaches it.
   */
  static open(
    socket: string,
    req: Omit<AttachRequest, "op">,
    onOutput: (stream: number, data: Buffer) => void,
  ): Promise<AttachStream> {
    return new Promise((resolve, reject) => {
      const conn = net.connect({ path: socket, allowHalfOpen: true });
      conn.once("error", (e) => reject(unavailable(`attach to the shim at ${socket}`, e)));
      let s: AttachStream | undefined;
      conn.once("connect", () => {
        s = new AttachStream(conn, onOutput, () => resolve(s as AttachStream));
        s.exit.catch(reject);
        conn.write(`${JSON.stringify({ op: "attach", ...req })}\n`);
      });
    });
  }

  write(data: string | Buffer): void {
    this.conn.write(data);
  }

  /** half-close: the end of this client's input (closes the process's stdin with stdinOnce) */
  end(): void {
    this.conn.end();
  }

  close(): void {
    this.conn.destroy();
  }
}
