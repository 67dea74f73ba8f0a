/**
 * Side-by-side benchmark of pulling and unpacking an image into a ready rootfs: a Debian bookworm
 * minbase image (one gzip layer, ~30 MB compressed) served by a local docker-registry over plain
 * HTTP, pulled by
 *   - containerd: a private containerd (own root, state and socket, no CRI) and
 *     `ctr image pull --plain-http` (fetch + unpack into the overlayfs snapshotter);
 *   - skopeo + umoci: `skopeo copy docker://… oci:DIR:tag` then `umoci unpack` (timed together);
 *   - berth: `bin/berth --data-root DIR --insecure-registry HOST pull REF` (skipped while
 *     bin/berth does not exist).
 * Every round starts each tool from an empty store, in rotating order so machine noise hits all
 * alike; the first round warms caches and is dropped. Prints median and min per tool and the
 * ratio of medians against containerd.
 *
 *   node dist/bench/image-pull.js [--rounds N]
 *
 * The image is built once with debootstrap from this machine's apt mirror and umoci, and kept
 * as an OCI layout in /var/cache/berth-bench/debian-bookworm-minbase. Needs root.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type TestRegistry, startRegistry } from "../test/fixtures/registry.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const rounds = Number(process.argv[process.argv.indexOf("--rounds") + 1]) || 10;
const CACHE = "/var/cache/berth-bench";
const LAYOUT = join(CACHE, "debian-bookworm-minbase");
const TAG = "bookworm";
const REPO = "debian";

if (process.getuid?.() !== 0) {
  console.error("image-pull: needs root (debootstrap, containerd, umoci unpack)");
  process.exit(1);
}

/** Runs a command to completion; rejects with its stderr. Async: the registry may live in this process. */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: opts.env ?? process.env });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      err = (err + d).slice(-8000);
    });
    child.on("error", rej);
    child.on("close", (code) =>
      code === 0 ? res(out) : rej(new Error(`${cmd} ${args.join(" ")}: exit ${code}: ${err.trim() || out.slice(-2000)}`)),
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// the image: debootstrap --variant=minbase, packed by umoci, cached

/** The Debian mirror apt uses here: deb822 `URIs:` in sources.list.d, or a `deb URL bookworm` line. */
function aptMirror(): string {
  const files = ["/etc/apt/sources.list"];
  if (existsSync("/etc/apt/sources.list.d"))
    files.push(...readdirSync("/etc/apt/sources.list.d").map((f) => join("/etc/apt/sources.list.d", f)));
  for (const f of files.filter((f) => /\.(list|sources)$/.test(f) && existsSync(f))) {
    const text = readFileSync(f, "utf8");
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (uri && /^Suites:.*\bbookworm\b/m.test(stanza) && !/security/.test(uri)) return uri;
    }
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(text)?.[1];
    if (line) return line;
  }
  return "http://deb.debian.org/debian";
}

async function buildImage(): Promise<void> {
  if (existsSync(join(LAYOUT, "index.json"))) return;
  const mirror = aptMirror();
  console.log(`building ${LAYOUT}: debootstrap --variant=minbase bookworm from ${mirror} (once)`);
  mkdirSync(CACHE, { recursive: true });
  const tmp = mkdtempSync(join(CACHE, "build-"));
  try {
    const layout = join(tmp, "layout");
    const bundle = join(tmp, "bundle");
    await run("umoci", ["init", "--layout", layout]);
    await run("umoci", ["new", "--image", `${layout}:${TAG}`]);
    await run("umoci", ["unpack", "--image", `${layout}:${TAG}`, bundle]);
    // debootstrap straight into the bundle's (empty) rootfs: the copy would change nothing
    const rootfs = join(bundle, "rootfs");
    rmSync(rootfs, { recursive: true });
    await run("debootstrap", ["--variant=minbase", TAG, rootfs, mirror]);
    // what `apt-get clean` and the official image drop: the downloaded .debs and package lists
    for (const d of ["var/cache/apt/archives", "var/lib/apt/lists", "var/cache/apt"])
      for (const f of readdirSync(join(rootfs, d)))
        if (/\.(deb|bin)$|_(Packages|Release|InRelease)/.test(f)) rmSync(join(rootfs, d, f));
    await run("umoci", [
      "repack",
      "--image",
      `${layout}:${TAG}`,
      "--history.created_by",
      "debootstrap --variant=minbase",
      bundle,
    ]);
    await run("umoci", [
      "config",
      "--image",
      `${layout}:${TAG}`,
      "--config.cmd",
      "bash",
      "--config.env",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]);
    renameSync(layout, LAYOUT);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

interface Blob {
  digest: string;
  size: number;
}
function imageInfo(): { layers: Blob[]; manifest: Blob } {
  const index = JSON.parse(readFileSync(join(LAYOUT, "index.json"), "utf8")) as { manifests: Blob[] };
  const manifest = index.manifests[0];
  if (!manifest) throw new Error(`read ${LAYOUT}/index.json: no manifest`);
  const m = JSON.parse(readFileSync(join(LAYOUT, "blobs/sha256", manifest.digest.slice(7)), "utf8")) as { layers: Blob[] };
  return { layers: m.layers, manifest };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(kill);
      res();
    });
    child.kill("SIGTERM");
  });
}

// ---------------------------------------------------------------------------------------------
// the tools

interface Tool {
  name: string;
  /** untimed preparation of a fresh store in `dir` */
  setup?(dir: string): Promise<void>;
  /** the timed pull + unpack */
  pull(dir: string): Promise<void>;
  /** untimed check that the rootfs is there */
  check?(dir: string): Promise<void>;
  /** untimed, after every round whatever happened */
  teardown?(): Promise<void>;
}

const work = mkdtempSync(join(tmpdir(), "berth-bench-pull-"));
let registry: TestRegistry | undefined;
let ref = "";

/** A private containerd per round: its startup is not timed, as a daemon is already up in real use. */
function containerdTool(): Tool {
  let daemon: ChildProcess | undefined;
  const sock = (dir: string) => join(dir, "containerd.sock");
  return {
    name: "containerd",
    async setup(dir) {
      const config = join(dir, "config.toml");
      writeFileSync(
        config,
        [
          "version = 2",
          `root = "${dir}/root"`,
          `state = "${dir}/state"`,
          // the CRI plugin and snapshotters that probe for other filesystems are off
          'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
          "[grpc]",
          `  address = "${sock(dir)}"`,
          "[ttrpc]",
          `  address = "${sock(dir)}.ttrpc"`,
          "",
        ].join("\n"),
      );
      daemon = spawn("containerd", ["--config", config, "--log-level", "error"], { stdio: "ignore" });
      for (let i = 0; i < 400; i++) {
        if (
          existsSync(sock(dir)) &&
          (await run("ctr", ["-a", sock(dir), "version"]).then(
            () => true,
            () => false,
          ))
        )
          return;
        if (daemon.exitCode !== null) break;
        await sleep(25);
      }
      throw new Error(`start containerd in ${dir}: socket not answering`);
    },
    async pull(dir) {
      await run("ctr", ["-a", sock(dir), "-n", "bench", "image", "pull", "--plain-http", ref]);
    },
    async check(dir) {
      const snaps = await run("ctr", ["-a", sock(dir), "-n", "bench", "snapshots", "ls"]);
      if (snaps.trim().split("\n").length < 2) throw new Error("containerd: no snapshot after pull");
    },
    async teardown() {
      if (daemon) await stopChild(daemon);
      daemon = undefined;
    },
  };
}

const skopeoUmoci: Tool = {
  name: "skopeo+umoci",
  async pull(dir) {
    await run("skopeo", ["copy", "-q", "--src-tls-verify=false", `docker://${ref}`, `oci:${dir}/oci:${TAG}`]);
    await run("umoci", ["unpack", "--image", `${dir}/oci:${TAG}`, `${dir}/bundle`]);
  },
  async check(dir) {
    if (!existsSync(join(dir, "bundle/rootfs/usr/bin/bash"))) throw new Error("skopeo+umoci: no /usr/bin/bash in the rootfs");
  },
};

const berthBin = join(repo, "bin/berth");
const berth: Tool = {
  name: "berth",
  async pull(dir) {
    await run(berthBin, ["--data-root", join(dir, "data"), "--insecure-registry", registry?.host ?? "", "pull", ref]);
  },
  async check(dir) {
    const ids = await run(berthBin, ["--data-root", join(dir, "data"), "images", "-q"]);
    if (!ids.trim()) throw new Error("berth: no image listed after pull");
  },
};

// ---------------------------------------------------------------------------------------------
// the run

const tools: Tool[] = [containerdTool(), skopeoUmoci];
if (existsSync(berthBin)) tools.push(berth);
else console.log(`berth: skipped (${berthBin} does not exist yet)`);

const samples = new Map<string, number[]>(tools.map((t) => [t.name, []]));
const failed = new Map<string, string>();
let rootfsBytes = 0;
try {
  await buildImage();
  const { layers, manifest } = imageInfo();
  registry = await startRegistry();
  ref = `${registry.host}/${REPO}:${TAG}`;
  await run("skopeo", ["copy", "-q", "--preserve-digests", "--dest-tls-verify=false", `oci:${LAYOUT}:${TAG}`, `docker://${ref}`]);

  for (let i = 0; i < rounds + 1; i++) {
    // rotate the order each round: no tool always runs right after another's writeback
    const order = tools.map((_, k) => tools[(k + i) % tools.length] as Tool);
    for (const t of order) {
      if (failed.has(t.name)) continue;
      const dir = join(work, `${t.name.replace(/\W+/g, "-")}-${i}`);
      mkdirSync(dir);
      try {
        await t.setup?.(dir);
        const t0 = process.hrtime.bigint();
        await t.pull(dir);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        await t.check?.(dir);
        // the first round warms the registry's files and the tools' binaries
        if (i > 0) samples.get(t.name)?.push(ms);
        if (t === skopeoUmoci && !rootfsBytes)
          rootfsBytes = Number(execFileSync("du", ["-sb", join(dir, "bundle/rootfs")], { encoding: "utf8" }).split("\t")[0]);
      } catch (e) {
        failed.set(t.name, (e as Error).message);
        console.error(`${t.name}: failed, left out of the table: ${(e as Error).message}`);
      } finally {
        await t.teardown?.();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? (s[(s.length - 1) / 2] ?? Number.NaN) : ((s[s.length / 2 - 1] ?? 0) + (s[s.length / 2] ?? 0)) / 2;
  };
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const compressed = layers.reduce((n, l) => n + l.size, 0);
  console.log(
    `rounds: ${rounds}, image: debian:bookworm minbase, ${layers.length} layer(s), ${mb(compressed)} gzip, ` +
      `rootfs ${mb(rootfsBytes)}, manifest ${manifest.digest.slice(0, 19)}, host: ${execFileSync("uname", ["-r"], { encoding: "utf8" }).trim()}`,
  );
  const base = median(samples.get("containerd") ?? []);
  console.log(`${"tool".padEnd(14)}${"median".padStart(12)}${"min".padStart(12)}${"vs containerd".padStart(16)}`);
  for (const t of tools) {
    const xs = samples.get(t.name) ?? [];
    if (failed.has(t.name) || xs.length === 0) {
      console.log(`${t.name.padEnd(14)}${"failed".padStart(12)}`);
      continue;
    }
    const med = median(xs);
    console.log(
      `${t.name.padEnd(14)}${`${med.toFixed(0)} ms`.padStart(12)}${`${Math.min(...xs).toFixed(0)} ms`.padStart(12)}${(med / base).toFixed(2).padStart(16)}`,
    );
  }
} finally {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
}
if (failed.size > 0) process.exitCode = 1;
