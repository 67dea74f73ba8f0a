import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { parseChanges } from "../../daemon/image-routes.js";
import type { ImageService, ImageSummary, RemoveResult } from "../../daemon/index.js";
import { describe, invalidArgument, isKind } from "../../errors/index.js";
import { type ArchiveFormat, isIdName, type PullEvent, parsePlatform } from "../../images/index.js";
import { familiarName, parseReference } from "../../registry/index.js";
import { bool, type FlagSpec, list, parseFlags, str } from "../args.js";
import { humanSince, humanSize, shortId, table } from "./format.js";
import { formatRows } from "./format-rows.js";
import { template } from "./container-commands.js";
import { PullProgress } from "./progress.js";

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  stdin: () => Readable;
  stdoutStream: () => NodeJS.WritableStream;
  isTTY: boolean;
  columns: number;
  /**
   * Set by the daemon-client bundle (src/cli/berth/entry-remote.ts), which has the container
   * commands only: every other command is run by the full CLI instead. Returns its exit code,
   * or DELEGATED when the full CLI took over the process.
   */
  local?: () => Promise<number>;
}

/** What a pull stored: the full name ("docker.io/library/busybox:latest") and the digest it resolved to. */
export interface PulledImage {
  name: string;
  digest: string;
}

/** An image `load` stored: by its name (familiar form), or by its ID when the archive named none. */
export type LoadedImage = { name: string } | { id: string };

export interface MountedImage {
  id: string;
  /** full names */
  names: string[];
  path: string;
}

export interface PruneResult {
  blobs: number;
  snapshots: number;
  bytes: number;
}

/**
 * Where the image commands act: the store itself, in this process (podman's model, with
 * `--data-root`), or berthd through its API (docker's model). Both give the same results, so
 * the commands print the same either way. Errors carry their kind (NotFound for an unknown
 * image, FailedPrecondition for a conflict such as an image a container uses).
 */
export interface ImageBackend {
  /** pull `name`, reporting progress; `platform` is "os/arch[/variant]" */
  pull(name: string, opts?: { platform?: string; onEvent?: (e: PullEvent) => void }): Promise<PulledImage>;
  list(): Promise<ImageSummary[]>;
  remove(name: string, opts?: { force?: boolean }): Promise<RemoveResult>;
  /** docker's image inspect object (with berth's Descriptor, Manifest and ChainID) */
  inspect(name: string): Promise<Record<string, unknown>>;
  tag(source: string, target: string): Promise<void>;
  /** an archive stream; for "oci-dir", writes the layout into `dir` (which must not exist) and returns undefined */
  save(names: string[], format: ArchiveFormat, dir?: string): Promise<Readable | undefined>;
  /** an archive (docker-archive or OCI layout tar) as a stream or a file, or an OCI layout directory */
  load(input: string | Readable): Promise<LoadedImage[]>;
  /** a rootfs tarball as a one-layer image; `changes` are docker's `--change` instructions; returns the image ID */
  import(input: Readable, name: string | undefined, opts?: { message?: string; changes?: string[] }): Promise<string>;
  /** a read-only mount of the image's rootfs (idempotent); returns its path */
  mount(name: string): Promise<string>;
  unmount(name: string): Promise<void>;
  mounts(): Promise<MountedImage[]>;
  /** remove the content and snapshots no image references */
  prune(): Promise<PruneResult>;
}

/** The image commands in this process, on the store at the data root (ImageService). */
export class LocalImages implements ImageBackend {
  constructor(private readonly svc: ImageService) {}

  async pull(name: string, opts: { platform?: string; onEvent?: (e: PullEvent) => void } = {}): Promise<PulledImage> {
    const rec = await this.svc.pull(name, {
      ...(opts.platform ? { platform: parsePlatform(opts.platform) } : {}),
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    });
    return { name: rec.name, digest: rec.target.digest };
  }

  list(): Promise<ImageSummary[]> {
    return this.svc.list();
  }

  remove(name: string, opts: { force?: boolean } = {}): Promise<RemoveResult> {
    return this.svc.remove(name, opts);
  }

  inspect(name: string): Promise<Record<string, unknown>> {
    return this.svc.inspect(name);
  }

  async tag(source: string, target: string): Promise<void> {
    await this.svc.tag(source, target);
  }

  save(names: string[], format: ArchiveFormat, dir?: string): Promise<Readable | undefined> {
    return this.svc.save(names, format, dir);
  }

  async load(input: string | Readable): Promise<LoadedImage[]> {
    return (await this.svc.load(input)).map((r) => (isIdName(r.name) ? { id: r.config.digest } : { name: familiar(r.name) }));
  }

  async import(input: Readable, name: string | undefined, opts: { message?: string; changes?: string[] } = {}): Promise<string> {
    const rec = await this.svc.import(input, name, {
      ...(opts.message ? { comment: opts.message } : {}),
      changes: parseChanges(opts.changes ?? []),
    });
    return rec.config.digest;
  }

  mount(name: string): Promise<string> {
    return this.svc.mount(name);
  }

  async unmount(name: string): Promise<void> {
    await this.svc.unmount(name);
  }

  async mounts(): Promise<MountedImage[]> {
    const out: MountedImage[] = [];
    for (const i of await this.svc.list())
      if (this.svc.mounted(this.svc.get(i.id))) out.push({ id: i.id, names: i.names, path: await this.svc.mount(i.id) });
    return out;
  }

  prune(): Promise<PruneResult> {
    return this.svc.prune();
  }
}

type Cmd = (backend: () => Promise<ImageBackend>, args: string[], io: Io) => Promise<number>;

const parse = (args: string[], specs: FlagSpec[], where: string) => parseFlags(args, specs, where, { interspersed: true });

function familiar(name: string): string {
  return isIdName(name) ? "<none>:<none>" : familiarName(parseReference(name));
}

export const pullCmd: Cmd = async (backend, args, io) => {
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
  let pulled: PulledImage;
  try {
    pulled = await (await backend()).pull(name, {
      ...(platform ? { platform } : {}),
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
    io.out(`Digest: ${pulled.digest}\n`);
    io.out(`Status: ${downloaded ? "Downloaded newer image for" : "Image is up to date for"} ${familiar(pulled.name)}\n`);
  }
  io.out(`${pulled.name}\n`);
  return 0;
};

export const imagesCmd: Cmd = async (backend, args, io) => {
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
  const s = await backend();
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
  if (format !== undefined && format !== "" && format !== "table") {
    // docker's fields for a --format template (and for json: what `docker images --format json` prints)
    const fields = rows.map((r) => ({
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
    }));
    io.out(
      formatRows(format, fields, {
        ID: "IMAGE ID",
        Repository: "REPOSITORY",
        Tag: "TAG",
        Digest: "DIGEST",
        CreatedSince: "CREATED",
        CreatedAt: "CREATED AT",
        Size: "SIZE",
        Containers: "CONTAINERS",
        SharedSize: "SHARED SIZE",
        UniqueSize: "UNIQUE SIZE",
        VirtualSize: "VIRTUAL SIZE",
      }),
    );
    return 0;
  }
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

export const rmiCmd: Cmd = async (backend, args, io) => {
  const { flags, rest } = parse(
    args,
    [
      { name: "force", short: "f", type: "bool" },
      { name: "no-prune", type: "bool" },
    ],
    "rmi",
  );
  if (rest.length === 0) throw invalidArgument('"berth rmi" requires at least 1 argument');
  const s = await backend();
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

export const inspectCmd: Cmd = async (backend, args, io) => {
  const { flags, rest } = parse(args, [{ name: "format", short: "f", type: "string" }], "image inspect");
  if (rest.length === 0) throw invalidArgument('"berth image inspect" requires at least 1 argument');
  const format = str(flags, "format");
  const s = await backend();
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
  if (format && format !== "json") for (const o of out) io.out(`${template(format, o)}\n`);
  else io.out(`${JSON.stringify(out, null, 4)}\n`);
  return rc;
};

export const tagCmd: Cmd = async (backend, args) => {
  const { rest } = parse(args, [], "tag");
  if (rest.length !== 2) throw invalidArgument('"berth tag" requires exactly 2 arguments: SOURCE TARGET');
  await (await backend()).tag(rest[0] as string, rest[1] as string);
  return 0;
};

export const saveCmd: Cmd = async (backend, args, io) => {
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
  const s = await backend();
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

export const loadCmd: Cmd = async (backend, args, io) => {
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
  const loaded = await (await backend()).load(input ?? io.stdin());
  for (const l of loaded) io.out("id" in l ? `Loaded image ID: ${l.id}\n` : `Loaded image: ${l.name}\n`);
  return 0;
};

export const importCmd: Cmd = async (backend, args, io) => {
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
  const changes = list(flags, "change");
  // bad instructions are refused before any bytes are read or sent
  parseChanges(changes);
  const input = file === "-" ? io.stdin() : createReadStream(file);
  const msg = str(flags, "message");
  const id = await (await backend()).import(input, rest[1], { ...(msg ? { message: msg } : {}), changes });
  io.out(`${id}\n`);
  return 0;
};

export const mountCmd: Cmd = async (backend, args, io) => {
  const { rest } = parse(args, [], "image mount");
  const s = await backend();
  if (rest.length === 0) {
    // podman lists the mounted images without arguments
    for (const m of await s.mounts()) io.out(`${m.names[0] ? familiar(m.names[0]) : shortId(m.id)} ${m.path}\n`);
    return 0;
  }
  for (const n of rest) io.out(`${await s.mount(n)}\n`);
  return 0;
};

export const unmountCmd: Cmd = async (backend, args, io) => {
  const { rest } = parse(args, [], "image unmount");
  if (rest.length === 0) throw invalidArgument('"berth image unmount" requires at least 1 argument');
  const s = await backend();
  for (const n of rest) {
    await s.unmount(n);
    io.out(`${n}\n`);
  }
  return 0;
};

export const pruneCmd: Cmd = async (backend, args, io) => {
  parse(
    args,
    [
      { name: "force", short: "f", type: "bool" },
      { name: "all", short: "a", type: "bool" },
    ],
    "image prune",
  );
  const r = await (await backend()).prune();
  io.out(`Deleted ${r.blobs} blobs and ${r.snapshots} snapshots\nTotal reclaimed space: ${humanSize(r.bytes)}\n`);
  return 0;
};
