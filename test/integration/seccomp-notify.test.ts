// linux.seccomp SCMP_ACT_NOTIFY: the listener handed to a seccomp agent at listenerPath, with the
// container process state, and the agent deciding the notified calls (a real agent, a real kernel).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before } from "node:test";
import type { Seccomp, Spec } from "../../src/oci/index.js";
import { buildCFixture, type CBuild } from "../fixtures/c-fixture.js";
import { type Harness, IS_BERTH, RUNTIME_NAME, leftovers, rtest, waitFor } from "./harness.js";

let agentBuild: CBuild = { skip: "not built yet" };
before(() => {
  agentBuild = buildCFixture("seccomp-agent.c", { static: false });
});
after(() => {
  if ("dir" in agentBuild) rmSync(agentBuild.dir, { recursive: true, force: true });
});

interface Agent {
  socket: string;
  /** where it writes state-<n>.json and its log of notified syscall numbers */
  dir: string;
  child: ChildProcess;
}

/** A running seccomp agent (test/fixtures/seccomp-agent.c) for this test; killed at cleanup. */
async function startAgent(h: Harness): Promise<Agent> {
  if (!("path" in agentBuild)) throw new Error(agentBuild.skip);
  const dir = h.path("agent");
  mkdirSync(dir);
  const socket = join(dir, "agent.sock");
  const child = spawn(agentBuild.path, [socket, dir], { stdio: ["ignore", "pipe", "inherit"] });
  h.onCleanup(() => child.kill("SIGKILL"));
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  await waitFor("the seccomp agent to listen", () => out.includes("ready"));
  return { socket, dir, child };
}

/** The state message of the agent's n-th hand-over (1-based). */
function handover(a: Agent, n: number): Record<string, unknown> {
  return JSON.parse(readFileSync(join(a.dir, `state-${n}.json`), "utf8")) as Record<string, unknown>;
}

/** A profile that sends `names` to the agent, everything else allowed. */
function notifyProfile(listenerPath: string, names: string[]): Seccomp {
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    listenerPath,
    listenerMetadata: "bar",
    architectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64"],
    syscalls: [{ names, action: "SCMP_ACT_NOTIFY" }],
  };
}

function withProfile(profile: Seccomp, noNewPrivileges: boolean): (s: Spec) => void {
  return (s) => {
    if (s.linux) s.linux.seccomp = profile;
    if (s.process) s.process.noNewPrivileges = noNewPrivileges;
  };
}

/** Whether the agent could be built; if not, the test is skipped with the reason. */
function needsAgent(t: { skip(m: string): void }): boolean {
  if (!("skip" in agentBuild)) return true;
  t.skip(agentBuild.skip);
  return false;
}

for (const nnp of [false, true]) {
  rtest(`seccomp notify: run, mkdir answered by the agent (noNewPrivileges ${nnp})`, async (h, t) => {
    if (!needsAgent(t)) return;
    const a = await startAgent(h);
    const bundle = h.bundle(
      ["sh", "-c", "mkdir /tmp/foo && stat -c %n /tmp/foo-bar && test ! -e /tmp/foo && echo done"],
      withProfile(notifyProfile(a.socket, ["mkdir", "mkdirat"]), nnp),
    );
    const id = h.id();
    const r = h.rt(["run", "--bundle", bundle, id]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    // the agent made "<path>-<metadata>" instead of what the container asked for
    assert.equal(r.stdout, "/tmp/foo-bar\ndone\n");
    // the container process state, as the runtime-spec says (ContainerProcessState)
    const m = handover(a, 1);
    assert.deepEqual(m["fds"], ["seccompFd"]);
    assert.equal(m["metadata"], "bar");
    assert.equal(typeof m["ociVersion"], "string");
    assert.ok(Number(m["pid"]) > 0);
    const st = m["state"] as Record<string, unknown>;
    assert.equal(st["id"], id);
    assert.equal(st["bundle"], bundle);
    assert.equal(st["pid"], m["pid"]);
    assert.ok(!existsSync(join(a.dir, "state-2.json")), "one hand-over per process");
  });

  rtest(`seccomp notify: exec gets a listener of its own (noNewPrivileges ${nnp})`, async (h, t) => {
    if (!needsAgent(t)) return;
    const a = await startAgent(h);
    const { id } = await h.detached(["sleep", "100"], withProfile(notifyProfile(a.socket, ["mkdir", "mkdirat"]), nnp));
    const out = h.ok(["exec", id, "sh", "-c", "mkdir /tmp/foo && stat -c %n /tmp/foo-bar"]);
    assert.equal(out, "/tmp/foo-bar\n");
    const init = handover(a, 1);
    const exec = handover(a, 2);
    assert.notEqual(exec["pid"], init["pid"], "the exec's own pid");
    assert.equal((exec["state"] as Record<string, unknown>)["status"], "running");
    assert.equal((exec["state"] as Record<string, unknown>)["id"], id);
  });

  rtest(`seccomp notify: the calls of the runtime's last steps and of exec itself (noNewPrivileges ${nnp})`, async (h, t) => {
    if (!needsAgent(t)) return;
    const a = await startAgent(h);
    // runc refuses notify on write, its channel to its init; berth's channel is sendmsg
    const names = ["execve", "openat", "open", "read", "close", "recvfrom", "sendto", ...(IS_BERTH ? ["write"] : [])];
    const r = h.run(["/bin/true"], withProfile(notifyProfile(a.socket, names), nnp));
    assert.equal(r.code, 0, r.stderr);
    const log = readFileSync(join(a.dir, "log"), "utf8").trim().split("\n").map(Number);
    assert.ok(log.includes(59), `execve (59) went to the agent: ${log.join(",")}`);
  });
}

rtest("seccomp notify: an error the agent returns reaches the caller", async (h, t) => {
  if (!needsAgent(t)) return;
  const a = await startAgent(h);
  const r = h.run(
    ["sh", "-c", "touch /tmp/f && chmod 777 /tmp/f"],
    withProfile(notifyProfile(a.socket, ["chmod", "fchmod", "fchmodat", "fchmodat2"]), false),
  );
  assert.notEqual(r.code, 0);
  assert.match(r.stderr + r.stdout, /chmod.*\/tmp\/f.*No medium found/);
});

rtest("seccomp notify: once the agent is gone, notified calls fail with ENOSYS", async (h, t) => {
  if (!needsAgent(t)) return;
  const a = await startAgent(h);
  const shared = h.path("shared");
  mkdirSync(shared);
  const bundle = h.bundle(["sh", "-c", "while [ ! -e /shared/go ]; do sleep 0.05; done; mkdir /tmp/foo"], (s) => {
    withProfile(notifyProfile(a.socket, ["mkdir", "mkdirat"]), false)(s);
    s.mounts?.push({ destination: "/shared", type: "bind", source: shared, options: ["bind"] });
  });
  const id = h.id();
  const run = h.spawn(["run", "--bundle", bundle, id]);
  await waitFor("the hand-over", () => existsSync(join(a.dir, "state-1.json")));
  a.child.kill("SIGKILL");
  await new Promise((r) => a.child.once("exit", r));
  writeFileSync(join(shared, "go"), "");
  const r = await run.done;
  assert.notEqual(r.code, 0);
  assert.match(r.stderr + r.stdout, /mkdir.*\/tmp\/foo.*Function not implemented/);
});

rtest("seccomp notify: no agent listening -> create fails, nothing left behind", async (h, t) => {
  if (!needsAgent(t)) return;
  const bundle = h.bundle(["true"], withProfile(notifyProfile(h.path("nobody.sock"), ["mkdir"]), false));
  const id = h.id();
  const r = h.rt(["create", "--bundle", bundle, id]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /seccomp agent/);
  assert.deepEqual(leftovers(h, id, bundle), []);
});

rtest("seccomp notify: an empty or abstract listenerPath is refused", (h) => {
  for (const path of ["", "@berth-test-agent"]) {
    const bundle = h.bundle(["true"], withProfile(notifyProfile(path, ["mkdir"]), false));
    const id = h.id();
    const r = h.rt(["run", "--bundle", bundle, id]);
    assert.notEqual(r.code, 0, `listenerPath ${JSON.stringify(path)}`);
    if (IS_BERTH) assert.match(r.stderr, /listenerPath/);
    assert.deepEqual(leftovers(h, id, bundle), []);
  }
});

rtest("seccomp: a listenerPath without notify rules is ignored", (h) => {
  const out = h.runOk(["sh", "-c", "mkdir /tmp/foo && echo made"], (s) => {
    if (s.linux) s.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", listenerPath: h.path("nobody.sock") };
  });
  assert.equal(out, "made\n");
});

rtest(
  "seccomp notify: on sendmsg (the listener's hand-over) it is refused with a reason",
  (h) => {
    const r = h.run(["true"], withProfile(notifyProfile(h.path("agent.sock"), ["sendmsg"]), false));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /SCMP_ACT_NOTIFY cannot be used for sendmsg/);
  },
  { berthOnly: `berth hands the listener over with sendmsg (${RUNTIME_NAME} with write)` },
);
