// The layer applier on a scratch directory: replacement rules, both whiteout modes, refusals.
// Needs root (mknod, chown, trusted.* xattrs).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { tarBuffer, type TarWriteHeader } from "../images/tar/index.js";
import { native } from "../native/index.js";
import { applyLayer, type WhiteoutMode } from "./apply-layer.js";

const skip = process.getuid?.() !== 0 && "needs root (mknod, chown, trusted.* xattrs)";
const scratch = mkdtempSync(join(tmpdir(), "berth-apply-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(scratch, `d${++n}`);
  mkdirSync(d);
  return d;
};

type E = { header: TarWriteHeader; body?: string };
const f = (name: string, body = name, extra: Partial<TarWriteHeader> = {}): E => ({ header: { name, ...extra }, body });
const d = (name: string, extra: Partial<TarWriteHeader> = {}): E => ({ header: { name, type: "directory", ...extra } });
const apply = (dir: string, entries: E[], whiteouts: WhiteoutMode = "apply") =>
  applyLayer([tarBuffer(entries)], dir, { whiteouts, what: "layer t" });
const opaque = (p: string) => native().lgetxattr(p, "trusted.overlay.opaque")?.toString();

test("later entries replace earlier ones; a directory over a directory keeps its contents", { skip }, async () => {
  const dir = fresh();
  await apply(dir, [
    d("a/"),
    f("a/keep"),
    d("a/", { mode: 0o700 }),
    f("b", "file"),
    d("b/"),
    f("b/in"),
    { header: { name: "c", type: "symlink", linkname: "/etc" } },
    f("c", "now a file"),
    f("e", "first"),
    f("e", "second"),
  ]);
  assert.equal(readFileSync(join(dir, "a/keep"), "utf8"), "a/keep");
  assert.equal(lstatSync(join(dir, "a")).mode & 0o7777, 0o700);
  assert.ok(lstatSync(join(dir, "b")).isDirectory());
  assert.equal(readFileSync(join(dir, "c"), "utf8"), "now a file");
  assert.equal(readFileSync(join(dir, "e"), "utf8"), "second");
});

test("an entry over a symlink replaces the symlink, never writes through it", { skip }, async () => {
  const dir = fresh();
  const outside = join(scratch, `outside${n}`);
  mkdirSync(outside);
  writeFileSync(join(outside, "file"), "outside\n");
  await apply(dir, [
    { header: { name: "f", type: "symlink", linkname: join(outside, "file") } },
    f("f", "inside"),
    { header: { name: "d", type: "symlink", linkname: outside } },
    d("d/", { mode: 0o700 }),
    f("d/file", "inside"),
    { header: { name: "n", type: "symlink", linkname: join(outside, "node") } },
    { header: { name: "n", type: "fifo" } },
  ]);
  assert.equal(readFileSync(join(outside, "file"), "utf8"), "outside\n");
  assert.deepEqual(readdirSync(outside), ["file"]);
  assert.equal(lstatSync(outside).mode & 0o7777, 0o755);
  assert.ok(lstatSync(join(dir, "f")).isFile());
  assert.ok(lstatSync(join(dir, "d")).isDirectory());
  assert.ok(lstatSync(join(dir, "n")).isFIFO());
});

test("diff ID and size cover every byte, the end blocks and trailing padding too", { skip }, async () => {
  const tar = Buffer.concat([tarBuffer([f("x")]), Buffer.alloc(4096)]);
  const r = await applyLayer([tar], fresh(), { whiteouts: "apply" });
  assert.equal(r.diffId, `sha256:${createHash("sha256").update(tar).digest("hex")}`);
  assert.equal(r.size, tar.length);
});

test("modes after owners (setuid survives chown), directory times after their contents", { skip }, async () => {
  const dir = fresh();
  await apply(dir, [
    d("t/", { mtime: 1_000_000_000 }),
    f("t/su", "su", { mode: 0o4755, uid: 1000, gid: 1000, mtime: 1_000_000_001 }),
    { header: { name: "t/l", type: "symlink", linkname: "su", uid: 5, gid: 6, mtime: 1_000_000_002 } },
  ]);
  const su = lstatSync(join(dir, "t/su"));
  assert.deepEqual([su.mode & 0o7777, su.uid, su.gid, su.mtimeMs], [0o4755, 1000, 1000, 1_000_000_001_000]);
  const l = lstatSync(join(dir, "t/l"));
  assert.deepEqual([l.uid, l.gid, l.mtimeMs], [5, 6, 1_000_000_002_000]);
  assert.equal(lstatSync(join(dir, "t")).mtimeMs, 1_000_000_000_000);
});

test("apply mode: whiteouts delete; an opaque marker anywhere in the layer keeps this layer's entries only", {
  skip,
}, async () => {
  const dir = fresh();
  await apply(dir, [d("o/"), f("o/old"), d("o/sub/", { mode: 0o700, uid: 9 }), f("o/sub/old"), f("w"), d("wd/"), f("wd/x")]);
  await apply(dir, [
    f("o/new"),
    f("o/sub/new"),
    f("o/.wh..wh..opq", ""),
    f(".wh.w", ""),
    f(".wh.wd", ""),
    f("missing/.wh.x", ""), // nothing to delete: no parent made either
  ]);
  assert.deepEqual(readdirSync(join(dir, "o")).sort(), ["new", "sub"]);
  assert.deepEqual(readdirSync(join(dir, "o/sub")), ["new"]);
  const sub = lstatSync(join(dir, "o/sub"));
  assert.deepEqual([sub.mode & 0o7777, sub.uid], [0o700, 9], "a parent the layer only passed through keeps its attributes");
  assert.deepEqual(readdirSync(dir).sort(), ["o"]);
});

test("overlay mode: whiteouts are 0:0 char devices, opaque markers the xattr; parents made are reported", { skip }, async () => {
  const dir = fresh();
  const r = await apply(
    dir,
    [f("gone/.wh.x", ""), f("o/.wh..wh..opq", ""), f("deep/er/file"), d("deep/"), f(".wh..wh.plnk/123", ""), f(".wh.top", "")],
    "overlay",
  );
  const wh = lstatSync(join(dir, "gone/x"));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
  assert.equal(opaque(join(dir, "o")), "y");
  assert.deepEqual(r.impliedDirs.sort(), ["deep/er", "gone", "o"], "deep has an entry of its own");
  assert.deepEqual(r.whiteouts.sort(), ["gone/x", "top"]);
  assert.ok(!existsSync(join(dir, ".wh..wh.plnk")), "aufs metadata is skipped");
});

test("overlay mode: a whiteout and a new directory in one layer make an opaque directory", { skip }, async () => {
  const dir = fresh();
  await apply(dir, [f(".wh.a", ""), d("a/"), f("a/x"), f(".wh.b", ""), f("b/y")], "overlay");
  assert.equal(opaque(join(dir, "a")), "y");
  assert.equal(opaque(join(dir, "b")), "y");
});

test("xattrs: user.* and trusted.* kept, overlayfs's own dropped", { skip }, async () => {
  const dir = fresh();
  await apply(dir, [f("x", "x", { xattrs: { "user.a": "1", "trusted.b": "2", "trusted.overlay.opaque": "y" } })]);
  const p = join(dir, "x");
  assert.deepEqual(native().llistxattr(p).sort(), ["trusted.b", "user.a"]);
});

test("refusals name the entry and why", { skip }, async () => {
  const cases: [E[], RegExp][] = [
    [[f("a/../../x")], /entry "a\/..\/..\/x": path "a\/..\/..\/x" climbs out of the layer root/],
    [[f("/x")], /entry "\/x": path "\/x" is absolute/],
    [[{ header: { name: "s", type: "symlink", linkname: "." } }, f("s/x")], /entry "s\/x": parent "s" is a symlink/],
    [[f("p"), f("p/x")], /entry "p\/x": parent "p" is not a directory/],
    [
      [{ header: { name: "h", type: "hardlink", linkname: "later" } }, f("later")],
      /hard link target "later" is not a file earlier/,
    ],
    [[d("dd/"), { header: { name: "h", type: "hardlink", linkname: "dd" } }], /hard link target "dd" is not a file earlier/],
  ];
  for (const [entries, message] of cases) await assert.rejects(apply(fresh(), entries), message);
});

test("a path that climbs and comes back in stays inside", { skip }, async () => {
  const dir = fresh();
  await apply(dir, [f("a/../b"), f("./c/./d")]);
  assert.deepEqual(readdirSync(dir).sort(), ["b", "c"]);
  assert.deepEqual(readdirSync(join(dir, "c")), ["d"]);
});
