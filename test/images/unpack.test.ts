/**
 * The unpacker on the real kernel: layers built with berth's tar writer and with GNU tar,
 * unpacked by both snapshotters (overlayfs and the copy fallback), mounted, and compared with
 * what `umoci unpack` makes of the same layers; hostile layers refused with nothing written
 * outside and no snapshot left; two processes unpacking one image at once. Needs root (mounts,
 * mknod, chown) and umoci.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { closeDatabases, type Db, openDatabase } from "../../src/images/db.js";
import { tarBuffer } from "../../src/images/tar/index.js";
import { native } from "../../src/native/index.js";
import {
  createSnapshotter,
  type LayerSnapshotter,
  mountAll,
  NativeSnapshotter,
  overlayUnsupported,
  Unpacker,
  unmountAll,
} from "../../src/snapshots/index.js";
import {
  blobStream,
  diffTrees,
  hasUmoci,
  hasZstd,
  type Layer,
  listTree,
  makeLayers,
  umociUnpack,
  writeOciLayout,
} from "../fixtures/layers.js";

const IS_ROOT = process.getuid?.() === 0;
const skipAll = !IS_ROOT ? "needs root (mounts, mknod, chown)" : false;
const KINDS = ["overlayfs", "native"] as const;
type Kind = (typeof KINDS)[number];

const scratch = IS_ROOT ? mkdtempSync(join(tmpdir(), "berth-unpack-")) : "";
let counter = 0;

after(() => {
  closeDatabases();
  if (!scratch) return;
  // nothing may stay mounted under the scratch dir
  const leaked = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(scratch));
  for (const l of leaked) unmountAll(l.split(" ")[4] as string);
  rmSync(scratch, { recursive: true, force: true });
  assert.deepEqual(leaked, [], "mounts leaked");
});

interface Env {
  dir: string;
  root: string;
  db: Db;
  sn: LayerSnapshotter;
  canary: string;
}

const passwdHash = () => createHash("sha256").update(readFileSync("/etc/passwd")).digest("hex");

async function env(kind: Kind): Promise<Env> {
  const dir = join(scratch, `t${++counter}`);
  const root = join(dir, "root");
  const canary = join(dir, "canary");
  mkdirSync(canary, { recursive: true });
  writeFileSync(join(canary, "keep"), "keep\n");
  const db = openDatabase(root);
  const sn = await createSnapshotter({ root, db, kind });
  assert.equal(sn.name, kind);
  return { dir, root, db, sn, canary };
}

/** Unpack `layers` (fed in parallel, as a pull does) and return the top chain ID. */
async function unpackAll(sn: LayerSnapshotter, layers: readonly Layer[], maxBytes?: number): Promise<string> {
  const u = new Unpacker({ snapshotter: sn, ...(maxBytes !== undefined ? { maxBytes } : {}) });
  const results = await Promise.allSettled(
    layers.map((l) => (u.has(l.ref) ? undefined : u.unpack(l.ref, blobStream(l.blob, 4096)))),
  );
  const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) {
    await u.abort();
    throw failure.reason;
  }
  return u.finish(layers.map((l) => l.ref));
}

/** The tree a read-only view of `top` shows, listed; the view is unmounted and removed after. */
async function viewTree(e: Env, top: string): Promise<ReturnType<typeof listTree>> {
  const key = `view-${++counter}`;
  const target = join(e.dir, key);
  mkdirSync(target);
  const mounts = await e.sn.view(key, top);
  mountAll(mounts, target);
  try {
    assert.throws(() => writeFileSync(join(target, "probe"), "x"), /EROFS/, "a view is read-only");
    return listTree(target);
  } finally {
    unmountAll(target);
    await e.sn.remove(key);
  }
}

function assertClean(e: Env, hostPasswd: string): void {
  assert.deepEqual(readdirSync(e.canary), ["keep"], "nothing was written next to the canary");
  assert.equal(readFileSync(join(e.canary, "keep"), "utf8"), "keep\n");
  assert.equal(passwdHash(), hostPasswd, "/etc/passwd is untouched");
  assert.deepEqual(e.sn.list(), [], "no snapshot is left");
  const dirs = readdirSync(join(e.root, "snapshots")).filter((n) => !n.startsWith("."));
  assert.deepEqual(dirs, [], "no snapshot directory is left");
}

const T = 1_600_000_000;
const dir = (name: string, extra: object = {}) => ({ header: { name, type: "directory" as const, mtime: T, ...extra } });
const file = (name: string, body: string, extra: object = {}) => ({ header: { name, mtime: T, ...extra }, body });

/** The layered image: every kind of entry, whiteouts, opaque dirs, implied parents; the third layer made by GNU tar. */
function layeredTars(work: string): Buffer[] {
  const l1 = tarBuffer([
    dir("./"),
    dir("bin/"),
    file("bin/busybox", "busybox\n", { mode: 0o755 }),
    { header: { name: "bin/sh", type: "symlink", linkname: "busybox", mtime: T } },
    dir("etc/"),
    file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
    file("etc/shadow", "root:*:1::::::\n", { mode: 0o640, gid: 42 }),
    dir("opt/", { mode: 0o750, uid: 1000, gid: 1000, xattrs: { "user.dir": "d" } }),
    file("opt/app", "app", { mode: 0o700, uid: 1000, gid: 1000, xattrs: { "user.bin": Buffer.from([0, 1, 2, 255]) } }),
    dir("tmp/", { mode: 0o1777 }),
    dir("usr/"),
    dir("usr/bin/"),
    file("usr/bin/su", "su\n", { mode: 0o4755 }),
    { header: { name: "usr/bin/su-hard", type: "hardlink", linkname: "usr/bin/su" } },
    file("usr/bin/wall", "wall\n", { mode: 0o2755, gid: 5 }),
    dir("dev/"),
    { header: { name: "dev/null", type: "chardev", devmajor: 1, devminor: 3, mode: 0o666, mtime: T } },
    { header: { name: "dev/loop0", type: "blockdev", devmajor: 7, devminor: 0, mode: 0o660, gid: 6, mtime: T } },
    dir("run/"),
    { header: { name: "run/fifo", type: "fifo", mode: 0o600, mtime: T } },
    dir("gone/"),
    file("gone/a", "a"),
    dir("gone/sub/"),
    file("gone/sub/b", "b"),
    file("gone-file", "x"),
    dir("opq/", { mode: 0o711 }),
    file("opq/old", "old"),
    dir("opq/olddir/"),
    file("opq/olddir/x", "x"),
    dir("var/"),
    dir("var/lib/", { mode: 0o700, uid: 7, gid: 7 }),
  ]);
  const long = `${"l".repeat(90)}/${"o".repeat(90)}/${"n".repeat(90)}/file`;
  const l2 = tarBuffer([
    file(".wh.gone-file", ""),
    file(".wh.gone", ""),
    dir("opq/", { mode: 0o711 }),
    file("opq/.wh..wh..opq", ""),
    file("opq/new", "new"),
    file("etc/passwd", "root:x:0:0:root:/root:/bin/ash\n"),
    { header: { name: "etc/passwd-hard", type: "hardlink", linkname: "etc/passwd" } },
    // parents this layer does not carry: opt (0750 1000:1000 below) and var/lib (0700 7:7)
    file("opt/added", "added", { uid: 1000 }),
    file("var/lib/deep/file", "deep"),
    file("bin/sh", "now a file\n", { mode: 0o755 }),
    dir("newdir/", { mode: 0o700, uid: 2, gid: 2 }),
    file("newdir/one", "1"),
    file("newdir/two", "2"),
    file(long, "long name\n", { uid: 3_000_000, mtime: T + 0.5 }),
  ]);
  // the third layer: GNU tar's own PAX output of a real directory
  const d3 = join(work, "l3");
  for (const d of ["etc", "usr/bin", "newdir", "lib2"]) mkdirSync(join(d3, d), { recursive: true });
  writeFileSync(join(d3, "etc/hostname"), "berth\n");
  writeFileSync(join(d3, "usr/bin/.wh.wall"), "");
  writeFileSync(join(d3, "newdir/.wh..wh..opq"), "");
  writeFileSync(join(d3, "newdir/fresh"), "fresh\n");
  writeFileSync(join(d3, "lib2/x"), "x\n");
  native().lsetxattr(join(d3, "lib2/x"), "user.gnu", Buffer.from("tar"));
  linkSync(join(d3, "lib2/x"), join(d3, "lib2/y"));
  symlinkSync("/usr/lib/dangling", join(d3, "lib2/abs-link"));
  const deep = join(d3, "lib2", "d".repeat(80), "e".repeat(80));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, "f".repeat(60)), "deep gnu\n");
  const owned = join(d3, "lib2/owned");
  writeFileSync(owned, "owned\n");
  execFileSync("chown", ["1234:5678", owned]);
  execFileSync("chmod", ["4711", owned]);
  const l3 = execFileSync(
    "tar",
    ["--format=posix", "--xattrs", "--xattrs-include=user.*", "--numeric-owner", "--sort=name", "-C", d3, "-cf", "-", "."],
    { maxBuffer: 1 << 26 },
  );
  return [l1, l2, l3];
}

describe("unpack compared with umoci", { skip: skipAll || (!hasUmoci && "umoci is not installed") }, () => {
  let expected: ReturnType<typeof listTree> | undefined;
  let tars: Buffer[] = [];

  const umoci = () => {
    if (expected) return expected;
    const work = join(scratch, "umoci");
    mkdirSync(work, { recursive: true });
    tars = layeredTars(work);
    const layout = join(work, "layout");
    writeOciLayout(layout, makeLayers(tars, "gzip"));
    expected = listTree(umociUnpack(layout, join(work, "bundle")));
    // what the layers say must hold, whoever unpacked them
    for (const gone of ["gone", "gone-file", "opq/old", "opq/olddir", "usr/bin/wall", "newdir/one", "newdir/two"])
      assert.ok(!expected.has(gone), `umoci left ${gone}`);
    assert.equal(expected.get("opt")?.mode, "750");
    return expected;
  };

  for (const kind of KINDS) {
    test(`${kind}: the mounted layers match umoci's rootfs (paths, types, modes, owners, links, contents, xattrs)`, async (t) => {
      if (kind === "overlayfs" && overlayUnsupported(scratch)) return t.skip(`overlayfs: ${overlayUnsupported(scratch)}`);
      const want = umoci();
      const e = await env(kind);
      const compressions = hasZstd ? (["gzip", "zstd", "none"] as const) : (["gzip", "none", "gzip"] as const);
      const layers = makeLayers(tars, compressions);
      const top = await unpackAll(e.sn, layers);
      assert.equal(top, layers[2]?.ref.chainId);
      const got = await viewTree(e, top);
      assert.equal(diffTrees(want, got), "");
      // a spot check of what the comparison covers
      assert.equal(got.get("usr/bin/su")?.mode, "4755");
      assert.equal(got.get("tmp")?.mode, "1777");
      assert.deepEqual(got.get("usr/bin/su")?.hardlinks, ["usr/bin/su-hard"]);
      assert.equal(got.get("dev/null")?.type, "char");
      assert.equal(got.get("run/fifo")?.type, "fifo");
      assert.deepEqual(got.get("opt")?.xattrs, { "user.dir": Buffer.from("d").toString("hex") });
      assert.equal(got.get("lib2/owned")?.owner, "1234:5678");
      // committed snapshots: one per layer, chained
      const committed = e.sn.list().filter((s) => s.kind === "committed");
      assert.deepEqual(
        committed.map((s) => [s.key, s.parent]),
        layers.map((l) => [l.ref.chainId, l.ref.parentChainId]),
      );
      assert.ok(e.sn.list().every((s) => s.kind === "committed"));
    });
  }

  for (const kind of KINDS) {
    test(`${kind}: prepare gives a writable rootfs over the image; removing it leaves the layers`, async (t) => {
      if (kind === "overlayfs" && overlayUnsupported(scratch)) return t.skip(`overlayfs: ${overlayUnsupported(scratch)}`);
      umoci();
      const e = await env(kind);
      const layers = makeLayers(tars);
      const top = await unpackAll(e.sn, layers);
      const target = join(e.dir, "rw");
      mkdirSync(target);
      mountAll(await e.sn.prepare("container", top), target);
      try {
        writeFileSync(join(target, "etc/passwd"), "changed\n");
        rmSync(join(target, "usr/bin/su"));
        assert.equal(readFileSync(join(target, "etc/hostname"), "utf8"), "berth\n");
      } finally {
        unmountAll(target);
      }
      await assert.rejects(e.sn.remove(top), /has it as parent/);
      await e.sn.remove("container");
      const got = await viewTree(e, top);
      assert.equal(diffTrees(umoci(), got), "", "the container's writes did not reach the layers");
    });
  }
});

test("overlayfs and native agree where entry order and whiteouts get tricky", { skip: skipAll }, async (t) => {
  if (overlayUnsupported(scratch)) return t.skip(`overlayfs: ${overlayUnsupported(scratch)}`);
  const tars = [
    tarBuffer([
      dir("d/", { mode: 0o700, uid: 5 }),
      file("d/a", "a"),
      dir("d/sub/", { mode: 0o750 }),
      file("d/sub/x", "x"),
      file("d/sub/y", "y"),
      dir("e/"),
      file("e/f", "f"),
      file("g", "g"),
      dir("h/"),
      file("h/i", "i"),
    ]),
    tarBuffer([
      file("d/sub/new", "new"), // parents implied, before the opaque marker
      file("d/.wh..wh..opq", ""),
      file("d/sub/.wh.x", ""), // a whiteout under the opaque directory
      file(".wh.e", ""),
      dir("e/"),
      file("e/new", "new"), // whited out and made anew in one layer
      dir("g/"),
      file("g/inside", "inside"), // a file becomes a directory
      file("h", "h"), // a directory becomes a file
      file("h/.wh.i", ""), // then, as umoci 0.4.7 writes it, a whiteout under the file: hides nothing
    ]),
    tarBuffer([file("d/sub/.wh.new", ""), file("k/l/m", "m")]),
  ];
  const trees = [];
  for (const kind of KINDS) {
    const e = await env(kind);
    const layers = makeLayers(tars);
    trees.push(await viewTree(e, await unpackAll(e.sn, layers)));
  }
  const [overlay, copy] = trees as [ReturnType<typeof listTree>, ReturnType<typeof listTree>];
  assert.equal(diffTrees(copy, overlay), "");
  assert.deepEqual([...overlay.keys()], ["d", "d/sub", "e", "e/new", "g", "g/inside", "h", "k", "k/l", "k/l/m"]);
  assert.deepEqual([overlay.get("d")?.mode, overlay.get("d")?.owner], ["700", "5:0"]);
  assert.equal(overlay.get("d/sub")?.mode, "750");
  assert.equal(overlay.get("k/l")?.mode, "755");
});

describe("hostile layers are refused, nothing is written outside, no snapshot is left", { skip: skipAll }, () => {
  const hostile: [string, (canary: string) => Buffer, RegExp][] = [
    [
      "../ traversal",
      () => tarBuffer([file("../../../../canary/trav", "pwned")]),
      /entry "..\/..\/..\/..\/canary\/trav": path .* climbs out/,
    ],
    ["an absolute path", (c) => tarBuffer([file(join(c, "abs"), "pwned")]), /path ".*canary\/abs" is absolute/],
    [
      "an absolute symlink, then a write through it",
      (c) => tarBuffer([{ header: { name: "a", type: "symlink", linkname: c } }, file("a/f", "pwned")]),
      /entry "a\/f": parent "a" is a symlink/,
    ],
    [
      "a relative symlink climbing out, then a write through it",
      () =>
        tarBuffer([
          dir("d/"),
          { header: { name: "d/up", type: "symlink", linkname: "../../../../../canary" } },
          file("d/up/f", "pwned"),
        ]),
      /entry "d\/up\/f": parent "d\/up" is a symlink/,
    ],
    [
      "a symlink replacing a directory, then a write through it",
      (c) => tarBuffer([dir("x/"), dir("x/y/"), { header: { name: "x", type: "symlink", linkname: c } }, file("x/y/z", "pwned")]),
      /parent "x" is a symlink/,
    ],
    [
      "a hard link to /etc/passwd",
      () => tarBuffer([{ header: { name: "pw", type: "hardlink", linkname: "/etc/passwd" } }]),
      /hard link target "\/etc\/passwd" is absolute/,
    ],
    [
      "a hard link climbing out",
      () => tarBuffer([{ header: { name: "pw", type: "hardlink", linkname: "../../x" } }]),
      /hard link target "..\/..\/x" climbs out/,
    ],
    [
      "a hard link through a symlink",
      (c) =>
        tarBuffer([
          { header: { name: "s", type: "symlink", linkname: c } },
          { header: { name: "h", type: "hardlink", linkname: "s/keep" } },
        ]),
      /hard link target "s\/keep" is not a file earlier in this layer/,
    ],
    [
      "a whiteout through a symlink",
      (c) => tarBuffer([{ header: { name: "s", type: "symlink", linkname: c } }, file("s/.wh.keep", "")]),
      /entry "s\/.wh.keep": parent "s" is a symlink/,
    ],
  ];

  for (const kind of KINDS) {
    for (const [what, make, message] of hostile) {
      test(`${kind}: ${what}`, async (t) => {
        if (kind === "overlayfs" && overlayUnsupported(scratch)) return t.skip(`overlayfs: ${overlayUnsupported(scratch)}`);
        const before = passwdHash();
        const e = await env(kind);
        const layers = makeLayers([make(e.canary)]);
        await assert.rejects(unpackAll(e.sn, layers), (err: Error) => {
          assert.match(err.message, message);
          assert.equal((err as { code?: string }).code, "ERR_BERTH_INVALID_ARGUMENT");
          return true;
        });
        assertClean(e, before);
      });
    }

    test(`${kind}: a decompression bomb stops at maxBytes`, async (t) => {
      if (kind === "overlayfs" && overlayUnsupported(scratch)) return t.skip(`overlayfs: ${overlayUnsupported(scratch)}`);
      const before = passwdHash();
      const e = await env(kind);
      const zeros = tarBuffer([{ header: { name: "zeros", size: 32 << 20 }, body: Buffer.alloc(32 << 20) }]);
      const layers = makeLayers([zeros], "gzip");
      assert.ok((layers[0]?.blob.length ?? 0) < 64 << 10, "the bomb is small compressed");
      await assert.rejects(unpackAll(e.sn, layers, 1 << 20), /uncompressed size exceeds the limit of 1048576 bytes/);
      assertClean(e, before);
    });

    test(`${kind}: a diff ID mismatch names the layer and both IDs; corrupt and truncated layers fail`, async (t) => {
      if (kind === "overlayfs" && overlayUnsupported(scratch)) return t.skip(`overlayfs: ${overlayUnsupported(scratch)}`);
      const before = passwdHash();
      const e = await env(kind);
      const [good] = makeLayers([tarBuffer([file("f", "f")])]);
      assert.ok(good);
      const wrong = { ...good, ref: { ...good.ref, diffId: `sha256:${"0".repeat(64)}` } };
      await assert.rejects(
        unpackAll(e.sn, [wrong]),
        new RegExp(
          `layer ${good.ref.descriptor.digest}: its content has diff ID ${good.ref.diffId}, the image config says sha256:0{64}`,
        ),
      );
      assertClean(e, before);
      const corrupt = { ...good, blob: Buffer.concat([good.blob.subarray(0, 20), Buffer.alloc(40, 0xaa)]) };
      await assert.rejects(unpackAll(e.sn, [corrupt]), /gzip data is corrupt or truncated/);
      assertClean(e, before);
      const [cut] = makeLayers([tarBuffer([file("f", "f".repeat(5000))]).subarray(0, 3000)]);
      assert.ok(cut);
      await assert.rejects(unpackAll(e.sn, [cut]), /truncated/);
      assertClean(e, before);
    });

    test(`${kind}: a lower layer's symlink does not lead an upper layer's entries out`, async (t) => {
      if (kind === "overlayfs" && overlayUnsupported(scratch)) return t.skip(`overlayfs: ${overlayUnsupported(scratch)}`);
      const before = passwdHash();
      const e = await env(kind);
      const layers = makeLayers([
        tarBuffer([{ header: { name: "evil", type: "symlink", linkname: e.canary } }]),
        tarBuffer([file("evil/pwned", "pwned"), file("evil/.wh.keep", "")]),
      ]);
      if (kind === "native") {
        // the copy holds the parent's tree: the symlink is there, and is refused as a parent
        await assert.rejects(unpackAll(e.sn, layers), /entry "evil\/pwned": parent "evil" is a symlink/);
        assert.deepEqual(
          e.sn.list().map((s) => s.key),
          [layers[0]?.ref.chainId],
        );
      } else {
        // each layer has a directory of its own: "evil" there is a new directory over the lower symlink
        const top = await unpackAll(e.sn, layers);
        const got = await viewTree(e, top);
        assert.equal(got.get("evil")?.type, "dir");
        assert.ok(!got.has("evil/keep"), "a whiteout with nothing below is gone, not listed");
        assert.equal(got.get("evil/pwned")?.content, createHash("sha256").update("pwned").digest("hex").slice(0, 16));
      }
      assert.deepEqual(readdirSync(e.canary), ["keep"]);
      assert.equal(passwdHash(), before);
    });
  }
});

describe("snapshot state", { skip: skipAll }, () => {
  for (const kind of KINDS) {
    test(`${kind}: a failed layer leaves its siblings' snapshots nowhere; the next pull reuses committed ones`, async (t) => {
      if (kind === "overlayfs" && overlayUnsupported(scratch)) return t.skip(`overlayfs: ${overlayUnsupported(scratch)}`);
      const e = await env(kind);
      const good = makeLayers([tarBuffer([file("a", "a")]), tarBuffer([file("b", "b")])]);
      const bad = makeLayers([tarBuffer([file("a", "a")]), tarBuffer([file("../b", "b")])]);
      await assert.rejects(unpackAll(e.sn, bad), /climbs out/);
      // overlayfs commits in finish, so nothing stays; the copy snapshotter committed the good base layer
      const left = e.sn.list();
      assert.ok(left.every((s) => s.kind === "committed"));
      assert.deepEqual(
        left.map((s) => s.key),
        kind === "native" ? [bad[0]?.ref.chainId] : [],
      );
      const top = await unpackAll(e.sn, good);
      const u = new Unpacker({ snapshotter: e.sn });
      assert.ok(good.every((l) => u.has(l.ref)));
      assert.equal(await u.finish(good.map((l) => l.ref)), top);
      const tree = await viewTree(e, top);
      assert.deepEqual([...tree.keys()], ["a", "b"]);
      // a view of one layer is a read-only bind mount (viewTree checks it is read-only)
      assert.deepEqual([...(await viewTree(e, good[0]?.ref.chainId as string)).keys()], ["a"]);
    });

    test(`${kind}: two processes unpacking the same image at once both succeed, and commit it once`, async (t) => {
      if (kind === "overlayfs" && overlayUnsupported(scratch)) return t.skip(`overlayfs: ${overlayUnsupported(scratch)}`);
      const e = await env(kind);
      const layers = makeLayers(
        Array.from({ length: 4 }, (_, i) =>
          tarBuffer([dir(`d${i}/`), file(`d${i}/f`, `layer ${i}\n`.repeat(20_000)), file(`.wh.d${i - 1}`, "")]),
        ),
      );
      const spec = join(e.dir, "layers.json");
      writeFileSync(
        spec,
        JSON.stringify(
          layers.map((l, i) => {
            const p = join(e.dir, `blob${i}`);
            writeFileSync(p, l.blob);
            return { ref: l.ref, path: p };
          }),
        ),
      );
      const here = fileURLToPath(new URL(".", import.meta.url));
      const script = `
        import { readFileSync } from "node:fs";
        import { Readable } from "node:stream";
        import { setTimeout as sleep } from "node:timers/promises";
        const { openDatabase } = await import(${JSON.stringify(join(here, "../../src/images/db.js"))});
        const { createSnapshotter, Unpacker } = await import(${JSON.stringify(join(here, "../../src/snapshots/index.js"))});
        const [root, kind, spec] = process.argv.slice(1);
        const layers = JSON.parse(readFileSync(spec, "utf8"));
        const sn = await createSnapshotter({ root, db: openDatabase(root), kind });
        const u = new Unpacker({ snapshotter: sn });
        const slow = (b) => Readable.from((async function* () { for (let i = 0; i < b.length; i += 8192) { await sleep(1); yield b.subarray(i, i + 8192); } })());
        await Promise.all(layers.map((l) => u.has(l.ref) ? undefined : u.unpack(l.ref, slow(readFileSync(l.path)))));
        process.stdout.write(await u.finish(layers.map((l) => l.ref)));
      `;
      const run = () =>
        promisify(execFile)(process.execPath, ["--input-type=module", "-e", script, e.root, kind, spec], { maxBuffer: 1 << 20 });
      const [a, b] = await Promise.all([run(), run()]);
      const top = layers[3]?.ref.chainId;
      assert.equal(a.stdout, top);
      assert.equal(b.stdout, top);
      assert.deepEqual(
        e.sn.list().map((s) => [s.key, s.kind]),
        layers.map((l) => [l.ref.chainId, "committed"]),
      );
      const ids = readdirSync(join(e.root, "snapshots")).filter((n) => !n.startsWith("."));
      assert.equal(ids.length, 4, `one directory per committed layer: ${ids.join(" ")}`);
      const tree = await viewTree(e, top as string);
      assert.deepEqual([...tree.keys()], ["d3", "d3/f"]);
    });
  }

  test("createSnapshotter: native on request; overlayfs where it mounts", async () => {
    const e = await env("native");
    assert.ok(e.sn instanceof NativeSnapshotter);
    assert.equal(e.sn.fallbackReason, undefined);
    const reason = overlayUnsupported(e.root);
    const auto = await createSnapshotter({ root: e.root, db: e.db });
    assert.equal(auto.name, reason === undefined ? "overlayfs" : "native");
    assert.ok(
      !existsSync(join(e.root, "snapshots")) || readdirSync(join(e.root, "snapshots")).every((n) => !n.startsWith(".probe")),
    );
    assert.ok(statSync(join(e.root, "snapshots")).isDirectory());
  });
});
