import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { MS, PROPAGATION, parseMountOptions } from "./mount-options.js";

test("no options: no flags, no data, not a bind", () => {
  assert.deepEqual(parseMountOptions(undefined, "mounts[0]"), { flags: 0, propagation: 0, data: [], bind: false });
  assert.deepEqual(parseMountOptions([], "mounts[0]"), { flags: 0, propagation: 0, data: [], bind: false });
});

test("flag options set mount(2) flags", () => {
  const o = parseMountOptions(["nosuid", "nodev", "noexec", "ro", "relatime", "strictatime"], "m");
  assert.equal(o.flags, MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RDONLY | MS.RELATIME | MS.STRICTATIME);
  assert.equal(o.bind, false);
  assert.equal(parseMountOptions(["defaults"], "m").flags, 0);
});

test("bind and rbind", () => {
  assert.deepEqual(parseMountOptions(["bind"], "m"), { flags: MS.BIND, propagation: 0, data: [], bind: true });
  const r = parseMountOptions(["rbind", "ro"], "m");
  assert.equal(r.flags, MS.BIND | MS.REC | MS.RDONLY);
  assert.equal(r.bind, true);
});

test("later clearing options undo earlier ones, in order", () => {
  assert.equal(parseMountOptions(["ro", "rw"], "m").flags, 0);
  assert.equal(parseMountOptions(["rw", "ro"], "m").flags, MS.RDONLY);
  assert.equal(parseMountOptions(["nosuid", "noexec", "suid", "exec", "nodev"], "m").flags, MS.NODEV);
  assert.equal(parseMountOptions(["noatime", "atime"], "m").flags, 0);
  assert.equal(parseMountOptions(["nosymfollow", "symfollow"], "m").flags, 0);
});

test("propagation options go apart from the flags", () => {
  const o = parseMountOptions(["rbind", "rprivate"], "m");
  assert.equal(o.flags, MS.BIND | MS.REC);
  assert.equal(o.propagation, MS.PRIVATE | MS.REC);
  assert.equal(parseMountOptions(["shared"], "m").propagation, MS.SHARED);
  assert.equal(parseMountOptions(["rslave"], "m").propagation, MS.SLAVE | MS.REC);
  assert.equal(parseMountOptions(["runbindable"], "m").propagation, MS.UNBINDABLE | MS.REC);
  assert.equal(PROPAGATION["rshared"], MS.SHARED | MS.REC);
});

test("anything else is filesystem data, kept in order", () => {
  const o = parseMountOptions(["nosuid", "mode=755", "size=65536k", "newinstance", "gid=5"], "m");
  assert.equal(o.flags, MS.NOSUID);
  assert.deepEqual(o.data, ["mode=755", "size=65536k", "newinstance", "gid=5"]);
});

test("tmpcopyup is accepted and dropped", () => {
  assert.deepEqual(parseMountOptions(["tmpcopyup", "mode=1777"], "m").data, ["mode=1777"]);
});

test("an empty option is InvalidArgument naming the field", () => {
  assert.throws(
    () => parseMountOptions(["ro", ""], "mounts[2]"),
    (e: unknown) => isKind(e, "InvalidArgument") && (e as Error).message.startsWith("mounts[2]: empty mount option"),
  );
});

test("recursive flag options and idmap are not implemented yet", () => {
  for (const opt of ["idmap", "ridmap", "rro", "rrw", "rnosuid", "rnoexec", "rnoatime"])
    assert.throws(
      () => parseMountOptions([opt], "mounts[0]"),
      (e: unknown) => isKind(e, "NotImplemented") && (e as Error).message.includes(`"${opt}"`),
      opt,
    );
});
