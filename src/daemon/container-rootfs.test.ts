import assert from "node:assert/strict";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { copyImageContent, ensureDirectory } from "./container-rootfs.js";

const root = process.getuid?.() === 0;
const skip = root ? false : "needs root (chown)";
const dir = mkdtempSync(join(tmpdir(), "berth-rootfs-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("ensureDirectory makes the missing parts root's and 0755, through symlinks inside the rootfs", { skip }, async () => {
  const rootfs = join(dir, "r1");
  mkdirSync(join(rootfs, "usr/lib"), { recursive: true });
  symlinkSync("usr/lib", join(rootfs, "lib"));
  await ensureDirectory(rootfs, "/lib/app/data");
  const st = lstatSync(join(rootfs, "usr/lib/app/data"));
  assert.ok(st.isDirectory());
  assert.equal(st.mode & 0o7777, 0o755);
  assert.equal(st.uid, 0);
  assert.equal(lstatSync(join(rootfs, "usr/lib/app")).mode & 0o7777, 0o755);
  assert.equal(readlinkSync(join(rootfs, "lib")), "usr/lib", "the symlink stays");
  await ensureDirectory(rootfs, "/lib/app/data"); // exists: nothing to do
});

test("ensureDirectory never leaves the rootfs: a dangling symlink out of it leads inside", { skip }, async () => {
  const rootfs = join(dir, "r2");
  const outside = join(dir, "outside");
  mkdirSync(rootfs, { recursive: true });
  symlinkSync(`/../../../..${outside}`, join(rootfs, "esc"));
  symlinkSync(`../../..${outside}`, join(rootfs, "rel"));
  await ensureDirectory(rootfs, "/esc/wd");
  await ensureDirectory(rootfs, "/rel/wd2");
  assert.equal(existsSync(outside), false);
  assert.ok(lstatSync(join(rootfs, outside, "wd")).isDirectory());
  assert.ok(lstatSync(join(rootfs, outside, "wd2")).isDirectory());
});

test("ensureDirectory refuses a file on the way", { skip }, async () => {
  const rootfs = join(dir, "r3");
  mkdirSync(rootfs, { recursive: true });
  writeFileSync(join(rootfs, "f"), "");
  await assert.rejects(ensureDirectory(rootfs, "/f/sub"), /create working directory \/f\/sub/);
});

test("copyImageContent copies into an empty volume only, keeping owners, modes and symlinks", { skip }, async () => {
  const rootfs = join(dir, "r4");
  const src = join(rootfs, "data");
  mkdirSync(join(src, "sub"), { recursive: true });
  writeFileSync(join(src, "f"), "x");
  chownSync(join(src, "f"), 7, 8);
  chmodSync(join(src, "f"), 0o604);
  symlinkSync("/etc/shadow", join(src, "s"));
  chownSync(src, 5, 6);
  chmodSync(src, 0o710);
  const vol = join(dir, "vol");
  mkdirSync(vol);
  await copyImageContent(rootfs, "/data", vol);
  assert.equal(lstatSync(vol).mode & 0o7777, 0o710);
  assert.equal(lstatSync(vol).uid, 5);
  assert.equal(lstatSync(join(vol, "f")).uid, 7);
  assert.equal(lstatSync(join(vol, "f")).mode & 0o7777, 0o604);
  assert.equal(readlinkSync(join(vol, "s")), "/etc/shadow");
  assert.ok(lstatSync(join(vol, "sub")).isDirectory());

  const full = join(dir, "full");
  mkdirSync(full);
  writeFileSync(join(full, "mine"), "");
  await copyImageContent(rootfs, "/data", full);
  assert.equal(existsSync(join(full, "f")), false, "a volume with content is left as it is");

  const none = join(dir, "none");
  mkdirSync(none);
  await copyImageContent(rootfs, "/missing", none);
  await copyImageContent(rootfs, "/data/f", none);
  assert.equal(existsSync(join(none, "f")), false);
});

test("copyImageContent resolves the mount point inside the rootfs", { skip }, async () => {
  const rootfs = join(dir, "r5");
  mkdirSync(rootfs, { recursive: true });
  const host = join(dir, "hostdir");
  mkdirSync(host);
  writeFileSync(join(host, "secret"), "host");
  symlinkSync(host, join(rootfs, "data")); // absolute: inside the rootfs it leads to <rootfs><host>, which is not there
  const vol = join(dir, "vol5");
  mkdirSync(vol);
  await copyImageContent(rootfs, "/data", vol);
  assert.equal(existsSync(join(vol, "secret")), false, "nothing of the host was copied");
});
