import assert from "node:assert/strict";
import { test } from "node:test";
import { formatPlatform, hostPlatform, parsePlatform, platformScore } from "./platform.js";

test("platforms normalise as containerd's do", () => {
  assert.equal(formatPlatform({ os: "linux", architecture: "x86_64" }), "linux/amd64");
  assert.equal(formatPlatform({ os: "linux", architecture: "aarch64" }), "linux/arm64/v8");
  assert.equal(formatPlatform({ os: "linux", architecture: "arm" }), "linux/arm/v7");
  assert.deepEqual(parsePlatform("linux/arm64"), { os: "linux", architecture: "arm64", variant: "v8" });
  assert.throws(() => parsePlatform("linux"), /expected os\/arch/);
  assert.equal(hostPlatform().os, "linux");
});

test("matching prefers the exact variant; arm/v7 accepts older arm variants", () => {
  const v7 = parsePlatform("linux/arm/v7");
  assert.equal(platformScore(v7, parsePlatform("linux/arm/v7")), 100);
  assert.ok(platformScore(v7, parsePlatform("linux/arm/v6")) > 0);
  assert.equal(platformScore(parsePlatform("linux/arm/v6"), v7), 0);
  assert.equal(platformScore(parsePlatform("linux/amd64"), parsePlatform("linux/arm64")), 0);
  assert.equal(platformScore(parsePlatform("linux/arm64"), { os: "linux", architecture: "arm64" }), 100);
});
