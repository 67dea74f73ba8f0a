import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { RLIMITS, rlimitNumber, rlimitValue } from "./rlimits.js";

test("rlimit names map to Linux resource numbers", () => {
  assert.equal(rlimitNumber("RLIMIT_CPU", "f"), 0);
  assert.equal(rlimitNumber("RLIMIT_CORE", "f"), 4);
  assert.equal(rlimitNumber("RLIMIT_NPROC", "f"), 6);
  assert.equal(rlimitNumber("RLIMIT_NOFILE", "f"), 7);
  assert.equal(rlimitNumber("RLIMIT_AS", "f"), 9);
  assert.equal(rlimitNumber("RLIMIT_RTTIME", "f"), 15);
  assert.equal(Object.keys(RLIMITS).length, 16);
});

test("an unknown rlimit is InvalidArgument naming the field's type", () => {
  assert.throws(
    () => rlimitNumber("RLIMIT_FOO", "process.rlimits[2]"),
    (e: unknown) =>
      isKind(e, "InvalidArgument") && (e as Error).message === 'process.rlimits[2].type: unknown rlimit "RLIMIT_FOO"',
  );
  assert.throws(
    () => rlimitNumber("nofile", "f"),
    (e: unknown) => isKind(e, "InvalidArgument"),
  );
});

test("values are exact bigints; 2^64-1 (rounded by JSON.parse) is RLIM_INFINITY", () => {
  assert.equal(rlimitValue(0), 0n);
  assert.equal(rlimitValue(1024), 1024n);
  assert.equal(rlimitValue(2 ** 53), 2n ** 53n);
  const parsed = (JSON.parse('{"hard": 18446744073709551615}') as { hard: number }).hard;
  assert.equal(rlimitValue(parsed), 0xffffffffffffffffn);
  assert.equal(rlimitValue(2 ** 63), 0xffffffffffffffffn);
  // the largest double below 2^63 is still a finite limit
  assert.equal(rlimitValue(2 ** 63 - 1024), 2n ** 63n - 1024n);
});
