// The process: env, cwd, user, umask, rlimits, capabilities, no_new_privs, oom_score_adj, terminal, fds.
import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { python, rtest, waitFor } from "./harness.js";

rtest("env and cwd", (h) => {
  const out = h.runOk(["sh", "-c", 'echo "$FOO|$EMPTY|$PATH"; pwd'], (s) => {
    if (!s.process) return;
    s.process.env = ["FOO=bar baz", "EMPTY=", "PATH=/bin:/usr/bin"];
    s.process.cwd = "/var";
  });
  assert.equal(out, "bar baz||/bin:/usr/bin\n/var\n");
});

rtest("user: uid, gid and additionalGids", (h) => {
  const out = h.runOk(["sh", "-c", "id -u; id -g; grep -E '^(Uid|Gid|Groups):' /proc/self/status"], (s) => {
    if (s.process) s.process.user = { uid: 1000, gid: 1001, additionalGids: [2000, 3000] };
  });
  const lines = out
    .trim()
    .split("\n")
    .map((l) => l.split(/\s+/).join(" "));
  assert.deepEqual(lines, ["1000", "1001", "Uid: 1000 1000 1000 1000", "Gid: 1001 1001 1001 1001", "Groups: 2000 3000"]);
});

rtest("umask", (h) => {
  const out = h.runOk(["sh", "-c", "umask; touch /tmp/f; stat -c %a /tmp/f"], (s) => {
    if (s.process) s.process.user.umask = 0o077;
  });
  assert.equal(out, "0077\n600\n");
});

rtest("rlimits: RLIMIT_NOFILE soft and hard", (h) => {
  const out = h.runOk(["sh", "-c", "ulimit -n; ulimit -Hn"], (s) => {
    if (s.process) s.process.rlimits = [{ type: "RLIMIT_NOFILE", soft: 123, hard: 456 }];
  });
  assert.equal(out, "123\n456\n");
});

rtest("capabilities: CapEff, CapPrm and CapBnd are exactly the configured sets", (h) => {
  const out = h.runOk(["sh", "-c", "grep -E '^Cap(Eff|Prm|Bnd|Amb):' /proc/self/status"], (s) => {
    if (!s.process) return;
    const caps = ["CAP_CHOWN", "CAP_KILL"]; // bits 0 and 5
    s.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
  });
  const got = Object.fromEntries(
    out
      .trim()
      .split("\n")
      .map((l) => l.split(/:\s+/)),
  );
  assert.deepEqual(got, {
    CapPrm: "0000000000000021",
    CapEff: "0000000000000021",
    CapBnd: "0000000000000021",
    CapAmb: "0000000000000000",
  });
});

rtest("noNewPrivileges sets NoNewPrivs, and only when asked", (h) => {
  const nnp = (on: boolean) =>
    h.runOk(["sh", "-c", "grep NoNewPrivs /proc/self/status"], (s) => {
      if (s.process) s.process.noNewPrivileges = on;
    });
  assert.match(nnp(true), /NoNewPrivs:\s+1/);
  assert.match(nnp(false), /NoNewPrivs:\s+0/);
});

rtest("oomScoreAdj", (h) => {
  // raising it needs no privilege (root here lacks CAP_SYS_RESOURCE to lower it)
  const mine = Number(readFileSync("/proc/self/oom_score_adj", "utf8"));
  const want = Math.min(1000, Math.max(mine, 0) + 321);
  const out = h.runOk(["cat", "/proc/self/oom_score_adj"], (s) => {
    if (s.process) s.process.oomScoreAdj = want;
  });
  assert.equal(out.trim(), String(want));
});

rtest("the init gets only fds 0, 1 and 2 (no runtime or host fd leaks in)", (h) => {
  // ls opens the dir it lists: fd 3 is that, and nothing else may be open
  const out = h.runOk(["sh", "-c", "exec ls /proc/self/fd"]);
  assert.deepEqual(out.trim().split(/\s+/).sort(), ["0", "1", "2", "3"]);
});

rtest(
  "--preserve-fds N with gaps in the caller's fds: none of the runtime's own fds fills them",
  (h) => {
    // fd 3 is passed, 4..7 are not: the executor's, the launcher's and Node's fds (the exec fifo,
    // a socket to a warm server, epoll) must not appear there in the container
    const file = h.path("fd3.in");
    writeFileSync(file, "three\n");
    const fd = openSync(file, "r");
    try {
      const b = h.bundle([
        "sh",
        "-c",
        "for f in 3 4 5 6 7 8 9; do [ -e /proc/$$/fd/$f ] && echo open $f $(readlink /proc/$$/fd/$f); done; echo end",
      ]);
      const r = h.rt(["run", "--preserve-fds", "5", "--bundle", b, h.id()], { extraFds: [fd] });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `open 3 ${file}\nend\n`);
    } finally {
      closeSync(fd);
    }
  },
  {
    skipFor: {
      runc: "runc 1.1.5 fills the gaps with its own fds (an O_PATH fd of /sys/fs/cgroup, epoll, pipes): CVE-2024-21626's class",
    },
  },
);

rtest("--preserve-fds passes fd 3 on; without it fd 3 is closed", (h) => {
  const file = h.path("fd3.out");
  const fd = openSync(file, "w");
  try {
    const b = h.bundle(["sh", "-c", "echo through fd 3 >&3"]);
    const r = h.rt(["run", "--preserve-fds", "1", "--bundle", b, h.id()], { extraFds: [fd] });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(file, "utf8"), "through fd 3\n");
    const without = h.rt(["run", "--bundle", b, h.id()], { extraFds: [fd] });
    assert.notEqual(without.code, 0, "fd 3 must not reach the container without --preserve-fds");
    assert.equal(readFileSync(file, "utf8"), "through fd 3\n");
  } finally {
    closeSync(fd);
  }
});

// The console socket: accept one connection, take the pty master from SCM_RIGHTS, read it
// until the container side closes (EIO), print what came as JSON.
const CONSOLE = `
import array, json, os, select, socket, sys
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path); srv.listen(1)
print("ready", flush=True)
srv.settimeout(20)
conn, _ = srv.accept()
fds = array.array("i")
msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
for level, kind, data in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
out = b""
if fds:
    while True:
        r, _, _ = select.select([fds[0]], [], [], 20)
        if not r: break
        try: b = os.read(fds[0], 4096)
        except OSError: break
        if not b: break
        out += b
print(json.dumps({"fds": len(fds), "data": out.decode(errors="replace")}), flush=True)
`;

rtest("terminal: the pty master goes to --console-socket and carries the container's output", async (h) => {
  const sock = h.path("console.sock");
  const py = python(CONSOLE, [sock]);
  let ready = false;
  py.child.stdout?.on("data", (d: Buffer) => {
    if (d.toString().startsWith("ready")) ready = true;
  });
  h.onCleanup(() => py.child.kill("SIGKILL"));
  await waitFor("the console socket", () => ready);
  const bundle = h.bundle(["sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo is-a-tty; stty size"], (s) => {
    if (!s.process) return;
    s.process.terminal = true;
    s.process.consoleSize = { height: 33, width: 111 };
  });
  const id = h.id();
  h.ok(["run", "--detach", "--console-socket", sock, "--bundle", bundle, id]);
  const r = await py.done;
  const line = r.stdout.split("\n").find((l) => l.startsWith("{")) ?? "{}";
  const got = JSON.parse(line) as { fds: number; data: string };
  assert.equal(got.fds, 1, `one fd by SCM_RIGHTS: ${r.stderr}`);
  const text = got.data.replaceAll("\r", "");
  assert.match(text, /^\/dev\/pts\/\d+$/m);
  assert.match(text, /^is-a-tty$/m);
  assert.match(text, /^33 111$/m);
});
