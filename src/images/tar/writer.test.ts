import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { BLOCK } from "./header.js";
import { formatPaxRecord, formatPaxTime, parsePax } from "./pax.js";
import { readTar } from "./reader.js";
import { encodeHeader, tarBuffer, TarWriter } from "./writer.js";

const hasGnuTar = spawnSync("tar", ["--version"], { encoding: "utf8" }).stdout?.includes("GNU tar") ?? false;

test("PAX records count their own length, across a digit boundary", () => {
  for (const v of ["", "x", "x".repeat(89), "x".repeat(90), "x".repeat(91), "x".repeat(994), "x".repeat(995)]) {
    const r = formatPaxRecord("path", v);
    assert.equal(Number(r.toString("latin1").split(" ")[0]), r.length, `value of ${v.length}`);
    assert.equal(parsePax(r).get("path")?.toString(), v);
  }
});

test("formatPaxTime writes integers plainly and fractions without trailing zeros", () => {
  assert.equal(formatPaxTime(5), "5");
  assert.equal(formatPaxTime(1.5), "1.5");
  assert.equal(formatPaxTime(-1.25), "-1.25");
  assert.equal(formatPaxTime(1_700_000_000.000001), "1700000000.000001");
});

test("the writer uses plain ustar when it fits and PAX only when it must", () => {
  assert.equal(encodeHeader({ name: "a/b", uid: 0o7777777, size: 0o77777777777 }).length, BLOCK);
  assert.ok(encodeHeader({ name: "a", uid: 0o7777777 + 1 }).length > BLOCK);
  assert.ok(encodeHeader({ name: "a", mtime: 1.5 }).length > BLOCK);
  assert.ok(encodeHeader({ name: "a", xattrs: { "user.a": "b" } }).length > BLOCK);
  assert.ok(encodeHeader({ name: "é" }).length > BLOCK);
  assert.throws(() => encodeHeader({ name: "a", uid: -1 }), /bad uid/);
});

test("TarWriter streams entries with backpressure and checks body sizes", async () => {
  const w = new TarWriter();
  const collected: Buffer[] = [];
  const done = (async () => {
    for await (const c of w.stream) collected.push(c as Buffer);
  })();
  await w.add({ name: "dir/", type: "directory" });
  await w.add({ name: "dir/big", size: 300_000 }, Readable.from([Buffer.alloc(100_000, 1), Buffer.alloc(200_000, 2)]));
  await w.add({ name: "dir/s" }, "small");
  await assert.rejects(w.add({ name: "short", size: 10 }, "abc"), /header says 10 bytes, the body has 3/);
  const ok = new TarWriter();
  const out: Buffer[] = [];
  const okDone = (async () => {
    for await (const c of ok.stream) out.push(c as Buffer);
  })();
  await ok.add({ name: "dir/big", size: 300_000 }, Readable.from([Buffer.alloc(100_000, 1), Buffer.alloc(200_000, 2)]));
  await ok.add({ name: "dir/s" }, "small");
  await ok.finish();
  await okDone;
  w.abort(new Error("test over"));
  await done.catch(() => {});
  const names = [];
  for await (const { header, body } of readTar(Readable.from([Buffer.concat(out)]))) {
    let n = 0;
    for await (const c of body) n += (c as Buffer).length;
    names.push([header.name, n]);
  }
  assert.deepEqual(names, [
    ["dir/big", 300_000],
    ["dir/s", 5],
  ]);
});

test("GNU tar extracts what the writer makes: long names, PAX owners, modes, links, xattrs", {
  skip: !hasGnuTar && "GNU tar is not installed",
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-tarw-"));
  try {
    const long = `${"a".repeat(99)}/${"b".repeat(99)}/${"c".repeat(99)}/${"d".repeat(110)}`;
    const tar = tarBuffer([
      { header: { name: long, mode: 0o640, mtime: 1_000_000_000.5 }, body: "long\n" },
      { header: { name: "sym", type: "symlink", linkname: "l".repeat(200) } },
      { header: { name: "hard", type: "hardlink", linkname: long } },
      { header: { name: "x", xattrs: { "user.k": "v" } }, body: "x" },
      { header: { name: "owned", uid: 4_000_000_000, gid: 3 }, body: "" },
    ]);
    const listing = execFileSync("tar", ["--numeric-owner", "-tvf", "-"], { input: tar, encoding: "utf8" });
    assert.match(listing, /4000000000\/3/);
    assert.match(listing, new RegExp(`sym -> ${"l".repeat(200)}`));
    execFileSync("tar", ["--xattrs", "--xattrs-include=user.*", "-C", dir, "-xf", "-"], { input: tar });
    assert.equal(readFileSync(join(dir, long), "utf8"), "long\n");
    assert.equal(lstatSync(join(dir, long)).mode & 0o7777, 0o640);
    assert.equal(Math.round(lstatSync(join(dir, long)).mtimeMs), 1_000_000_000_500);
    assert.equal(readlinkSync(join(dir, "sym")), "l".repeat(200));
    assert.equal(lstatSync(join(dir, "hard")).ino, lstatSync(join(dir, long)).ino);
    const xattr = spawnSync("getfattr", ["--only-values", "-n", "user.k", join(dir, "x")], { encoding: "utf8" });
    if (xattr.status === 0) assert.equal(xattr.stdout, "v");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
