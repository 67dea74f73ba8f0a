import { createReadStream, createWriteStream, lstatSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { type IncomingMessage, request } from "node:http";
import { dirname, join, relative, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { LAYER_STATUS } from "../../daemon/image-routes.js";
import type { ImageSummary, RemoveResult } from "../../daemon/index.js";
import { BerthError, type ErrorKind, invalidArgument, unavailable } from "../../errors/index.js";
import type { ArchiveFormat, PullEvent } from "../../images/index.js";
import { readTar, TarWriter } from "../../images/tar/index.js";
import type { Platform } from "../../oci/index.js";
import { encodeRegistryAuth, formatReference, loadCredentials, parseReference } from "../../registry/index.js";
import { type DaemonClient, readAll } from "./client.js";
import type { ImageBackend, LoadedImage, MountedImage, PulledImage, PruneResult } from "./image-commands.js";

/** docker's layer words back to berth's layer states ("Pulling fs layer" is docker's first word for a layer). */
const STATE_OF: Record<string, Extract<PullEvent, { type: "layer" }>["status"]> = {
  ...Object.fromEntries(Object.entries(LAYER_STATUS).map(([k, v]) => [v, k])),
  "Pulling fs layer": "waiting",
};

/** One line of docker's JSON progress stream (pull, load, import). */
interface ProgressLine {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * A docker progress line as berth's PullEvent, or undefined for a line that is not about a layer.
 * The event's `digest` is the 12-hex short ID docker sends (the progress display shows no more).
 */
export function pullEventOf(m: ProgressLine): PullEvent | undefined {
  if (!m.id || !/^[0-9a-f]{12}$/.test(m.id) || !m.status) return undefined;
  const status = STATE_OF[m.status];
  if (!status) return undefined;
  return {
    type: "layer",
    digest: m.id,
    size: m.progressDetail?.total ?? 0,
    status,
    current: m.progressDetail?.current ?? 0,
  };
}

/** An image name as the last part of an API path: its `/` kept (docker's way), the rest escaped. */
const pathOf = (name: string) => name.split("/").map(encodeURIComponent).join("/");

/**
 * The image commands through berthd (docker's model): docker's /images API on berthd's socket,
 * plus berth's `berth.format` on save and its image mount routes.
 */
export class RemoteImages implements ImageBackend {
  constructor(private readonly client: DaemonClient) {}

  async pull(name: string, opts: { platform?: string; onEvent?: (e: PullEvent) => void } = {}): Promise<PulledImage> {
    const ref = parseReference(name);
    const q = new URLSearchParams({ fromImage: name });
    if (opts.platform) q.set("platform", opts.platform);
    // our credentials for that registry go along (docker's X-Registry-Auth): berthd pulls as us
    const mine = loadCredentials().get(ref.domain);
    const auth = mine ? { "X-Registry-Auth": encodeRegistryAuth(mine, ref.domain) } : undefined;
    const res = await this.client.stream("POST", `/images/create?${q}`, undefined, auth);
    let digest: string | undefined;
    let failure: string | undefined;
    await jsonLines(res, "pull", (m) => {
      const failed = lineError(m);
      if (failed !== undefined) {
        failure = failed;
        return;
      }
      const e = pullEventOf(m);
      if (e) opts.onEvent?.(e);
      else if (!m.id && m.status?.startsWith("Digest: ")) digest = m.status.slice(8).trim();
    });
    if (failure !== undefined) throw unavailable(failure);
    if (!digest) throw unavailable(`pull ${name}: berthd's answer ended before the pull finished`);
    // the name the image is stored under, as the in-process pull names it
    const stored =
      ref.digest && !ref.tag
        ? formatReference(ref)
        : formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag ?? "latest" });
    return { name: stored, digest };
  }

  async list(): Promise<ImageSummary[]> {
    const { body } = await this.client.call<ImageRow[]>("GET", "/images/json");
    return (body ?? []).map(summaryOf);
  }

  async remove(name: string, opts: { force?: boolean } = {}): Promise<RemoveResult> {
    const { body } = await this.client.call<Array<{ Untagged?: string; Deleted?: string }>>(
      "DELETE",
      `/images/${pathOf(name)}${opts.force ? "?force=1" : ""}`,
    );
    const out: RemoveResult = { untagged: [], deleted: [] };
    for (const r of body ?? []) {
      if (r.Untagged) out.untagged.push(r.Untagged);
      if (r.Deleted) out.deleted.push(r.Deleted);
    }
    return out;
  }

  async inspect(name: string): Promise<Record<string, unknown>> {
    return (await this.client.call<Record<string, unknown>>("GET", `/images/${pathOf(name)}/json`)).body;
  }

  async tag(source: string, target: string): Promise<void> {
    // docker's split: the tag follows the last ":" after the last "/" (one before it is a port)
    const colon = target.lastIndexOf(":");
    const hasTag = colon > target.lastIndexOf("/");
    const q = new URLSearchParams({ repo: hasTag ? target.slice(0, colon) : target });
    if (hasTag) q.set("tag", target.slice(colon + 1));
    await this.client.call("POST", `/images/${pathOf(source)}/tag?${q}`);
  }

  async save(names: string[], format: ArchiveFormat, dir?: string): Promise<Readable | undefined> {
    if (names.length === 0) throw invalidArgument("save: name at least one image");
    const q = new URLSearchParams(names.map((n): [string, string] => ["names", n]));
    q.set("berth.format", format === "oci-dir" ? "oci-archive" : format);
    const res = await this.client.stream("GET", `/images/get?${q}`);
    if (format !== "oci-dir") return res;
    if (!dir) throw invalidArgument("save: oci-dir needs an output directory (-o DIR)");
    await extractLayout(res, dir);
    return undefined;
  }

  async load(input: string | Readable): Promise<LoadedImage[]> {
    const body = typeof input !== "string" ? input : statSync(input).isDirectory() ? tarLayout(input) : createReadStream(input);
    const res = await upload(this.client.socketPath, "/images/load", body);
    const out: LoadedImage[] = [];
    let failure: string | undefined;
    await jsonLines(res, "load", (m) => {
      const failed = lineError(m);
      if (failed !== undefined) failure = failed;
      const s = m.stream?.trim() ?? "";
      if (s.startsWith("Loaded image ID: ")) out.push({ id: s.slice(17) });
      else if (s.startsWith("Loaded image: ")) out.push({ name: s.slice(14) });
    });
    if (failure !== undefined) throw new BerthError("Internal", failure);
    return out;
  }

  async import(input: Readable, name: string | undefined, opts: { message?: string; changes?: string[] } = {}): Promise<string> {
    const q = new URLSearchParams({ fromSrc: "-" });
    if (name) q.set("repo", name);
    if (opts.message) q.set("message", opts.message);
    for (const c of opts.changes ?? []) q.append("changes", c);
    const res = await upload(this.client.socketPath, `/images/create?${q}`, input);
    let id: string | undefined;
    let failure: string | undefined;
    await jsonLines(res, "import", (m) => {
      const failed = lineError(m);
      if (failed !== undefined) failure = failed;
      else if (m.status?.startsWith("sha256:")) id = m.status;
    });
    if (failure !== undefined) throw new BerthError("Internal", failure);
    if (!id) throw unavailable("import: berthd's answer names no image");
    return id;
  }

  async mount(name: string): Promise<string> {
    return (await this.client.call<{ Mountpoint: string }>("POST", `/images/${pathOf(name)}/mount`)).body.Mountpoint;
  }

  async unmount(name: string): Promise<void> {
    await this.client.call("POST", `/images/${pathOf(name)}/unmount`);
  }

  async mounts(): Promise<MountedImage[]> {
    const { body } = await this.client.call<Array<{ Id: string; Names?: string[]; Mountpoint: string }>>("GET", "/images/mounts");
    return (body ?? []).map((m) => ({ id: m.Id, names: m.Names ?? [], path: m.Mountpoint }));
  }

  async prune(): Promise<PruneResult> {
    const { body } = await this.client.call<{ SpaceReclaimed?: number; BlobsDeleted?: number; SnapshotsDeleted?: number }>(
      "POST",
      "/images/prune",
    );
    return { blobs: body?.BlobsDeleted ?? 0, snapshots: body?.SnapshotsDeleted ?? 0, bytes: body?.SpaceReclaimed ?? 0 };
  }
}

/** docker's /images/json entry, with berth's extra keys (Names, Platform, CreatedAt) when berthd sends them. */
interface ImageRow {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Created?: number;
  Size?: number;
  Names?: string[];
  Platform?: Platform;
  CreatedAt?: string;
}

function summaryOf(r: ImageRow): ImageSummary {
  const names = r.Names ?? (r.RepoTags ?? []).filter((t) => t !== "<none>:<none>").map((t) => formatReference(parseReference(t)));
  // full repository names, as the in-process listing has them ("docker.io/library/busybox@sha256:...")
  const digests = (r.RepoDigests ?? [])
    .filter((d) => !d.startsWith("<none>"))
    .map((d) => {
      const ref = parseReference(d);
      return `${ref.domain}/${ref.path}@${ref.digest}`;
    });
  const created = r.CreatedAt ?? (r.Created ? new Date(r.Created * 1000).toISOString() : undefined);
  return {
    id: r.Id,
    names,
    digests,
    ...(created ? { created } : {}),
    size: r.Size ?? 0,
    platform: r.Platform ?? { os: "", architecture: "" },
  };
}

function lineError(m: ProgressLine): string | undefined {
  if (m.error === undefined && m.errorDetail === undefined) return undefined;
  return m.errorDetail?.message ?? m.error ?? "berthd reported an error without a message";
}

/** Read docker's JSON-lines answer to its end; a connection cut before the end is an error. */
function jsonLines(
  res: NodeJS.ReadableStream & { destroy(): void },
  what: string,
  onLine: (m: ProgressLine) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const take = (line: string) => {
      if (!line.trim()) return;
      let m: ProgressLine;
      try {
        m = JSON.parse(line) as ProgressLine;
      } catch {
        throw unavailable(`${what}: berthd sent a line that is not JSON: ${line.slice(0, 200)}`);
      }
      onLine(m);
    };
    res.setEncoding("utf8");
    res.on("data", (d: string) => {
      buf += d;
      try {
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          take(line);
        }
      } catch (e) {
        res.destroy();
        reject(e);
      }
    });
    res.on("end", () => {
      try {
        take(buf);
        resolve();
      } catch (e) {
        reject(e);
      }
    });
    res.on("error", (e) => reject(unavailable(`${what}: the connection to berthd broke`, e)));
  });
}

const KIND: Record<number, ErrorKind> = {
  400: "InvalidArgument",
  403: "PermissionDenied",
  404: "NotFound",
  409: "FailedPrecondition",
  501: "NotImplemented",
  503: "Unavailable",
};

/**
 * POST a stream (an archive) as the request body; resolves with a 2xx response, or throws the
 * API's error (docker's `{"message"}`) as its kind. DaemonClient sends JSON bodies only.
 */
function upload(socketPath: string, path: string, body: Readable): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      reject(e);
    };
    const req = request({
      socketPath,
      method: "POST",
      path,
      headers: { Host: "berthd", "Content-Type": "application/x-tar" },
    });
    req.on("error", (e: Error & { code?: string }) => {
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED")
        fail(unavailable(`Cannot connect to berthd at unix://${socketPath}. Is berthd running?`));
      else if (e.code === "EACCES") fail(new BerthError("PermissionDenied", `permission denied on unix://${socketPath}`));
      else fail(unavailable(`berthd at unix://${socketPath}: ${e.message}`, e));
    });
    req.on("response", (res) => {
      const status = res.statusCode ?? 500;
      if (status < 400) {
        settled = true;
        resolve(res);
        return;
      }
      readAll(res).then((text) => {
        let msg = text;
        try {
          msg = (JSON.parse(text) as { message?: string }).message ?? text;
        } catch {
          // not JSON: the text itself
        }
        fail(new BerthError(KIND[status] ?? "Internal", msg || `HTTP ${status}`));
      }, fail);
    });
    // the input failing (a file that cannot be read) ends the request: berthd sees a cut body
    body.once("error", (e) => {
      fail(e);
      req.destroy(e);
    });
    body.pipe(req);
  });
}

/** An OCI layout directory as a tar stream (what `berth load -i DIR` sends to berthd). */
function tarLayout(dir: string): Readable {
  const w = new TarWriter();
  const walk = async (d: string): Promise<void> => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const rel = relative(dir, p).split(sep).join("/");
      // the layout's own files only: a symlink could point anywhere on this machine
      const st = lstatSync(p);
      if (st.isDirectory()) {
        await w.add({ name: `${rel}/`, type: "directory", mode: 0o755, mtime: Math.floor(st.mtimeMs / 1000) });
        await walk(p);
      } else if (st.isFile()) {
        await w.add({ name: rel, mode: 0o644, size: st.size, mtime: Math.floor(st.mtimeMs / 1000) }, createReadStream(p));
      } else throw invalidArgument(`load: ${p} is not a regular file or directory`);
    }
  };
  walk(dir)
    .then(() => w.finish())
    .catch((e: Error) => w.abort(e));
  return w.stream;
}

/** Unpack an oci-archive into `dir` (made here): regular files and directories only, none outside it. */
async function extractLayout(src: Readable, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for await (const e of readTar(src)) {
    const name = e.header.name.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
    if (name === "" || name === ".") {
      e.body.resume();
      continue;
    }
    if (name.startsWith("/") || name.split("/").some((c) => c === ".." || c === ""))
      throw invalidArgument(`save: the archive from berthd has an entry outside the layout: ${JSON.stringify(name)}`);
    const target = join(dir, name);
    if (e.header.type === "directory") {
      mkdirSync(target, { recursive: true, mode: 0o755 });
      e.body.resume();
    } else if (e.header.type === "file") {
      mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
      // "wx": never through a symlink or over a file already there
      await pipeline(e.body, createWriteStream(target, { mode: 0o644, flags: "wx" }));
    } else throw invalidArgument(`save: the archive from berthd has a ${e.header.type} entry ${JSON.stringify(name)}`);
  }
}
