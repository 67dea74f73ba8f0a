import assert from "node:assert/strict";
import { test } from "node:test";
import { humanSince, humanSize, shortId, table } from "./format.js";

test("sizes and ages read as docker prints them", () => {
  assert.equal(humanSize(512), "512B");
  assert.equal(humanSize(4860), "4.86kB");
  assert.equal(humanSize(1_234_567), "1.23MB");
  const now = Date.parse("2026-01-01T12:00:00Z");
  assert.equal(humanSince("2026-01-01T11:59:30Z", now), "30 seconds ago");
  assert.equal(humanSince("2026-01-01T10:00:00Z", now), "2 hours ago");
  assert.equal(humanSince(undefined, now), "N/A");
  assert.equal(shortId("sha256:0123456789abcdef0123"), "0123456789ab");
});

test("tables align columns", () => {
  assert.equal(table(["A", "BB"], [["xxx", "y"]]), "A     BB\nxxx   y\n");
});
