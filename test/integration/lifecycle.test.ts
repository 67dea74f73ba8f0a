// The lifecycle through the CLI: run (attached, detached), create/start, state, kill, delete.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { RUNTIME, alive, cgroupDirsNamed, leftovers, python, rtest, sleep, waitFor } from "./harness.js";

rtest("run attached: stdout and exit 0", (h) => {
  const r = h.run(["sh", "-c", "echo hello from the container"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "hello from the container\n");
});

rtest("run attached: a container that exits at once, many times, is never reported gone before start", (h) => {
  // the init can write the exec fifo, exec and exit between two looks of `start`
  for (let i = 0; i < 25; i++) {
    const r = h.run(["true"]);
    assert.equal(r.code, 0, `run ${i}: ${r.stderr}`);
  }
});

rtest("run attached: the exit code is propagated", (h) => {
  assert.equal(h.run(["sh", "-c", "exit 3"]).code, 3);
  assert.equal(h.run(["false"]).code, 1);
});

rtest("run attached: a container killed by a signal exits 128+signal", async (h) => {
  const bundle = h.bundle(["sleep", "100"]);
  const id = h.id();
  const { done } = h.spawn(["run", "--bundle", bundle, id]);
  await waitFor("running", () => h.rt(["state", id]).stdout.includes('"running"'));
  h.ok(["kill", id, "KILL"]);
  const r = await done;
  assert.equal(r.signal, null, "the runtime itself must exit, not die");
  assert.equal(r.code, 137, r.stderr);
});

rtest("run --detach, state, kill, delete", async (h) => {
  const bundle = h.bundle(["sleep", "100"]);
  const id = h.id();
  const r = h.rt(["run", "--detach", "--bundle", bundle, id]);
  assert.equal(r.code, 0, r.stderr);
  const st = h.state(id);
  assert.equal(st["status"], "running");
  const pid = Number(st["pid"]);
  assert.ok(pid > 0 && alive(pid), `init pid ${pid} runs`);
  h.ok(["kill", id, "KILL"]);
  await waitFor("stopped", () => h.status(id) === "stopped");
  h.ok(["delete", id]);
  assert.ok(!alive(pid));
  const gone = h.rt(["state", id]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /does not exist/);
  assert.deepEqual(leftovers(h, id, bundle), []);
});

rtest("create/start: state JSON through created, running, stopped; pid file; init blocked until start", async (h) => {
  const bundle = h.bundle(["sh", "-c", "touch /started; exec sleep 100"], (s) => {
    s.annotations = { "org.berth.test": "yes", other: "two words" };
  });
  const id = h.id();
  const pidFile = h.path("init.pid");
  h.ok(["create", "--bundle", bundle, "--pid-file", pidFile, id]);
  const created = h.state(id);
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  const want = {
    ociVersion: created["ociVersion"],
    id,
    status: "created",
    pid,
    bundle,
    annotations: { "org.berth.test": "yes", other: "two words" },
  };
  assert.match(String(created["ociVersion"]), /^1\.\d+\.\d+/);
  // exactly the spec's fields; runc (and berth) add rootfs, created and owner, which callers ignore
  const extra = Object.keys(created).filter((k) => !(k in want));
  assert.deepEqual(
    extra.filter((k) => !["rootfs", "created", "owner"].includes(k)),
    [],
    "no unexpected fields",
  );
  assert.deepEqual(Object.fromEntries(Object.keys(want).map((k) => [k, created[k]])), want);
  assert.ok(alive(pid), "the init exists while created");
  await sleep(300);
  assert.ok(!existsSync(join(bundle, "rootfs/started")), "the init must not run its program before start");
  assert.equal(h.status(id), "created");

  h.ok(["start", id]);
  await waitFor("the program to run", () => existsSync(join(bundle, "rootfs/started")));
  const running = h.state(id);
  assert.equal(running["status"], "running");
  assert.equal(running["pid"], pid);
  assert.equal(h.rt(["start", id]).code, 1, "a second start fails");

  h.ok(["kill", id, "TERM"]); // pid 1 ignores TERM without a handler: sleep is pid 1
  await sleep(200);
  assert.equal(h.status(id), "running", "pid 1 without a TERM handler ignores TERM");
  h.ok(["kill", id, "KILL"]);
  await waitFor("stopped", () => h.status(id) === "stopped");
  const stopped = h.state(id);
  assert.equal(stopped["id"], id);
  assert.equal(stopped["bundle"], bundle);
  h.ok(["delete", id]);
  assert.deepEqual(leftovers(h, id, bundle), []);
});

rtest("stopped is detected after the init exits on its own (reaped by the host init)", async (h) => {
  const bundle = h.bundle(["sh", "-c", "sleep 0.2"]);
  const id = h.id();
  h.ok(["create", "--bundle", bundle, id]);
  const pid = Number(h.state(id)["pid"]);
  h.ok(["start", id]);
  await waitFor("stopped", () => h.status(id) === "stopped");
  assert.ok(!alive(pid));
  h.ok(["delete", id]);
});

// A subreaper parent keeps the dead init as a zombie until it reaps it: state must say
// stopped both while the zombie exists and after someone else reaped it.
const SUBREAPER = `
import ctypes, json, os, subprocess, sys, time
rt, root, bundle, cid = sys.argv[1:5]
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
def run(*a):
    # the init inherits the runtime's stdio: a pipe would keep us reading until it exits
    with open(os.devnull, "w") as null:
        r = subprocess.run([rt, "--root", root, *a], stdout=subprocess.PIPE if a[0] == "state" else null, stderr=null, text=True)
    if r.returncode: sys.exit("%s failed: %d" % (a, r.returncode))
    return r.stdout
run("create", "--bundle", bundle, cid)
pid = json.loads(run("state", cid))["pid"]
run("start", cid)
for _ in range(500):
    with open("/proc/%d/stat" % pid) as f:
        if f.read().rsplit(")", 1)[1].split()[0] == "Z": break
    time.sleep(0.01)
else: sys.exit("the init never became a zombie")
zombie = json.loads(run("state", cid))["status"]
os.waitpid(pid, 0)
reaped = json.loads(run("state", cid))["status"]
print(json.dumps({"zombie": zombie, "reaped": reaped}))
`;

rtest("stopped is detected while the init is an unreaped zombie and after its parent reaps it", async (h) => {
  const bundle = h.bundle(["true"]);
  const id = h.id();
  const r = await python(SUBREAPER, [RUNTIME, h.root, bundle, id]).done;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { zombie: "stopped", reaped: "stopped" });
  h.ok(["delete", id]);
  assert.deepEqual(leftovers(h, id, bundle), []);
});

rtest("delete removes the state dir and the cgroup dirs", async (h) => {
  const { id, pid, bundle } = await h.detached(["sleep", "100"]);
  assert.ok(existsSync(join(h.root, id)), "a state dir while it exists");
  const cgroups = cgroupDirsNamed(id);
  assert.ok(cgroups.length > 0, "the container has cgroup dirs named after it");
  h.ok(["kill", id, "KILL"]);
  await waitFor("stopped", () => h.status(id) === "stopped");
  h.ok(["delete", id]);
  assert.ok(!alive(pid));
  assert.deepEqual(leftovers(h, id, bundle), []);
  assert.deepEqual(
    cgroups.filter((d) => existsSync(d)),
    [],
  );
});

rtest("delete of a running container fails without --force and works with it", async (h) => {
  const { id, pid, bundle } = await h.detached(["sleep", "100"]);
  const r = h.rt(["delete", id]);
  assert.notEqual(r.code, 0, "delete of a running container must fail");
  assert.ok(r.stderr.length > 0, "and say why");
  assert.equal(h.status(id), "running", "and leave it running");
  h.ok(["delete", "--force", id]);
  await waitFor("the init to die", () => !alive(pid));
  assert.deepEqual(leftovers(h, id, bundle), []);
});

rtest("kill by name, by SIG name and by number", async (h) => {
  const script =
    'trap "echo usr1 >> /sigs" USR1; trap "echo usr2 >> /sigs" USR2; trap "echo hup >> /sigs" HUP; while :; do sleep 0.02; done';
  const { id, bundle } = await h.detached(["sh", "-c", script]);
  const sigs = join(bundle, "rootfs/sigs");
  const got = () => (existsSync(sigs) ? readFileSync(sigs, "utf8") : "");
  await sleep(100); // let sh install its traps
  h.ok(["kill", id, "USR1"]);
  await waitFor("USR1", () => got() === "usr1\n");
  h.ok(["kill", id, "12"]); // SIGUSR2
  await waitFor("USR2", () => got() === "usr1\nusr2\n");
  h.ok(["kill", id, "SIGHUP"]);
  await waitFor("HUP", () => got() === "usr1\nusr2\nhup\n");
  assert.notEqual(h.rt(["kill", id, "NOSUCHSIGNAL"]).code, 0, "an unknown signal is refused");
  h.ok(["kill", id, "9"]);
  await waitFor("stopped", () => h.status(id) === "stopped");
});

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
};

rtest("kill --all signals every process of the container, kill only the init", async (h) => {
  // pid 1 (sh) ignores TERM; its children do not
  const { id, pid } = await h.detached(["sh", "-c", "sleep 100 & sleep 100 & while :; do sleep 0.05; done"]);
  await waitFor(
    "the sleeps",
    () => (JSON.parse(h.ok(["ps", "--format", "json", id])) as number[]).filter((p) => cmdline(p) === "sleep 100").length === 2,
  );
  const pids = JSON.parse(h.ok(["ps", "--format", "json", id])) as number[];
  const children = pids.filter((p) => p !== pid && cmdline(p) === "sleep 100");
  assert.equal(children.length, 2, "ps lists both background sleeps");
  h.ok(["kill", id, "TERM"]);
  await sleep(200);
  assert.ok(children.every(alive), "kill without --all leaves the other processes");
  h.ok(["kill", "--all", id, "TERM"]);
  await waitFor("the children to die", () => children.every((p) => !alive(p)));
  assert.equal(h.status(id), "running", "the init ignores TERM and goes on");
  h.ok(["kill", "--all", id, "KILL"]);
  await waitFor("stopped", () => h.status(id) === "stopped");
});
