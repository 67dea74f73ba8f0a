import type { IncomingMessage, ServerResponse } from "node:http";
import { describe, invalidArgument } from "../errors/index.js";
import { type ArchiveFormat, isIdName, type PullEvent, parsePlatform } from "../images/index.js";
import { decodeRegistryAuth, familiarName, parseReference } from "../registry/index.js";
import type { Daemon } from "./daemon.js";
import type { ApiServer } from "./server.js";

/** What docker's pull progress says for each of berth's layer states (the `status` of a JSON line). */
export const LAYER_STATUS: Record<Extract<PullEvent, { type: "layer" }>["status"], string> = {
  waiting: "Waiting",
  exists: "Already exists",
  downloading: "Downloading",
  verifying: "Verifying Checksum",
  done: "Pull complete",
};

/**
 * The image part of berthd's API: docker's /images paths over the daemon's image service, plus
 * berth's own where docker has none (`berth.format` on save, image mounts as podman has them).
 * Berth's listing carries `Names` (full references), `Platform` and `CreatedAt` (RFC 3339)
 * besides docker's keys, so `berth images` prints the same through berthd as in-process.
 */
export function registerImageRoutes(d: Daemon, api: ApiServer): void {
  const containersOf = (id: string) => d.containers.list({ all: true }).filter((c) => c.ImageID === id).length;

  api.route("GET", "/images/json", async () => {
    const list = await d.images.list();
    return {
      body: list.map((i) => ({
        Id: i.id,
        ParentId: "",
        RepoTags: i.names.filter((n) => parseReference(n).tag !== undefined).map((n) => familiarName(parseReference(n))),
        RepoDigests: i.digests,
        Created: i.created ? Math.floor(Date.parse(i.created) / 1000) : 0,
        Size: i.size,
        VirtualSize: i.size,
        SharedSize: -1,
        Labels: {},
        Containers: containersOf(i.id),
        Names: i.names,
        Platform: i.platform,
        ...(i.created ? { CreatedAt: i.created } : {}),
      })),
    };
  });

  // berth's (podman's `image mount` without arguments): the images mounted now and where
  api.route("GET", "/images/mounts", async () => {
    const out: Array<{ Id: string; Names: string[]; Mountpoint: string }> = [];
    for (const i of await d.images.list()) {
      const rec = d.images.get(i.id);
      if (d.images.mounted(rec)) out.push({ Id: i.id, Names: i.names, Mountpoint: await d.images.mount(i.id) });
    }
    return { body: out };
  });

  // docker's save: GET /images/get?names=a&names=b, or GET /images/{name}/get; the body is the tar
  const save = async (names: string[], format: string | null, res: ServerResponse) => {
    const f = (format ?? "docker-archive") as ArchiveFormat;
    if (f !== "docker-archive" && f !== "oci-archive")
      throw invalidArgument(`save: berth.format ${f}: use docker-archive or oci-archive`);
    const stream = await d.images.save(names, f);
    if (!stream) throw invalidArgument(`save: ${f} gave no archive`);
    res.writeHead(200, { "Content-Type": "application/x-tar" });
    for (const n of names) d.events.publish("image", "save", n);
    await new Promise<void>((resolve) => {
      // a failure after the headers can only cut the stream: the client sees it end early
      stream.once("error", (e) => {
        d.log(`save ${names.join(" ")}: ${describe(e)}`);
        res.destroy(e);
        resolve();
      });
      res.once("close", () => {
        stream.destroy();
        resolve();
      });
      stream.pipe(res);
    });
    return undefined;
  };
  api.route("GET", "/images/get", async (_req, res, p) => save(p.q.getAll("names"), p.q.get("berth.format"), res));
  api.route("GET", "/images/*/get", async (_req, res, p) => save([p.path[0] as string], p.q.get("berth.format"), res));

  api.route("GET", "/images/*/json", async (_req, _res, p) => ({ body: await d.images.inspect(p.path[0] as string) }));

  api.route("DELETE", "/images/*", async (_req, _res, p) => {
    const name = p.path[0] as string;
    const force = p.q.get("force") === "1" || p.q.get("force") === "true";
    const r = await d.images.remove(name, { force });
    for (const t of r.untagged) d.events.publish("image", "untag", t);
    for (const id of r.deleted) d.events.publish("image", "delete", id);
    return { body: [...r.untagged.map((u) => ({ Untagged: u })), ...r.deleted.map((d) => ({ Deleted: d }))] };
  });

  api.route("POST", "/images/create", async (req, res, p) => {
    if (p.q.get("fromSrc") !== null) return importImage(d, req, res, p.q);
    const from = p.q.get("fromImage");
    if (!from) throw invalidArgument("pull: fromImage (or fromSrc) is required");
    const tag = p.q.get("tag");
    const name = tag ? (tag.startsWith("sha256:") ? `${from}@${tag}` : `${from}:${tag}`) : from;
    const ref = parseReference(name);
    const platform = p.q.get("platform");
    // the client's own credentials for this registry (docker's X-Registry-Auth), over berthd's
    const authHeader = req.headers["x-registry-auth"];
    const credentials = typeof authHeader === "string" && authHeader ? decodeRegistryAuth(authHeader) : undefined;
    // headers go with the first progress line (docker's way): a pull that fails before it, an
    // unknown image or a refused login, is answered with its own status code
    let started = false;
    const send = (o: unknown) => {
      if (!started) {
        res.writeHead(200, { "Content-Type": "application/json" });
        started = true;
      }
      res.write(`${JSON.stringify(o)}\n`);
    };
    // a client that goes away cancels its pull, as docker's does
    const ac = new AbortController();
    res.once("close", () => {
      if (!res.writableEnded) ac.abort();
    });
    let downloaded = false;
    try {
      const rec = await d.images.pull(name, {
        ...(platform ? { platform: parsePlatform(platform) } : {}),
        ...(credentials ? { credentials } : {}),
        signal: ac.signal,
        onEvent: (e) => {
          if (e.type === "resolved") {
            send({ status: `Pulling from ${ref.path}`, id: ref.digest && !ref.tag ? ref.digest : (ref.tag ?? "latest") });
          } else if (e.type === "layer") {
            if (e.status === "downloading") downloaded = true;
            send({
              status: LAYER_STATUS[e.status],
              progressDetail: e.status === "downloading" ? { current: e.current, total: e.size } : {},
              id: e.digest.slice(7, 19),
            });
          }
        },
      });
      const familiar = familiarName(parseReference(rec.name));
      send({ status: `Digest: ${rec.target.digest}` });
      send({ status: `Status: ${downloaded ? "Downloaded newer image for" : "Image is up to date for"} ${familiar}` });
      d.events.publish("image", "pull", familiar);
    } catch (e) {
      if (!started) throw e;
      send({ errorDetail: { message: describe(e) }, error: describe(e) });
    }
    res.end();
    return undefined;
  });

  // docker's load: the archive is the body; the answer is JSON lines naming what was loaded
  api.route("POST", "/images/load", async (req, res) => {
    let recs: Awaited<ReturnType<Daemon["images"]["load"]>>;
    try {
      recs = await d.images.load(req);
    } catch (e) {
      await drain(req);
      throw e;
    }
    res.writeHead(200, { "Content-Type": "application/json" });
    for (const r of recs) {
      const line = isIdName(r.name)
        ? `Loaded image ID: ${r.config.digest}`
        : `Loaded image: ${familiarName(parseReference(r.name))}`;
      res.write(`${JSON.stringify({ stream: `${line}\n` })}\n`);
      d.events.publish("image", "load", isIdName(r.name) ? r.config.digest : familiarName(parseReference(r.name)));
    }
    res.end();
    return undefined;
  });

  api.route("POST", "/images/prune", async () => {
    const r = await d.images.prune();
    d.events.publish("image", "prune", "", { reclaimed: String(r.bytes) });
    return { body: { ImagesDeleted: [], SpaceReclaimed: r.bytes, BlobsDeleted: r.blobs, SnapshotsDeleted: r.snapshots } };
  });

  api.route("POST", "/images/*/tag", async (_req, _res, p) => {
    const repo = p.q.get("repo");
    if (!repo) throw invalidArgument("tag: repo is required");
    const tag = p.q.get("tag");
    const target = tag ? `${repo}:${tag}` : repo;
    await d.images.tag(p.path[0] as string, target);
    d.events.publish("image", "tag", p.path[0] as string, { name: target });
    return { status: 201 };
  });

  // berth's image mounts (podman's `image mount`): a read-only view of the image's rootfs
  api.route("POST", "/images/*/mount", async (_req, _res, p) => ({
    body: { Mountpoint: await d.images.mount(p.path[0] as string) },
  }));
  api.route("POST", "/images/*/unmount", async (_req, _res, p) => {
    await d.images.unmount(p.path[0] as string);
    return { status: 204 };
  });
}

/** docker's import: POST /images/create?fromSrc=-&repo=..&tag=..&message=..&changes=.. with the tar as the body. */
async function importImage(d: Daemon, req: IncomingMessage, res: ServerResponse, q: URLSearchParams): Promise<undefined> {
  const src = q.get("fromSrc");
  if (src !== "-") throw invalidArgument(`import: fromSrc ${src}: only "-" (the request body) is supported`);
  const repo = q.get("repo");
  const tag = q.get("tag");
  const name = repo ? (tag ? `${repo}:${tag}` : repo) : undefined;
  const message = q.get("message");
  let rec: Awaited<ReturnType<Daemon["images"]["import"]>>;
  try {
    const changes = parseChanges(q.getAll("changes"));
    rec = await d.images.import(req, name, { ...(message ? { comment: message } : {}), changes });
  } catch (e) {
    await drain(req);
    throw e;
  }
  d.events.publish("image", "import", rec.config.digest);
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(`${JSON.stringify({ status: rec.config.digest })}\n`);
  return undefined;
}

/**
 * Read what is left of a request body before answering an error: a client still sending an
 * archive would otherwise see its connection reset instead of the answer.
 */
function drain(req: IncomingMessage): Promise<void> {
  if (req.complete || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    req.once("end", resolve);
    req.once("close", resolve);
    req.once("error", () => resolve());
    req.resume();
  });
}

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
