// The image commands through berthd (docker's model): a real daemon on a temp data root, an image
// pushed to a local docker-registry, and `berth -H` for pull, images, inspect, tag, rmi, save,
// load, import, image mount and prune, each checked against what berthd's store then holds.
// Root only (overlay mounts, namespaces for the container run).
import assert from "node:assert/strict";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BERTH, TestDaemon } from "../fixtures/berthd.js";
import { makeRootfs } from "../fixtures/busybox-bundle.js";
import { busyboxImage, type PushedImage } from "../fixtures/images.js";
import { registryUnavailable, startRegistry, type TestRegistry } from "../fixtures/registry.js";

const root = process.getuid?.() === 0;
const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const missing = ["skopeo", "umoci"].filter((c) => !have(c));
const skip = !root
  ? "needs root (overlay mounts, namespaces)"
  : (registryUnavailable() ?? (missing.length ? `needs ${missing.join(", ")} (scripts/setup.sh installs them)` : false));

// a subnet and bridge of the test's own, so the host's networks are never touched; no busybox import:
// the images come from the registry
const td = new TestDaemon({
  prefix: "berthd-images-test-",
  subnet: "10.231.80.0/24",
  bridge: `bi${process.pid % 100000}`,
  busybox: false,
});
let registry: TestRegistry | undefined;
let pushed: PushedImage | undefined;
/** "127.0.0.1:PORT/remote/bb:v1" */
let IMG = "";

// the in-process listing below gets the environment the fixture gives its CLI: no BERTH_HOST, no BERTH_DATA_ROOT
const env = { ...process.env };
delete env.BERTH_HOST;
delete env.BERTH_DATA_ROOT;
const env0 = env;

/** A command with `env`, asynchronously (the registry's token server may answer from this process). */
function runAsync(cmd: string, args: string[], e: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: e, encoding: "utf8" }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** The berth CLI through the test's berthd, by -H alone (async: the registry answers from this process's children). */
const berth = (args: string[], input?: string | Buffer) => td.berth(args, input);
const ok = (args: string[], input?: string | Buffer) => td.ok(args, input);

async function fails(args: string[], pattern: RegExp): Promise<string> {
  const r = await berth(args);
  assert.notEqual(r.code, 0, `berth ${args.join(" ")} should fail:\n${r.stdout}`);
  assert.match(r.stderr, pattern);
  return r.stderr;
}

/** A raw API call on berthd's socket: status and body. */
function api(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: td.sock, method, path, headers: { Host: "berthd", ...headers } }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (s: string) => {
        body += s;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function imagesJson(args: string[] = []): Promise<Array<Record<string, string>>> {
  return (await ok(["images", "--format", "json", ...args]))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>);
}

describe("image commands through berthd", { skip, concurrency: false }, () => {
  before(async () => {
    registry = await startRegistry();
    pushed = await busyboxImage(registry.host, "remote/bb", "v1");
    IMG = pushed.ref;
    await td.setup();
  });

  after(async () => {
    try {
      await td.teardown();
    } finally {
      await registry?.stop();
    }
  });

  test("pull: docker's plain progress lines without a terminal, then up to date", async () => {
    const p = pushed as PushedImage;
    const out = await ok(["pull", IMG]);
    const lines = out.trimEnd().split("\n");
    assert.equal(lines[0], "v1: Pulling from remote/bb");
    const layer = (p.layers[0]?.digest ?? "").slice(7, 19);
    assert.ok(lines.includes(`${layer}: Waiting`), out);
    assert.ok(
      lines.some((l) => new RegExp(`^${layer}: Downloading \\d+(\\.\\d+)?[kM]?B$`).test(l)),
      out,
    );
    assert.ok(lines.includes(`${layer}: Pull complete`), out);
    assert.ok(lines.includes(`Digest: ${p.manifestDigest}`), out);
    assert.ok(lines.includes(`Status: Downloaded newer image for ${IMG}`), out);
    assert.equal(lines.at(-1), IMG, "the full name last");
    assert.doesNotMatch(out, /\x1b\[/, "no terminal control sequences");

    const again = await ok(["pull", IMG]);
    assert.match(again, new RegExp(`^${layer}: Already exists$`, "m"));
    assert.match(again, new RegExp(`^Status: Image is up to date for ${IMG.replace(/\./g, "\\.")}$`, "m"));
    assert.doesNotMatch(again, /Downloading/);

    // the image is in berthd's store, not in one of the CLI's own
    assert.ok(existsSync(join(td.dataRoot, "content/blobs", ...(p.layers[0]?.digest ?? "").split(":"))));
  });

  test("pull of a missing tag: berthd's 404, a clear error, exit 1", async () => {
    const r = await berth(["pull", `${(registry as TestRegistry).host}/remote/bb:nope`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^Error: .*(not found|unknown)/im);
    const q = new URLSearchParams({ fromImage: `${(registry as TestRegistry).host}/remote/bb:nope` });
    assert.equal((await api("POST", `/images/create?${q}`)).status, 404);
  });

  test("images: the pulled image, and the same table as berth prints in-process", async () => {
    const p = pushed as PushedImage;
    const list = await imagesJson();
    const row = list.find((i) => i.Repository === `${(registry as TestRegistry).host}/remote/bb`);
    assert.ok(row, JSON.stringify(list));
    assert.equal(row.Tag, "v1");
    assert.equal(row.ID, p.configDigest.slice(7, 19));
    assert.equal(row.Digest, p.manifestDigest);
    assert.notEqual(row.CreatedSince, "N/A");
    // the same rows as berth reads the store in-process (CreatedSince left out: it moves with the clock)
    const rows = (text: string) =>
      text
        .split("\n")
        .filter(Boolean)
        .map((l) => ({ ...(JSON.parse(l) as Record<string, string>), CreatedSince: "" }));
    const local = execFileSync(
      process.execPath,
      [BERTH, "--data-root", td.dataRoot, "images", "--format", "json", "--no-trunc"],
      {
        encoding: "utf8",
        env,
      },
    );
    assert.deepEqual(rows(await ok(["images", "--format", "json", "--no-trunc"])), rows(local));
    assert.equal((await ok(["images", "-q"])).trim(), p.configDigest.slice(7, 19));
  });

  test("image inspect: docker's shape, and No such image for an unknown one", async () => {
    const p = pushed as PushedImage;
    const [img] = JSON.parse(await ok(["image", "inspect", IMG])) as Array<Record<string, unknown>>;
    assert.equal(img?.Id, p.configDigest);
    assert.deepEqual(img?.RepoTags, [IMG]);
    assert.equal((img?.Descriptor as { digest?: string } | undefined)?.digest, p.manifestDigest);
    const r = await berth(["image", "inspect", "nothing-here:v9"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trim(), "[]");
    assert.match(r.stderr, /No such image: nothing-here:v9/);
  });

  test("run a container from the pulled image", async () => {
    assert.equal(await ok(["run", "--rm", "--network", "none", IMG, "echo", "hi"]), "hi\n");
  });

  test("rmi is refused (409) while a container made from the image exists", async () => {
    const id = (await ok(["create", "--network", "none", IMG, "true"])).trim();
    const err = await fails(["rmi", IMG], /is being used by container/);
    assert.match(err, new RegExp(id.slice(0, 12)));
    const res = await api("DELETE", `/images/${IMG}`);
    assert.equal(res.status, 409);
    assert.match(JSON.parse(res.body).message, /is being used by container/);
    assert.equal((await api("DELETE", "/images/nothing-here:v9")).status, 404);
    await ok(["rm", id]);
    assert.equal((await imagesJson()).length, 1, "the image is still there");
  });

  test("tag: new names for the image, listed and usable", async () => {
    const p = pushed as PushedImage;
    await ok(["tag", IMG, "mine:latest"]);
    await ok(["tag", IMG, `${(registry as TestRegistry).host}/remote/bb:other`]);
    const names = (await imagesJson()).map((i) => `${i.Repository}:${i.Tag}`).sort();
    assert.deepEqual(names, [`${(registry as TestRegistry).host}/remote/bb:other`, IMG, "mine:latest"].sort());
    const [img] = JSON.parse(await ok(["image", "inspect", "mine"])) as Array<{ Id: string }>;
    assert.equal(img?.Id, p.configDigest);
    await fails(["tag", "nothing-here:v9", "x:y"], /nothing-here/);
    const rmi = await ok(["rmi", `${(registry as TestRegistry).host}/remote/bb:other`]);
    assert.equal(rmi, `Untagged: ${(registry as TestRegistry).host}/remote/bb:other\n`);
  });

  test("save | load round trip: docker-archive on stdout, oci-archive and oci-dir with -o", async () => {
    const p = pushed as PushedImage;
    const saved = await berth(["save", "mine:latest"]);
    assert.equal(saved.code, 0, saved.stderr);
    const tar = join(td.dir, "mine.tar");
    writeFileSync(tar, saved.raw);
    assert.match(execFileSync("tar", ["-tf", tar], { encoding: "utf8" }), /^manifest\.json$/m);
    const oci = join(td.dir, "mine-oci.tar");
    await ok(["save", "--format", "oci-archive", "-o", oci, IMG]);
    const layout = join(td.dir, "mine-layout");
    await ok(["save", "--format", "oci-dir", "-o", layout, IMG]);
    assert.ok(statSync(join(layout, "index.json")).isFile());
    assert.ok(existsSync(join(layout, "blobs/sha256", p.manifestDigest.slice(7))));

    const rm = await ok(["rmi", "mine:latest", IMG]);
    assert.match(rm, new RegExp(`^Deleted: ${p.configDigest}$`, "m"));
    assert.deepEqual(await imagesJson(), []);

    assert.equal(await ok(["load"], saved.raw), "Loaded image: mine:latest\n");
    assert.equal(await ok(["load", "-i", oci]), `Loaded image: ${IMG}\n`);
    assert.equal(await ok(["rmi", IMG]), `Untagged: ${IMG}\n`);
    assert.equal(await ok(["load", "-i", layout]), `Loaded image: ${IMG}\n`);
    const list = await imagesJson();
    assert.deepEqual(list.map((i) => `${i.Repository}:${i.Tag}`).sort(), [IMG, "mine:latest"].sort());
    assert.ok(list.every((i) => i.ID === p.configDigest.slice(7, 19)));
    assert.equal(await ok(["run", "--rm", "--network", "none", "mine", "echo", "loaded"]), "loaded\n");
    await fails(["save", "nothing-here:v9"], /nothing-here/);
    await fails(["load"], /./);
  });

  test("import: a rootfs tarball (file and stdin) with --change and a message", async () => {
    const rootfs = join(td.dir, "rootfs");
    makeRootfs(rootfs);
    const tar = join(td.dir, "rootfs.tar");
    execFileSync("tar", ["-C", rootfs, "-cf", tar, "."]);
    const id = (await ok(["import", "--change", 'CMD ["echo", "imported"]', "-m", "from a tarball", tar, "imported:v1"])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const [img] = JSON.parse(await ok(["image", "inspect", "imported:v1"])) as Array<{
      Id: string;
      Comment: string;
      Config: { Cmd: string[] };
    }>;
    assert.equal(img?.Id, id);
    assert.equal(img?.Comment, "from a tarball");
    assert.deepEqual(img?.Config.Cmd, ["echo", "imported"]);
    assert.equal(await ok(["run", "--rm", "--network", "none", "imported:v1"]), "imported\n");
    const fromStdin = (await ok(["import", "-", "imported:stdin"], readFileSync(tar))).trim();
    assert.match(fromStdin, /^sha256:/);
    await fails(["import", "--change", "FROM x", tar, "bad:v1"], /cannot be applied on import/);
    await fails(["import", join(td.dir, "no-such.tar"), "bad:v1"], /no-such\.tar|ENOENT/);
    assert.ok(!(await imagesJson()).some((i) => i.Repository === "bad"));
  });

  test("image mount and unmount through berthd", async () => {
    const path = (await ok(["image", "mount", "mine"])).trim();
    assert.ok(existsSync(join(path, "bin/busybox")), `${path} shows the image's rootfs`);
    // podman's listing: one of the image's names, then where it is mounted
    const listed = (await ok(["image", "mount"])).trim().split(" ");
    assert.ok(["mine:latest", IMG].includes(listed[0] as string), listed.join(" "));
    assert.equal(listed[1], path);
    assert.equal(await ok(["image", "unmount", "mine"]), "mine\n");
    assert.equal((await ok(["image", "mount"])).trim(), "");
    assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(path), "unmounted");
  });

  test("pull from a registry with a login: the CLI's own credentials go to berthd as X-Registry-Auth", async (t) => {
    const why = registryUnavailable({ auth: "basic" });
    if (why) return t.skip(why);
    const reg = await startRegistry({ auth: "basic" });
    const home = mkdtempSync(join(td.dir, "home-"));
    try {
      const [user, pass] = Object.entries(reg.users)[0] as [string, string];
      const img = await busyboxImage(reg.host, "private/bb", "v1", { creds: `${user}:${pass}` });
      // the CLI with its own HOME (no credentials of the test user's), berthd with none at all
      const env = { ...env0, HOME: home, DOCKER_CONFIG: join(home, ".docker") };
      const pull = () => runAsync(process.execPath, [BERTH, "-H", `unix://${td.sock}`, "pull", img.ref], env);
      const denied = await pull();
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /authentication required|unauthorized|access denied/i);
      mkdirSync(join(home, ".docker"));
      writeFileSync(
        join(home, ".docker", "config.json"),
        JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${user}:${pass}`).toString("base64") } } }),
      );
      const pulled = await pull();
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.ok((await imagesJson()).some((i) => i.Repository === `${reg.host}/private/bb`));
      // a header that is not base64 JSON is the client's error
      const bad = await api("POST", `/images/create?fromImage=${encodeURIComponent(img.ref)}`, { "X-Registry-Auth": "%%%" });
      assert.equal(bad.status, 400, bad.body);
      assert.match(bad.body, /X-Registry-Auth/);
      await ok(["rmi", img.ref]);
    } finally {
      await reg.stop();
    }
  });

  test("prune: rmi of everything, then the store is empty", async () => {
    const names = (await imagesJson()).map((i) => (i.Repository === "<none>" ? String(i.ID) : `${i.Repository}:${i.Tag}`));
    await ok(["rmi", "-f", ...names]);
    assert.deepEqual(await imagesJson(), []);
    const out = await ok(["image", "prune"]);
    assert.match(out, /^Deleted \d+ blobs and \d+ snapshots\nTotal reclaimed space: \S+\n$/);
    const blobs = join(td.dataRoot, "content/blobs/sha256");
    assert.deepEqual(existsSync(blobs) ? readdirSync(blobs) : [], [], "no blobs left");
    const events = await ok([
      "events",
      "--since",
      "0",
      "--until",
      String(Date.now() / 1000 + 0.5),
      "--filter",
      "type=image",
      "--format",
      "json",
    ]);
    const actions = new Set(
      events
        .split("\n")
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { Action: string }).Action),
    );
    for (const action of ["pull", "tag", "untag", "delete", "load", "import", "save", "prune"])
      assert.ok(actions.has(action), `an image ${action} event in ${[...actions].join(", ")}`);
  });
});
