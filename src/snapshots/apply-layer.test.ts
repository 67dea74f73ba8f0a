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

for (const mode of ["apply", "overlay"] as const) {
  test(`${mode} mode: a whiteout or opaque marker under a non-directory hides nothing and is skipped`, { skip }, async () => {
    const dir = fresh();
    // umoci 0.4.7: a directory replaced by a file is written as the file, then whiteouts under it
    await apply(dir, [f("p", "now a file"), f("p/.wh.inner", ""), f("p/.wh..wh..opq", ""), f("p/sub/.wh.x", "")], mode);
    await apply(dir, [{ header: { name: "q", type: "fifo" } }, f("q/.wh.x", "")], mode);
    assert.equal(readFileSync(join(dir, "p"), "utf8"), "now a file");
    assert.ok(lstatSync(join(dir, "q")).isFIFO());
  });

  test(`${mode} mode: a whiteout under a symlink is refused, and a regular entry under a non-directory`, { skip }, async () => {
    const outside = join(scratch, `outside${++n}`);
    mkdirSync(outside);
    writeFileSync(join(outside, "x"), "outside\n");
    const link = { header: { name: "s", type: "symlink", linkname: outside } } satisfies E;
    const cases: [E[], RegExp][] = [
      [[link, f("s/.wh.x", "")], /entry "s\/.wh.x": parent "s" is a symlink/],
      [[link, f("s/.wh..wh..opq", "")], /entry "s\/.wh..wh..opq": parent "s" is a symlink/],
      [[f("p"), f("p/.wh.x", ""), f("p/x")], /entry "p\/x": parent "p" is not a directory/],
      [[f("p"), d("p/sub/")], /entry "p\/sub\/": parent "p" is not a directory/],
    ];
    for (const [entries, message] of cases) await assert.rejects(apply(fresh(), entries, mode), message);
    assert.deepEqual(readdirSync(outside), ["x"]);
  });
}

test("apply mode: a whiteout under a lower layer's file or symlink, as the merged tree has it", { skip }, async () => {
  const dir = fresh();
  const outside = join(scratch, `outside${++n}`);
  mkdirSync(outside);
  writeFileSync(join(outside, "x"), "outside\n");
  await apply(dir, [d("m/"), f("m/inner"), f("lowerfile"), { header: { name: "s", type: "symlink", linkname: outside } }]);
  // the directory becomes a file in the next layer (umoci's order), and a lower file is whited out under
  await apply(dir, [f("m", "now a file"), f("m/.wh.inner", ""), f("lowerfile/.wh.x", "")]);
  assert.equal(readFileSync(join(dir, "m"), "utf8"), "now a file");
  assert.equal(readFileSync(join(dir, "lowerfile"), "utf8"), "lowerfile");
  await assert.rejects(apply(dir, [f("s/.wh.x", "")]), /entry "s\/.wh.x": parent "s" is a symlink/);
  assert.deepEqual(readdirSync(outside), ["x"]);
});

test("files written in the background: later entries that touch them wait, in both modes", { skip }, async () => {
  for (const mode of ["apply", "overlay"] as const) {
    const dir = fresh();
    const many = Array.from({ length: 200 }, (_, i) => f(`m/${i % 7}/f${i}`, `body ${i}`));
    await apply(
      dir,
      [
        ...[0, 1, 2, 3, 4, 5, 6].map((i) => d(`m/${i}/`)),
        ...many,
        { header: { name: "m/link", type: "hardlink", linkname: "m/3/f3" } }, // to a file maybe still in flight
        f("m/3/f10", "replaced"), // over one
        f("m/2/.wh.f9", ""), // whiteout of one
        { header: { name: "m/1/f1", type: "symlink", linkname: "f8" } }, // a symlink over one
        f("m/6/f6", "big".repeat(500_000)), // streamed inline, over a small one
        f("m/5/.wh..wh..opq", ""),
        f("m/4", "a directory of files becomes a file"),
        d("m/0/", { mtime: 1_000_000_000 }),
      ],
      mode,
    );
    assert.equal(readFileSync(join(dir, "m/link"), "utf8"), "body 3");
    assert.equal(lstatSync(join(dir, "m/link")).nlink, 2);
    assert.equal(readFileSync(join(dir, "m/3/f10"), "utf8"), "replaced");
    assert.equal(lstatSync(join(dir, "m/1/f1")).isSymbolicLink(), true);
    assert.equal(readFileSync(join(dir, "m/6/f6"), "utf8").length, 1_500_000);
    assert.equal(readFileSync(join(dir, "m/4"), "utf8"), "a directory of files becomes a file");
    assert.equal(readFileSync(join(dir, "m/0/f196"), "utf8"), "body 196");
    assert.equal(lstatSync(join(dir, "m/0")).mtimeMs, 1_000_000_000_000, "directory times after the writes into them");
    const wh = lstatSync(join(dir, "m/2/f9"), { throwIfNoEntry: false });
    assert.ok(mode === "apply" ? wh === undefined : wh?.isCharacterDevice(), `${mode}: the whiteout`);
    assert.equal(readdirSync(join(dir, "m/5")).length, 28, "an opaque marker keeps this layer's own files");
  }
});

test("a background write that fails fails the layer with its own message, before later refusals", { skip }, async () => {
  for (const mode of ["apply", "overlay"] as const) {
    const bad = f("a", "a", { xattrs: { "security.capability": "not a capability" } });
    const failed = /apply layer t: entry "a": set xattr security.capability/;
    await assert.rejects(apply(fresh(), [bad, ...Array.from({ length: 50 }, (_, i) => f(`x${i}`))], mode), failed);
    // sequentially "a" fails first: a later entry's refusal does not hide it
    await assert.rejects(apply(fresh(), [bad, f("b"), f("../escape")], mode), failed);
    // nothing is still being written once the layer has failed
    const dir = fresh();
    await assert.rejects(apply(dir, [...Array.from({ length: 50 }, (_, i) => f(`y${i}`)), f("../escape")], mode), /climbs out/);
    rmSync(dir, { recursive: true });
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!existsSync(dir), "no write landed after the layer failed");
  }
});
