import { lstatSync, realpathSync, statSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { request } from "node:http";
import { basename, dirname, resolve } from "node:path";
import { BerthError, errnoCode, invalidArgument, notFound } from "../../errors/index.js";
import { ConfinedFs, goModeKind, PATH_STAT_HEADER, type PathStat, splitContainerPath } from "../../daemon/archive.js";
import { TarWriter } from "../../images/tar/index.js";
import { bool, parseFlags } from "../args.js";
import type { ContainerCmd } from "./container-commands.js";
import type { DaemonClient } from "./client.js";
import { humanSize } from "./format.js";

const enc = encodeURIComponent;

const FLAGS = [
  { name: "archive", short: "a", type: "bool" as const },
  { name: "follow-link", short: "L", type: "bool" as const },
  { name: "quiet", short: "q", type: "bool" as const },
];

const USAGE = `Usage:  berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
        berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`;

/** What a copy knows of one side: where, whether it is there, and whether it is a directory (docker's CopyInfo). */
interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
}

/**
 * `berth cp`: docker's rules for copying between a container and the local filesystem. A
 * directory is copied into an existing directory under its own name, or becomes the destination
 * when that does not exist; "SRC/." copies a directory's contents; a file replaces a file or goes
 * into a directory; "-" is a tar stream on stdin or stdout. `-a` keeps owners, `-L` follows a
 * symlink named as the source.
 */
export const cpCmd: ContainerCmd = async (c, args, io) => {
  const { flags, rest } = parseFlags(args, FLAGS, "cp", { interspersed: true });
  if (rest.length !== 2) throw invalidArgument(`"berth cp" requires exactly 2 arguments\n${USAGE}`);
  const [srcArg, dstArg] = rest as [string, string];
  const src = splitCpArg(srcArg);
  const dst = splitCpArg(dstArg);
  if (src.container !== undefined && dst.container !== undefined)
    throw invalidArgument("copying between containers is not supported");
  if (src.container === undefined && dst.container === undefined)
    throw invalidArgument(`must specify at least one container source\n${USAGE}`);
  const o = { archive: bool(flags, "archive"), followLink: bool(flags, "follow-link"), quiet: bool(flags, "quiet") || !io.isTTY };
  if (src.container !== undefined) {
    const n = await copyFromContainer(c, src.container, src.path, dst.path, o, io);
    if (!o.quiet && dst.path !== "-") io.err(`Successfully copied ${humanSize(n)} to ${dst.path}\n`);
  } else {
    const n = await copyToContainer(c, src.path, dst.container as string, dst.path, o, io);
    if (!o.quiet && src.path !== "-") io.err(`Successfully copied ${humanSize(n)} to ${dst.container}:${dst.path}\n`);
  }
  return 0;
};

/** "CONTAINER:PATH" or a local path (absolute, starting with ".", or without a colon), as docker splits them */
function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith("/") || arg.startsWith(".")) return { path: arg };
  const i = arg.indexOf(":");
  if (i < 0) return { path: arg };
  const container = arg.slice(0, i);
  if (container === "") throw invalidArgument(`invalid copy argument ${JSON.stringify(arg)}: no container before ":"`);
  // a container path is taken from the container's root
  const path = arg.slice(i + 1);
  return { container, path: path.startsWith("/") ? path : `/${path}` };
}

/** docker's assertsDirectory: a path ending in "/" or "/." must be a directory */
function assertsDirectory(p: string): boolean {
  return p.endsWith("/") || p.endsWith("/.") || p === ".";
}

/** The top entry name of an archive of `p`: its base name, or "." for a directory's contents */
function archiveBase(p: string): string {
  const sp = splitContainerPath(p);
  return sp.contents ? "." : (sp.parts.at(-1) as string);
}

/** The path's stat in the container; undefined when it does not exist. */
async function statInContainer(c: DaemonClient, container: string, path: string): Promise<PathStat | undefined> {
  const res = await rawRequest(c, "HEAD", `/containers/${enc(container)}/archive?path=${enc(path)}`);
  res.resume();
  if (res.statusCode === 404) {
    // HEAD has no body to say whether the container or the path is missing: ask about the container
    await c.call("GET", `/containers/${enc(container)}/json`);
    return undefined;
  }
  if ((res.statusCode ?? 500) >= 400) throw new BerthError("Internal", `stat ${container}:${path}: HTTP ${res.statusCode}`);
  return decodeStat(res);
}

function decodeStat(res: { headers: Record<string, string | string[] | undefined> }): PathStat {
  const raw = res.headers[PATH_STAT_HEADER.toLowerCase()];
  if (typeof raw !== "string") throw new BerthError("Internal", `berthd sent no ${PATH_STAT_HEADER} header`);
  return JSON.parse(Buffer.from(raw, "base64").toString("utf8")) as PathStat;
}

async function copyFromContainer(
  c: DaemonClient,
  container: string,
  srcPath: string,
  dstPath: string,
  o: { archive: boolean; followLink: boolean },
  io: Parameters<ContainerCmd>[2],
): Promise<number> {
  let path = srcPath;
  let rebase: string | undefined;
  if (o.followLink) {
    const st = await statInContainer(c, container, srcPath);
    if (st && goModeKind(st.mode) === "symlink") {
      // the link's target, copied under the link's name (docker's GetRebaseName)
      const keep = srcPath.endsWith("/.") ? "/." : srcPath.endsWith("/") ? "/" : "";
      path = st.linkTarget + keep;
      const from = archiveBase(path);
      const to = archiveBase(srcPath);
      if (from !== to) rebase = to;
    }
  }
  const res = await c.stream("GET", `/containers/${enc(container)}/archive?path=${enc(path)}`);
  const stat = decodeStat(res);
  let bytes = 0;
  res.on("data", (d: Buffer) => {
    bytes += d.length;
  });
  if (dstPath === "-") {
    const out = io.stdoutStream();
    await new Promise<void>((resolveDone, reject) => {
      res.on("error", reject);
      res.on("end", () => resolveDone());
      res.pipe(out as NodeJS.WritableStream, { end: false });
    });
    return bytes;
  }
  const srcBase = rebase ?? archiveBase(path);
  const srcIsDir = goModeKind(stat.mode) === "dir";
  const dst = localDestination(dstPath);
  const plan = prepareCopy({ path: srcPath, exists: true, isDir: srcIsDir }, srcBase, dst);
  const fs = new ConfinedFs({ rootfs: plan.dir });
  try {
    const owner = o.archive ? undefined : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    // the top entry lands under the destination's name, or the link's (-L), or keeps its own
    const from = archiveBase(path);
    const to = plan.rename ?? rebase ?? from;
    await fs.extract("/", res, {
      noOverwriteDirNonDir: true,
      ...(owner ? { owner } : {}),
      ...(to !== from ? { rename: { from, to } } : {}),
    });
  } finally {
    fs.close();
  }
  return bytes;
}

/** the local destination: its final symlink followed, as docker's CopyInfoDestinationPath does */
function localDestination(p: string): CopyInfo {
  const abs = resolve(p) + (assertsDirectory(p) && !p.endsWith("/.") ? "/" : p.endsWith("/.") ? "/." : "");
  try {
    const st = statSync(abs);
    return { path: abs, exists: true, isDir: st.isDirectory() };
  } catch (e) {
    // a missing destination is to be made (its parent must exist)
    if (errnoCode(e) === "ENOENT") return { path: abs, exists: false, isDir: false };
    throw e;
  }
}

/**
 * docker's PrepareArchiveCopy: which directory the archive goes into, and what its top entry
 * must be renamed to for the copy to land at the destination's name.
 */
function prepareCopy(src: CopyInfo, srcBase: string, dst: CopyInfo): { dir: string; rename?: string } {
  const clean = dst.path.replace(/\/\.?$/, "") || "/";
  const dstDir = dirname(clean);
  const dstBase = basename(clean);
  if (dst.exists && dst.isDir) return { dir: realpathSync(clean) };
  if (dst.exists && src.isDir) throw invalidArgument(`cannot copy a directory to a file: ${dst.path}`);
  if (dst.exists) return { dir: realpathSync(dstDir), ...(srcBase !== dstBase ? { rename: dstBase } : {}) };
  if (assertsDirectory(dst.path))
    throw notFound(src.isDir ? `destination directory ${dst.path} does not exist` : `no such directory: ${dst.path}`);
  let dir: string;
  try {
    dir = realpathSync(dstDir);
  } catch (e) {
    throw notFound(`the parent of the destination ${dst.path} does not exist`, e);
  }
  return { dir, ...(srcBase !== dstBase ? { rename: dstBase } : {}) };
}

async function copyToContainer(
  c: DaemonClient,
  srcPath: string,
  container: string,
  dstPath: string,
  o: { archive: boolean; followLink: boolean },
  io: Parameters<ContainerCmd>[2],
): Promise<number> {
  const dst: CopyInfo = { path: dstPath, exists: false, isDir: false };
  let st = await statInContainer(c, container, dstPath);
  if (st && goModeKind(st.mode) === "symlink") {
    // a symlink as the destination: copied to where it leads (inside the container)
    dst.path = st.linkTarget;
    st = await statInContainer(c, container, st.linkTarget);
  }
  if (st) {
    const kind = goModeKind(st.mode);
    if (kind !== "dir" && kind !== "file")
      throw invalidArgument(`destination "${container}:${dstPath}" must be a directory or a regular file`);
    dst.exists = true;
    dst.isDir = kind === "dir";
  }
  const query = (dir: string) =>
    `/containers/${enc(container)}/archive?path=${enc(dir)}&noOverwriteDirNonDir=true${o.archive ? "&copyUIDGID=true" : ""}`;
  if (srcPath === "-") {
    if (!dst.isDir) throw invalidArgument(`destination "${container}:${dstPath}" must be a directory`);
    return upload(c, query(dst.path), io.stdin());
  }

  // the local source: a symlink named as the source is followed only with -L
  const abs = resolve(srcPath);
  const contents = srcPath.endsWith("/.") || srcPath === "." || abs === "/";
  // a trailing "/" follows a symlink to a directory, as the kernel does
  const follow = o.followLink || assertsDirectory(srcPath);
  let srcStat: ReturnType<typeof lstatSync>;
  try {
    srcStat = follow ? statSync(abs) : lstatSync(abs);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") throw notFound(`could not find the file ${srcPath} on the local host`, e);
    throw e;
  }
  if (assertsDirectory(srcPath) && !srcStat.isDirectory()) throw invalidArgument(`${srcPath}: not a directory`);
  const srcBase = contents ? "." : basename(abs);
  const plan = prepareContainerCopy({ path: srcPath, exists: true, isDir: srcStat.isDirectory() }, srcBase, dst);

  // the archive of the local source: made with the same confined walk, from its parent (or itself, for "DIR/.")
  const real = follow || contents ? realpathSync(abs) : resolve(realpathSync(dirname(abs)), basename(abs));
  const fs = new ConfinedFs({ rootfs: contents ? real : dirname(real) });
  let source: ReturnType<ConfinedFs["archive"]>;
  try {
    source = fs.archive(contents ? "/." : `/${basename(real)}`);
  } catch (e) {
    fs.close();
    throw e;
  }
  const w = new TarWriter();
  const producing = (async () => {
    try {
      await source.write(w, plan.rename ?? srcBase);
      await w.finish();
    } catch (e) {
      w.abort(e instanceof Error ? e : new Error(String(e)));
    } finally {
      source.close();
      fs.close();
    }
  })();
  try {
    return await upload(c, query(plan.dir), w.stream);
  } finally {
    await producing;
  }
}

/** PrepareArchiveCopy for a container destination: the directory to extract into and the rename */
function prepareContainerCopy(src: CopyInfo, srcBase: string, dst: CopyInfo): { dir: string; rename?: string } {
  const sp = splitContainerPath(dst.path);
  const clean = `/${sp.parts.join("/")}`;
  const dstDir = `/${sp.parts.slice(0, -1).join("/")}`;
  const dstBase = sp.parts.at(-1) ?? "/";
  if (dst.exists && dst.isDir) return { dir: clean };
  if (dst.exists && src.isDir) throw invalidArgument(`cannot copy a directory to a file: ${dst.path}`);
  if (dst.exists) return { dir: dstDir, ...(srcBase !== dstBase ? { rename: dstBase } : {}) };
  if (assertsDirectory(dst.path))
    throw notFound(src.isDir ? `destination directory ${dst.path} does not exist` : `no such directory: ${dst.path}`);
  return { dir: dstDir, ...(srcBase !== dstBase ? { rename: dstBase } : {}) };
}

/** PUT a tar stream to berthd; the bytes sent */
async function upload(c: DaemonClient, path: string, body: NodeJS.ReadableStream): Promise<number> {
  let bytes = 0;
  const res = await new Promise<IncomingMessage>((resolveRes, reject) => {
    const req = request({
      socketPath: c.socketPath,
      method: "PUT",
      path,
      headers: { Host: "berthd", "Content-Type": "application/x-tar", "Transfer-Encoding": "chunked" },
    });
    req.on("error", reject);
    req.on("response", resolveRes);
    body.on("data", (d: Buffer) => {
      bytes += d.length;
    });
    body.on("error", (e: Error) => {
      req.destroy(e);
      reject(e);
    });
    body.pipe(req);
  });
  const chunks: Buffer[] = [];
  for await (const d of res) chunks.push(d as Buffer);
  if ((res.statusCode ?? 500) >= 400) {
    const text = Buffer.concat(chunks).toString("utf8");
    let msg = text;
    try {
      msg = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not JSON: the text as it is
    }
    const kind = res.statusCode === 404 ? "NotFound" : res.statusCode === 400 ? "InvalidArgument" : "Internal";
    throw new BerthError(res.statusCode === 403 ? "PermissionDenied" : res.statusCode === 409 ? "FailedPrecondition" : kind, msg);
  }
  return bytes;
}

/** A request whose status the caller judges itself (HEAD's 404 is an answer, not an error). */
function rawRequest(c: DaemonClient, method: string, path: string): Promise<IncomingMessage> {
  return new Promise((resolveRes, reject) => {
    const req = request({ socketPath: c.socketPath, method, path, headers: { Host: "berthd" } });
    req.on("error", (e) =>
      reject(
        errnoCode(e) === "ENOENT" || errnoCode(e) === "ECONNREFUSED"
          ? new BerthError("Unavailable", `Cannot connect to berthd at unix://${c.socketPath}. Is berthd running?`)
          : e,
      ),
    );
    req.on("response", resolveRes);
    req.end();
  });
}
