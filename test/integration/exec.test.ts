// exec into a running container: output, exit code, overrides, --process --detach --pid-file, shared namespaces.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RUNTIME_NAME, alive, rtest, waitFor } from "./harness.js";

const longRunning = (h: Parameters<Parameters<typeof rtest>[1]>[0]) =>
  h.detached(["sleep", "1000"], (s) => {
    s.hostname = "exec-host";
  });

rtest("exec: output and exit code", async (h) => {
  const { id } = await longRunning(h);
  const r = h.rt(["exec", id, "sh", "-c", "echo out; echo err >&2; exit 7"]);
  assert.equal(r.code, 7);
  assert.equal(r.stdout, "out\n");
  assert.equal(r.stderr, "err\n");
  assert.equal(h.rt(["exec", id, "true"]).code, 0);
  assert.equal(h.status(id), "running", "the container goes on");
});

rtest("exec: --env, --cwd and --user", async (h) => {
  const { id } = await longRunning(h);
  assert.equal(h.ok(["exec", "--env", "FOO=from-exec", id, "sh", "-c", 'echo "$FOO"']), "from-exec\n");
  assert.equal(h.ok(["exec", "--cwd", "/tmp", id, "pwd"]), "/tmp\n");
  assert.equal(h.ok(["exec", "--user", "1000:1001", id, "sh", "-c", "id -u; id -g"]), "1000\n1001\n");
});

rtest("exec: the same pid namespace, hostname and cgroup as the init", async (h) => {
  const { id, pid } = await longRunning(h);
  const out = h.ok([
    "exec",
    id,
    "sh",
    "-c",
    "echo $$; hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; readlink /proc/self/ns/pid",
  ]);
  const [mypid, host, init, ns] = out.split("\n");
  assert.notEqual(mypid, "1");
  assert.ok(Number(mypid) > 1 && Number(mypid) < 100, `a small pid in the container's namespace: ${mypid}`);
  assert.equal(host, "exec-host");
  assert.equal(init?.trim(), "sleep 1000");
  assert.equal(ns, readlinkSync(`/proc/${pid}/ns/pid`));
});

rtest("exec --process FILE --detach --pid-file: returns at once, the process runs in the container", async (h) => {
  const { id, pid, bundle } = await longRunning(h);
  const proc = h.path("process.json");
  writeFileSync(
    proc,
    JSON.stringify({
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ["sh", "-c", 'echo "$WHO in $(pwd)" > /tmp/exec-out; exec sleep 1000'],
      env: ["PATH=/bin", "WHO=detached"],
      cwd: "/etc",
    }),
  );
  const pidFile = h.path("exec.pid");
  const t0 = Date.now();
  h.ok(["exec", "--process", proc, "--detach", "--pid-file", pidFile, id]);
  assert.ok(Date.now() - t0 < 10_000, "--detach does not wait for the process");
  const execPid = Number(readFileSync(pidFile, "utf8").trim());
  assert.ok(execPid > 0 && execPid !== pid);
  assert.ok(alive(execPid), "the exec'd process runs after the runtime exited");
  const out = join(bundle, "rootfs/tmp/exec-out");
  await waitFor("the process output", () => existsSync(out) && readFileSync(out, "utf8").length > 0);
  assert.equal(readFileSync(out, "utf8"), "detached in /etc\n");
  assert.equal(
    readFileSync(`/proc/${execPid}/cgroup`, "utf8"),
    readFileSync(`/proc/${pid}/cgroup`, "utf8"),
    "the container's cgroups",
  );
  const pids = JSON.parse(h.ok(["ps", "--format", "json", id])) as number[];
  assert.ok(pids.includes(execPid), "ps lists it");
  h.ok(["delete", "--force", id]);
  await waitFor("the exec'd process to die with the container", () => !alive(execPid));
});

rtest("exec into a stopped container fails", async (h) => {
  const { id } = await longRunning(h);
  h.ok(["kill", id, "KILL"]);
  await waitFor("stopped", () => h.status(id) === "stopped");
  const r = h.rt(["exec", id, "true"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /stopped|not running/);
});

rtest("exec: an unknown program fails with a clear error", async (h) => {
  const { id } = await longRunning(h);
  const r = h.rt(["exec", id, "/no/such/program"]);
  assert.notEqual(r.code, 0);
  // runc reports 255 for its own failures; berth 1 (or 127 from the program's side)
  assert.match(r.stderr, /\/no\/such\/program/);
  if (RUNTIME_NAME !== "runc") assert.match(r.stderr, /no such file or directory/i);
  assert.equal(h.status(id), "running");
});
