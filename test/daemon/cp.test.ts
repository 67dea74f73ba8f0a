// berth cp through berthd (docker's /containers/{id}/archive), with the container taken as hostile:
// copies out of and into running and stopped containers, tar streams, and containers whose
// symlinks (and racing renames) try to lead a copy onto the host. Root only (mounts, containers).
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ConfinedFs } from "../../src/daemon/archive.js";
import { readTar, TarWriter, tarBuffer } from "../../src/images/tar/index.js";
import { TestDaemon, waitFor } from "../fixtures/berthd.js";

const root = process.getuid?.() === 0;
const skip = root ? false : "needs root (mounts, containers)";

describe("ConfinedFs against a racing rename (no container, no pause)", { skip }, () => {
  test("a directory swapped for symlinks out of the root never lets an extraction write outside", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-cp-race-"));
    const outside = join(dir, "outside");
    const rootfs = join(dir, "rootfs");
    mkdirSync(outside);
    writeFileSync(join(outside, "secret"), "host\n");
    mkdirSync(join(rootfs, "d"), { recursive: true });
    // both kinds of escape: an absolute link to the outside's host path, a relative one climbing to it
    const racer = spawn(
      "sh",
      ["-c", `cd ${rootfs}; while :; do mv d d.real; ln -s ${outside} d; rm d; ln -s ../../outside d; rm d; mv d.real d; done`],
      // its own process group: the mv/ln/rm it runs die with it
      { stdio: "ignore", detached: true },
    );
    try {
      const tar = tarBuffer([
        { header: { name: "sub/", type: "directory" } },
        { header: { name: "sub/f" }, body: "payload\n" },
        { header: { name: "g" }, body: "payload\n" },
      ]);
      const fs = new ConfinedFs({ rootfs });
      let ok = 0;
      try {
        for (let i = 0; i < 300; i++) {
          try {
            await fs.extract("/d", [tar], { owner: { uid: 0, gid: 0 } });
            ok++;
          } catch {
            // the directory was away at that moment: a failed copy is fine, an escape is not
          }
          // reading races the same way: the outside's secret is never archived
          let archived: ReturnType<ConfinedFs["archive"]>;
          try {
            archived = fs.archive("/d/.");
          } catch {
            continue; // away at that moment
          }
          try {
            const w = new TarWriter();
            const names: string[] = [];
            const listing = (async () => {
              for await (const e of readTar(w.stream)) names.push(e.header.name);
            })();
            try {
              await archived.write(w);
              await w.finish();
            } catch (e) {
              w.abort(e as Error);
            }
            await listing.catch(() => {});
            assert.equal(
              names.some((n) => n.includes("secret")),
              false,
            );
          } finally {
            archived.close();
          }
        }
      } finally {
        fs.close();
      }
      assert.ok(ok > 0, "some extractions landed");
      assert.deepEqual(readdirSync(outside), ["secret"]);
    } finally {
      const exited = new Promise((r) => racer.once("exit", r));
      // the whole group: killing sh alone left a running `ln -s` to recreate d under the rmSync
      if (racer.pid) process.kill(-racer.pid, "SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    }
  });

  test("stat and archive resolve symlinks inside the root (chroot semantics), never on the host", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-cp-root-"));
    try {
      const rootfs = join(dir, "rootfs");
      mkdirSync(join(rootfs, "etc"), { recursive: true });
      writeFileSync(join(rootfs, "etc/hostname"), "container\n");
      symlinkSync("/", join(rootfs, "etc/evil"));
      symlinkSync("../../../../../../etc", join(rootfs, "up"));
      const fs = new ConfinedFs({ rootfs });
      try {
        assert.equal(fs.stat("/etc/evil/etc/hostname").size, "container\n".length);
        assert.equal(fs.stat("/up/hostname").size, "container\n".length);
        assert.equal(fs.stat("/etc/evil").linkTarget, "/");
        assert.equal(fs.stat("/up").linkTarget, "/etc");
        assert.throws(() => fs.stat("/etc/evil/etc/shadow"), { name: "BerthError", message: /no such file/ });
      } finally {
        fs.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("berth cp", { skip, concurrency: false }, () => {
  const td = new TestDaemon({ prefix: "berth-cp-test-", subnet: "10.231.79.0/24", bridge: `bcp${process.pid % 100000}` });
  const berth = (args: string[], input?: Buffer | string) => td.berth(args, input);
  const ok = (args: string[], input?: Buffer | string) => td.ok(args, input);
  // a host directory the containers' symlinks aim at: it must stay empty
  const hostTarget = () => join(td.dir, "host-target");

  /** a running container whose command first ran `setup`, then sleeps */
  async function running(name: string, setup: string, extra: string[] = []): Promise<string> {
    const id = (
      await ok([
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        name,
        ...extra,
        "busybox",
        "sh",
        "-c",
        `${setup}; touch /ready; exec sleep 1000`,
      ])
    ).trim();
    await waitFor(`${name} ready`, async () => (await berth(["exec", id, "test", "-e", "/ready"])).code === 0);
    return id;
  }

  /** PUT a raw tar to the archive endpoint: the status and message */
  function put(id: string, path: string, body: Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: td.sock,
        method: "PUT",
        path: `/containers/${id}/archive?path=${encodeURIComponent(path)}`,
        headers: { Host: "berthd", "Content-Type": "application/x-tar", "Content-Length": body.length },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (s: string) => {
          text += s;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.end(body);
    });
  }

  function head(id: string, path: string): Promise<{ status: number; stat?: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: td.sock,
        method: "HEAD",
        path: `/containers/${id}/archive?path=${encodeURIComponent(path)}`,
        headers: { Host: "berthd" },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        res.resume();
        const raw = res.headers["x-docker-container-path-stat"];
        resolve({
          status: res.statusCode ?? 0,
          ...(typeof raw === "string" ? { stat: JSON.parse(Buffer.from(raw, "base64").toString("utf8")) } : {}),
        });
      });
      req.end();
    });
  }

  const mountedUnder = (p: string) => readFileSync("/proc/self/mountinfo", "utf8").includes(` ${p} `);

  before(async () => {
    await td.setup();
    mkdirSync(hostTarget(), { recursive: true });
  });

  after(() => td.teardown());

  test("a running container: files and directories out and in, modes and symlinks kept, `-` tar streams", async () => {
    const id = await running(
      "cp-run",
      "mkdir -p /data/sub && echo hello > /data/sub/f && chmod 640 /data/sub/f && ln -s f /data/sub/l && echo top > /data/t",
    );
    const out = join(td.dir, "out1");
    mkdirSync(out);
    // a file to a new name, a file into a directory
    await ok(["cp", `${id}:/data/sub/f`, join(out, "copy")]);
    assert.equal(readFileSync(join(out, "copy"), "utf8"), "hello\n");
    assert.equal(statSync(join(out, "copy")).mode & 0o777, 0o640);
    await ok(["cp", "cp-run:/data/t", `${out}/`]);
    assert.equal(readFileSync(join(out, "t"), "utf8"), "top\n");
    // a directory to a new name; into an existing directory; its contents with "/."
    await ok(["cp", "cp-run:/data", join(out, "newdir")]);
    assert.equal(readFileSync(join(out, "newdir/sub/f"), "utf8"), "hello\n");
    assert.equal(readlinkSync(join(out, "newdir/sub/l")), "f");
    await ok(["cp", "cp-run:/data", out]);
    assert.equal(readFileSync(join(out, "data/t"), "utf8"), "top\n");
    mkdirSync(join(out, "contents"));
    await ok(["cp", "cp-run:/data/.", join(out, "contents")]);
    assert.deepEqual(readdirSync(join(out, "contents")).sort(), ["sub", "t"]);
    // -L follows a symlink named as the source, under the link's name
    await ok(["cp", "-L", "cp-run:/data/sub/l", join(out, "followed")]);
    assert.equal(readFileSync(join(out, "followed"), "utf8"), "hello\n");
    await ok(["cp", "cp-run:/data/sub/l", join(out, "link")]);
    assert.equal(readlinkSync(join(out, "link")), "f");

    // into the container: a file (mode kept), a directory to a new name, a file over a file
    const src = join(td.dir, "src1");
    mkdirSync(join(src, "tree/inner"), { recursive: true });
    writeFileSync(join(src, "tree/inner/x"), "xx\n", { mode: 0o750 });
    writeFileSync(join(src, "one"), "one\n", { mode: 0o604 });
    await ok(["cp", join(src, "one"), "cp-run:/tmp/"]);
    assert.equal(await ok(["exec", id, "sh", "-c", "cat /tmp/one; stat -c '%a %u' /tmp/one"]), "one\n604 0\n");
    await ok(["cp", join(src, "tree"), "cp-run:/tmp/copied"]);
    assert.equal(await ok(["exec", id, "sh", "-c", "cat /tmp/copied/inner/x; stat -c %a /tmp/copied/inner/x"]), "xx\n750\n");
    await ok(["cp", join(src, "one"), "cp-run:/data/t"]);
    assert.equal(await ok(["exec", id, "cat", "/data/t"]), "one\n");

    // "-": a tar on stdout, and one on stdin
    const tar = (await berth(["cp", "cp-run:/data/sub", "-"])).raw;
    const listed = execFileSync("tar", ["-tvf", "-"], { input: tar, encoding: "utf8" });
    assert.match(listed, /sub\/f/);
    assert.match(listed, /sub\/l -> f/);
    const input = execFileSync("tar", ["-C", src, "-cf", "-", "one", "tree"]);
    await ok(["cp", "-", "cp-run:/tmp"], input);
    assert.equal(await ok(["exec", id, "cat", "/tmp/tree/inner/x"]), "xx\n");

    // errors: a missing source, a directory onto a file; the container stays running, not paused
    const missing = await berth(["cp", "cp-run:/nope", out]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no such file/i);
    assert.notEqual((await berth(["cp", join(src, "tree"), "cp-run:/data/t"])).code, 0);
    assert.equal((await head(id, "/nope")).status, 404);
    const st = await head(id, "/data/sub/l");
    assert.equal(st.stat?.["linkTarget"], "/data/sub/f");
    const state = JSON.parse(await ok(["inspect", id]))[0].State;
    assert.equal(state.Status, "running");
    assert.equal(state.Paused, false);
  });

  test("a stopped container: its snapshot is mounted for the copy and unmounted after", async () => {
    await ok(["run", "--network", "none", "--name", "cp-stopped", "busybox", "sh", "-c", "echo stopped > /s.txt"]);
    const id = JSON.parse(await ok(["inspect", "cp-stopped"]))[0].Id as string;
    const rootfs = join(td.execRoot, "bundles", id, "rootfs");
    assert.equal(mountedUnder(rootfs), false);
    const out = join(td.dir, "out2");
    mkdirSync(out);
    await ok(["cp", "cp-stopped:/s.txt", out]);
    assert.equal(readFileSync(join(out, "s.txt"), "utf8"), "stopped\n");
    writeFileSync(join(out, "in.txt"), "into a stopped one\n");
    await ok(["cp", join(out, "in.txt"), "cp-stopped:/root/"]);
    assert.equal(mountedUnder(rootfs), false, "the rootfs is unmounted after the copy");
    await ok(["cp", "cp-stopped:/root/in.txt", join(out, "back.txt")]);
    assert.equal(readFileSync(join(out, "back.txt"), "utf8"), "into a stopped one\n");
    // and the container sees it when it runs again
    await ok(["rm", "cp-stopped"]);
    // a created, never started container has no config.json yet: its rootfs alone
    const created = (await ok(["create", "--network", "none", "busybox", "true"])).trim();
    await ok(["cp", join(out, "in.txt"), `${created}:/`]);
    await ok(["cp", `${created}:/in.txt`, join(out, "created.txt")]);
    assert.equal(readFileSync(join(out, "created.txt"), "utf8"), "into a stopped one\n");
    await ok(["rm", created]);
  });

  test("volumes and bind mounts: the container's view, read-only ones refused", async () => {
    const bind = join(td.dir, "bind-src");
    mkdirSync(bind);
    writeFileSync(join(bind, "h.txt"), "host file\n");
    const ro = join(td.dir, "ro-src");
    mkdirSync(ro);
    const id = await running("cp-vol", "echo v > /vol/v.txt", ["-v", "cpvol:/vol", "-v", `${bind}:/mnt/b`, "-v", `${ro}:/ro:ro`]);
    const out = join(td.dir, "out3");
    mkdirSync(out);
    await ok(["cp", `${id}:/mnt/b/h.txt`, out]);
    assert.equal(readFileSync(join(out, "h.txt"), "utf8"), "host file\n");
    await ok(["cp", `${id}:/vol/v.txt`, out]);
    assert.equal(readFileSync(join(out, "v.txt"), "utf8"), "v\n");
    await ok(["cp", join(out, "v.txt"), `${id}:/mnt/b/from-cp.txt`]);
    assert.equal(readFileSync(join(bind, "from-cp.txt"), "utf8"), "v\n");
    const refused = await berth(["cp", join(out, "v.txt"), `${id}:/ro/`]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /read-only/);
    assert.deepEqual(readdirSync(ro), []);
    // the container's own /etc/hostname (a bind of berth's file), not the rootfs's or the host's
    const h = await berth(["cp", `${id}:/etc/hostname`, "-"]);
    assert.match(execFileSync("tar", ["-xOf", "-"], { input: h.raw, encoding: "utf8" }), new RegExp(`^${id.slice(0, 12)}\n$`));
    await ok(["rm", "-f", id]);
    await ok(["volume", "rm", "cpvol"]);
  });

  test("hostile symlinks: /etc/evil -> / reads the container's file; /escape -> host dir writes in the container", async () => {
    const id = await running(
      "cp-evil",
      `ln -s / /etc/evil && mkdir -p ${hostTarget()} && ln -s ${hostTarget()} /escape && ln -s ../../../../../.. /up`,
      ["--hostname", "evilbox"],
    );
    const out = join(td.dir, "out4");
    mkdirSync(out);
    await ok(["cp", "cp-evil:/etc/evil/etc/hostname", join(out, "hn")]);
    assert.equal(readFileSync(join(out, "hn"), "utf8"), "evilbox\n");
    assert.notEqual(hostname(), "evilbox");
    await ok(["cp", "cp-evil:/up/etc/passwd", join(out, "pw")]);
    assert.equal(readFileSync(join(out, "pw"), "utf8"), readFileSync(join(td.dir, "rootfs/etc/passwd"), "utf8"));

    writeFileSync(join(out, "payload"), "payload\n");
    await ok(["cp", join(out, "payload"), "cp-evil:/escape/"]);
    assert.deepEqual(readdirSync(hostTarget()), [], "nothing written on the host");
    assert.equal(await ok(["exec", id, "cat", `${hostTarget()}/payload`]), "payload\n");
    await ok(["cp", join(out, "payload"), "cp-evil:/up/tmp/"]);
    assert.equal(existsSync("/tmp/payload") && readFileSync("/tmp/payload", "utf8") === "payload\n", false);
    assert.equal(await ok(["exec", id, "cat", "/tmp/payload"]), "payload\n");
  });

  test("hostile archives through PUT: `../`, absolute names, symlink parents, hard links out are refused or confined", async () => {
    const id = await running("cp-tar", "mkdir -p /dest");
    const marker = `berth-cp-marker-${process.pid}`;
    const cases: Array<{ what: string; tar: Buffer }> = [
      { what: "../ names", tar: tarBuffer([{ header: { name: `../../../../../../../../tmp/${marker}` }, body: "x" }]) },
      {
        what: "a symlink entry, then an entry through it",
        tar: tarBuffer([
          { header: { name: "lnk", type: "symlink", linkname: "/" } },
          { header: { name: `lnk/tmp/${marker}` }, body: "x" },
        ]),
      },
      {
        what: "a relative symlink out, then an entry through it",
        tar: tarBuffer([
          { header: { name: "up", type: "symlink", linkname: "../../../../../.." } },
          { header: { name: `up/tmp/${marker}` }, body: "x" },
        ]),
      },
      { what: "a hard link out", tar: tarBuffer([{ header: { name: "hl", type: "hardlink", linkname: "../../etc/passwd" } }]) },
      {
        what: "a hard link to an absolute path",
        tar: tarBuffer([{ header: { name: "hl2", type: "hardlink", linkname: "/etc/passwd" } }]),
      },
    ];
    for (const c of cases) {
      const r = await put(id, "/dest", c.tar);
      assert.equal(r.status, 400, `${c.what}: ${r.status} ${r.text}`);
      assert.equal(existsSync(`/tmp/${marker}`), false, `${c.what}: nothing on the host`);
    }
    // an absolute name lands under the destination
    const abs = await put(id, "/dest", tarBuffer([{ header: { name: `/tmp/${marker}` }, body: "confined\n" }]));
    assert.equal(abs.status, 200, abs.text);
    assert.equal(existsSync(`/tmp/${marker}`), false);
    assert.equal(await ok(["exec", id, "cat", `/dest/tmp/${marker}`]), "confined\n");
    // the hard link refusals left the container's passwd alone
    assert.equal(await ok(["exec", id, "sh", "-c", "ls /dest"]), "lnk\ntmp\nup\n");
    // a destination that is not a directory, or not there
    assert.equal((await put(id, "/etc/passwd", tarBuffer([]))).status, 400);
    assert.equal((await put(id, "/nope", tarBuffer([]))).status, 404);
    assert.equal(lstatSync("/tmp").isDirectory(), true);
  });

  test("a container swapping a directory for a symlink to / while cp runs never gets a write onto the host", async () => {
    const id = await running(
      "cp-race",
      "mkdir -p /race/d; (while :; do mv /race/d /race/d.real; ln -s / /race/d; rm /race/d; ln -s ../../../../.. /race/d; rm /race/d; mv /race/d.real /race/d; done) & true",
    );
    const name = `berth-cp-race-${process.pid}`;
    const src = join(td.dir, name);
    writeFileSync(src, "race\n");
    for (let i = 0; i < 15; i++) {
      await berth(["cp", src, `${id}:/race/d/`]);
      await berth(["cp", src, `${id}:/race/d`]);
      assert.equal(existsSync(`/${name}`), false, "never in the host's /");
    }
    assert.equal(existsSync(`/${name}`), false);
    const state = JSON.parse(await ok(["inspect", id]))[0].State;
    assert.equal(state.Paused, false, "resumed after the copies");
    await ok(["rm", "-f", id]);
  });
});
