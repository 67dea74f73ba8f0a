import { notFound } from "../errors/index.js";

/** What an exec was created with (docker's ExecConfig). */
export interface ExecConfig {
  Cmd: string[];
  Env?: string[];
  User?: string;
  WorkingDir?: string;
  Tty?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Privileged?: boolean;
  DetachKeys?: string;
}

/** One exec instance of a running container. */
export interface ExecRecord {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  exitCode?: number;
  pid: number;
  shim?: string;
}

/** Finished execs kept per container for `exec inspect`; older ones are forgotten first. */
export const FINISHED_EXECS_KEPT = 64;

/**
 * The exec instances berthd knows, as docker's exec store: they live only as long as their
 * container runs (it stopping forgets them all), and a long-running container keeps at most
 * `keep` finished ones, so that a health check or a monitoring loop that execs every few
 * seconds does not grow berthd without bound. Created and running execs are never dropped.
 */
export class ExecRecords {
  /** insertion order is creation order: the oldest come first */
  private readonly records = new Map<string, ExecRecord>();

  constructor(private readonly keep = FINISHED_EXECS_KEPT) {}

  add(x: ExecRecord): void {
    this.records.set(x.id, x);
  }

  find(id: string): ExecRecord | undefined {
    return this.records.get(id);
  }

  get(id: string): ExecRecord {
    const x = this.records.get(id);
    if (!x) throw notFound(`No such exec instance: ${id}`);
    return x;
  }

  /** The exec's process exited with `exitCode`; its container's oldest finished execs beyond `keep` go. */
  finished(x: ExecRecord, exitCode: number): void {
    x.running = false;
    x.exitCode = exitCode;
    this.prune(x.containerId);
  }

  /** The container stopped or was removed: its execs are forgotten. */
  forgetContainer(containerId: string): void {
    for (const [id, x] of this.records) if (x.containerId === containerId) this.records.delete(id);
  }

  /** How many execs of `containerId` are known. */
  count(containerId: string): number {
    let n = 0;
    for (const x of this.records.values()) if (x.containerId === containerId) n++;
    return n;
  }

  private prune(containerId: string): void {
    const done = [...this.records.values()].filter(
      (x) => x.containerId === containerId && !x.running && x.exitCode !== undefined,
    );
    for (const x of done.slice(0, Math.max(0, done.length - this.keep))) this.records.delete(x.id);
  }
}
