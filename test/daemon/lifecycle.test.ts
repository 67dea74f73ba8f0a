// Container lifecycle details berthd must get as docker (moby 20.10+) does: restart of a --rm
// container, the events of rm -f, attaches waiting for a start, exec instances' lifetime,
// published ports chosen by the network, the working directory, and copy-up into volumes.
// Root only (namespaces, mounts, cgroups).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { makeRootfs } from "../fixtures/busybox-bundle.js";
import { TestDaemon, waitFor } from "../fixtures/berthd.js";

const root = process.getuid?.() === 0;
const skip = root ? false : "needs root (namespaces, mounts, cgroups)";

// a subnet and bridge of the test's own, so the host's networks are never touched
const BRIDGE = `blc${process.pid % 100000}`;
const SUBNET = "10.231.87.0/24";
const USER_SUBNET = "10.231.88.0/24";

/**
 * Debian's CNI plugins, with a bridge whose DEL on the network "lctiny" takes a second: the
 * release of an address there is still running when the next container wants it.
 */
function slowReleasePlugins(): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-lc-cni-"));
  for (const p of readdirSync("/usr/lib/cni")) if (p !== "bridge") symlinkSync(join("/usr/lib/cni", p), join(dir, p));
  writeFileSync(
    join(dir, "bridge"),
    `#!/bin/sh
conf=$(cat)
case "$CNI_COMMAND:$conf" in DEL:*'"name":"lctiny"'*) sleep 1 ;; esac
printf '%s' "$conf" | exec /usr/lib/cni/bridge
`,
    { mode: 0o755 },
  );
  return dir;
}
const CNI = root ? slowReleasePlugins() : undefined;

const td = new TestDaemon({
  prefix: "berthd-lifecycle-",
  subnet: SUBNET,
  bridge: BRIDGE,
  cliDataRoot: true,
  ...(CNI ? { cniPath: CNI } : {}),
});
const berth = (args: string[], input?: string) => td.berth(args, input);
const ok = (args: string[], input?: string) => td.ok(args, input);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One Docker API call on berthd's socket: status and parsed JSON body. */
function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath: td.sock,
        method,
        path,
        headers: data ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) } : {},
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

/** A hijacked attach (docker's `Upgrade: tcp`): the upgraded socket and everything it receives until it closes. */
function attach(id: string): Promise<{ sock: Socket; received: Buffer[]; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath: td.sock,
      method: "POST",
      path: `/containers/${id}/attach?stream=1&stdout=1&stderr=1`,
      headers: { Connection: "Upgrade", Upgrade: "tcp" },
    });
    req.on("upgrade", (_res, sock: Socket, head: Buffer) => {
      const received: Buffer[] = head.length ? [head] : [];
      sock.on("data", (d: Buffer) => received.push(d));
      const closed = new Promise<void>((r) => sock.once("close", () => r()));
      resolve({ sock, received, closed });
    });
    req.on("response", (res) => reject(new Error(`attach ${id}: HTTP ${res.statusCode}, no upgrade`)));
    req.on("error", reject);
    req.end();
  });
}

/** Resolves false when `p` has not settled within `ms` (a wait that would hang forever). */
function settles(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true), sleep(ms).then(() => false)]);
}

interface EventLine {
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
}

async function events(since: string, id: string): Promise<EventLine[]> {
  const until = (Date.now() / 1000 + 0.5).toFixed(3);
  const out = await ok(["events", "--since", since, "--until", until, "--format", "json"]);
  return out
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as EventLine)
    .filter((e) => e.Actor.ID === id);
}

describe("berthd container lifecycle", { skip, concurrency: false }, () => {
  const outside = `/tmp/berth-lifecycle-escape-${process.pid}`;

  before(async () => {
    await td.setup();
    // an image with content to copy up: /data owned 1000:1000 mode 0750, a file, a symlink, a
    // hard link, a subdirectory; and /escape, a symlink that points out of the rootfs
    const rootfs = join(td.dir, "lc-rootfs");
    makeRootfs(rootfs);
    const data = join(rootfs, "data");
    mkdirSync(join(data, "sub"), { recursive: true });
    writeFileSync(join(data, "file"), "image content\n");
    chmodSync(join(data, "file"), 0o640);
    chownSync(join(data, "file"), 1000, 1001);
    execFileSync("ln", [join(data, "file"), join(data, "hard")]);
    writeFileSync(join(data, "sub", "deep"), "deep\n");
    symlinkSync("file", join(data, "link"));
    symlinkSync("/etc/passwd", join(data, "abs"));
    chownSync(data, 1000, 1001);
    chmodSync(data, 0o750);
    symlinkSync(`/../../../../../..${outside}`, join(rootfs, "escape"));
    const tar = join(td.dir, "lc.tar");
    execFileSync("tar", ["--numeric-owner", "-C", rootfs, "-cf", tar, "."]);
    await ok(["import", tar, "lc:latest"]);
  });

  after(async () => {
    rmSync(outside, { recursive: true, force: true });
    await berth(["network", "rm", "lcnet"]);
    await td.teardown();
    if (CNI) rmSync(CNI, { recursive: true, force: true });
  });

  test("restart of a --rm container keeps it; it is removed when it is stopped", async () => {
    const id = (await ok(["run", "-d", "--rm", "--network", "none", "busybox", "sleep", "1000"])).trim();
    await ok(["restart", "-t", "0", id]);
    // the removal a wrong AutoRemove would schedule runs right after the start: give it the chance
    await sleep(1000);
    const info = await td.inspect(id);
    assert.equal(info.State.Running, true, "running again after the restart");
    assert.equal((await ok(["exec", id, "echo", "alive"])).trim(), "alive");
    await ok(["stop", "-t", "0", id]);
    await waitFor("the stopped --rm container to go", async () => (await berth(["inspect", id])).code !== 0);
  });

  test("rm -f of a running container: kill, die with its exit code, destroy", async () => {
    const since = (Date.now() / 1000).toFixed(3);
    const id = (await ok(["run", "-d", "--network", "none", "busybox", "sleep", "1000"])).trim();
    await ok(["rm", "-f", id]);
    const ev = (await events(since, id)).filter((e) => ["kill", "die", "destroy"].includes(e.Action));
    assert.deepEqual(
      ev.map((e) => e.Action),
      ["kill", "die", "destroy"],
    );
    assert.equal(ev[0]?.Actor.Attributes.signal, "9");
    assert.equal(ev[1]?.Actor.Attributes.exitCode, "137");
  });

  test("a failed start ends the attaches waiting for it", async () => {
    const id = (await ok(["create", "--network", "none", "busybox", "/no/such/program"])).trim();
    const a = await attach(id);
    const b = await attach(id);
    const start = await berth(["start", id]);
    assert.notEqual(start.code, 0, "the start fails");
    assert.equal(await settles(a.closed, 10_000), true, "the first attach ended");
    assert.equal(await settles(b.closed, 10_000), true, "the second attach ended");
    await ok(["rm", "-f", id]);
  });

  test("a failed start before the runtime ends the waiting attaches", async () => {
    await ok(["network", "create", "--subnet", USER_SUBNET, "lcnet"]);
    const id = (await ok(["create", "--network", "lcnet", "busybox", "true"])).trim();
    await ok(["network", "rm", "lcnet"]);
    const a = await attach(id);
    assert.notEqual((await berth(["start", id])).code, 0, "the network is gone: the start fails");
    assert.equal(await settles(a.closed, 10_000), true, "the attach ended");
    await ok(["rm", "-f", id]);
  });

  test("one waiting attach going away leaves the others waiting", async () => {
    const id = (await ok(["create", "--network", "none", "busybox", "sh", "-c", "sleep 1; echo hello"])).trim();
    const a = await attach(id);
    const b = await attach(id);
    a.sock.destroy();
    await a.closed;
    await sleep(200); // the daemon sees the close
    await ok(["start", id]);
    await b.closed;
    assert.match(Buffer.concat(b.received).toString(), /hello/, "the remaining client got the output");
    await ok(["rm", "-f", id]);
  });

  test("exec instances: finished ones are bounded, all are forgotten when the container stops", async () => {
    const id = (await ok(["run", "-d", "--network", "none", "busybox", "sleep", "1000"])).trim();
    const ids: string[] = [];
    for (let i = 0; i < 70; i++) {
      const c = await api("POST", `/containers/${id}/exec`, { Cmd: ["true"] });
      assert.equal(c.status, 201);
      const xid = (c.body as { Id: string }).Id;
      assert.equal((await api("POST", `/exec/${xid}/start`, { Detach: true })).status, 200);
      await waitFor(`exec ${i} to finish`, async () => {
        const r = await api("GET", `/exec/${xid}/json`);
        return (r.body as { Running: boolean; ExitCode: number | null }).ExitCode !== null;
      });
      ids.push(xid);
    }
    const oldest = await api("GET", `/exec/${ids[0]}/json`);
    assert.equal(oldest.status, 404, "the oldest finished exec was forgotten");
    const newest = await api("GET", `/exec/${ids.at(-1)}/json`);
    assert.equal(newest.status, 200);
    assert.equal((newest.body as { ExitCode: number }).ExitCode, 0);
    await ok(["stop", "-t", "0", id]);
    const gone = await api("GET", `/exec/${ids.at(-1)}/json`);
    assert.equal(gone.status, 404);
    assert.match((gone.body as { message: string }).message, /No such exec instance/);
    await ok(["rm", id]);
  });

  test("a port the network chose: NetworkSettings.Ports and `port` show it, HostConfig stays as requested", async () => {
    const id = (await ok(["run", "-d", "-p", "80", "-p", "127.0.0.1:0:81", "busybox", "sleep", "1000"])).trim();
    const info = JSON.parse(await ok(["inspect", id]))[0] as {
      HostConfig: { PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> };
      NetworkSettings: { Ports: Record<string, Array<{ HostIp: string; HostPort: string }>> };
    };
    assert.deepEqual(info.HostConfig.PortBindings, {
      "80/tcp": [{ HostIp: "", HostPort: "" }],
      "81/tcp": [{ HostIp: "127.0.0.1", HostPort: "0" }],
    });
    const p80 = info.NetworkSettings.Ports["80/tcp"]?.[0];
    const p81 = info.NetworkSettings.Ports["81/tcp"]?.[0];
    assert.match(p80?.HostPort ?? "", /^[1-9]\d*$/);
    assert.match(p81?.HostPort ?? "", /^[1-9]\d*$/);
    assert.equal(p81?.HostIp, "127.0.0.1");
    assert.equal((await ok(["port", id, "80"])).trim(), `${p80?.HostIp}:${p80?.HostPort}`);
    await ok(["stop", "-t", "0", id]);
    const stopped = JSON.parse(await ok(["inspect", id]))[0] as typeof info;
    assert.deepEqual(stopped.NetworkSettings.Ports, {}, "no ports once stopped");
    assert.deepEqual(stopped.HostConfig.PortBindings["80/tcp"], [{ HostIp: "", HostPort: "" }]);
    await ok(["rm", id]);
  });

  test("a missing working directory is made in the rootfs, root's and 0755, never outside it", async () => {
    const out = await ok([
      "run",
      "--rm",
      "--network",
      "none",
      "-u",
      "65534",
      "-w",
      "/new/work/dir",
      "busybox",
      "sh",
      "-c",
      "pwd; stat -c '%u:%g %a' /new /new/work/dir",
    ]);
    assert.equal(out, "/new/work/dir\n0:0 755\n0:0 755\n");
    // /escape points out of the rootfs: resolved inside it, as the container would
    const esc = await ok(["run", "--rm", "--network", "none", "-w", "/escape/wd", "lc", "sh", "-c", `pwd; ls -d ${outside}/wd`]);
    assert.equal(esc, `${outside}/wd\n${outside}/wd\n`, "the directory is where the symlink leads, in the rootfs");
    assert.equal(existsSync(outside), false, "nothing was made on the host");
  });

  test("a new volume gets the image's content at its mount point; nocopy, binds and full volumes do not", async () => {
    const out = await ok(["run", "--rm", "--network", "none", "-v", "lcvol:/data", "lc", "cat", "/data/file", "/data/link"]);
    assert.equal(out, "image content\nimage content\n");
    const v = JSON.parse(await ok(["volume", "inspect", "lcvol"]))[0] as { Mountpoint: string };
    const dir = v.Mountpoint;
    const st = lstatSync(dir);
    assert.equal(st.mode & 0o7777, 0o750, "the volume's root has the image directory's mode");
    assert.equal(`${st.uid}:${st.gid}`, "1000:1001", "and its owner");
    const f = lstatSync(join(dir, "file"));
    assert.equal(f.mode & 0o7777, 0o640);
    assert.equal(`${f.uid}:${f.gid}`, "1000:1001");
    assert.equal(lstatSync(join(dir, "hard")).ino, f.ino, "a hard link stays one");
    assert.equal(readlinkSync(join(dir, "link")), "file");
    assert.equal(readlinkSync(join(dir, "abs")), "/etc/passwd", "a symlink is copied as a symlink, never followed");
    assert.equal(readFileSync(join(dir, "sub", "deep"), "utf8"), "deep\n");

    // a volume with content is never filled again
    await ok(["run", "--rm", "--network", "none", "-v", "lcvol:/data", "lc", "sh", "-c", "rm /data/file; echo mine > /data/own"]);
    const again = await ok(["run", "--rm", "--network", "none", "-v", "lcvol:/data", "lc", "ls", "/data"]);
    assert.equal(again.includes("file\n"), false);
    assert.match(again, /own/);

    const nocopy = await ok(["run", "--rm", "--network", "none", "-v", "lcvol2:/data:nocopy", "lc", "ls", "-A", "/data"]);
    assert.equal(nocopy, "", "nocopy leaves the volume empty");
    const mount = await api("POST", "/containers/create", {
      Image: "lc",
      Cmd: ["ls", "-A", "/data"],
      HostConfig: {
        NetworkMode: "none",
        Mounts: [{ Type: "volume", Source: "lcvol3", Target: "/data", VolumeOptions: { NoCopy: true } }],
      },
    });
    assert.equal(mount.status, 201, JSON.stringify(mount.body));
    const mid = (mount.body as { Id: string }).Id;
    await ok(["start", mid]);
    assert.equal((await ok(["wait", mid])).trim(), "0");
    assert.equal(await ok(["logs", mid]), "", "volume-nocopy leaves the volume empty");
    await ok(["rm", mid]);

    const bind = join(td.dir, "bind");
    mkdirSync(bind);
    const b = await ok(["run", "--rm", "--network", "none", "-v", `${bind}:/data`, "lc", "ls", "-A", "/data"]);
    assert.equal(b, "", "a bind mount is never filled");
    await ok(["volume", "rm", "lcvol", "lcvol2", "lcvol3"]);
  });

  test("container:<ref> modes: network, PID and (shareable) IPC of a running container; refusals as docker's", async () => {
    try {
      await ok([
        "run",
        "-d",
        "--name",
        "lc-donor",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo hi > /dev/shm/x; sleep 1000",
      ]);
      const donor = await td.inspect("lc-donor");
      // the donor's network: its address, its hostname
      const net = await ok([
        "run",
        "--rm",
        "--network",
        "container:lc-donor",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0; hostname",
      ]);
      assert.match(net, new RegExp(`inet ${donor.NetworkSettings.IPAddress.replaceAll(".", "\\.")}/`));
      assert.equal(net.trim().split("\n").at(-1), (await ok(["inspect", "-f", "{{.Config.Hostname}}", "lc-donor"])).trim());
      // its processes
      assert.match(await ok(["run", "--rm", "--pid", "container:lc-donor", "busybox", "ps"]), /sleep 1000/);
      // its IPC namespace and /dev/shm, both ways
      await waitFor("the donor's shm file", async () => (await berth(["exec", "lc-donor", "cat", "/dev/shm/x"])).code === 0);
      assert.equal(
        await ok(["run", "--rm", "--ipc", "container:lc-donor", "busybox", "sh", "-c", "cat /dev/shm/x; echo back > /dev/shm/y"]),
        "hi\n",
      );
      assert.equal(await ok(["exec", "lc-donor", "cat", "/dev/shm/y"]), "back\n");
      const shmMounted = () => readFileSync("/proc/self/mountinfo", "utf8").includes(`/containers/${donor.Id}/shm `);
      assert.equal(shmMounted(), true, "a shareable container's /dev/shm is a host tmpfs while it runs");

      const refused = async (args: string[], msg: RegExp) => {
        const r = await berth(["run", "--rm", ...args, "busybox", "true"]);
        assert.equal(r.code, 125, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, msg);
      };
      await refused(["--network", "container:lc-nosuch"], /No such container: lc-nosuch/);
      await refused(["--network", "container:lc-donor", "-p", "8080:80"], /conflicting options: port publishing/);
      await refused(["--network", "container:lc-donor", "--hostname", "h1"], /conflicting options: hostname/);
      await ok(["run", "-d", "--name", "lc-private", "--network", "none", "busybox", "sleep", "1000"]);
      await refused(["--ipc", "container:lc-private"], /non-shareable IPC/);
      await ok(["stop", "-t", "0", "lc-donor"]);
      assert.equal(shmMounted(), false, "the shm tmpfs goes when the container stops");
      await refused(["--network", "container:lc-donor"], /cannot join network of a non running container/);
      await refused(["--pid", "container:lc-donor"], /cannot join PID of a non running container/);
    } finally {
      await berth(["rm", "-f", "lc-donor", "lc-private"]);
    }
  });

  test("stats: the container's interface counters (loopback left out) and docker's NET I/O column", async () => {
    const id = (await ok(["run", "-d", "busybox", "sleep", "1000"])).trim();
    try {
      const gw = (await ok(["exec", id, "sh", "-c", "ip route | awk '/default/ {print $3}'"])).trim();
      await berth(["exec", id, "ping", "-c", "3", "-W", "1", gw]);
      const s = JSON.parse(await ok(["stats", "--no-stream", "--format", "json", id])) as {
        networks?: Record<string, { rx_bytes: number; tx_bytes: number; tx_packets: number }>;
      };
      assert.deepEqual(Object.keys(s.networks ?? {}), ["eth0"]);
      assert.ok((s.networks?.["eth0"]?.tx_packets ?? 0) >= 3, JSON.stringify(s.networks));
      assert.ok((s.networks?.["eth0"]?.rx_bytes ?? 0) > 0);
      const table = await ok(["stats", "--no-stream", id]);
      assert.match(table.split("\n")[0] ?? "", /NET I\/O\s+BLOCK I\/O\s+PIDS/);
      assert.match(table.split("\n")[1] ?? "", /\d+(\.\d+)?k?B \/ \d+(\.\d+)?k?B/);
      const none = (await ok(["run", "-d", "--network", "none", "busybox", "sleep", "1000"])).trim();
      const n = JSON.parse(await ok(["stats", "--no-stream", "--format", "json", none])) as { networks?: object };
      assert.deepEqual(n.networks, {}, "only loopback: no interfaces");
      await ok(["rm", "-f", none]);
    } finally {
      await berth(["rm", "-f", id]);
    }
  });

  test("user network: a peer that stops leaves the others' /etc/hosts; restarted, it is announced anew", async () => {
    await ok(["network", "create", "--subnet", USER_SUBNET, "lchosts"]);
    try {
      await ok(["run", "-d", "--name", "lc-a", "--network", "lchosts", "busybox", "sleep", "1000"]);
      await ok(["run", "-d", "--name", "lc-b", "--network", "lchosts", "busybox", "sleep", "1000"]);
      const bIp = async () => (await td.inspect("lc-b")).NetworkSettings.IPAddress;
      const hostsOfA = async () => ok(["exec", "lc-a", "cat", "/etc/hosts"]);
      const first = await bIp();
      assert.match(await hostsOfA(), new RegExp(`^${first.replaceAll(".", "\\.")}\\tlc-b$`, "m"), "b announced to a");
      await ok(["stop", "-t", "0", "lc-b"]);
      assert.doesNotMatch(await hostsOfA(), /\blc-b\b/, "a stopped peer's lines are gone");
      // b gets another address when a third container takes its old one first
      await ok(["run", "-d", "--name", "lc-c", "--network", "lchosts", "busybox", "sleep", "1000"]);
      await ok(["start", "lc-b"]);
      const second = await bIp();
      const text = await hostsOfA();
      assert.match(text, new RegExp(`^${second.replaceAll(".", "\\.")}\\tlc-b$`, "m"), "b's new address");
      assert.equal(text.match(/\tlc-b$/gm)?.length, 1, `one line for lc-b:\n${text}`);
      assert.equal((await ok(["exec", "lc-a", "ping", "-c", "1", "-W", "2", "lc-b"])).includes("1 packets received"), true);
    } finally {
      await berth(["rm", "-f", "lc-a", "lc-b", "lc-c"]);
      await berth(["network", "rm", "lchosts"]);
    }
  });

  test("an exited container's network and files are released in the background: done by a clean shutdown, or by the next start after kill -9", async () => {
    const netnsDir = join(td.execRoot, "netns");
    const attachments = join(td.dataRoot, "network", "attachments");
    const leases = join(td.dataRoot, "network", "ipam", "bridge");
    const ls = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
    // host-local keeps its lock and last address there; a lease is a file named by the address
    const held = () => ls(leases).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    const settledState = () => ({ netns: ls(netnsDir), attachments: ls(attachments), leases: held() });
    const nothing = { netns: [], attachments: [], leases: [] };

    // a network-wide rule, not one per container
    const rule = `-s ${SUBNET} ! -o ${BRIDGE} -m comment --comment`;
    assert.equal(
      (await ok(["run", "--rm", "busybox", "sh", "-c", "ip -4 -o addr show eth0 | grep -c inet"])).trim(),
      "1",
      "the container has its address when it runs",
    );
    const nat = execFileSync("iptables", ["-w", "-t", "nat", "-S", "POSTROUTING"], { encoding: "utf8" });
    assert.equal(nat.split("\n").filter((l) => l.includes(rule)).length, 1, `one masquerade rule for the network:\n${nat}`);

    // SIGTERM at once after a --rm run: berthd finishes the release before it exits
    await ok(["run", "--rm", "busybox", "true"]);
    td.daemon?.kill("SIGTERM");
    await new Promise((r) => td.daemon?.once("exit", r));
    assert.deepEqual(settledState(), nothing, "nothing of the container's network is left after a clean shutdown");
    await td.start();

    // kill -9 at once after a --rm run: what berthd had not finished, its next start does
    await ok(["run", "--rm", "busybox", "true"]);
    td.daemon?.kill("SIGKILL");
    await new Promise((r) => td.daemon?.once("exit", r));
    await td.start();
    await waitFor("the next berthd to release what was left", async () => {
      const st = settledState();
      return st.netns.length === 0 && st.attachments.length === 0 && st.leases.length === 0;
    });

    // the files of a removal a killed berthd left half done go at its next start; a recorded
    // container's stay (its dirs, bundle and snapshot made by create)
    const kept = (await ok(["create", "--network", "none", "busybox", "echo", "still here"])).trim();
    const ghost = "f".repeat(64);
    const leftovers = [
      join(td.dataRoot, "containers", ghost),
      join(td.execRoot, "bundles", ghost, "rootfs"),
      join(td.dataRoot, "snapshots", "987654", "fs", "etc"),
    ];
    td.daemon?.kill("SIGKILL");
    await new Promise((r) => td.daemon?.once("exit", r));
    for (const d of leftovers) mkdirSync(d, { recursive: true });
    writeFileSync(join(leftovers[0] as string, "hosts"), "x");
    await td.start();
    assert.equal(existsSync(join(td.dataRoot, "containers", ghost)), false, "an unrecorded container dir went");
    assert.equal(existsSync(join(td.execRoot, "bundles", ghost)), false, "an unrecorded bundle went");
    assert.equal(existsSync(join(td.dataRoot, "snapshots", "987654")), false, "a snapshot dir without a row went");
    assert.ok(existsSync(join(td.dataRoot, "containers", kept)), "the recorded container's dir stays");
    assert.equal(await ok(["start", "-a", kept]), "still here\n", "and it still runs");
    await ok(["rm", kept]);

    // a container that publishes a port releases it before its removal returns: the port is free at once
    for (let i = 0; i < 2; i++) await ok(["run", "--rm", "-p", "127.0.0.1:18187:80", "busybox", "true"]);
  });

  test("user network: containers started side by side each find the other by name", async () => {
    await ok(["network", "create", "--subnet", "10.231.89.0/25", "lcpair"]);
    try {
      const [a, b] = await Promise.all(
        ["lc-p1", "lc-p2"].map((name) => ok(["run", "-d", "--name", name, "--network", "lcpair", "busybox", "sleep", "1000"])),
      );
      assert.ok(a && b);
      assert.match(await ok(["exec", "lc-p1", "cat", "/etc/hosts"]), /\tlc-p2$/m, "lc-p1 knows lc-p2");
      assert.match(await ok(["exec", "lc-p2", "cat", "/etc/hosts"]), /\tlc-p1$/m, "lc-p2 knows lc-p1");
    } finally {
      await berth(["rm", "-f", "lc-p1", "lc-p2"]);
      await berth(["network", "rm", "lcpair"]);
    }
  });

  test("a network with one free address: a container started right after its holder's removal waits for the release", async () => {
    // a /30 has one address besides the gateway; the bridge plugin's DEL takes a second on this
    // network (slowReleasePlugins), so each start comes while its predecessor's release still runs
    await ok(["network", "create", "--subnet", "10.231.89.128/30", "lctiny"]);
    const made: string[] = [];
    try {
      let holder = (await ok(["run", "-d", "--network", "lctiny", "busybox", "sleep", "1000"])).trim();
      made.push(holder);
      for (let i = 0; i < 3; i++) {
        const rm = await api("DELETE", `/containers/${holder}?force=1`);
        assert.equal(rm.status, 204, JSON.stringify(rm.body));
        const c = await api("POST", "/containers/create", {
          Image: "busybox",
          Cmd: ["sleep", "1000"],
          HostConfig: { NetworkMode: "lctiny" },
        });
        assert.equal(c.status, 201, JSON.stringify(c.body));
        holder = (c.body as { Id: string }).Id;
        made.push(holder);
        const start = await api("POST", `/containers/${holder}/start`);
        assert.equal(start.status, 204, JSON.stringify(start.body));
        assert.equal((await td.inspect(holder)).NetworkSettings.IPAddress, "10.231.89.130");
      }
    } finally {
      await berth(["rm", "-f", ...made]);
      await berth(["network", "rm", "lctiny"]);
    }
  });

  test("the warm runtime server carries no container's seccomp filter, and is started again when it goes away", async () => {
    const pidFile = join(td.execRoot, "berth-runtime.warm.pid");
    const pidOf = () => Number(readFileSync(pidFile, "utf8").split(" ")[0]);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const first = pidOf();
    assert.ok(alive(first), "berthd started a warm server");
    // it has served containers with the default seccomp profile (the tests above): none of their
    // confinement may stick to the server or the shims, which run every container's runtime steps
    await ok(["run", "--rm", "--network", "none", "busybox", "true"]);
    for (const pid of [first, ...td.shimPids()])
      assert.match(readFileSync(`/proc/${pid}/status`, "utf8"), /^Seccomp:\s+0$/m, `pid ${pid} has no seccomp filter`);
    process.kill(first, "SIGKILL");
    await waitFor(
      "berthd to start another warm server",
      async () => pidOf() !== first && alive(pidOf()) && existsSync(join(td.execRoot, "berth-runtime.warm.sock")),
      30_000,
    );
    assert.equal((await ok(["run", "--rm", "--network", "none", "busybox", "echo", "served"])).trim(), "served");
  });
});
