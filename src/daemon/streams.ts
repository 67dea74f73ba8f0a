import type { Duplex } from "node:stream";
import type { AttachStream } from "../shim/index.js";

/** One frame of docker's multiplexed stream: [stream, 0, 0, 0, size (u32 BE)] + payload. */
export function frame(stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** Where an attach's output goes: a terminal's bytes raw (docker's raw-stream), else as frames. */
export function output(client: Duplex, tty: boolean): (stream: number, data: Buffer) => void {
  return (stream, data) => {
    if (!client.destroyed) client.write(tty ? data : frame(stream, data));
  };
}

/**
 * Tie a shim attach stream to a hijacked client connection: the client's bytes are the
 * process's stdin (its half-close closes it), and the client's stream ends when the process
 * has exited and its output was sent.
 */
export function relay(a: AttachStream, client: Duplex, stdin: boolean): void {
  const done = () => {
    if (!client.destroyed) client.end();
    a.close();
  };
  a.exit.then(done, done);
  client.on("error", () => a.close());
  client.on("close", () => a.close());
  if (stdin) {
    client.on("data", (d: Buffer) => a.write(d));
    client.on("end", () => a.end());
  } else client.resume();
}
