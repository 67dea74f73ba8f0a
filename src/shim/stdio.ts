import { closeSync, constants, openSync, unlinkSync, writeSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import tty from "node:tty";
import { errnoCode, internal } from "../errors/index.js";
import { native } from "../native/index.js";

let devNullFd: number | undefined;

/** One read-only /dev/null fd for every process without stdin. */
export function devNull(): number {
  devNullFd ??= openSync("/dev/null", "r");
  return devNullFd;
}

let fifoSeq = 0;

/**
 * A real pipe (not the socketpair child_process makes: a container must be able to open
 * /dev/stdout, which a socket refuses), made from a FIFO that is unlinked at once.
 * `out`: the child writes, the shim reads. `in`: the shim writes, the child reads.
 * The child's end is blocking (programs expect it), the shim's is not (libuv).
 * Both fds are close-on-exec, so no other runtime inherits them.
 */
export function makePipe(dir: string, direction: "in" | "out"): { shimFd: number; childFd: number } {
  const path = join(dir, `.fifo-${process.pid}-${++fifoSeq}`);
  native().mkfifo(path, 0o600);
  try {
    // the read end first, non-blocking (no writer yet), then the write end (a reader exists: no wait)
    const r = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    let w: number;
    try {
      w = openSync(path, direction === "out" ? constants.O_WRONLY : constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      closeSync(r);
      throw e;
    }
    if (direction === "out") return { shimFd: r, childFd: w };
    native().setBlocking(r, true);
    return { shimFd: w, childFd: r };
  } finally {
    unlinkSync(path);
  }
}

/** A libuv stream over a pipe fd (epoll, no threadpool thread held). */
export function pipeReader(fd: number): net.Socket {
  return new net.Socket({ fd, readable: true, writable: false });
}

export function pipeWriter(fd: number): net.Socket {
  return new net.Socket({ fd, readable: false, writable: true });
}

/** sun_path holds 108 bytes with its NUL */
const SUN_PATH_MAX = 107;
let consoleSeq = 0;

/**
 * The `--console-socket` a runtime connects to (a unix stream socket) to send the pty master
 * with SCM_RIGHTS. Connections are accepted paused, so libuv never reads the message: the
 * shim takes it with recvmsg (native().recvPacket), which returns the passed fd.
 */
export class ConsoleSocket {
  private conn: net.Socket | undefined;
  private waiting: ((c: net.Socket) => void) | undefined;
  private constructor(
    readonly path: string,
    private readonly server: net.Server,
    private readonly tmpDir: string | undefined,
  ) {
    server.on("connection", (c) => {
      c.on("error", () => {
        // the runtime went away: receive() reports the missing fd
      });
      if (this.conn) {
        c.destroy();
        return;
      }
      this.conn = c;
      this.waiting?.(c);
    });
  }

  static async open(dir: string): Promise<ConsoleSocket> {
    let path = join(dir, `pty-${process.pid}-${++consoleSeq}.sock`);
    let tmpDir: string | undefined;
    if (path.length > SUN_PATH_MAX) {
      tmpDir = mkdtempSync("/tmp/berth-shim-pty-");
      path = join(tmpDir, "pty.sock");
    }
    const server = net.createServer({ pauseOnConnect: true });
    await listenPrivate(server, path);
    return new ConsoleSocket(path, server, tmpDir);
  }

  /** The pty master the runtime sent (call once the runtime exited successfully). */
  async receive(timeoutMs: number): Promise<number> {
    const conn =
      this.conn ??
      (await new Promise<net.Socket | undefined>((resolve) => {
        const t = setTimeout(() => resolve(undefined), timeoutMs);
        this.waiting = (c) => {
          clearTimeout(t);
          resolve(c);
        };
      }));
    const fd = (conn as unknown as { _handle?: { fd?: number } } | undefined)?._handle?.fd;
    if (conn === undefined || fd === undefined || fd < 0)
      throw internal(`the runtime did not connect to the console socket "${this.path}"`);
    // the runtime sent the fd before it exited, so this does not wait
    const msg = native().recvPacket(fd, timeoutMs);
    const [master, ...extra] = msg?.fds ?? [];
    for (const x of extra) closeSync(x);
    if (master === undefined) throw internal(`the runtime sent no pty master on the console socket "${this.path}"`);
    return master;
  }

  close(): void {
    this.conn?.destroy();
    this.server.close();
    try {
      unlinkSync(this.path);
    } catch (e) {
      // server.close() may have removed it already
      if (errnoCode(e) !== "ENOENT") throw e;
    }
    if (this.tmpDir) rmSync(this.tmpDir, { recursive: true, force: true });
  }
}

/** listen on a unix socket path created mode 0600 (no window where others may connect) */
export function listenPrivate(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const old = process.umask(0o177);
    try {
      server.once("error", reject);
      // a unix path is bound synchronously inside listen(), under the umask above
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    } finally {
      process.umask(old);
    }
  });
}

/** cap on stdin bytes queued for a pty whose reader does not read */
const PTY_INPUT_MAX = 1 << 20;
const PTY_RETRY_MS = 20;

/**
 * A pty master: read through a libuv tty stream; written with non-blocking write(2) and a
 * retry while the terminal's input queue is full (libuv writes a pty master blocking, which
 * would stall every container of the shim behind one that does not read its input).
 */
export class Pty {
  readonly reader: tty.ReadStream;
  private queue: Buffer[] = [];
  private queued = 0;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(readonly fd: number) {
    this.reader = new tty.ReadStream(fd);
    native().setBlocking(fd, false);
  }

  resize(rows: number, cols: number): void {
    native().setWinsize(this.fd, rows, cols);
  }

  write(data: Buffer): void {
    if (this.closed || this.queued + data.length > PTY_INPUT_MAX) return;
    this.queue.push(data);
    this.queued += data.length;
    if (!this.retry) this.flush();
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.queue = [];
    this.reader.destroy();
  }

  private flush(): void {
    this.retry = undefined;
    while (!this.closed && this.queue.length) {
      const head = this.queue[0] as Buffer;
      let n: number;
      try {
        n = writeSync(this.fd, head);
      } catch (e) {
        if (errnoCode(e) === "EAGAIN") {
          this.retry = setTimeout(() => this.flush(), PTY_RETRY_MS);
          return;
        }
        // EIO: the terminal's other side is closed, input has nowhere to go
        this.queue = [];
        this.queued = 0;
        return;
      }
      this.queued -= n;
      if (n < head.length) this.queue[0] = head.subarray(n);
      else this.queue.shift();
    }
  }
}
