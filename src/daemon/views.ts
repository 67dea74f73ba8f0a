import { join } from "node:path";
import type { ContainerRecord } from "./container-store.js";
import type { PortBinding } from "./container-types.js";
import type { Daemon } from "./daemon.js";

/** docker's "Up 5 seconds" / "Exited (0) 3 minutes ago" */
export function humanStatus(r: ContainerRecord, now = Date.now()): string {
  const s = r.State;
  if (s.Restarting) return `Restarting (${s.ExitCode}) ${ago(Date.parse(s.FinishedAt), now)}`;
  if (s.Running) return `Up ${duration(now - Date.parse(s.StartedAt))}${s.Paused ? " (Paused)" : ""}`;
  if (s.Dead) return "Dead";
  if (s.Status === "removing") return "Removal In Progress";
  if (!r.HasBeenStarted) return "Created";
  return `Exited (${s.ExitCode}) ${ago(Date.parse(s.FinishedAt), now)}`;
}

function ago(t: number, now: number): string {
  return `${duration(now - t)} ago`;
}

/** docker's units.HumanDuration */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return "Less than a second";
  if (s === 1) return "1 second";
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return "About a minute";
  if (m < 60) return `${m} minutes`;
  const h = Math.round(m / 60);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

/**
 * docker's NetworkSettings.Ports: while it runs, each published port with where the network
 * published it (a port the plugin chose included); nothing once it stopped. (docker also lists
 * ports only exposed, as null; berth leaves them out, which clients iterating the lists rely on.)
 */
export function networkPorts(r: ContainerRecord): Record<string, PortBinding[]> {
  return r.State.Running ? { ...(r.NetworkPorts ?? {}) } : {};
}

/** docker's `ps` Ports while it runs: the published ones with their host side, the only exposed ones without. */
function ports(r: ContainerRecord): Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> {
  const out: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> = [];
  const published = networkPorts(r);
  for (const [key, binds] of Object.entries(published)) {
    const [port, proto = "tcp"] = key.split("/");
    for (const b of binds)
      out.push({ IP: b.HostIp || "0.0.0.0", PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: proto });
  }
  if (r.State.Running)
    for (const key of Object.keys(r.Config.ExposedPorts ?? {})) {
      const [port, proto = "tcp"] = key.split("/");
      if (!published[`${port}/${proto}`]) out.push({ PrivatePort: Number(port), Type: proto });
    }
  return out;
}

/** One item of `GET /containers/json`. */
export function containerSummary(r: ContainerRecord): Record<string, unknown> {
  const cmd = [...(r.Config.Entrypoint ?? []), ...(r.Config.Cmd ?? [])].join(" ");
  return {
    Id: r.Id,
    Names: [r.Name],
    Image: r.Image,
    ImageID: r.ImageID,
    Command: cmd,
    Created: Math.floor(Date.parse(r.Created) / 1000),
    Ports: ports(r),
    Labels: r.Config.Labels ?? {},
    State: r.State.Status,
    Status: humanStatus(r),
    HostConfig: { NetworkMode: r.HostConfig.NetworkMode ?? "bridge" },
    NetworkSettings: { Networks: r.Networks },
    Mounts: [],
  };
}

/** `GET /containers/{id}/json`: docker's inspect shape. */
export async function inspectContainer(d: Daemon, r: ContainerRecord): Promise<Record<string, unknown>> {
  let merged = r.Config;
  let path = "";
  let args: string[] = [];
  try {
    const img = d.images.get(r.ImageID);
    const ic = (await d.images.configOf(img)).config ?? {};
    const entry = r.Config.Entrypoint ?? ic.Entrypoint ?? [];
    const cmd = r.Config.Cmd ?? (r.Config.Entrypoint ? [] : (ic.Cmd ?? []));
    const env = new Map<string, string>();
    for (const e of [...(ic.Env ?? []), ...(r.Config.Env ?? [])]) env.set(e.split("=")[0] as string, e);
    merged = {
      ...r.Config,
      Env: [...env.values()],
      Cmd: cmd,
      ...(entry.length ? { Entrypoint: entry } : {}),
      WorkingDir: r.Config.WorkingDir || ic.WorkingDir || "",
      User: r.Config.User ?? ic.User ?? "",
      Labels: { ...(ic.Labels ?? {}), ...(r.Config.Labels ?? {}) },
    };
    const argv = [...entry, ...cmd];
    path = argv[0] ?? "";
    args = argv.slice(1);
  } catch {
    // the image is gone: show the request as it was
  }
  const dir = d.containers.containerDir(r.Id);
  const first = Object.values(r.Networks)[0];
  return {
    Id: r.Id,
    Created: r.Created,
    Path: path,
    Args: args,
    State: r.State,
    Image: r.ImageID,
    ResolvConfPath: join(dir, "resolv.conf"),
    HostnamePath: join(dir, "hostname"),
    HostsPath: join(dir, "hosts"),
    // docker shows no path when nothing is logged
    LogPath: r.HostConfig.LogConfig?.Type === "none" ? "" : d.containers.logPath(r.Id),
    Name: r.Name,
    RestartCount: r.RestartCount,
    Driver: r.Driver,
    Platform: "linux",
    // containers made before LogConfig was kept log as json-file with docker's defaults
    HostConfig: { ...r.HostConfig, LogConfig: r.HostConfig.LogConfig ?? { Type: "json-file", Config: {} } },
    Config: merged,
    GraphDriver: { Name: r.Driver, Data: { MergedDir: join(d.containers.bundleDir(r.Id), "rootfs") } },
    Mounts: [],
    NetworkSettings: {
      Networks: r.Networks,
      Ports: networkPorts(r),
      IPAddress: first?.IPAddress ?? "",
      Gateway: first?.Gateway ?? "",
      MacAddress: first?.MacAddress ?? "",
      SandboxKey: r.State.Running && first ? join(d.execRoot, "netns", r.Id) : "",
    },
    "berth.Runtime": r.Runtime,
  };
}
