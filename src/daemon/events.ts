import { EventEmitter } from "node:events";

/** One event as docker's `/events` sends it. */
export interface BerthEvent {
  Type: "container" | "image" | "network" | "volume" | "daemon";
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: "local";
  time: number;
  timeNano: number;
  // docker's deprecated top-level fields, still read by older clients
  status?: string;
  id?: string;
  from?: string;
}

/**
 * berthd's event stream: every service publishes here; `/events` subscribers read from it, and
 * a short history answers `--since`.
 */
export class EventBus {
  private readonly emitter = new EventEmitter();
  private readonly history: BerthEvent[] = [];

  constructor(private readonly keep = 1000) {
    this.emitter.setMaxListeners(0);
  }

  publish(type: BerthEvent["Type"], action: string, id: string, attributes: Record<string, string> = {}): BerthEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
    const e: BerthEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: "local",
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
      ...(type === "container" ? { status: action, id, ...(attributes.image ? { from: attributes.image } : {}) } : {}),
    };
    this.history.push(e);
    if (this.history.length > this.keep) this.history.shift();
    this.emitter.emit("event", e);
    return e;
  }

  /** Events since `sinceNs` (history), then live ones until the returned function is called. */
  subscribe(handler: (e: BerthEvent) => void, sinceNs?: bigint): () => void {
    if (sinceNs !== undefined) for (const e of this.history) if (BigInt(e.timeNano) >= sinceNs) handler(e);
    this.emitter.on("event", handler);
    return () => this.emitter.off("event", handler);
  }
}
