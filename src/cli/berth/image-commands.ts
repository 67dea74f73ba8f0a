import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import type { ImageService } from "../../daemon/index.js";
import { describe, invalidArgument, isKind } from "../../errors/index.js";
import { type ArchiveFormat, isIdName, parsePlatform } from "../../images/index.js";
import { familiarName, parseReference } from "../../registry/index.js";
import { bool, type FlagSpec, list, parseFlags, str } from "../args.js";
import { humanSince, humanSize, shortId, table } from "./format.js";
import { PullProgress } from "./progress.js";

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  stdin: () => Readable;
  stdoutStream: () => NodeJS.WritableStream;
  isTTY: boolean;
  columns: number;
}

type Cmd = (svc: () => Promise<ImageService>, args: string[], io: Io) => Promise<number>;

const parse = (args: string[], specs: FlagSpec[], where: string) => parseFlags(args, specs, where, { interspersed: true });

function familiar(name: string): string {
  return isIdName(name) ? "<none>:<none>" : familiarName(parseReference(name));
}

export const pullCmd: Cmd = async (svc, args, io) => {
  const { flags, rest } = parse(
    args,
    [
      { name: "platform", type: "string" },
      { name: "quiet", short: "q", type: "bool" },
    ],
    "pull",
  );
  if (rest.length !== 1) throw invalidArgument('"berth pull" requires exactly 1 argument: NAME[:TAG|@DIGEST]');
  const name = rest[0] as string;
  const ref = parseReference(name);
  const quiet = bool(flags, "quiet");
  const progress = new PullProgress(io.out, io.isTTY, io.columns);
  if (!quiet) {
    const lastPart = name.slice(name.lastIndexOf("/") + 1);
    if (!lastPart.includes(":") && !lastPart.includes("@")) io.out("Using default tag: latest\n");
    // docker names the repository path, without the registry: "library/busybox"
    io.out(`${ref.digest && !ref.tag ? ref.digest : (ref.tag ?? "latest")}: Pulling from ${ref.path}\n`);
  }
  const platform = str(flags, "platform");
  let downloaded = false;
  let rec: Awaited<ReturnType<ImageService["pull"]>>;
  try {
    rec = await (await svc()).pull(name, {
      ...(platform ? { platform: parsePlatform(platform) } : {}),
      onEvent: (e) => {
        if (e.type === "layer" && e.status === "downloading") downloaded = true;
        if (!quiet) progress.event(e);
      },
    });
  } finally {
    // draw the last state now: a pending redraw must not overwrite an error message
    progress.stop();
  }
  if (!quiet) {
    io.out(`Digest: ${rec.target.digest}\n`);
    io.out(`Status: ${downloaded ? "Downloaded newer image for" : "Image is up to date for"} ${familiar(rec.name)}\n`);
  }
  io.out(`${rec.name}\n`);
  return 0;
};

export const imagesCmd: Cmd = async (svc, args, io) => {
  const { flags, rest } = parse(
    args,
    [
      { name: "quiet", short: "q", type: "bool" },
      { name: "all", short: "a", type: "bool" },
      { name: "format", type: "string" },
      { name: "no-trunc", type: "bool" },
      { name: "digests", type: "bool" },
    ],
    "images",
  );
  const s = await svc();
  let images = await s.list();
  const filter = rest[0];
  if (filter) {
    const want = parseReference(filter.includes(":") || filter.includes("@") ? filter : `${filter}:__any__`);
    images = images
      .map((i) => ({
        ...i,
        names: i.names.filter((n) => {
          const r = parseReference(n);
          return r.domain === want.domain && r.path === want.path && (want.tag === "__any__" || r.tag === want.tag);
        }),
      }))
      .filter((i) => i.names.length > 0);
  }
  const id = (d: string) => (bool(flags, "no-trunc") ? d : shortId(d));
  if (bool(flags, "quiet")) {
    io.out([...new Set(images.map((i) => id(i.id)))].map((x) => `${x}\n`).join(""));
    return 0;
  }
  const rows = images.flatMap((i) => {
    const names = i.names.length ? i.names : [undefined];
    return names.map((n) => {
      const r = n ? parseReference(n) : undefined;
      const repo = r ? familiarName({ domain: r.domain, path: r.path }).replace(/:latest$/, "") : "<none>";
      const digest = n ? (i.digests.find((d) => d.startsWith(`${r?.domain}/${r?.path}@`))?.split("@")[1] ?? "<none>") : "<none>";
      return { image: i, repo, tag: r?.tag ?? "<none>", digest };
    });
  });
  const format = str(flags, "format");
  if (format === "json") {
    for (const r of rows)
      io.out(
        `${JSON.stringify({
          Containers: "N/A",
          CreatedAt: r.image.created ?? "",
          CreatedSince: humanSince(r.image.created),
          Digest: r.digest,
          ID: id(r.image.id),
          Repository: r.repo,
          SharedSize: "N/A",
          Size: humanSize(r.image.size),
          Tag: r.tag,
          UniqueSize: "N/A",
          VirtualSize: humanSize(r.image.size),
        })}\n`,
      );
    return 0;
  }
  if (format !== undefined && format !== "table")
    throw invalidArgument(`images: --format ${format}: only "table" and "json" are supported`);
  const header = ["REPOSITORY", "TAG", ...(bool(flags, "digests") ? ["DIGEST"] : []), "IMAGE ID", "CREATED", "SIZE"];
  io.out(
    table(
      header,
      rows.map((r) => [
        r.repo,
        r.tag,
        ...(bool(flags, "digests") ? [r.digest] : []),
        id(r.image.id),
        humanSince(r.image.created),
        humanSize(r.image.size),
      ]),
    ),
  );
  return 0;
};

export const rmiCmd: Cmd = async (svc, args, io) => {
  const { flags, rest } = parse(
    args,
    [
      { name: "force", short: "f", type: "bool" },
      { name: "no-prune", type: "bool" },
    ],
    "rmi",
  );
  if (rest.length === 0) throw invalidArgument('"berth rmi" requires at least 1 argument');
  const s = await svc();
  let rc = 0;
  for (const name of rest) {
    try {
      const r = await s.remove(name, { force: bool(flags, "force") });
      for (const u of r.untagged) io.out(`Untagged: ${u}\n`);
      for (const d of r.deleted) io.out(`Deleted: ${d}\n`);
    } catch (e) {
      io.err(`Error response from berth: ${describe(e)}\n`);
      rc = 1;
    }
  }
  return rc;
};

export const inspectCmd: Cmd = async (svc, args, io) => {
  const { flags, rest } = parse(args, [{ name: "format", short: "f", type: "string" }], "image inspect");
  if (rest.length === 0) throw invalidArgument('"berth image inspect" requires at least 1 argument');
  const format = str(flags, "format");
  if (format && format !== "json") throw invalidArgument(`image inspect: --format ${format}: only "json" is supported`);
  const s = await svc();
  const out: unknown[] = [];
  let rc = 0;
  for (const n of rest) {
    try {
      out.push(await s.inspect(n));
    } catch (e) {
      if (!isKind(e, "NotFound")) throw e;
      rc = 1;
      io.err(`Error: No such image: ${n}\n`);
    }
  }
  // docker prints what it found (maybe []) and fails if any was missing
  io.out(`${JSON.stringify(out, null, 4)}\n`);
  return rc;
};

export const tagCmd: Cmd = async (svc, args) => {
  const { rest } = parse(args, [], "tag");
  if (rest.length !== 2) throw invalidArgument('"berth tag" requires exactly 2 arguments: SOURCE TARGET');
  (await svc()).tag(rest[0] as string, rest[1] as string);
  return 0;
};

export const saveCmd: Cmd = async (svc, args, io) => {
  const { flags, rest } = parse(
    args,
    [
      { name: "output", short: "o", type: "string" },
      { name: "format", type: "string" },
    ],
    "save",
  );
  const format = (str(flags, "format") ?? "docker-archive") as ArchiveFormat;
  if (!["oci-archive", "oci-dir", "docker-archive"].includes(format))
    throw invalidArgument(`save: --format ${format}: use oci-archive, oci-dir or docker-archive`);
  const output = str(flags, "output");
  if (!output && io.isTTY) throw invalidArgument("save: refusing to write an archive to a terminal (use -o FILE or a redirect)");
  const s = await svc();
  if (format === "oci-dir") {
    if (!output) throw invalidArgument("save: --format oci-dir needs -o DIR");
    if (existsSync(output)) throw invalidArgument(`save: ${output} already exists`);
    const tmp = tempBeside(output);
    try {
      await s.save(rest, format, tmp);
      renameSync(tmp, output);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return 0;
  }
  const stream = (await s.save(rest, format)) as Readable;
  if (!output) {
    await pipeline(stream, io.stdoutStream());
    return 0;
  }
  // write beside and rename: a failed save never leaves a truncated archive under the name
  const tmp = tempBeside(output);
  try {
    // "wx": never through a symlink or over a file someone placed there
    await pipeline(stream, createWriteStream(tmp, { mode: 0o644, flags: "wx" }));
    renameSync(tmp, output);
  } finally {
    rmSync(tmp, { force: true });
  }
  return 0;
};

/** A fresh name beside `path` for writing before the rename (random: not guessable, not reused). */
function tempBeside(path: string): string {
  return `${path}.berth-${randomBytes(6).toString("hex")}.tmp`;
}

export const loadCmd: Cmd = async (svc, args, io) => {
  const { flags, rest } = parse(
    args,
    [
      { name: "input", short: "i", type: "string" },
      { name: "quiet", short: "q", type: "bool" },
    ],
    "load",
  );
  if (rest.length > 0) throw invalidArgument('"berth load" accepts no arguments (use -i FILE or stdin)');
  const input = str(flags, "input");
  if (!input && io.isTTY) throw invalidArgument("load: requested load from stdin, but stdin is a terminal (use -i FILE)");
  const recs = await (await svc()).load(input ?? io.stdin());
  for (const r of recs)
    io.out(isIdName(r.name) ? `Loaded image ID: ${r.config.digest}\n` : `Loaded image: ${familiar(r.name)}\n`);
  return 0;
};

export const importCmd: Cmd = async (svc, args, io) => {
  const { flags, rest } = parse(
    args,
    [
      { name: "message", short: "m", type: "string" },
      { name: "change", short: "c", type: "list" },
    ],
    "import",
  );
  if (rest.length < 1 || rest.length > 2)
    throw invalidArgument('"berth import" requires 1 or 2 arguments: FILE|- [REPOSITORY[:TAG]]');
  const file = rest[0] as string;
  const input = file === "-" ? io.stdin() : createReadStream(file);
  const changes = parseChanges(list(flags, "change"));
  const msg = str(flags, "message");
  const rec = await (await svc()).import(input, rest[1], { ...(msg ? { comment: msg } : {}), changes });
  io.out(`${rec.config.digest}\n`);
  return 0;
};

/** `--change` of docker import: the Dockerfile instructions that only set config (CMD, ENV, ...). */
export function parseChanges(changes: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of changes) {
    const m = /^\s*(\w+)\s+(.*)$/s.exec(c);
    if (!m) throw invalidArgument(`--change "${c}": expected INSTRUCTION ARGS`);
    const [, ins, arg] = m as unknown as [string, string, string];
    const json = (): string[] => {
      try {
        const v = JSON.parse(arg);
        if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
      } catch {
        // not JSON: the shell form
      }
      return ["/bin/sh", "-c", arg];
    };
    switch (ins.toUpperCase()) {
      case "CMD":
        out["Cmd"] = json();
        break;
      case "ENTRYPOINT":
        out["Entrypoint"] = json();
        break;
      case "ENV":
        out["Env"] = [...((out["Env"] as string[]) ?? []), arg.includes("=") ? arg : arg.replace(/\s+/, "=")];
        break;
      case "WORKDIR":
        out["WorkingDir"] = arg;
        break;
      case "USER":
        out["User"] = arg;
        break;
      case "STOPSIGNAL":
        out["StopSignal"] = arg;
        break;
      case "LABEL": {
        const [k, ...v] = arg.split("=");
        out["Labels"] = {
          ...((out["Labels"] as Record<string, string>) ?? {}),
          [k as string]: v.join("=").replace(/^"|"$/g, ""),
        };
        break;
      }
      case "EXPOSE":
        out["ExposedPorts"] = {
          ...((out["ExposedPorts"] as object) ?? {}),
          ...Object.fromEntries(arg.split(/\s+/).map((p) => [p.includes("/") ? p : `${p}/tcp`, {}])),
        };
        break;
      case "VOLUME":
        out["Volumes"] = { ...((out["Volumes"] as object) ?? {}), ...Object.fromEntries(arg.split(/\s+/).map((p) => [p, {}])) };
        break;
      default:
        throw invalidArgument(`--change "${c}": ${ins} cannot be applied on import`);
    }
  }
  return out;
}

export const mountCmd: Cmd = async (svc, args, io) => {
  const { rest } = parse(args, [], "image mount");
  const s = await svc();
  if (rest.length === 0) {
    // podman lists the mounted images without arguments
    for (const i of await s.list()) {
      const rec = s.get(i.id);
      if (s.mounted(rec)) io.out(`${i.names[0] ? familiar(i.names[0]) : shortId(i.id)} ${await s.mount(i.id)}\n`);
    }
    return 0;
  }
  for (const n of rest) io.out(`${await s.mount(n)}\n`);
  return 0;
};

export const unmountCmd: Cmd = async (svc, args, io) => {
  const { rest } = parse(args, [], "image unmount");
  if (rest.length === 0) throw invalidArgument('"berth image unmount" requires at least 1 argument');
  const s = await svc();
  for (const n of rest) {
    await s.unmount(n);
    io.out(`${n}\n`);
  }
  return 0;
};

export const pruneCmd: Cmd = async (svc, args, io) => {
  parse(
    args,
    [
      { name: "force", short: "f", type: "bool" },
      { name: "all", short: "a", type: "bool" },
    ],
    "image prune",
  );
  const r = await (await svc()).prune();
  io.out(`Deleted ${r.blobs} blobs and ${r.snapshots} snapshots\nTotal reclaimed space: ${humanSize(r.bytes)}\n`);
  return 0;
};
