import { invalidArgument } from "../../errors/index.js";
import { bool, parseFlags, str } from "../args.js";
import type { ContainerCmd } from "./container-commands.js";
import { humanSize, table } from "./format.js";
import type { Io } from "./image-commands.js";

interface Df {
  Images: Array<{ Size: number; Containers: number }>;
  Containers: Array<{ State: string; SizeRw: number }>;
  Volumes: Array<{ UsageData: { Size: number; RefCount: number } }>;
}

const pct = (part: number, whole: number) => (whole > 0 ? ` (${Math.round((part / whole) * 100)}%)` : "");

/** docker's confirmation prompt; `-f` skips it */
async function confirm(io: Io, what: string[], force: boolean): Promise<boolean> {
  if (force) return true;
  io.out(`WARNING! This will remove:\n${what.map((w) => `  - ${w}\n`).join("")}\nAre you sure you want to continue? [y/N] `);
  // one line of input, read by hand: node:readline is a handful of modules that every other
  // command would load (and compile) for nothing
  const input = io.stdin() as NodeJS.ReadableStream & { readableEnded?: boolean };
  const answer = await new Promise<string>((resolve) => {
    let buf = "";
    if (input.readableEnded) {
      resolve("");
      return;
    }
    input.setEncoding("utf8");
    const done = (line: string) => {
      input.off("data", onData);
      input.off("end", onEnd);
      input.pause();
      resolve(line);
    };
    const onData = (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) done(buf.slice(0, nl));
    };
    const onEnd = () => done(buf);
    input.on("data", onData);
    input.on("end", onEnd);
  });
  return /^y(es)?$/i.test(answer.trim());
}

/** `berth system df|prune|info` */
export const systemCmd: ContainerCmd = async (c, args, io) => {
  const [sub, ...rest] = args;
  if (sub === "df") {
    const { flags } = parseFlags(rest, [{ name: "format", type: "string" }], "system df", { interspersed: true });
    const df = (await c.call<Df>("GET", "/system/df")).body;
    if (str(flags, "format") === "json") {
      io.out(`${JSON.stringify(df)}\n`);
      return 0;
    }
    const imgSize = df.Images.reduce((n, i) => n + i.Size, 0);
    const imgUnused = df.Images.filter((i) => i.Containers === 0).reduce((n, i) => n + i.Size, 0);
    const ctrSize = df.Containers.reduce((n, x) => n + x.SizeRw, 0);
    const ctrStopped = df.Containers.filter((x) => x.State !== "running" && x.State !== "paused").reduce(
      (n, x) => n + x.SizeRw,
      0,
    );
    const volSize = df.Volumes.reduce((n, v) => n + v.UsageData.Size, 0);
    const volUnused = df.Volumes.filter((v) => v.UsageData.RefCount === 0).reduce((n, v) => n + v.UsageData.Size, 0);
    io.out(
      table(
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        [
          [
            "Images",
            String(df.Images.length),
            String(df.Images.filter((i) => i.Containers > 0).length),
            humanSize(imgSize),
            `${humanSize(imgUnused)}${pct(imgUnused, imgSize)}`,
          ],
          [
            "Containers",
            String(df.Containers.length),
            String(df.Containers.filter((x) => x.State === "running").length),
            humanSize(ctrSize),
            `${humanSize(ctrStopped)}${pct(ctrStopped, ctrSize)}`,
          ],
          [
            "Local Volumes",
            String(df.Volumes.length),
            String(df.Volumes.filter((v) => v.UsageData.RefCount > 0).length),
            humanSize(volSize),
            `${humanSize(volUnused)}${pct(volUnused, volSize)}`,
          ],
        ],
      ),
    );
    return 0;
  }
  if (sub === "prune") {
    const { flags } = parseFlags(
      rest,
      [
        { name: "force", short: "f", type: "bool" },
        { name: "all", short: "a", type: "bool" },
        { name: "volumes", type: "bool" },
      ],
      "system prune",
      { interspersed: true },
    );
    const what = [
      "all stopped containers",
      "all networks not used by at least one container",
      ...(bool(flags, "volumes") ? ["all anonymous volumes not used by at least one container"] : []),
      "unreferenced image content",
    ];
    if (!(await confirm(io, what, bool(flags, "force")))) return 0;
    const ctrs = (await c.call<{ ContainersDeleted: string[]; SpaceReclaimed: number }>("POST", "/containers/prune")).body;
    const nets = (await c.call<{ NetworksDeleted: string[] }>("POST", "/networks/prune")).body;
    const vols = bool(flags, "volumes")
      ? (await c.call<{ VolumesDeleted: string[] }>("POST", "/volumes/prune")).body
      : { VolumesDeleted: [] };
    const imgs = (await c.call<{ SpaceReclaimed: number }>("POST", "/images/prune")).body;
    if (ctrs.ContainersDeleted.length) io.out(`Deleted Containers:\n${ctrs.ContainersDeleted.join("\n")}\n\n`);
    if (nets.NetworksDeleted.length) io.out(`Deleted Networks:\n${nets.NetworksDeleted.join("\n")}\n\n`);
    if (vols.VolumesDeleted.length) io.out(`Deleted Volumes:\n${vols.VolumesDeleted.join("\n")}\n\n`);
    io.out(`Total reclaimed space: ${humanSize(ctrs.SpaceReclaimed + (imgs.SpaceReclaimed ?? 0))}\n`);
    return 0;
  }
  throw invalidArgument(`system: unknown command ${JSON.stringify(sub ?? "")}: df, prune`);
};

/** `berth container prune` / `berth network prune` */
export const pruneCmd =
  (kind: "containers" | "networks"): ContainerCmd =>
  async (c, args, io) => {
    const { flags } = parseFlags(args, [{ name: "force", short: "f", type: "bool" }], `${kind} prune`, { interspersed: true });
    const what = kind === "containers" ? ["all stopped containers"] : ["all custom networks not used by at least one container"];
    if (!(await confirm(io, what, bool(flags, "force")))) return 0;
    const r = (
      await c.call<{ ContainersDeleted?: string[]; NetworksDeleted?: string[]; SpaceReclaimed?: number }>(
        "POST",
        `/${kind}/prune`,
      )
    ).body;
    const list = r.ContainersDeleted ?? r.NetworksDeleted ?? [];
    if (list.length) io.out(`Deleted ${kind === "containers" ? "Containers" : "Networks"}:\n${list.join("\n")}\n\n`);
    if (kind === "containers") io.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`);
    return 0;
  };
