import assert from "node:assert/strict";
import { test } from "node:test";
import { commandOf } from "./global-flags.js";

test("commandOf: the command word past the global options, with and without their values", () => {
  assert.equal(commandOf(["run", "--rm", "busybox"]), "run");
  assert.equal(commandOf(["-H", "unix:///x.sock", "ps", "-a"]), "ps");
  assert.equal(commandOf(["--host", "unix:///x.sock", "-D", "logs", "x"]), "logs");
  assert.equal(commandOf(["--host=unix:///x.sock", "images"]), "images");
  assert.equal(commandOf(["--data-root", "/d", "--insecure-registry", "r:5000", "pull", "r:5000/a"]), "pull");
  assert.equal(commandOf(["--debug", "--", "exec", "c", "sh"]), "exec");
  assert.equal(commandOf(["-v"]), "");
  assert.equal(commandOf([]), "");
});
