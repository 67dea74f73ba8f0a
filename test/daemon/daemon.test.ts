// berthd + berth-shim + the berth CLI, end to end: a real daemon on a temp data root, a busybox
// image imported from a locally built rootfs, containers run by berth-runtime under berth-shim.
// Root only (namespaces, mounts, cgroups).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BERTH, TestDaemon, waitFor } from "../fixtures/berthd.js";

const root = process.getuid?.() === 0;
const skip = root ? false : "needs root (namespaces, mounts, cgroups)";

// a subnet and bridge of the test's own, so the host's networks are never touched
const BRIDGE = `bt${process.pid % 100000}`;
const SUBNET = "10.231.77.0/24";

// the CLI gets --data-root too: its image commands act in-process on berthd's store
const td = new TestDaemon({ prefix: "berthd-test-", subnet: SUBNET, bridge: BRIDGE, cliDataRoot: true });
const berth = (args: string[], input?: string) => td.berth(args, input);
const ok = (args: string[], input?: string) => td.ok(args, input);
const inspect = (id: string) => td.inspect(id);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("berthd", { skip, concurrency: false }, () => {
  before(() => td.setup());

  after(() => td.teardown());

  test("run --rm: output, exit code, and nothing left behind", async () => {
    const r = await berth([
      "run",
      "--rm",
      "--network",
      "none",
      "busybox",
      "sh",
      "-c",
      "echo hello from $(hostname); echo oops >&2; exit 3",
    ]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^hello from [0-9a-f]{12}\n$/);
    assert.equal(r.stderr, "oops\n");
    assert.equal((await ok(["ps", "-aq"])).trim(), "", "--rm removed the container");
    // (its files are deleted right after the removal is reported)
    await waitFor("no bundle left", async () => readdirSync(join(td.execRoot, "bundles")).length === 0);
  });

  test("run -i: stdin reaches the container and its end is EOF", async () => {
    const out = await ok(
      ["run", "--rm", "-i", "--network", "none", "busybox", "sh", "-c", "tr a-z A-Z; echo done"],
      "some input\n",
    );
    assert.equal(out, "SOME INPUT\ndone\n");
  });

  test("detached: ps, logs with stdout and stderr apart, exec, top, stop", async () => {
    const id = (
      await ok([
        "run",
        "-d",
        "--name",
        "sleeper",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exec sleep 1000",
      ])
    ).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    await waitFor("logs", async () => (await berth(["logs", "sleeper"])).stdout === "out\n");
    const logs = await berth(["logs", "sleeper"]);
    assert.equal(logs.stdout, "out\n");
    assert.equal(logs.stderr, "err\n");
    const ts = await ok(["logs", "-t", "--tail", "1", "sleeper"]);
    assert.match(ts, /^$|^\d{4}-\d\d-\d\dT[\d:.]+Z (out|err)\n$/);
    const ps = await ok(["ps"]);
    assert.match(ps, /sleeper/);
    assert.match(ps, /Up /);
    const x = await berth(["exec", "sleeper", "sh", "-c", "echo $((40+2)); exit 4"]);
    assert.equal(x.code, 4);
    assert.equal(x.stdout, "42\n");
    const top = await ok(["top", "sleeper"]);
    assert.match(top, /sleep 1000/);
    const t0 = Date.now();
    await ok(["stop", "-t", "1", "sleeper"]);
    assert.ok(Date.now() - t0 < 15_000);
    const st = await inspect("sleeper");
    assert.equal(st.State.Status, "exited");
    assert.equal(st.State.ExitCode, 137, "sleep as pid 1 ignores SIGTERM: killed after the timeout");
    await ok(["rm", "sleeper"]);
  });

  test("run exit codes as docker's: 127 command not found, 125 refused by the daemon", async () => {
    const nf = await berth(["run", "--rm", "--network", "none", "busybox", "/no/such/command"]);
    assert.equal(nf.code, 127, nf.stderr);
    assert.match(nf.stderr, /no\/such\/command/);
    const bad = await berth(["run", "--rm", "--network", "none", "--cap-add", "NOT_A_CAP", "busybox", "true"]);
    assert.equal(bad.code, 125, bad.stderr);
    assert.match(bad.stderr, /NOT_A_CAP/);
    const stopT = await berth(["stop", "-t", "x", "nosuch"]);
    assert.notEqual(stopT.code, 0);
    assert.equal((await ok(["ps", "-aq"])).trim(), "", "--rm removed the container that could not start");
  });

  test("errors: unknown image, unknown container, name conflict, removing a running container", async () => {
    const r = await berth(["run", "--rm", "--pull", "never", "nosuchimage:1", "true"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /nosuchimage/);
    const s = await berth(["stop", "nosuchcontainer"]);
    assert.equal(s.code, 1);
    assert.match(s.stderr, /No such container: nosuchcontainer/);
    await ok(["create", "--name", "dup", "--network", "none", "busybox", "true"]);
    const d = await berth(["create", "--name", "dup", "--network", "none", "busybox", "true"]);
    assert.notEqual(d.code, 0);
    assert.match(d.stderr, /already in use/);
    await ok(["rm", "dup"]);
    await ok(["run", "-d", "--name", "busy", "--network", "none", "busybox", "sleep", "1000"]);
    const rm = await berth(["rm", "busy"]);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /cannot remove a running container/);
    await ok(["rm", "-f", "busy"]);
    const nocmd = await berth(["create", "--network", "none", "--entrypoint", "", "busybox"]);
    assert.notEqual(nocmd.code, 0);
    assert.match(nocmd.stderr, /no command specified/i);
  });

  test("restart policy on-failure:2 restarts twice, then leaves it exited", async () => {
    const id = (
      await ok(["run", "-d", "--restart", "on-failure:2", "--network", "none", "busybox", "sh", "-c", "exit 5"])
    ).trim();
    await waitFor("two restarts", async () => {
      const s = await inspect(id);
      return s.RestartCount === 2 && s.State.Status === "exited";
    });
    const s = await inspect(id);
    assert.equal(s.State.ExitCode, 5);
    assert.equal((await ok(["wait", id])).trim(), "5");
    await ok(["rm", id]);
  });

  test("default bridge network: an address in the subnet, a published port reached on loopback", async () => {
    const id = (
      await ok([
        "run",
        "-d",
        "-p",
        "127.0.0.1:18089:8080",
        "busybox",
        "sh",
        "-c",
        "echo hi-from-httpd > /tmp/index.html; exec httpd -f -p 8080 -h /tmp",
      ])
    ).trim();
    const s = await inspect(id);
    assert.match(s.NetworkSettings.IPAddress, /^10\.231\.77\.\d+$/);
    let body = "";
    await waitFor(
      "httpd through the published port",
      () =>
        new Promise<boolean>((resolve) => {
          const req = get("http://127.0.0.1:18089/index.html", (res) => {
            res.setEncoding("utf8");
            res.on("data", (d: string) => {
              body += d;
            });
            res.on("end", () => resolve(body.includes("hi-from-httpd")));
          });
          req.on("error", () => resolve(false));
        }),
    );
    assert.match(body, /hi-from-httpd/);
    await ok(["rm", "-f", id]);
    assert.equal(existsSync(join(td.execRoot, "netns", id)), false, "the netns went with the container");
  });

  test("user network: containers reach each other by name; network rm refused while in use", async () => {
    await ok(["network", "create", "--subnet", "10.231.78.0/24", "testnet"]);
    const ls = await ok(["network", "ls"]);
    assert.match(ls, /testnet\s+bridge\s+local/);
    await ok([
      "run",
      "-d",
      "--name",
      "srv",
      "--network",
      "testnet",
      "busybox",
      "sh",
      "-c",
      "echo pong > /tmp/p; exec httpd -f -p 80 -h /tmp",
    ]);
    const r = await berth(["run", "--rm", "--network", "testnet", "busybox", "wget", "-q", "-O", "-", "http://srv/p"]);
    assert.equal(r.stdout, "pong\n", r.stderr);
    const busy = await berth(["network", "rm", "testnet"]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /attached/);
    await ok(["rm", "-f", "srv"]);
    await ok(["network", "rm", "testnet"]);
    assert.doesNotMatch(await ok(["network", "ls"]), /testnet/);
  });

  test("volumes: a named volume outlives its container; binds; read-only rootfs; tmpfs", async () => {
    const src = join(td.dir, "bind-src");
    execFileSync("mkdir", ["-p", src]);
    writeFileSync(join(src, "hello.txt"), "from the host\n");
    await ok(["run", "--rm", "--network", "none", "-v", "data1:/data", "busybox", "sh", "-c", "echo kept > /data/f"]);
    assert.equal(await ok(["run", "--rm", "--network", "none", "-v", "data1:/data:ro", "busybox", "cat", "/data/f"]), "kept\n");
    assert.match(await ok(["volume", "ls"]), /data1/);
    const out = await ok([
      "run",
      "--rm",
      "--network",
      "none",
      "--read-only",
      "--tmpfs",
      "/scratch",
      "-v",
      `${src}:/mnt:ro`,
      "busybox",
      "sh",
      "-c",
      "cat /mnt/hello.txt; touch /x 2>/dev/null || echo rootfs-ro; touch /scratch/y && echo tmpfs-rw; touch /mnt/z 2>/dev/null || echo bind-ro",
    ]);
    assert.equal(out, "from the host\nrootfs-ro\ntmpfs-rw\nbind-ro\n");
    await ok(["volume", "rm", "data1"]);
    assert.doesNotMatch(await ok(["volume", "ls"]), /data1/);
  });

  test("--format is a Go template as docker's: ps rows and table, inspect with range, images", async () => {
    const id = (
      await ok(["run", "-d", "--name", "fmt-web", "-l", "tier=front", "--network", "none", "busybox", "sleep", "1000"])
    ).trim();
    assert.equal(
      await ok(["ps", "--filter", "name=fmt-web", "--format", "{{.Names}} {{.State}} {{.Labels}}"]),
      "fmt-web running tier=front\n",
    );
    assert.match(
      await ok(["ps", "--filter", "name=fmt-web", "--format", "table {{.ID}}\\t{{.Names}}"]),
      new RegExp(`^CONTAINER ID   NAMES\\n${id.slice(0, 12)}   fmt-web\\n$`),
    );
    const row = JSON.parse(await ok(["ps", "--filter", "name=fmt-web", "--format", "json"])) as Record<string, string>;
    assert.deepEqual(
      [row["ID"], row["Names"], row["Command"]],
      [id.slice(0, 12), "fmt-web", '"sleep 1000"'],
      "docker's ps fields",
    );
    assert.equal(
      await ok([
        "inspect",
        "-f",
        "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{end}} {{if .State.Running}}up{{end}} {{index .Config.Cmd 1}}",
        id,
      ]),
      "tier=front up 1000\n",
    );
    assert.equal(await ok(["images", "--format", "{{.Repository}}:{{.Tag}}", "busybox"]), "busybox:latest\n");
    const bad = await berth(["inspect", "-f", "{{.Name", id]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /template parsing error/);
    await ok(["rm", "-f", id]);
  });

  test("--network none: lo only, and up (docker's); its netns file goes with the container", async () => {
    const id = (await ok(["run", "-d", "--network", "none", "busybox", "sleep", "1000"])).trim();
    const links = await ok(["exec", id, "ip", "-o", "link"]);
    assert.deepEqual(
      links
        .trim()
        .split("\n")
        .map((l) => l.split(":")[1]?.trim()),
      ["lo"],
      "no interface but lo",
    );
    assert.match(links, /<LOOPBACK,UP,LOWER_UP>/);
    assert.match(await ok(["exec", id, "ip", "-o", "-4", "addr", "show", "lo"]), /inet 127\.0\.0\.1\/8/);
    // something listening on 127.0.0.1 is reachable inside
    assert.match(await ok(["exec", id, "sh", "-c", "nc -l -p 7777 -e echo served & sleep 0.3; nc 127.0.0.1 7777"]), /served/);
    await ok(["rm", "-f", id]);
    // released in the background (nothing waits for a none container's namespace)
    await waitFor("the netns file to go", async () => !existsSync(join(td.execRoot, "netns", id)));
    assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(id), "no mount of it left");
  });

  test("-t gives a pty; --init runs tini as pid 1; --cap-drop and -u apply", async () => {
    assert.match(await ok(["run", "--rm", "-t", "--network", "none", "busybox", "tty"]), /^\/dev\/pts\/\d+\r?\n$/);
    assert.match(await ok(["run", "--rm", "--init", "--network", "none", "busybox", "cat", "/proc/1/cmdline"]), /docker-init/);
    const r = await berth(["run", "--rm", "--network", "none", "--cap-drop", "CHOWN", "busybox", "chown", "nobody", "/tmp"]);
    assert.notEqual(r.code, 0, "chown without CAP_CHOWN fails");
    assert.equal(await ok(["run", "--rm", "--network", "none", "-u", "nobody", "busybox", "id", "-u"]), "65534\n");
  });

  test("stats: the memory limit and pids of a running container; update changes the limit", async () => {
    const id = (await ok(["run", "-d", "-m", "64m", "--network", "none", "busybox", "sleep", "1000"])).trim();
    const s = JSON.parse(await ok(["stats", "--no-stream", "--format", "json", id])) as {
      memory_stats: { limit: number; usage: number };
      pids_stats: { current: number };
    };
    assert.equal(s.memory_stats.limit, 64 * 1024 * 1024);
    assert.ok(s.memory_stats.usage > 0);
    assert.equal(s.pids_stats.current, 1);
    await ok(["update", "-m", "128m", id]);
    const t = JSON.parse(await ok(["stats", "--no-stream", "--format", "json", id])) as { memory_stats: { limit: number } };
    assert.equal(t.memory_stats.limit, 128 * 1024 * 1024);
    await ok(["rm", "-f", id]);
  });

  test("an OOM kill under --memory is reported: State.OOMKilled and an oom event", async (t) => {
    const since = (Date.now() / 1000).toFixed(3);
    // a failure here must not leave "oomer" to the tests after it (they count containers)
    t.after(() => berth(["rm", "-f", "oomer"]).then(() => undefined));
    const r = await berth([
      "run",
      "--name",
      "oomer",
      "-m",
      "16m",
      "--memory-swap",
      "16m",
      "--network",
      "none",
      "busybox",
      "sh",
      "-c",
      "head -c 200m /dev/zero | tail; echo tail=$?",
    ]);
    assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stdout, /tail=137/, "tail was the OOM killer's victim");
    const s = (await inspect("oomer")) as unknown as { State: { OOMKilled: boolean } };
    assert.equal(s.State.OOMKilled, true);
    const until = (Date.now() / 1000 + 0.5).toFixed(3);
    const ev = await ok(["events", "--since", since, "--until", until, "--filter", "event=oom", "--format", "json"]);
    assert.match(ev, /"Action":"oom"/);
  });

  test("run -it from a terminal: raw pty both ways, exit code kept (under script(1))", async () => {
    // script(1) gives berth a terminal; its stdin goes to that terminal as typed input
    const cmd = `${process.execPath} ${BERTH} -H unix://${td.sock} run --rm -it --network none busybox sh`;
    const r = spawnSync(
      "sh",
      ["-c", `(sleep 1; printf 'echo in-container-$((6*7)); exit 5\\n'; sleep 2) | script -qec "${cmd}" /dev/null`],
      {
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    assert.equal(r.status, 5, r.stdout + r.stderr);
    assert.match(r.stdout, /in-container-42/);
  });

  test("any OCI runtime by name: --runtime runc; --privileged sees the host's devices", async (t) => {
    const info = JSON.parse(await ok(["info", "--format", "json"])) as {
      Runtimes: Record<string, unknown>;
      DefaultRuntime: string;
    };
    assert.equal(info.DefaultRuntime, "berth-runtime");
    if (!info.Runtimes.runc) return t.skip("runc is not installed (setup.sh installs it)");
    const r = await berth([
      "run",
      "--rm",
      "--runtime",
      "runc",
      "--network",
      "none",
      "busybox",
      "sh",
      "-c",
      "echo via-runc; exit 6",
    ]);
    assert.equal(r.code, 6, r.stderr);
    assert.equal(r.stdout, "via-runc\n");
    const bad = await berth(["run", "--rm", "--runtime", "nosuchruntime", "--network", "none", "busybox", "true"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /unknown or invalid runtime name: nosuchruntime/);
    const plain = Number((await ok(["run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /dev | wc -l"])).trim());
    const priv = Number(
      (await ok(["run", "--rm", "--privileged", "--network", "none", "busybox", "sh", "-c", "ls /dev | wc -l"])).trim(),
    );
    assert.ok(priv > plain, `privileged /dev has ${priv} entries, default ${plain}`);
  });

  test("logs -f follows until the container exits", async () => {
    const id = (
      await ok(["run", "-d", "--network", "none", "busybox", "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done"])
    ).trim();
    const r = await berth(["logs", "-f", id]);
    assert.equal(r.stdout, "line1\nline2\nline3\n");
    await ok(["rm", id]);
  });

  test("kill -9 of berthd: containers keep running, exits while it was down are reported, logs are whole", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++)
      ids.push((await ok(["run", "-d", "--network", "none", "busybox", "sh", "-c", `echo start-${i}; exec sleep 1000`])).trim());
    const quick = (await ok(["run", "-d", "--network", "none", "busybox", "sleep", "1000"])).trim();
    const always = (await ok(["run", "-d", "--restart", "always", "--network", "none", "busybox", "sleep", "1000"])).trim();
    const pids = await Promise.all(ids.map(async (id) => (await inspect(id)).State.Pid));
    const quickPid = (await inspect(quick)).State.Pid;
    const alwaysPid = (await inspect(always)).State.Pid;
    // a clean stop first: SIGTERM leaves the containers running too
    td.daemon?.kill("SIGTERM");
    await new Promise((r) => td.daemon?.once("exit", r));
    for (const p of pids) assert.ok(alive(p), `container pid ${p} survived berthd's clean stop`);
    await td.start();
    td.daemon?.kill("SIGKILL");
    await new Promise((r) => td.daemon?.once("exit", r));
    for (const p of pids) assert.ok(alive(p), `container pid ${p} survived berthd's death`);
    // while berthd is down: two containers die, one of them with a restart policy
    process.kill(quickPid, "SIGKILL");
    process.kill(alwaysPid, "SIGKILL");
    await waitFor("the two containers to die", () => !alive(quickPid) && !alive(alwaysPid));
    await td.start();
    await waitFor("--restart always to bring its container back", async () => {
      const st = await inspect(always);
      return st.State.Running && st.RestartCount === 1 && st.State.Pid !== alwaysPid;
    });
    const ps = await ok(["ps", "-q", "--no-trunc"]);
    for (const id of ids) assert.match(ps, new RegExp(id), "listed as running after the restart");
    await waitFor("the exit seen while down", async () => (await inspect(quick)).State.Status === "exited");
    assert.equal((await inspect(quick)).State.ExitCode, 137);
    assert.equal((await ok(["logs", ids[0] as string])).trim(), "start-0");
    const x = await berth(["exec", ids[1] as string, "echo", "still-here"]);
    assert.equal(x.stdout, "still-here\n");
    await ok(["stop", "-t", "0", ids[2] as string]);
    assert.equal((await inspect(ids[2] as string)).State.Status, "exited");
    await ok(["rm", "-f", ...ids, quick, always]);
  });

  test("50 concurrent run requests all succeed", async () => {
    const runs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => berth(["run", "--rm", "--network", "none", "busybox", "echo", `run-${i}`])),
    );
    runs.forEach((r, i) => {
      assert.equal(r.code, 0, `run ${i}: ${r.stderr}`);
      assert.equal(r.stdout, `run-${i}\n`);
    });
    await waitFor("--rm to remove all 50", async () => (await ok(["ps", "-aq"])).trim() === "");
  });

  test("kill -9 of a shim: its container is reported dead, not lost", async () => {
    const id = (await ok(["run", "-d", "--network", "none", "busybox", "sleep", "1000"])).trim();
    const pid = (await inspect(id)).State.Pid;
    const always = (await ok(["run", "-d", "--restart", "always", "--network", "none", "busybox", "sleep", "1000"])).trim();
    for (const p of td.shimPids()) process.kill(p, "SIGKILL");
    await waitFor("the container reported dead", async () => (await inspect(id)).State.Status === "exited");
    const s = await inspect(id);
    assert.equal(s.State.Running, false);
    assert.equal(s.State.ExitCode, 137);
    assert.match(s.State.Error, /supervision lost: its shim exited; the container was killed/);
    await waitFor("its processes killed", () => !alive(pid));
    // a restart policy still applies: the container comes back under a new shim
    await waitFor("--restart always after the shim's death", async () => {
      const st = await inspect(always);
      return st.State.Running && st.RestartCount === 1;
    });
    await ok(["rm", "-f", id, always]);
    // and new containers get a new shim
    assert.equal((await ok(["run", "--rm", "--network", "none", "busybox", "echo", "again"])).trim(), "again");
  });

  test("system df counts images, containers and volumes; container prune removes stopped ones only", async () => {
    const stopped = (
      await ok(["run", "-d", "--network", "none", "-v", "dfvol:/data", "busybox", "sh", "-c", "head -c 300000 /dev/zero > /f"])
    ).trim();
    await ok(["wait", stopped]);
    const running = (await ok(["run", "-d", "--network", "none", "busybox", "sleep", "1000"])).trim();
    const df = JSON.parse(await ok(["system", "df", "--format", "json"])) as {
      Images: unknown[];
      Containers: Array<{ Id: string; SizeRw: number }>;
      Volumes: Array<{ Name: string }>;
    };
    assert.ok(df.Images.length >= 1);
    assert.ok(
      (df.Containers.find((x) => x.Id === stopped)?.SizeRw ?? 0) >= 300000,
      "the stopped container's own writes are counted",
    );
    assert.ok(df.Volumes.some((v) => v.Name === "dfvol"));
    assert.match(await ok(["system", "df"]), /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\nImages/);
    // docker's prompt: "n" keeps everything, "y" prunes (-f skips the question)
    const no = await berth(["container", "prune"], "n\n");
    assert.equal(no.code, 0, no.stderr);
    assert.match(no.stdout, /Are you sure you want to continue\? \[y\/N\]/);
    assert.match(await ok(["ps", "-aq", "--no-trunc"]), new RegExp(stopped));
    const pr = await berth(["container", "prune"], "y\n");
    assert.equal(pr.code, 0, pr.stderr);
    assert.match(pr.stdout, new RegExp(stopped));
    assert.deepEqual((await ok(["ps", "-aq", "--no-trunc"])).trim().split("\n"), [running]);
    await ok(["rm", "-f", running]);
    await ok(["volume", "rm", "dfvol"]);
  });

  test("events: create, start, die with its exit code, destroy", async () => {
    const since = (Date.now() / 1000).toFixed(3);
    await berth(["run", "--rm", "--network", "none", "busybox", "sh", "-c", "exit 2"]);
    const until = (Date.now() / 1000 + 0.5).toFixed(3);
    const ev = await ok(["events", "--since", since, "--until", until, "--format", "json"]);
    const actions = ev
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { Action: string; Actor: { Attributes: Record<string, string> } })
      .filter((e) => ["create", "start", "die", "destroy"].includes(e.Action));
    assert.deepEqual(
      actions.map((e) => e.Action),
      ["create", "start", "die", "destroy"],
    );
    assert.equal(actions[2]?.Actor.Attributes.exitCode, "2");
  });
});

describe("berthd with a full data root", { skip, concurrency: false }, () => {
  // a small filesystem of the test's own as the data root
  const fd = new TestDaemon({
    prefix: "berthd-full-",
    subnet: "10.231.76.0/24",
    bridge: `btf${process.pid % 100000}`,
    cliDataRoot: true,
    beforeImport: (dataRoot) => {
      execFileSync("mkdir", ["-p", dataRoot]);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=24m", "berth-full-test", dataRoot]);
    },
  });
  const b = (args: string[]) => fd.berth(args);

  before(() => fd.setup());

  after(() => fd.teardown());

  test("disk full: a clear error, nothing corrupted, and all is well once space is back", async () => {
    assert.equal((await b(["run", "--rm", "--network", "none", "busybox", "echo", "before"])).stdout, "before\n");
    const filler = join(fd.dataRoot, "filler");
    spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=1M"], { stdio: "ignore" });
    const imp = await b(["import", fd.tar, "other:latest"]);
    assert.notEqual(imp.code, 0, "import into a full store fails");
    assert.match(imp.stderr, /no space left on device|ENOSPC/i);
    const run = await b(["run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo during"]);
    if (run.code !== 0)
      assert.match(run.stderr, /no space left on device|ENOSPC|disk is full/i, `a failed run says why: ${run.stderr}`);
    rmSync(filler);
    const images = await b(["images", "--format", "json"]);
    assert.equal(images.code, 0, images.stderr);
    assert.doesNotMatch(images.stdout, /other/, "the failed import left no image");
    assert.equal((await b(["run", "--rm", "--network", "none", "busybox", "echo", "after"])).stdout, "after\n");
    const Database = (await import("better-sqlite3")).default;
    const db = new Database(join(fd.dataRoot, "metadata.db"), { readonly: true });
    assert.equal(db.pragma("integrity_check", { simple: true }) as string, "ok");
    db.close();
    assert.equal((await b(["ps", "-aq"])).stdout.trim(), "");
  });
});
