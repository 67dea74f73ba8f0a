/**
 * `berth pull` and the image commands end to end: the berth CLI against Debian's docker-registry,
 * with images the tests build (umoci) and push (skopeo), the unpacked rootfs compared with
 * umoci's own unpack, and a store that stays consistent through failures.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import Database from "better-sqlite3";
import { tarBuffer } from "../../src/images/tar/index.js";
import { makeRootfs } from "../fixtures/busybox-bundle.js";
import {
  busyboxImage,
  diffTrees,
  expectedRootfs,
  layeredImage,
  MULTI_ARCH_PLATFORMS,
  multiArchImage,
  treeManifest,
} from "../fixtures/images.js";
import { startRegistry, type TestRegistry } from "../fixtures/registry.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, basename(resolve(here, "../..")) === "dist" ? "../../.." : "../..");
const BERTH = join(repo, "bin/berth");
const IS_ROOT = process.getuid?.() === 0;
const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const missing = ["docker-registry", "skopeo", "umoci"].filter((c) => !have(c));
const skip = !IS_ROOT
  ? "needs root (overlay mounts, owners)"
  : missing.length
    ? `needs ${missing.join(", ")} (scripts/setup.sh installs them)`
    : false;

let registry: TestRegistry | undefined;
async function reg(): Promise<TestRegistry> {
  registry ??= await startRegistry();
  return registry;
}
test.after(async () => {
  await registry?.stop();
});

function dataRoot(t: { after: (f: () => void | Promise<void>) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-images-"));
  t.after(() => {
    // unmount anything a failed test left, then remove
    for (const l of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      const p = l.split(" ")[4];
      if (p?.startsWith(dir)) spawnSync("umount", ["-l", p]);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/**
 * Run the berth CLI. Asynchronous on purpose: the registry's token server and the damaging proxies
 * live in this process, and a synchronous spawn would stop them from answering.
 */
function berth(
  root: string,
  args: string[],
  opts: { input?: string | Buffer; env?: Record<string, string> } = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const c = spawn(BERTH, ["--data-root", root, ...args], {
      env: { ...process.env, HOME: join(root, "home"), ...(opts.env ?? {}) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (b) => (stdout += b));
    c.stderr.on("data", (b) => (stderr += b));
    const timer = setTimeout(() => c.kill("SIGKILL"), 120_000);
    c.on("error", reject);
    c.on("close", (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr });
    });
    c.stdin.end(opts.input ?? "");
  });
}

async function ok(
  root: string,
  args: string[],
  opts: { input?: string | Buffer; env?: Record<string, string> } = {},
): Promise<string> {
  const r = await berth(root, args, opts);
  assert.equal(r.status, 0, `berth ${args.join(" ")}: exit ${r.status}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function fails(
  root: string,
  args: string[],
  pattern: RegExp,
  opts: { env?: Record<string, string> } = {},
): Promise<string> {
  const r = await berth(root, args, opts);
  assert.notEqual(r.status, 0, `berth ${args.join(" ")} should fail:\n${r.stdout}`);
  assert.match(r.stderr, pattern);
  return r.stderr;
}

async function imagesJson(root: string): Promise<Record<string, string>[]> {
  return (await ok(root, ["images", "--format", "json"]))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>);
}

/** The store holds nothing: no image, no blob, no snapshot dir, no ingest, no mount. */
async function assertEmptyStore(root: string): Promise<void> {
  assert.deepEqual(await imagesJson(root), []);
  const blobs = join(root, "content/blobs/sha256");
  assert.deepEqual(existsSync(blobs) ? readdirSync(blobs) : [], [], "no blobs left");
  const snaps = join(root, "snapshots");
  const dirs = existsSync(snaps) ? readdirSync(snaps).filter((n) => /^\d+$/.test(n)) : [];
  assert.deepEqual(dirs, [], "no snapshot dirs left");
  assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(root), "no mounts left under the data root");
}

async function sameAsUmoci(root: string, ref: string, layoutDir: string, unpackTag: string, scratch: string): Promise<void> {
  const mnt = (await ok(root, ["image", "mount", ref])).trim();
  assert.ok(statSync(mnt).isDirectory(), `mount path ${mnt}`);
  const bundle = join(
    scratch,
    `umoci-${createHash("sha256")
      .update(ref + Math.random())
      .digest("hex")
      .slice(0, 8)}`,
  );
  const expected = await expectedRootfs(layoutDir, unpackTag, bundle);
  const diff = diffTrees(treeManifest(expected), treeManifest(mnt));
  assert.deepEqual(diff, [], `berth's rootfs of ${ref} differs from umoci's:\n${diff.slice(0, 20).join("\n")}`);
  assert.equal((await ok(root, ["image", "mount", ref])).trim(), mnt, "mount is idempotent");
  await ok(root, ["image", "unmount", ref]);
  assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(mnt), "unmounted");
}

for (const [format, compression] of [
  ["oci", "gzip"],
  ["docker", "gzip"],
  ["oci", "zstd"],
  ["oci", "none"],
] as const) {
  test(`pull a ${format} image with ${compression} layers: listed, unpacked exactly as umoci does, removed without a trace`, {
    skip,
  }, async (t) => {
    const r = await reg();
    const img = await busyboxImage(r.host, `bb-${format}-${compression}`, "v1", { format, compression });
    const root = dataRoot(t);
    const out = await ok(root, ["pull", img.ref]);
    assert.match(out, new RegExp(`Digest: ${img.manifestDigest}`));
    const list = await imagesJson(root);
    assert.equal(list.length, 1);
    assert.equal(list[0]?.["Repository"], `${r.host}/bb-${format}-${compression}`);
    assert.equal(list[0]?.["Tag"], "v1");
    assert.equal(list[0]?.["ID"], img.configDigest.slice(7, 19));
    const inspect = JSON.parse(await ok(root, ["image", "inspect", img.ref])) as Record<string, unknown>[];
    assert.equal(inspect[0]?.["Id"], img.configDigest);
    const config = inspect[0]?.["Config"] as Record<string, unknown> | undefined;
    assert.deepEqual(config?.["Cmd"], ["sh"]);
    await sameAsUmoci(root, img.ref, img.layoutDir, img.unpackTag, root);
    // a second pull finds everything in place
    assert.match(await ok(root, ["pull", img.ref]), /Already exists/);
    assert.match(await ok(root, ["rmi", img.ref]), /Untagged: .*bb-.*:v1\nDeleted: sha256:/);
    await assertEmptyStore(root);
  });
}

test("a multi-arch index: the host's platform by default, --platform picks another, an absent one is a clear error", {
  skip,
}, async (t) => {
  const r = await reg();
  for (const format of ["oci", "docker"] as const) {
    const img = await multiArchImage(r.host, `multi-${format}`, "v1", { format });
    const root = dataRoot(t);
    await ok(root, ["pull", img.ref]);
    let mnt = (await ok(root, ["image", "mount", img.ref])).trim();
    assert.equal(readFileSync(join(mnt, "arch"), "utf8").trim(), "linux/amd64");
    await ok(root, ["image", "unmount", img.ref]);
    await ok(root, ["pull", "--platform", "linux/arm64", img.ref]);
    const arm = img.platforms.find((p) => p.platform.architecture === "arm64");
    assert.equal(JSON.parse(await ok(root, ["image", "inspect", img.ref]))[0]["Id"], arm?.configDigest);
    mnt = (await ok(root, ["image", "mount", img.ref])).trim();
    assert.equal(readFileSync(join(mnt, "arch"), "utf8").trim(), "linux/arm64/v8");
    await ok(root, ["image", "unmount", img.ref]);
    // the name moved to arm64: the amd64 image stays, as docker's <none>:<none>
    const ids = async () => (await imagesJson(root)).map((i) => `${i["Repository"]}:${i["Tag"]}@${i["ID"]}`);
    const before = await ids();
    assert.equal(before.length, 2);
    assert.ok(
      before.some((x) => x.startsWith("<none>:<none>@")),
      before.join(", "),
    );
    await fails(
      root,
      ["pull", "--platform", "linux/riscv64", `${r.host}/multi-${format}:v1`],
      /no image for linux\/riscv64.*linux\/amd64/,
    );
    assert.deepEqual(await ids(), before, "the failed pull recorded nothing");
    await ok(root, ["rmi", img.ref]);
    await ok(root, ["rmi", (await imagesJson(root))[0]?.["ID"] as string]);
    await assertEmptyStore(root);
  }
  assert.equal(MULTI_ARCH_PLATFORMS.length, 3);
});

test("a layered image with whiteouts, an opaque dir, hard links and special files unpacks as umoci does", { skip }, async (t) => {
  const r = await reg();
  const img = await layeredImage(r.host, "layered", "v1");
  const root = dataRoot(t);
  await ok(root, ["pull", img.ref]);
  await sameAsUmoci(root, img.ref, img.layoutDir, img.unpackTag, root);
  // the native (copy) snapshotter gives the same tree
  const root2 = dataRoot(t);
  await ok(root2, ["--snapshotter", "native", "pull", img.ref]);
  await sameAsUmoci(root2, img.ref, img.layoutDir, img.unpackTag, root2);
});

/** A tiny HTTP proxy in front of the registry that can damage blob responses. */
async function proxy(target: string, damage: (req: http.IncomingMessage, body: Buffer) => Buffer | "cut" | undefined) {
  const ranges: string[] = [];
  const server = http.createServer((req, res) => {
    if (req.headers.range) ranges.push(req.headers.range);
    const up = http.request(
      `http://${target}${req.url}`,
      { method: req.method, headers: { ...req.headers, host: target } },
      (ur) => {
        const parts: Buffer[] = [];
        ur.on("data", (c: Buffer) => parts.push(c));
        ur.on("end", () => {
          const body = Buffer.concat(parts);
          const d = ur.statusCode === 200 || ur.statusCode === 206 ? damage(req, body) : undefined;
          if (d === "cut") {
            res.writeHead(ur.statusCode ?? 200, { ...ur.headers });
            // flush half of the body, then drop the connection
            res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
            return;
          }
          res.writeHead(ur.statusCode ?? 200, { ...ur.headers });
          res.end(d ?? body);
        });
      },
    );
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { host, ranges, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test("a registry that stops mid-blob: the pull fails cleanly, records nothing, and a retry resumes with Range", {
  skip,
}, async (t) => {
  const r = await reg();
  const img = await busyboxImage(r.host, "cut", "v1");
  const layer = img.layers[0]?.digest as string;
  let cuts = 0;
  const p = await proxy(r.host, (req) => (req.url?.includes(`/blobs/${layer}`) && cuts++ < 50 ? "cut" : undefined));
  t.after(() => p.close());
  const root = dataRoot(t);
  const ref = `${p.host}/cut:v1`;
  const why = await fails(root, ["pull", ref], /cut|closed|reset|premature|socket|aborted/i);
  assert.ok(p.ranges.length > 0, `the client retried with Range before giving up (saw none; it said ${why})`);
  assert.deepEqual(await imagesJson(root), [], "no image recorded");
  const ingest = readdirSync(join(root, "content/ingest")).filter((n) => n.endsWith(".data"));
  assert.equal(ingest.length, 1, "the partial layer is kept for a resume");
  cuts = 1000; // healthy from now on
  await ok(root, ["pull", ref]);
  assert.ok(
    p.ranges.some((x) => /^bytes=[1-9]\d*-/.test(x)),
    `the retry resumed with a Range request (saw ${JSON.stringify(p.ranges)})`,
  );
  await sameAsUmoci(root, ref, img.layoutDir, img.unpackTag, root);
});

test("corrupt content: a digest mismatch on a blob fails the pull with a clear error and leaves no image or snapshot", {
  skip,
}, async (t) => {
  const r = await reg();
  const img = await busyboxImage(r.host, "corrupt", "v1");
  const layer = img.layers[0]?.digest as string;
  const p = await proxy(r.host, (req, body) => {
    if (!req.url?.includes(`/blobs/${layer}`)) return undefined;
    const b = Buffer.from(body);
    b[b.length - 100] = (b[b.length - 100] ?? 0) ^ 0xff;
    return b;
  });
  t.after(() => p.close());
  const root = dataRoot(t);
  await fails(root, ["pull", `${p.host}/corrupt:v1`], /verification failed|digest|corrupt/);
  assert.deepEqual(await imagesJson(root), []);
  const snaps = join(root, "snapshots");
  assert.deepEqual(existsSync(snaps) ? readdirSync(snaps).filter((n) => /^\d+$/.test(n)) : [], [], "no snapshot left");
  assert.ok(!existsSync(join(root, "content/blobs", ...layer.split(":"))), "the bad blob is not in the store");
});

/** Push a one-layer image of raw layer bytes (any content, hostile included) and return its ref. */
async function pushRaw(
  r: TestRegistry,
  name: string,
  layer: Buffer,
  mediaType: string,
  diffId: string,
  configType?: string,
): Promise<string> {
  const l = await r.pushBlob(name, layer);
  const config = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [diffId] } }),
  );
  const c = await r.pushBlob(name, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: configType ?? "application/vnd.oci.image.config.v1+json", digest: c.digest, size: c.size },
      layers: [{ mediaType, digest: l.digest, size: l.size }],
    }),
  );
  await r.pushManifest(name, "v1", manifest, "application/vnd.oci.image.manifest.v1+json");
  return `${r.host}/${name}:v1`;
}

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

test("hostile and broken layers are refused end to end: traversal, corrupt gzip, wrong diff ID, not an image", {
  skip,
}, async (t) => {
  const r = await reg();
  const root = dataRoot(t);
  const canary = mkdtempSync(join(tmpdir(), "berth-canary-"));
  t.after(() => rmSync(canary, { recursive: true, force: true }));
  const traversal = tarLayer([{ name: `../../../../../../../../..${canary}/escaped`, body: "pwned" }]);
  let ref = await pushRaw(
    r,
    "evil-traversal",
    gzipSync(traversal),
    "application/vnd.oci.image.layer.v1.tar+gzip",
    sha(traversal),
  );
  await fails(root, ["pull", ref], /escaped|outside|\.\./);
  assert.deepEqual(readdirSync(canary), [], "nothing written outside the snapshot");
  const good = tarLayer([{ name: "hello", body: "hello" }]);
  const gz = gzipSync(good);
  ref = await pushRaw(
    r,
    "truncated-gzip",
    gz.subarray(0, gz.length - 30),
    "application/vnd.oci.image.layer.v1.tar+gzip",
    sha(good),
  );
  await fails(root, ["pull", ref], /gzip.*corrupt or truncated|unexpected end|truncated/);
  ref = await pushRaw(r, "wrong-diffid", gz, "application/vnd.oci.image.layer.v1.tar+gzip", sha(Buffer.from("other")));
  await fails(root, ["pull", ref], /diff.?id/i);
  ref = await pushRaw(
    r,
    "artifact",
    gz,
    "application/vnd.oci.image.layer.v1.tar+gzip",
    sha(good),
    "application/vnd.example.thing+json",
  );
  await fails(root, ["pull", ref], /not a container image/);
  await fails(root, ["pull", `${r.host}/does-not-exist:v1`], /not found|unknown|no such/i);
  assert.deepEqual(await imagesJson(root), []);
});

/** A tar built with this repo's writer (entries are files). */
function tarLayer(entries: { name: string; body: string }[]): Buffer {
  return tarBuffer(entries.map((e) => ({ header: { name: e.name, mode: 0o644 }, body: e.body })));
}

test("save: oci-dir, oci-archive and docker-archive are read by skopeo; load reads what skopeo writes", { skip }, async (t) => {
  const r = await reg();
  const img = await busyboxImage(r.host, "saveme", "v1");
  const root = dataRoot(t);
  await ok(root, ["pull", img.ref]);
  const out = join(root, "out");
  mkdirSync(out);
  await ok(root, ["save", "--format", "oci-dir", "-o", join(out, "layout"), img.ref]);
  await ok(root, ["save", "--format", "oci-archive", "-o", join(out, "oci.tar"), img.ref]);
  await ok(root, ["save", "-o", join(out, "docker.tar"), img.ref]);
  for (const src of [
    `oci:${join(out, "layout")}:v1`,
    `oci-archive:${join(out, "oci.tar")}:v1`,
    `docker-archive:${join(out, "docker.tar")}`,
  ]) {
    const dst = join(out, `copy-${basename(src.split(":")[1] as string)}`);
    const c = spawnSync("skopeo", ["copy", src, `dir:${dst}`], { encoding: "utf8" });
    assert.equal(c.status, 0, `skopeo copy ${src}: ${c.stderr}`);
    const cfg = JSON.parse(readFileSync(join(dst, "manifest.json"), "utf8")).config.digest;
    assert.equal(cfg, img.configDigest, `${src} keeps the image config`);
  }
  // load into a fresh store: our own archives and skopeo's
  for (const [file, args] of [
    [join(out, "docker.tar"), []],
    [join(out, "oci.tar"), []],
  ] as const) {
    const root2 = dataRoot(t);
    assert.match(await ok(root2, ["load", "-i", file, ...args]), /Loaded image: .*saveme:v1/);
    await sameAsUmoci(root2, img.ref, img.layoutDir, img.unpackTag, root2);
  }
  for (const dst of [
    `docker-archive:${join(out, "sk-docker.tar")}:saveme:v2`,
    `oci-archive:${join(out, "sk-oci.tar")}:localhost/saveme:v2`,
  ]) {
    const c = spawnSync("skopeo", ["copy", "--src-tls-verify=false", `docker://${img.ref}`, dst], { encoding: "utf8" });
    assert.equal(c.status, 0, c.stderr);
    const root2 = dataRoot(t);
    const loaded = await ok(root2, ["load", "-i", dst.split(":")[1] as string]);
    assert.match(loaded, /Loaded image: (docker\.io\/library\/|localhost\/)?saveme:v2/);
    const name = loaded.trim().split("Loaded image: ")[1] as string;
    await sameAsUmoci(root2, name, img.layoutDir, img.unpackTag, root2);
  }
});

test("import: a rootfs tarball becomes a one-layer image with the given name and changes", { skip }, async (t) => {
  const root = dataRoot(t);
  const rootfs = join(root, "rootfs");
  makeRootfs(rootfs);
  const tarFile = join(root, "rootfs.tar.gz");
  assert.equal(spawnSync("tar", ["-C", rootfs, "-czf", tarFile, "."]).status, 0);
  const id = (await ok(root, ["import", "--change", 'CMD ["sh"]', "--change", "ENV A=b", tarFile, "local/imported:v1"])).trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  const inspect = JSON.parse(await ok(root, ["image", "inspect", "local/imported:v1"]))[0];
  assert.equal(inspect.Id, id);
  assert.deepEqual(inspect.Config.Cmd, ["sh"]);
  assert.deepEqual(inspect.Config.Env, ["A=b"]);
  const mnt = (await ok(root, ["image", "mount", "local/imported:v1"])).trim();
  const diff = diffTrees(treeManifest(rootfs), treeManifest(mnt));
  assert.deepEqual(diff, [], diff.join("\n"));
  await ok(root, ["image", "unmount", "local/imported:v1"]);
  await fails(root, ["rmi", "nope:latest"], /no such image/);
  // a tag, then rmi by ID needs -f when two repositories name it
  await ok(root, ["tag", "local/imported:v1", "other/name:v2"]);
  await fails(root, ["rmi", id.slice(7, 19)], /must be forced/);
  assert.match(
    await ok(root, ["rmi", "-f", id.slice(7, 19)]),
    /Untagged: local\/imported:v1[\s\S]*Untagged: other\/name:v2[\s\S]*Deleted/,
  );
  await assertEmptyStore(root);
});

test("two concurrent pulls of one image into one store both succeed and share the content", { skip }, async (t) => {
  const r = await reg();
  const img = await layeredImage(r.host, "concurrent", "v1");
  const root = dataRoot(t);
  const run = () =>
    new Promise<{ code: number | null; err: string }>((res) => {
      const c = spawn(BERTH, ["--data-root", root, "pull", "-q", img.ref], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      c.stderr.on("data", (b) => (err += b));
      c.on("close", (code) => res({ code, err }));
    });
  const results = await Promise.all([run(), run(), run()]);
  for (const x of results) assert.equal(x.code, 0, x.err);
  assert.equal((await imagesJson(root)).length, 1);
  await sameAsUmoci(root, img.ref, img.layoutDir, img.unpackTag, root);
  await ok(root, ["rmi", img.ref]);
  await assertEmptyStore(root);
});

test("auth: Basic and Bearer-token registries need berth login; bad credentials are refused clearly", { skip }, async (t) => {
  for (const auth of ["basic", "token"] as const) {
    const r = await startRegistry({ auth });
    t.after(() => r.stop());
    const [user, pass] = Object.entries(r.users)[0] as [string, string];
    const img = await busyboxImage(r.host, `private-${auth}`, "v1", { creds: `${user}:${pass}` });
    const root = dataRoot(t);
    mkdirSync(join(root, "home"), { recursive: true });
    await fails(root, ["pull", img.ref], /authentication required|unauthorized|access denied/i);
    await fails(root, ["login", "-u", user, "-p", "wrong", r.host], /unauthorized|authentication|denied|incorrect|rejected/i);
    await ok(root, ["login", "-u", user, "--password-stdin", r.host], { input: `${pass}\n` });
    await ok(root, ["pull", img.ref]);
    assert.equal((await imagesJson(root)).length, 1);
    await ok(root, ["logout", r.host]);
    await ok(root, ["rmi", img.ref]);
    await fails(root, ["pull", img.ref], /authentication required|unauthorized|access denied/i);
    // docker's config.json is read too
    const dockerDir = join(root, "docker");
    mkdirSync(dockerDir);
    writeFileSync(
      join(dockerDir, "config.json"),
      JSON.stringify({ auths: { [r.host]: { auth: Buffer.from(`${user}:${pass}`).toString("base64") } } }),
    );
    await ok(root, ["pull", img.ref], { env: { DOCKER_CONFIG: dockerDir } });
  }
});

test("a pull killed mid-layer (SIGKILL) leaves no image; the next pull sweeps its leftovers and resumes", { skip }, async (t) => {
  const r = await reg();
  const img = await layeredImage(r.host, "killed", "v1");
  const base = img.layers[0]?.digest as string;
  let slow = true;
  let started: () => void = () => {};
  const midBlob = new Promise<void>((res) => (started = res));
  // drip the base layer slowly so the pull is caught in the middle of it
  const server = http.createServer((req, res) => {
    const up = http.request(
      `http://${r.host}${req.url}`,
      { method: req.method, headers: { ...req.headers, host: r.host } },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (!(slow && req.url?.includes(`/blobs/${base}`))) return void ur.pipe(res);
        ur.on("data", (c: Buffer) => {
          ur.pause();
          res.write(c, () => {
            started();
            setTimeout(() => ur.resume(), 200);
          });
        });
        ur.on("end", () => res.end());
      },
    );
    req.pipe(up);
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  t.after(() => new Promise<void>((res) => server.close(() => res())));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const root = dataRoot(t);
  const child = spawn(BERTH, ["--data-root", root, "pull", "-q", `${host}/killed:v1`], { stdio: "ignore" });
  await midBlob;
  await new Promise((res) => setTimeout(res, 500));
  child.kill("SIGKILL");
  await new Promise((res) => child.on("close", res));
  slow = false;
  assert.deepEqual(await imagesJson(root), [], "a killed pull records nothing");
  await ok(root, ["pull", `${host}/killed:v1`]);
  const db = new Database(join(root, "metadata.db"), { readonly: true });
  const leftovers = db.prepare("SELECT key FROM snapshots WHERE key LIKE 'extract-%'").all();
  db.close();
  assert.deepEqual(leftovers, [], "the killed pull's active snapshots were swept");
  await sameAsUmoci(root, `${host}/killed:v1`, img.layoutDir, img.unpackTag, root);
  await ok(root, ["rmi", `${host}/killed:v1`]);
  await assertEmptyStore(root);
});
