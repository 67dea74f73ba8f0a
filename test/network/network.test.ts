/**
 * Container networking against the real kernel and the real CNI plugins (/usr/lib/cni): netns
 * files, bridge networks, published ports, detach after a restart, plugin errors. Needs root.
 * Every network, address and rule is the test's own (names bt<pid>-*, subnets in
 * 10.231.0.0/16); the after hook removes whatever a failed test left.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { describe as describeError, isKind } from "../../src/errors/index.js";
import { invokePlugin, type Network, NetworkManager } from "../../src/network/index.js";
import { removeNetworkRules, splitRule } from "../../src/network/iptables.js";
import { native } from "../../src/native/index.js";

const run = promisify(execFile);
const skip =
  process.getuid?.() !== 0
    ? "needs root (netns, bridges, iptables)"
    : !existsSync("/usr/lib/cni/bridge")
      ? "CNI plugins missing (/usr/lib/cni/bridge; apt install containernetworking-plugins)"
      : false;

const tag = `bt${process.pid}`;
const netA = `${tag}-a`;
const netB = `${tag}-b`;
const pools = [{ base: "10.231.128.0/17", size: 24 }];

/** Lines of iptables-save that name CNI chains or rules, without the counters. */
async function cniRules(): Promise<string[]> {
  const { stdout } = await run("iptables-save");
  return stdout
    .split("\n")
    .filter((l) => l.includes("CNI") || l.includes(tag))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ""));
}

async function ok(file: string, args: string[]): Promise<boolean> {
  try {
    await run(file, args);
    return true;
  } catch {
    return false;
  }
}

const ping = (netns: string, ip: string) => ok("nsenter", [`--net=${netns}`, "/bin/busybox", "ping", "-c1", "-W2", ip]);

async function bridgePorts(bridge: string): Promise<string[]> {
  try {
    const { stdout } = await run("ip", ["-j", "link", "show", "master", bridge]);
    return (JSON.parse(stdout || "[]") as { ifname: string }[]).map((l) => l.ifname);
  } catch {
    return []; // no such bridge (yet, or any more)
  }
}

describe("network", { skip }, () => {
  let dir = "";
  let m: NetworkManager;
  let baseline: string[] = [];
  const containers = new Set<string>();
  const bridges = new Set<string>();
  const managers: NetworkManager[] = [];
  const nets: Record<string, Network> = {};

  const manager = (sub: string, extra: Partial<ConstructorParameters<typeof NetworkManager>[0]> = {}) => {
    const mgr = new NetworkManager({
      stateDir: join(dir, sub, "state"),
      runDir: join(dir, "run"),
      addressPools: pools,
      ...extra,
    });
    managers.push(mgr);
    return mgr;
  };
  const netns = async (id: string) => {
    containers.add(id);
    return m.createNetns(id);
  };

  before(async () => {
    baseline = await cniRules();
    dir = await mkdtemp(join(tmpdir(), "berth-network-"));
    m = manager("main");
    nets["a"] = await m.create(netA, { subnet: "10.231.1.0/24", labels: { test: "yes" } });
    nets["b"] = await m.create(netB, { subnet: "10.231.2.0/24", internal: true });
    for (const n of Object.values(nets)) bridges.add(n.bridge);
  });

  after(async () => {
    // best effort and in order: DEL (needs the netns), netns, networks, then anything left
    for (const mgr of managers) for (const id of containers) await mgr.detach(id).catch(() => {});
    for (const id of containers) await m.removeNetns(id).catch(() => {});
    for (const mgr of managers) for (const n of await mgr.list().catch(() => [])) await mgr.remove(n.id).catch(() => {});
    // the pre-defined default network cannot be removed: its masquerade rule goes by hand
    for (const mgr of managers) for (const n of await mgr.list().catch(() => [])) await removeNetworkRules(n).catch(() => {});
    for (const b of bridges) await run("ip", ["link", "delete", "dev", b]).catch(() => {});
    if (dir) {
      await run("umount", ["--lazy", join(dir, "run")]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("networks are recorded with ids, bridges and subnets; names are unique, subnets do not overlap", async () => {
    const a = await m.get(netA);
    assert.match(a.id, /^[0-9a-f]{64}$/);
    assert.equal(a.bridge, `br-${a.id.slice(0, 12)}`);
    assert.deepEqual(
      [a.subnet, a.gateway, a.driver, a.internal, a.labels],
      ["10.231.1.0/24", "10.231.1.1", "bridge", false, { test: "yes" }],
    );
    assert.equal((await m.get(a.id.slice(0, 10))).name, netA);
    assert.deepEqual(
      (await m.list()).map((n) => n.name),
      [netA, netB],
    );
    await assert.rejects(m.create(netA), (e) => isKind(e, "AlreadyExists"));
    await assert.rejects(
      m.create(`${tag}-x`, { subnet: "10.231.1.128/25" }),
      (e) => isKind(e, "FailedPrecondition") && /overlaps/.test(String(e)),
    );
    await assert.rejects(m.create(`${tag}-x`, { subnet: "10.231.9.0/24", gateway: "10.231.8.1" }), /not a host address/);
    await assert.rejects(m.create("bad name"), (e) => isKind(e, "InvalidArgument"));
    await assert.rejects(m.create("host"), /reserved/);
    await assert.rejects(m.get(`${tag}-nope`), (e) => isKind(e, "NotFound"));
    // no subnet given: the first free /24 of the pool
    const auto = await m.create(`${tag}-auto`);
    assert.equal(auto.subnet, "10.231.128.0/24");
    await m.remove(auto.name);
    await assert.rejects(m.get(auto.name), (e) => isKind(e, "NotFound"));
  });

  test("two containers on one network ping each other by IP", async () => {
    const n1 = await netns(`${tag}-c1`);
    const n2 = await netns(`${tag}-c2`);
    assert.equal(await m.createNetns(`${tag}-c1`), n1, "createNetns is idempotent");
    assert.ok(await ping(n1, "127.0.0.1"), "lo is up in a new netns");
    const r1 = await m.attach(`${tag}-c1`, netA, { netns: n1, aliases: ["web"] });
    const r2 = await m.attach(`${tag}-c2`, netA, { netns: n2 });
    assert.equal(r1.ifname, "eth0");
    assert.match(r1.ip, /^10\.231\.1\.\d+$/);
    assert.notEqual(r1.ip, r2.ip);
    assert.deepEqual([r1.prefixLen, r1.gateway], [24, "10.231.1.1"]);
    assert.match(r1.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.ok(await ping(n1, r2.ip), "c1 -> c2");
    assert.ok(await ping(n2, r1.ip), "c2 -> c1");
    assert.ok(await ping(n1, "10.231.1.1"), "c1 -> gateway");
    const peers = await m.attachments(netA);
    assert.deepEqual(
      peers.map((p) => [p.containerId, p.ip, p.aliases]),
      [
        [`${tag}-c1`, r1.ip, ["web"]],
        [`${tag}-c2`, r2.ip, []],
      ],
    );
    await assert.rejects(m.attach(`${tag}-c1`, netA, { netns: n1 }), (e) => isKind(e, "AlreadyExists"));
  });

  test("a second network is eth1; an internal network has no default route", async () => {
    const n1 = m.netnsPath(`${tag}-c1`);
    const r = await m.attach(`${tag}-c1`, netB, { netns: n1, ip: "10.231.2.50" });
    assert.deepEqual([r.ifname, r.ip], ["eth1", "10.231.2.50"]);
    const { stdout } = await run("nsenter", [`--net=${n1}`, "ip", "-j", "route"]);
    const routes = JSON.parse(stdout) as { dst: string; dev: string }[];
    assert.deepEqual(
      routes.filter((x) => x.dst === "default").map((x) => x.dev),
      ["eth0"],
    );
    assert.deepEqual(
      (await m.attachmentsOf(`${tag}-c1`)).map((a) => [a.networkName, a.ifname]),
      [
        [netA, "eth0"],
        [netB, "eth1"],
      ],
    );
    await m.detach(`${tag}-c1`, netB);
    assert.equal(await ok("nsenter", [`--net=${n1}`, "ip", "link", "show", "eth1"]), false, "eth1 is gone");
    await assert.rejects(m.detach(`${tag}-c1`, netB), (e) => isKind(e, "NotFound"));
  });

  test("a published port is reachable from the host on 127.0.0.1; detach removes veth, address and rules", async () => {
    const id = `${tag}-web`;
    const ns = await netns(id);
    const www = join(dir, "www");
    await mkdir(www, { recursive: true });
    await writeFile(join(www, "index.html"), "hello from the netns\n");
    const before = await bridgePorts(nets["a"]?.bridge ?? "");
    const r = await m.attach(id, netA, { netns: ns, portMappings: [{ containerPort: 8080, protocol: "tcp" }] });
    const port = r.ports[0]?.hostPort ?? 0;
    assert.ok(port >= 32768 && port <= 60999, `host port ${port} from the ephemeral range`);
    assert.equal((await bridgePorts(nets["a"]?.bridge ?? "")).length, before.length + 1);
    const httpd = spawn("nsenter", [`--net=${ns}`, "/bin/busybox", "httpd", "-f", "-p", "8080", "-h", www], { stdio: "ignore" });
    try {
      let body = "";
      for (let i = 0; i < 100 && body === ""; i++) {
        try {
          body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
        } catch {
          await new Promise((res) => setTimeout(res, 100)); // httpd not listening yet
        }
      }
      assert.equal(body, "hello from the netns\n");
      const c2 = m.netnsPath(`${tag}-c2`);
      const { stdout } = await run("nsenter", [`--net=${c2}`, "/bin/busybox", "wget", "-q", "-O-", `http://${r.ip}:8080/`]);
      assert.equal(stdout, "hello from the netns\n", "a peer reaches the container directly");
    } finally {
      httpd.kill("SIGKILL");
    }
    const ipam = join(m.stateDir, "ipam", netA);
    assert.ok((await readdir(ipam)).includes(r.ip));
    assert.ok((await cniRules()).some((l) => l.includes(`dnat name: \\"${netA}\\" id: \\"${id}\\"`)));
    await m.detach(id);
    assert.deepEqual(await bridgePorts(nets["a"]?.bridge ?? ""), before, "the host end of the veth is gone");
    assert.equal((await readdir(ipam)).includes(r.ip), false, "the address is released");
    assert.equal(
      (await cniRules()).some((l) => l.includes(`id: \\"${id}\\"`)),
      false,
      "no rule of the container is left",
    );
    assert.equal(await ok("nsenter", [`--net=${ns}`, "ip", "link", "show", "eth0"]), false);
    await m.removeNetns(id);
    await m.removeNetns(id);
    assert.equal(existsSync(ns), false);
  });

  test("a network with containers attached cannot be removed", async () => {
    await assert.rejects(m.remove(netA), (e) => isKind(e, "FailedPrecondition") && /containers are attached/.test(String(e)));
    assert.equal((await m.get(netA)).name, netA);
  });

  test("in-process netns files (berthd's): lo up, idempotent, attachable, removed without a mount left", async () => {
    const ops = { create: (f: string) => native().netnsCreate(f), unmount: (f: string) => native().umount(f, 2) };
    // berthd's manager over the same records (as after a restart), with the native ops
    const mi = manager("main", { netnsOps: ops });
    const id = `${tag}-inproc`;
    containers.add(id);
    const file = await mi.createNetnsFile(id);
    assert.equal(await mi.createNetnsFile(id), file, "idempotent");
    const mounted = async () =>
      (await run("cat", ["/proc/self/mountinfo"])).stdout.split("\n").filter((l) => l.includes(` ${file} `));
    assert.equal((await mounted()).length, 1, "one nsfs mount on the file");
    // lo came up with the namespace (no loopback plugin): 127.0.0.1 answers at once
    await mi.loopbackUp(id);
    assert.ok(await ping(file, "127.0.0.1"), "lo is up");
    const { stdout } = await run("nsenter", [`--net=${file}`, "ip", "-j", "link", "show"]);
    assert.deepEqual(
      (JSON.parse(stdout) as { ifname: string }[]).map((l) => l.ifname),
      ["lo"],
      "a new namespace with lo only",
    );
    const r = await mi.attach(id, netA, { netns: file });
    assert.ok(await ping(file, r.gateway), "attached through the chain like any netns");
    await mi.detach(id);
    await mi.removeNetns(id);
    assert.equal(existsSync(file), false, "the file went");
    assert.deepEqual(await mounted(), [], "no mount left");
    await mi.removeNetns(id); // nothing left to remove: no error
    // a failure names the step and leaves no file
    const bad = manager("inproc-bad", {
      netnsOps: { create: () => native().netnsCreate("/nonexistent/dir/x"), unmount: ops.unmount },
    });
    await assert.rejects(bad.createNetnsFile(`${tag}-bad`), /bind-mount \/proc\/self\/ns\/net/);
    assert.equal(existsSync(bad.netnsPath(`${tag}-bad`)), false, "no file left after a failed create");
  });

  test("detach works after a restart, from records alone", async () => {
    const id = `${tag}-rs`;
    const ns = await netns(id);
    const before = await bridgePorts(nets["a"]?.bridge ?? "");
    const r = await m.attach(id, netA, { netns: ns, portMappings: [{ hostPort: 0, containerPort: 80, protocol: "udp" }] });
    const restarted = manager("main");
    assert.deepEqual(
      (await restarted.attachmentsOf(id)).map((a) => [a.ip, a.ports]),
      [[r.ip, r.ports]],
    );
    await restarted.check(id);
    await restarted.detach(id);
    assert.deepEqual(await bridgePorts(nets["a"]?.bridge ?? ""), before);
    assert.equal(
      (await cniRules()).some((l) => l.includes(`id: \\"${id}\\"`)),
      false,
    );
    assert.deepEqual(await m.attachmentsOf(id), []);
    await restarted.removeNetns(id);
  });

  test("masquerade is one rule per network, not per container; detach after the netns vanished releases the address", async () => {
    const id = `${tag}-gone`;
    const ns = await netns(id);
    const r = await m.attach(id, netA, { netns: ns });
    const masq = (name: string) => `--comment "berth masquerade ${name} `;
    const rules = await cniRules();
    assert.ok(
      rules.some((l) => l.includes(masq(netA)) && l.includes(`-s ${nets["a"]?.subnet} ! -o ${nets["a"]?.bridge}`)),
      "the network masquerades its subnet",
    );
    assert.equal(rules.filter((l) => l.includes(masq(netA))).length, 1, "once, however many containers");
    // the network's own filter rules (no rule per container): isolation, and forwarding whatever
    // the host's policy; an internal network's containers only reach each other
    const own = (name: string) =>
      rules
        .filter((l) => l.includes(`"berth network ${name} `))
        .map((l) => l.replace(/ -m comment --comment "[^"]*"/, ""))
        .sort();
    const brA = nets["a"]?.bridge;
    assert.deepEqual(
      own(netA),
      [
        `-A BERTH-FORWARD -i ${brA} ! -o ${brA} -j ACCEPT`,
        `-A BERTH-FORWARD -i ${brA} -o ${brA} -j ACCEPT`,
        `-A BERTH-FORWARD -o ${brA} -m conntrack --ctstate DNAT -j ACCEPT`,
        `-A BERTH-FORWARD -o ${brA} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
        `-A BERTH-ISOLATION-1 -i ${brA} ! -o ${brA} -j BERTH-ISOLATION-2`,
        `-A BERTH-ISOLATION-2 -o ${brA} -j DROP`,
      ].sort(),
    );
    assert.equal(
      rules.some((l) => l.includes(masq(netB))),
      false,
      "an internal network does not masquerade",
    );
    const brB = nets["b"]?.bridge;
    assert.deepEqual(
      own(netB),
      [
        `-A BERTH-FORWARD -i ${brB} -o ${brB} -j ACCEPT`,
        `-A BERTH-ISOLATION-1 ! -i ${brB} -o ${brB} -j DROP`,
        `-A BERTH-ISOLATION-1 -i ${brB} ! -o ${brB} -j DROP`,
        `-A BERTH-ISOLATION-2 -o ${brB} -j DROP`,
      ].sort(),
      "an internal network's containers are forwarded among themselves only",
    );
    const { stdout: forward } = await run("iptables", ["-w", "-S", "FORWARD"]);
    const jumps = forward.split("\n").filter((l) => /-j BERTH-/.test(l));
    assert.deepEqual(jumps, ["-A FORWARD -j BERTH-ISOLATION-1", "-A FORWARD -j BERTH-FORWARD"], "isolation before forwarding");
    assert.equal(
      rules.some((l) => l.includes(`id: "${id}"`)),
      false,
      "no rule of the container's own (the plugin's ipMasq is off)",
    );
    await m.removeNetns(id);
    await m.detach(id);
    assert.equal((await readdir(join(m.stateDir, "ipam", netA))).includes(r.ip), false, "the address is released");
    assert.ok(
      (await cniRules()).some((l) => l.includes(masq(netA))),
      "the network's rule stays for the others",
    );
  });

  test("networks are isolated from each other as docker's: none reaches another's containers, an internal one nothing outside", async () => {
    const netC = `${tag}-c`;
    const c = await m.create(netC, { subnet: "10.231.7.0/24" });
    bridges.add(c.bridge);
    const [nsA, nsB, nsC] = [await netns(`${tag}-ia`), await netns(`${tag}-ib`), await netns(`${tag}-ic`)];
    const a = await m.attach(`${tag}-ia`, netA, { netns: nsA });
    const b = await m.attach(`${tag}-ib`, netB, { netns: nsB });
    const cc = await m.attach(`${tag}-ic`, netC, { netns: nsC });
    // the host's FORWARD policy here is ACCEPT: only berth's rules stand in the way
    assert.ok(await ping(nsA, a.gateway), "a container reaches its own gateway");
    assert.equal(await ping(nsA, cc.ip), false, "A -> C");
    assert.equal(await ping(nsC, a.ip), false, "C -> A");
    assert.equal(await ping(nsA, b.ip), false, "A -> internal B");
    // (B has no route out; with one added by hand, what it sends is dropped all the same)
    await run("nsenter", [`--net=${nsB}`, "ip", "route", "add", "default", "via", b.gateway]);
    assert.equal(await ping(nsB, a.ip), false, "internal B -> A");
    for (const id of [`${tag}-ia`, `${tag}-ib`, `${tag}-ic`]) {
      await m.detach(id);
      await m.removeNetns(id);
    }
    await m.remove(netC);
  });

  test("plugin errors are reported with the plugin's message", async () => {
    const fake = join(dir, "fake-cni");
    await mkdir(fake, { recursive: true });
    for (const p of ["host-local", "loopback"]) await symlink(`/usr/lib/cni/${p}`, join(fake, p));
    const script = (body: string) =>
      `#!/bin/sh\nif [ "$CNI_COMMAND" = VERSION ]; then echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}'; exit 0; fi\ncat >/dev/null\n${body}\n`;
    const ns = m.netnsPath(`${tag}-c2`);
    const withBridge = async (body: string) => {
      await writeFile(join(fake, "bridge"), script(body));
      await chmod(join(fake, "bridge"), 0o755);
      const mgr = manager(`fake-${managers.length}`, { cniPath: [fake] });
      const n = await mgr.create(`${tag}-f`, { subnet: "10.231.3.0/24" });
      bridges.add(n.bridge);
      return mgr;
    };

    const failing = await withBridge(
      `[ "$CNI_COMMAND" = DEL ] && exit 0\necho '{"cniVersion":"1.0.0","code":7,"msg":"bridge says no","details":"vlan 5000 out of range"}'; exit 1`,
    );
    await assert.rejects(failing.attach(`${tag}-c2`, `${tag}-f`, { netns: ns }), (e) => {
      assert.ok(isKind(e, "InvalidArgument"), describeError(e));
      assert.match(String((e as Error).message), /cni plugin "bridge" ADD .*: bridge says no: vlan 5000 out of range/);
      return true;
    });
    assert.deepEqual(await failing.attachmentsOf(`${tag}-c2`), [], "a failed ADD leaves no record");

    const garbage = await withBridge(`echo 'this is not json'`);
    await assert.rejects(
      garbage.attach(`${tag}-c2`, `${tag}-f`, { netns: ns }),
      /malformed result \(not JSON\): this is not json/,
    );

    const crashing = await withBridge(`echo 'panic: runtime error' >&2; exit 2`);
    await assert.rejects(crashing.attach(`${tag}-c2`, `${tag}-f`, { netns: ns }), /exit status 2: panic: runtime error/);

    const empty = join(dir, "empty-cni");
    await mkdir(empty, { recursive: true });
    const missing = manager("missing", { cniPath: [empty] });
    await missing.create(`${tag}-f`, { subnet: "10.231.3.0/24" });
    await assert.rejects(
      missing.attach(`${tag}-c2`, `${tag}-f`, { netns: ns }),
      (e) => isKind(e, "NotFound") && /find cni plugin "bridge": no executable of that name in .*empty-cni/.test(String(e)),
    );

    // the real plugin, fed a config it refuses
    await assert.rejects(
      invokePlugin({
        command: "ADD",
        type: "bridge",
        containerId: `${tag}-c2`,
        netns: ns,
        ifname: "eth9",
        config: { cniVersion: "1.0.0", name: `${tag}-bad`, type: "bridge", bridge: `${tag}x`, ipam: { type: "no-such-ipam" } },
        cniPath: ["/usr/lib/cni"],
      }),
      /cni plugin "bridge" ADD for container .*no-such-ipam/,
    );
    bridges.add(`${tag}x`);
  });

  test("the default network, with the bridge name and subnet overridden", async () => {
    const bridge = `${tag}d`.slice(0, 15);
    bridges.add(bridge);
    const d = manager("default", { defaultNetwork: { bridge, subnet: "10.231.200.0/24" } });
    const n = await d.ensureDefault();
    assert.deepEqual([n.name, n.bridge, n.subnet, n.gateway], ["bridge", bridge, "10.231.200.0/24", "10.231.200.1"]);
    assert.equal((await d.ensureDefault()).id, n.id, "ensureDefault is idempotent");
    await assert.rejects(d.remove("bridge"), (e) => isKind(e, "FailedPrecondition"));
    const id = `${tag}-dflt`;
    const ns = await netns(id);
    const r = await d.attach(id, "bridge", { netns: ns });
    assert.match(r.ip, /^10\.231\.200\./);
    assert.deepEqual(await bridgePorts(bridge).then((p) => p.length), 1);
    await d.detach(id);
    await m.removeNetns(id);
  });

  test("a network's rules a firewall reload dropped come back with a later attach; rm waits for that re-check", async () => {
    const r = manager("recheck", { rulesRecheckMs: 0 });
    const n = await r.create(`${tag}-rc`, { subnet: "10.231.6.0/24" });
    bridges.add(n.bridge);
    const fwd = async () =>
      (await cniRules()).filter((l) => l.startsWith("-A BERTH-") && l.includes(`"berth network ${n.name} `));
    const [ns1, ns2] = [await netns(`${tag}-rc1`), await netns(`${tag}-rc2`)];
    await r.attach(`${tag}-rc1`, n.name, { netns: ns1 });
    const made = await fwd();
    assert.equal(made.length, 6);
    // a reload drops one (by hand here); the next attach puts it back, without waiting for it
    await run("iptables", ["-D", ...splitRule(made[0] as string).slice(1)]);
    assert.equal((await fwd()).length, 5);
    await r.attach(`${tag}-rc2`, n.name, { netns: ns2 });
    for (let i = 0; (await fwd()).length !== 6; i++) {
      assert.ok(i < 100, "the dropped rule did not come back");
      await new Promise((res) => setTimeout(res, 50));
    }
    for (const id of [`${tag}-rc1`, `${tag}-rc2`]) {
      await r.detach(id);
      await m.removeNetns(id);
    }
    await r.attach(`${tag}-rc1`, n.name, { netns: await netns(`${tag}-rc1`) }).then(() => r.detach(`${tag}-rc1`));
    await m.removeNetns(`${tag}-rc1`);
    // a re-check may still run from the attach above: rm waits for it, and leaves no rule
    await r.remove(n.name);
    assert.deepEqual(await fwd(), []);
  });

  test("everything detached and removed leaves no rule, link or netns", async () => {
    for (const id of [`${tag}-c1`, `${tag}-c2`]) {
      await m.detach(id);
      await m.removeNetns(id);
    }
    await m.remove(netA);
    await m.remove(netB);
    for (const n of Object.values(nets)) assert.equal(await ok("ip", ["link", "show", "dev", n.bridge]), false, n.bridge);
    // networks of the other managers still exist, with their masquerade and FORWARD rules
    const others = (await Promise.all(managers.filter((x) => x !== m).map((x) => x.list()))).flat();
    const theirs = (l: string) =>
      others.some((n) =>
        ["masquerade", "network"].some((k) => l.includes(`--comment "berth ${k} ${n.name} ${n.id.slice(0, 12)}"`)),
      );
    assert.deepEqual(
      (await cniRules()).filter((l) => !baseline.includes(l) && !theirs(l)),
      [],
    );
    assert.deepEqual(await readdir(join(dir, "run")), []);
  });
});
