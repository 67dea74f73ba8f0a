import { invalidArgument } from "../../errors/index.js";
import { bool, list, parseFlags, str } from "../args.js";
import type { DaemonClient } from "./client.js";
import type { ContainerCmd } from "./container-commands.js";
import { each, template } from "./container-commands.js";
import { shortId, table } from "./format.js";
import { formatRows } from "./format-rows.js";
import { pruneCmd } from "./system-commands.js";
import type { Io } from "./image-commands.js";

const enc = encodeURIComponent;

function labels(items: string[]): Record<string, string> {
  return Object.fromEntries(
    items.map((l) => (l.includes("=") ? [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] : [l, ""])),
  );
}

async function inspectMany(c: DaemonClient, kind: string, ids: string[], io: Io, format?: string): Promise<number> {
  const out: unknown[] = [];
  let rc = 0;
  for (const id of ids) {
    try {
      out.push((await c.call("GET", `/${kind}/${enc(id)}`)).body);
    } catch (e) {
      io.err(`Error response from daemon: ${(e as Error).message}\n`);
      rc = 1;
    }
  }
  if (format) for (const o of out) io.out(`${template(format, o)}\n`);
  else io.out(`${JSON.stringify(out, null, 4)}\n`);
  return rc;
}

interface NetworkView {
  Name: string;
  Id: string;
  Driver: string;
  Scope: string;
  Created?: string;
  EnableIPv6?: boolean;
  Internal?: boolean;
  Labels?: Record<string, string>;
}

const labelList = (l: Record<string, string> | undefined) =>
  Object.entries(l ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/** `berth network create|ls|rm|inspect` */
export const networkCmd: ContainerCmd = async (c, args, io) => {
  const [sub, ...rest] = args;
  switch (sub) {
    case "create": {
      const { flags, rest: names } = parseFlags(
        rest,
        [
          { name: "driver", short: "d", type: "string" },
          { name: "subnet", type: "string" },
          { name: "gateway", type: "string" },
          { name: "internal", type: "bool" },
          { name: "label", type: "list" },
        ],
        "network create",
        { interspersed: true },
      );
      if (names.length !== 1) throw invalidArgument('"berth network create" requires exactly 1 argument: NETWORK');
      const subnet = str(flags, "subnet");
      const gateway = str(flags, "gateway");
      const r = await c.call<{ Id: string }>("POST", "/networks/create", {
        Name: names[0],
        Driver: str(flags, "driver") ?? "bridge",
        Internal: bool(flags, "internal"),
        Labels: labels(list(flags, "label")),
        ...(subnet || gateway
          ? { IPAM: { Config: [{ ...(subnet ? { Subnet: subnet } : {}), ...(gateway ? { Gateway: gateway } : {}) }] } }
          : {}),
      });
      io.out(`${r.body.Id}\n`);
      return 0;
    }
    case "ls":
    case "list": {
      const { flags } = parseFlags(
        rest,
        [
          { name: "quiet", short: "q", type: "bool" },
          { name: "format", type: "string" },
          { name: "no-trunc", type: "bool" },
        ],
        "network ls",
        { interspersed: true },
      );
      const nets = (await c.call<NetworkView[]>("GET", "/networks")).body;
      const id = (n: NetworkView) => (bool(flags, "no-trunc") ? n.Id : shortId(n.Id));
      const format = str(flags, "format");
      if (bool(flags, "quiet")) for (const n of nets) io.out(`${id(n)}\n`);
      else if (format && format !== "table")
        // docker's fields for --format (and json)
        io.out(
          formatRows(
            format,
            nets.map((n) => ({
              CreatedAt: n.Created ?? "",
              Driver: n.Driver,
              ID: id(n),
              IPv6: String(n.EnableIPv6 === true),
              Internal: String(n.Internal === true),
              Labels: labelList(n.Labels),
              Label: (key: unknown) => n.Labels?.[String(key)] ?? "",
              Name: n.Name,
              Scope: n.Scope,
            })),
            {
              ID: "NETWORK ID",
              Name: "NAME",
              Driver: "DRIVER",
              Scope: "SCOPE",
              IPv6: "IPV6",
              Internal: "INTERNAL",
              Labels: "LABELS",
              CreatedAt: "CREATED AT",
            },
          ),
        );
      else
        io.out(
          table(
            ["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
            nets.map((n) => [id(n), n.Name, n.Driver, n.Scope]),
          ),
        );
      return 0;
    }
    case "rm":
    case "remove":
      if (rest.length === 0) throw invalidArgument('"berth network rm" requires at least 1 argument');
      return each(rest, io, async (n) => {
        await c.call("DELETE", `/networks/${enc(n)}`);
      });
    case "prune":
      return pruneCmd("networks")(c, rest, io);
    case "inspect": {
      const { flags, rest: names } = parseFlags(rest, [{ name: "format", short: "f", type: "string" }], "network inspect", {
        interspersed: true,
      });
      if (names.length === 0) throw invalidArgument('"berth network inspect" requires at least 1 argument');
      return inspectMany(c, "networks", names, io, str(flags, "format"));
    }
    default:
      throw invalidArgument(`network: unknown command ${JSON.stringify(sub ?? "")}: create, ls, rm, inspect, prune`);
  }
};

interface VolumeView {
  Name: string;
  Driver: string;
  Mountpoint?: string;
  Scope?: string;
  Labels?: Record<string, string> | null;
}

/** `berth volume create|ls|rm|inspect|prune` */
export const volumeCmd: ContainerCmd = async (c, args, io) => {
  const [sub, ...rest] = args;
  switch (sub) {
    case "create": {
      const { flags, rest: names } = parseFlags(
        rest,
        [
          { name: "driver", short: "d", type: "string" },
          { name: "label", type: "list" },
          { name: "name", type: "string" },
        ],
        "volume create",
        { interspersed: true },
      );
      const name = str(flags, "name") ?? names[0];
      const v = (
        await c.call<VolumeView>("POST", "/volumes/create", {
          ...(name ? { Name: name } : {}),
          Driver: str(flags, "driver") ?? "local",
          Labels: labels(list(flags, "label")),
        })
      ).body;
      io.out(`${v.Name}\n`);
      return 0;
    }
    case "ls":
    case "list": {
      const { flags } = parseFlags(
        rest,
        [
          { name: "quiet", short: "q", type: "bool" },
          { name: "format", type: "string" },
        ],
        "volume ls",
        { interspersed: true },
      );
      const vols = (await c.call<{ Volumes: VolumeView[] }>("GET", "/volumes")).body.Volumes;
      const format = str(flags, "format");
      if (bool(flags, "quiet")) for (const v of vols) io.out(`${v.Name}\n`);
      else if (format && format !== "table")
        io.out(
          formatRows(
            format,
            vols.map((v) => ({
              Driver: v.Driver,
              Labels: labelList(v.Labels ?? undefined),
              Label: (key: unknown) => v.Labels?.[String(key)] ?? "",
              Mountpoint: v.Mountpoint ?? "",
              Name: v.Name,
              Scope: v.Scope ?? "local",
            })),
            { Driver: "DRIVER", Name: "VOLUME NAME", Mountpoint: "MOUNTPOINT", Scope: "SCOPE", Labels: "LABELS" },
          ),
        );
      else
        io.out(
          table(
            ["DRIVER", "VOLUME NAME"],
            vols.map((v) => [v.Driver, v.Name]),
          ),
        );
      return 0;
    }
    case "rm":
    case "remove":
      if (rest.length === 0) throw invalidArgument('"berth volume rm" requires at least 1 argument');
      return each(
        rest.filter((r) => r !== "-f" && r !== "--force"),
        io,
        async (n) => {
          await c.call("DELETE", `/volumes/${enc(n)}`);
        },
      );
    case "inspect": {
      const { flags, rest: names } = parseFlags(rest, [{ name: "format", short: "f", type: "string" }], "volume inspect", {
        interspersed: true,
      });
      if (names.length === 0) throw invalidArgument('"berth volume inspect" requires at least 1 argument');
      return inspectMany(c, "volumes", names, io, str(flags, "format"));
    }
    case "prune": {
      const r = (await c.call<{ VolumesDeleted: string[] }>("POST", "/volumes/prune")).body;
      if (r.VolumesDeleted.length) io.out(`Deleted Volumes:\n${r.VolumesDeleted.join("\n")}\n`);
      io.out("\nTotal reclaimed space: 0B\n");
      return 0;
    }
    default:
      throw invalidArgument(`volume: unknown command ${JSON.stringify(sub ?? "")}: create, ls, rm, inspect, prune`);
  }
};
