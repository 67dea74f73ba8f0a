// Hooks: the six kinds, in order, each with the state JSON on stdin; a failing createRuntime hook.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Hook } from "../../src/oci/index.js";
import { RUNTIME_NAME, leftovers, rtest, runtimeVersion, waitFor } from "./harness.js";

/** A hook that saves its stdin to DIR/KIND.json and appends KIND to DIR/order (DIR as the hook sees it). */
const hook = (dir: string, kind: string): Hook => ({
  path: "/bin/sh",
  args: ["sh", "-c", `cat > ${dir}/${kind}.json; echo ${kind} >> ${dir}/order`],
  env: ["PATH=/usr/bin:/bin"],
});

rtest("all six hooks run in order with the state on stdin; poststop on delete", async (h) => {
  const bundle = h.bundle(["sleep", "1000"], (s) => {
    s.annotations = { hooked: "yes" };
  });
  const log = join(bundle, "rootfs/hooklog");
  mkdirSync(log);
  // rewrite the config with the hooks now that the bundle path is known
  const cfgPath = join(bundle, "config.json");
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
  cfg.hooks = {
    prestart: [hook(log, "prestart")],
    createRuntime: [hook(log, "createRuntime")],
    // createContainer runs in the container's mount namespace before pivot_root: host paths still work
    createContainer: [hook(log, "createContainer")],
    // startContainer runs in the container after pivot_root: its path and files are the container's
    startContainer: [hook("/hooklog", "startContainer")],
    poststart: [hook(log, "poststart")],
    poststop: [hook(log, "poststop")],
  };
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const order = () => (existsSync(join(log, "order")) ? readFileSync(join(log, "order"), "utf8").trim().split("\n") : []);
  const id = h.id();
  // runc before 1.2 runs poststart hooks in `create`, before the program starts (fixed in runc 1.2.0)
  const early = RUNTIME_NAME === "runc" && /^runc version 1\.[01]\./.test(runtimeVersion());
  h.ok(["create", "--bundle", bundle, id]);
  assert.deepEqual(order(), ["prestart", "createRuntime", "createContainer", ...(early ? ["poststart"] : [])]);
  h.ok(["start", id]);
  await waitFor("startContainer and poststart", () => order().length === 5);
  const started = early ? ["poststart", "startContainer"] : ["startContainer", "poststart"];
  assert.deepEqual(order(), ["prestart", "createRuntime", "createContainer", ...started]);
  const pid = Number(h.state(id)["pid"]);
  h.ok(["kill", id, "KILL"]);
  await waitFor("stopped", () => h.status(id) === "stopped");
  assert.equal(order().length, 5, "poststop waits for delete");
  h.ok(["delete", id]);
  assert.deepEqual(order(), ["prestart", "createRuntime", "createContainer", ...started, "poststop"]);

  const st = (k: string) => JSON.parse(readFileSync(join(log, `${k}.json`), "utf8")) as Record<string, unknown>;
  for (const k of ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]) {
    const s = st(k);
    assert.equal(s["id"], id, k);
    assert.equal(s["bundle"], bundle, k);
    assert.match(String(s["ociVersion"]), /^1\./, k);
    assert.deepEqual(s["annotations"], { hooked: "yes" }, k);
  }
  for (const k of ["prestart", "createRuntime", "poststart"]) assert.equal(st(k)["pid"], pid, k);
  // the spec wants the host's pid; runc 1.1 gives the hooks run in the container its own view, 1
  const inside = RUNTIME_NAME === "runc" ? 1 : pid;
  for (const k of ["createContainer", "startContainer"]) assert.equal(st(k)["pid"], inside, k);
  assert.equal(st("createRuntime")["status"], "creating");
  assert.equal(st("poststart")["status"], early ? "created" : "running");
  assert.equal(st("poststop")["status"], "stopped");
});

rtest("a failing createRuntime hook aborts create and leaves nothing behind", (h) => {
  const bundle = h.bundle(["sleep", "1000"], (s) => {
    s.hooks = { createRuntime: [{ path: "/bin/sh", args: ["sh", "-c", "echo hook says no >&2; exit 3"] }] };
  });
  const id = h.id();
  const r = h.rt(["create", "--bundle", bundle, id]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /createRuntime|hook/i);
  assert.deepEqual(leftovers(h, id, bundle), []);
  assert.deepEqual(readdirSync(h.root), []);
});

rtest("a poststop hook runs when a never-started container is deleted", (h) => {
  const bundle = h.bundle(["true"]);
  const mark = h.path("poststop.json");
  const cfgPath = join(bundle, "config.json");
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
  cfg.hooks = { poststop: [{ path: "/bin/sh", args: ["sh", "-c", `cat > ${mark}`], env: ["PATH=/usr/bin:/bin"] }] };
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const id = h.id();
  h.ok(["create", "--bundle", bundle, id]);
  assert.ok(!existsSync(mark));
  h.ok(["delete", "--force", id]);
  assert.equal((JSON.parse(readFileSync(mark, "utf8")) as { id: string }).id, id);
});
