/**
 * docker's multiplexed stream frames: an 8-byte header [stream, 0, 0, 0, size (uint32 BE)]
 * followed by `size` bytes (see protocol.ts).
 */

export const FRAME_HEADER = 8;

/** One frame, header and payload in one buffer (so fan-out writes it once per client). */
export function encodeFrame(stream: number, data: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER + data.length);
  b.writeUInt32BE(0, 0);
  b[0] = stream;
  b.writeUInt32BE(data.length, 4);
  b.set(data, FRAME_HEADER);
  return b;
}

export interface Frame {
  stream: number;
  data: Buffer;
}

/** Splits a byte stream into frames; push chunks as they arrive. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    while (this.buf.length >= FRAME_HEADER) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < FRAME_HEADER + size) break;
      out.push({ stream: this.buf[0] ?? 0, data: this.buf.subarray(FRAME_HEADER, FRAME_HEADER + size) });
      this.buf = this.buf.subarray(FRAME_HEADER + size);
    }
    return out;
  }

  /** bytes of an incomplete frame still buffered */
  get pending(): number {
    return this.buf.length;
  }
}
