/**
 * HTTP/1.1 over berthd's unix socket, client side, on node:net alone. Every berth command is
 * a new process: node:http (client, agent, parser, and the server half `http` drags in) costs
 * each of them a few ms of module loading before its first byte; this is the part of it the CLI
 * needs. One request per connection (`Connection: close`); the response body is a Readable
 * (chunked, Content-Length, or up to the close), an upgrade (101) hands back the raw socket.
 */
import { connect, type Socket } from "node:net";
import { PassThrough } from "node:stream";

/** A response: its status line and headers, and its body as a stream. */
export interface Response extends PassThrough {
  statusCode: number;
  /** lower-case names; a repeated header keeps its last value */
  headers: Record<string, string>;
}

export interface RequestSpec {
  socketPath: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** ask for `Upgrade: tcp`: a 101 answer resolves `upgraded` */
  upgrade?: boolean;
}

export type Answer = { res: Response; upgraded?: undefined } | { upgraded: Socket; res?: undefined };

const HEADER_LIMIT = 64 * 1024;
const CRLFCRLF = Buffer.from("\r\n\r\n");

export function send(spec: RequestSpec): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sock = connect(spec.socketPath);
    let head: Buffer = Buffer.alloc(0);
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      reject(e);
    };
    sock.on("error", fail);
    sock.on("connect", () => {
      const body = spec.body === undefined ? undefined : Buffer.from(spec.body);
      const lines = [`${spec.method} ${spec.path} HTTP/1.1`];
      for (const [k, v] of Object.entries(spec.headers)) lines.push(`${k}: ${v}`);
      if (spec.upgrade) lines.push("Connection: Upgrade", "Upgrade: tcp");
      else lines.push("Connection: close");
      lines.push(`Content-Length: ${body?.length ?? 0}`);
      sock.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (body?.length) sock.write(body);
    });
    // the head is read in paused mode ('readable'): once that listener is gone the socket is
    // neither flowing nor paused, so an upgraded socket's first reader gets the bytes after the head
    const onReadable = () => {
      for (let d = sock.read() as Buffer | null; d !== null; d = sock.read() as Buffer | null) {
        head = head.length ? Buffer.concat([head, d]) : d;
        const end = head.indexOf(CRLFCRLF);
        if (end < 0) {
          if (head.length > HEADER_LIMIT) fail(new Error("malformed response: headers too long"));
          continue;
        }
        sock.off("readable", onReadable);
        sock.off("end", onEarlyEnd);
        let parsed: { status: number; headers: Record<string, string> };
        try {
          parsed = parseHead(head.subarray(0, end).toString("latin1"));
        } catch (e) {
          fail(e as Error);
          return;
        }
        const rest = head.subarray(end + 4);
        settled = true;
        sock.off("error", fail);
        if (spec.upgrade && parsed.status === 101) {
          if (rest.length) sock.unshift(rest);
          // until its reader listens (an attach waits for the wait's answer first), a reset must
          // not crash the CLI: 'close' follows the error, and readers end on it
          sock.on("error", () => {});
          resolve({ upgraded: sock });
          return;
        }
        const res = Object.assign(new PassThrough(), { statusCode: parsed.status, headers: parsed.headers });
        resolve({ res });
        readBody(sock, res, rest, spec.method === "HEAD" || parsed.status === 204 || parsed.status === 304);
        return;
      }
    };
    const onEarlyEnd = () => fail(new Error("berthd closed the connection before answering"));
    sock.on("readable", onReadable);
    sock.on("end", onEarlyEnd);
  });
}

/** The status line and the headers of a response head (without its final CRLFCRLF). */
export function parseHead(text: string): { status: number; headers: Record<string, string> } {
  const [statusLine = "", ...lines] = text.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
  if (!m) throw new Error(`malformed response: status line ${JSON.stringify(statusLine.slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`malformed response: header ${JSON.stringify(line.slice(0, 80))}`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(m[1]), headers };
}

/** Feed the body from `sock` (and the bytes that came with the head) into `res`. */
function readBody(sock: Socket, res: Response, first: Buffer, empty: boolean): void {
  const te = res.headers["transfer-encoding"];
  const cl = res.headers["content-length"];
  const decoder = empty
    ? new Sized(0)
    : te !== undefined && /chunked/i.test(te)
      ? new Chunked()
      : cl !== undefined
        ? new Sized(/^\d{1,15}$/.test(cl.trim()) ? Number(cl) : Number.NaN)
        : new UntilClose();
  if (decoder instanceof Sized && !Number.isSafeInteger(decoder.left)) {
    res.destroy(new Error(`malformed response: Content-Length ${JSON.stringify(cl)}`));
    sock.destroy();
    return;
  }
  let done = false;
  const finish = (err?: Error) => {
    if (done) return;
    done = true;
    sock.off("data", onData);
    if (err) res.destroy(err);
    else res.end();
    sock.destroy();
  };
  const onData = (d: Buffer) => {
    let out: Buffer[];
    try {
      out = decoder.feed(d);
    } catch (e) {
      finish(e as Error);
      return;
    }
    for (const b of out)
      if (b.length && !res.write(b)) {
        // the reader is slower than the socket: hold the socket until it drains
        sock.pause();
        res.once("drain", () => sock.resume());
      }
    if (decoder.complete) finish();
  };
  // the reader gave up (destroy): the connection goes too
  res.on("close", () => {
    if (!done) {
      done = true;
      sock.destroy();
    }
  });
  sock.on("data", onData);
  sock.on("end", () => finish(decoder.endsAtClose ? undefined : new Error("berthd closed the connection mid-response")));
  sock.on("error", (e) => finish(e));
  if (first.length) onData(first);
  else if (decoder.complete) finish();
}

interface Decoder {
  feed(d: Buffer): Buffer[];
  complete: boolean;
  endsAtClose: boolean;
}

class Sized implements Decoder {
  endsAtClose = false;
  constructor(public left: number) {}
  get complete(): boolean {
    return this.left === 0;
  }
  feed(d: Buffer): Buffer[] {
    const take = d.subarray(0, this.left);
    this.left -= take.length;
    return [take];
  }
}

class UntilClose implements Decoder {
  complete = false;
  endsAtClose = true;
  feed(d: Buffer): Buffer[] {
    return [d];
  }
}

/** Transfer-Encoding: chunked (RFC 9112 7.1): size line, data, CRLF; a 0 chunk and trailers end it. */
export class Chunked implements Decoder {
  complete = false;
  endsAtClose = false;
  private buf: Buffer = Buffer.alloc(0);
  /** bytes of data left in the current chunk; -1 while reading a size line */
  private left = -1;
  private trailers = false;

  feed(d: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const out: Buffer[] = [];
    for (;;) {
      if (this.trailers) {
        // trailer lines up to an empty one; none are used
        const nl = this.buf.indexOf("\r\n");
        if (nl < 0) return this.guard(out);
        const line = this.buf.subarray(0, nl);
        this.buf = this.buf.subarray(nl + 2);
        if (line.length === 0) {
          this.complete = true;
          return out;
        }
        continue;
      }
      if (this.left < 0) {
        const nl = this.buf.indexOf("\r\n");
        if (nl < 0) return this.guard(out);
        const sizeText = this.buf.subarray(0, nl).toString("latin1").split(";")[0]?.trim() ?? "";
        if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText))
          throw new Error(`malformed response: chunk size ${JSON.stringify(sizeText.slice(0, 20))}`);
        this.buf = this.buf.subarray(nl + 2);
        const size = Number.parseInt(sizeText, 16);
        if (size === 0) {
          this.trailers = true;
          continue;
        }
        this.left = size;
      }
      // data, then its CRLF
      if (this.left > 0) {
        const take = this.buf.subarray(0, this.left);
        if (take.length) out.push(take);
        this.left -= take.length;
        this.buf = this.buf.subarray(take.length);
        if (this.left > 0) return out;
      }
      if (this.buf.length < 2) return out;
      if (this.buf[0] !== 13 || this.buf[1] !== 10) throw new Error("malformed response: chunk without its CRLF");
      this.buf = this.buf.subarray(2);
      this.left = -1;
    }
  }

  private guard(out: Buffer[]): Buffer[] {
    if (this.buf.length > HEADER_LIMIT) throw new Error("malformed response: chunk header too long");
    return out;
  }
}
