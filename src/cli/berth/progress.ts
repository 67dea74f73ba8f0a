import type { PullEvent } from "../../images/index.js";
import { humanSize, shortId } from "./format.js";

interface Line {
  id: string;
  status: string;
  current: number;
  size: number;
}

const words: Record<string, string> = {
  waiting: "Waiting",
  exists: "Already exists",
  downloading: "Downloading",
  verifying: "Verifying Checksum",
  done: "Pull complete",
};

/**
 * Docker's pull display: on a terminal one line per layer, redrawn in place with a bar;
 * otherwise a plain line at each change of a layer's state (for logs and CI).
 */
export class PullProgress {
  private lines: Line[] = [];
  private drawn = 0;
  private last = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly done = new Set<string>();
  private stopped = false;

  constructor(
    private readonly write: (s: string) => void,
    private readonly tty: boolean,
    private readonly width = 80,
  ) {}

  event(e: PullEvent): void {
    if (e.type === "resolved" || this.stopped) return;
    if (e.type === "unpacking") {
      this.flush();
      return;
    }
    const id = shortId(e.digest);
    let line = this.lines.find((l) => l.id === id);
    if (!line) {
      line = { id, status: "", current: 0, size: e.size };
      this.lines.push(line);
    }
    const status = e.status === "done" && this.done.has(`${id}:exists`) ? "exists" : e.status;
    if (e.status === "exists") this.done.add(`${id}:exists`);
    const changed = line.status !== status;
    line.status = status;
    line.current = e.current;
    // through berthd only the download lines carry a layer's size (docker's progressDetail)
    if (e.size > 0) line.size = e.size;
    if (!this.tty) {
      if (changed && status !== "downloading") this.write(`${id}: ${words[status] ?? status}\n`);
      else if (changed) this.write(`${id}: Downloading ${humanSize(line.size)}\n`);
      return;
    }
    const now = Date.now();
    if (changed || now - this.last > 100) this.draw();
    else if (!this.timer) this.timer = setTimeout(() => this.draw(), 100);
  }

  /** Draw the current state now. */
  flush(): void {
    if (this.tty && this.lines.length > 0) this.draw();
  }

  /** Draw the final state and never redraw again (before anything else is printed). */
  stop(): void {
    this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.stopped = true;
  }

  private draw(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.last = Date.now();
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A` : "";
    for (const l of this.lines) s += `\x1b[2K${this.render(l)}\n`;
    this.drawn = this.lines.length;
    this.write(s);
  }

  private render(l: Line): string {
    const word = words[l.status] ?? l.status;
    if (l.status !== "downloading") return `${l.id}: ${word}`;
    const barWidth = Math.max(10, Math.min(50, this.width - 45));
    const frac = l.size > 0 ? Math.min(1, l.current / l.size) : 0;
    const fill = Math.floor(frac * barWidth);
    const bar = `[${"=".repeat(Math.max(0, fill - 1))}${fill > 0 ? ">" : ""}${" ".repeat(barWidth - fill)}]`;
    return `${l.id}: ${word} ${bar} ${humanSize(l.current)}/${humanSize(l.size)}`;
  }
}
