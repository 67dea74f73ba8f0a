import assert from "node:assert/strict";
import { test } from "node:test";
import { ramInBytes } from "./memory-size.js";

test("ramInBytes takes go-units sizes: binary units, optional i/b, a space, fractions", () => {
  assert.equal(ramInBytes("4096"), 4096);
  assert.equal(ramInBytes("64m"), 64 * 1024 * 1024);
  assert.equal(ramInBytes("64M"), 64 * 1024 * 1024);
  assert.equal(ramInBytes("16MiB"), 16 * 1024 * 1024);
  assert.equal(ramInBytes("16mb"), 16 * 1024 * 1024);
  assert.equal(ramInBytes("1g"), 1024 ** 3);
  assert.equal(ramInBytes("1.5k"), 1536);
  assert.equal(ramInBytes("2 KB"), 2048);
  assert.equal(ramInBytes("10b"), 10);
  assert.equal(ramInBytes("-1"), -1);
});

test("ramInBytes refuses what go-units refuses", () => {
  for (const bad of ["", "m", "-5", "64x", "1.2.x", "12 34", "64mm", " 64m"])
    assert.throws(() => ramInBytes(bad), /invalid size/, bad);
});
