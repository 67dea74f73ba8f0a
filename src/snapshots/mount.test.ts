import assert from "node:assert/strict";
import { test } from "node:test";
import { parseMountOptions } from "./mount.js";

test("parseMountOptions: flag words become MS_* bits, the rest the data string", () => {
  assert.deepEqual(parseMountOptions(["rbind", "ro"]), { flags: 0x1000 | 0x4000 | 0x1, data: "" });
  assert.deepEqual(parseMountOptions(["nosuid", "nodev", "lowerdir=/a:/b", "upperdir=/u"]), {
    flags: 0x2 | 0x4,
    data: "lowerdir=/a:/b,upperdir=/u",
  });
  assert.deepEqual(parseMountOptions(["ro", "rw"]), { flags: 0, data: "" }, "a later word undoes an earlier one");
  assert.deepEqual(parseMountOptions([]), { flags: 0, data: "" });
});
