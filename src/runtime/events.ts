import type { CgroupStats } from "../cgroups/index.js";
import { failedPrecondition, invalidArgument } from "../errors/index.js";
import { cgroupOf, loadState, statusOf } from "./container-state.js";
import type { RuntimeContext } from "./context.js";

/** One line of `events` output, runc's types.Event. */
export interface ContainerEvent {
  type: "stats" | "oom";
  id: string;
  data?: CgroupStats & { intel_rdt: Record<string, never>; network_interfaces: null };
}

export interface EventsOptions {
  id: string;
  /** print one stats event and return */
  stats: boolean;
  /** between stats events (runc's --interval, default 5s) */
  intervalMs: number;
  /** how often the OOM counter is read while streaming */
  oomPollMs?: number;
  emit(e: ContainerEvent): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `events`: the container's statistics once (`--stats`), or a stream of them
 * every interval plus an "oom" event whenever the kernel's OOM killer kills a
 * process of the container, until the container stops. OOM kills are seen by
 * polling the memory cgroup's kill counter (v1 memory.oom_control oom_kill,
 * v2 memory.events oom_kill), which also catches a kill that stopped the
 * container: the counter is read once more after it stopped.
 */
export async function events(ctx: RuntimeContext, o: EventsOptions): Promise<void> {
  if (!(o.intervalMs > 0)) throw invalidArgument("duration interval must be greater than 0");
  const s = loadState(ctx.root, o.id);
  const running = () => statusOf(ctx.root, s) !== "stopped";
  if (!running()) throw failedPrecondition(`container with id ${o.id} is not running`);
  const cg = cgroupOf(s);
  const statsEvent = (): ContainerEvent => ({
    type: "stats",
    id: o.id,
    data: { ...cg.stats(), intel_rdt: {}, network_interfaces: null },
  });
  if (o.stats) {
    o.emit(statsEvent());
    return;
  }
  const poll = Math.min(o.oomPollMs ?? 100, o.intervalMs);
  let kills = cg.oomKills();
  let nextStats = Date.now() + o.intervalMs;
  for (;;) {
    const alive = running();
    const now = cg.oomKills();
    for (; kills < now; kills++) o.emit({ type: "oom", id: o.id });
    if (!alive) return;
    if (Date.now() >= nextStats) {
      o.emit(statsEvent());
      nextStats += o.intervalMs;
    }
    await sleep(Math.max(0, Math.min(poll, nextStats - Date.now())));
  }
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("5s", "500ms", "1m30s", "1.5h") in milliseconds, as runc's --interval takes it. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (t === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let ms = 0;
  let end = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    ms += Number(m[1]) * (DURATION_UNITS[m[2] ?? ""] ?? 0);
    end = re.lastIndex;
  }
  if (!t || end !== t.length) throw invalidArgument(`invalid duration "${text}"`);
  return ms;
}
