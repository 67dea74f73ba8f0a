import assert from "node:assert/strict";
import { test } from "node:test";
import {
  masqueradeRule,
  networkFilterRules,
  parseTable,
  planNetworkRules,
  planPrune,
  planRemoveNetworkRules,
  planSweep,
  splitRule,
} from "./iptables.js";

// `iptables -t nat -S` with one portmapped container (c1) and one plain one (c2), as plugins 1.1.1 leave it
const nat = `-P PREROUTING ACCEPT
-P POSTROUTING ACCEPT
-N CNI-DN-d6a985a21e2a589197af2
-N CNI-HOSTPORT-DNAT
-N CNI-HOSTPORT-MASQ
-N CNI-HOSTPORT-SETMARK
-N CNI-c08b269db525a24da18e9567
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A POSTROUTING -s 10.231.0.3/32 -m comment --comment "name: \\"n1\\" id: \\"c2\\"" -j CNI-c08b269db525a24da18e9567
-A CNI-DN-d6a985a21e2a589197af2 -p tcp -m tcp --dport 18080 -j DNAT --to-destination 10.231.0.2:8080
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"n1\\" id: \\"c1\\"" -m multiport --dports 18080 -j CNI-DN-d6a985a21e2a589197af2
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000
-A CNI-c08b269db525a24da18e9567 -d 10.231.0.0/24 -m comment --comment "name: \\"n1\\" id: \\"c2\\"" -j ACCEPT
-A CNI-c08b269db525a24da18e9567 ! -d 224.0.0.0/4 -m comment --comment "name: \\"n1\\" id: \\"c2\\"" -j MASQUERADE
`;

test("splitRule undoes iptables -S quoting", () => {
  assert.deepEqual(splitRule('-A X -m comment --comment "name: \\"n1\\" id: \\"c2\\"" -j ACCEPT'), [
    "-A",
    "X",
    "-m",
    "comment",
    "--comment",
    'name: "n1" id: "c2"',
    "-j",
    "ACCEPT",
  ]);
  assert.deepEqual(splitRule('-A X --comment ""'), ["-A", "X", "--comment", ""]);
});

test("planSweep deletes one attachment's rules, then its private chain", () => {
  const calls = planSweep(parseTable(nat), 'name: "n1" id: "c2"');
  assert.deepEqual(
    calls.map((c) => c.slice(0, 2).join(" ")),
    [
      "-D POSTROUTING",
      "-D CNI-c08b269db525a24da18e9567",
      "-D CNI-c08b269db525a24da18e9567",
      "-F CNI-c08b269db525a24da18e9567",
      "-X CNI-c08b269db525a24da18e9567",
    ],
  );
  assert.equal(calls[0]?.at(-1), "CNI-c08b269db525a24da18e9567");
  assert.deepEqual(planSweep(parseTable(nat), 'name: "n1" id: "nobody"'), []);
});

test("planSweep keeps a chain something else still jumps to", () => {
  const calls = planSweep(parseTable(nat), 'name: "n1" id: "c1"');
  // the DNAT rule goes; CNI-DN-... had no other referrer, so it goes too
  assert.deepEqual(calls.at(-1), ["-X", "CNI-DN-d6a985a21e2a589197af2"]);
  const shared = parseTable(`${nat}-A PREROUTING -j CNI-DN-d6a985a21e2a589197af2\n`);
  assert.equal(
    planSweep(shared, 'name: "n1" id: "c1"').some((c) => c[0] === "-X"),
    false,
  );
});

test("planPrune removes portmap's shared chains only once no DNAT rule is left", () => {
  assert.deepEqual(planPrune("nat", parseTable(nat)), []);
  const idle = nat
    .split("\n")
    .filter((l) => !l.includes("CNI-DN-") && !l.includes("c2"))
    .join("\n");
  const calls = planPrune("nat", parseTable(idle));
  assert.deepEqual(
    calls.map((c) => `${c[0]} ${c[1]}${c[0] === "-D" ? ` ${c.at(-1)}` : ""}`),
    [
      "-D PREROUTING CNI-HOSTPORT-DNAT",
      "-D OUTPUT CNI-HOSTPORT-DNAT",
      "-D POSTROUTING CNI-HOSTPORT-MASQ",
      "-F CNI-HOSTPORT-DNAT",
      "-F CNI-HOSTPORT-SETMARK",
      "-F CNI-HOSTPORT-MASQ",
      "-X CNI-HOSTPORT-DNAT",
      "-X CNI-HOSTPORT-SETMARK",
      "-X CNI-HOSTPORT-MASQ",
    ],
  );
  assert.deepEqual(planPrune("nat", parseTable("-P PREROUTING ACCEPT\n")), []);
});

test("planPrune removes firewall's chains when only the admin jump is left", () => {
  const filter = `-P FORWARD DROP
-N CNI-ADMIN
-N CNI-FORWARD
-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN
`;
  assert.deepEqual(
    planPrune("filter", parseTable(filter)).map((c) => c[0]),
    ["-D", "-F", "-F", "-X", "-X"],
  );
  const busy = `${filter}-A CNI-FORWARD -d 10.231.0.2/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n`;
  assert.deepEqual(planPrune("filter", parseTable(busy)), []);
});

test("masqueradeRule is docker's: the subnet leaving through another interface than its bridge, named by network", () => {
  const rule = masqueradeRule({ name: "app", id: "ab".repeat(32), subnet: "10.231.5.0/24", bridge: "br-abababababab" });
  assert.deepEqual(rule, [
    "POSTROUTING",
    "-s",
    "10.231.5.0/24",
    "!",
    "-o",
    "br-abababababab",
    "-m",
    "comment",
    "--comment",
    "berth masquerade app abababababab",
    "-j",
    "MASQUERADE",
  ]);
  // what iptables -S prints for it reads back as the same words
  const printed = `-A POSTROUTING -s 10.231.5.0/24 ! -o br-abababababab -m comment --comment "berth masquerade app abababababab" -j MASQUERADE`;
  assert.deepEqual(splitRule(printed).slice(1), rule);
});

const net = { name: "app", id: "ab".repeat(32), bridge: "br-abababababab" };
const c = ["-m", "comment", "--comment", "berth network app abababababab"];
const br = "br-abababababab";

test("networkFilterRules are docker's: isolation from other berth bridges; forwarding within, out, back and to published ports", () => {
  assert.deepEqual(networkFilterRules(net), [
    ["BERTH-ISOLATION-2", "-o", br, ...c, "-j", "DROP"],
    ["BERTH-ISOLATION-1", "-i", br, "!", "-o", br, ...c, "-j", "BERTH-ISOLATION-2"],
    ["BERTH-FORWARD", "-i", br, "-o", br, ...c, "-j", "ACCEPT"],
    ["BERTH-FORWARD", "-i", br, "!", "-o", br, ...c, "-j", "ACCEPT"],
    ["BERTH-FORWARD", "-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", ...c, "-j", "ACCEPT"],
    ["BERTH-FORWARD", "-o", br, "-m", "conntrack", "--ctstate", "DNAT", ...c, "-j", "ACCEPT"],
  ]);
  // internal: nothing in or out but its own traffic
  assert.deepEqual(networkFilterRules({ ...net, internal: true }), [
    ["BERTH-ISOLATION-2", "-o", br, ...c, "-j", "DROP"],
    ["BERTH-ISOLATION-1", "-i", br, "!", "-o", br, ...c, "-j", "DROP"],
    ["BERTH-ISOLATION-1", "!", "-i", br, "-o", br, ...c, "-j", "DROP"],
    ["BERTH-FORWARD", "-i", br, "-o", br, ...c, "-j", "ACCEPT"],
  ]);
});

/** A filter table as `iptables -S` prints it after `calls` were applied to `base` (what the plan needs of iptables). */
function apply(base: string, calls: string[][]): string {
  const t = parseTable(base);
  const chains = [...t.chains];
  const rules = t.rules.map((r) => [...r]);
  for (const call of calls) {
    const [op, ...rest] = call;
    if (op === "-N") chains.push(rest[0] as string);
    else if (op === "-A") rules.push(rest);
    else if (op === "-I") {
      const [chain, pos, ...r] = rest;
      const at = rules.findIndex((x) => x[0] === chain);
      const skip = Number(pos) - 1;
      const idx = at < 0 ? rules.length : at + skip;
      rules.splice(idx, 0, [chain as string, ...r]);
    } else if (op === "-D") {
      const i = rules.findIndex((x) => x.length === rest.length && x.every((a, j) => a === rest[j]));
      assert.ok(i >= 0, `-D of a rule that is not there: ${rest.join(" ")}`);
      rules.splice(i, 1);
    }
  }
  const q = (a: string) => (a.includes(" ") ? `"${a}"` : a);
  return ["-P FORWARD ACCEPT", ...chains.map((ch) => `-N ${ch}`), ...rules.map((r) => `-A ${r.map(q).join(" ")}`)].join("\n");
}

test("planNetworkRules: chains, jumps in order at the top, the rules; a second plan is empty", () => {
  const base = "-P FORWARD DROP\n-N DOCKER-USER\n-A FORWARD -j DOCKER-USER\n-A FORWARD -i eth0 -j DROP";
  const calls = planNetworkRules(parseTable(base), net);
  assert.deepEqual(calls.slice(0, 5), [
    ["-N", "BERTH-ISOLATION-1"],
    ["-N", "BERTH-ISOLATION-2"],
    ["-N", "BERTH-FORWARD"],
    ["-I", "FORWARD", "1", "-j", "BERTH-FORWARD"],
    ["-I", "FORWARD", "1", "-j", "BERTH-ISOLATION-1"],
  ]);
  const after = apply(base, calls);
  const forward = parseTable(after).rules.filter((r) => r[0] === "FORWARD");
  assert.deepEqual(forward.slice(0, 2), [
    ["FORWARD", "-j", "BERTH-ISOLATION-1"],
    ["FORWARD", "-j", "BERTH-FORWARD"],
  ]);
  assert.deepEqual(planNetworkRules(parseTable(after), net), [], "in place: nothing to do");
  // a second network adds only its own rules
  const other = { name: "db", id: "cd".repeat(32), bridge: "br-cdcdcdcdcdcd", internal: true };
  const more = planNetworkRules(parseTable(after), other);
  assert.ok(
    more.every((call) => call[0] === "-A"),
    JSON.stringify(more),
  );
  assert.equal(more.length, 4);
});

test("planNetworkRules: jumps out of order or doubled are put back; a changed network's old rules and an older berth's go", () => {
  const legacy = `-A FORWARD -i ${br} -o ${br} -m comment --comment "berth forward app abababababab" -j ACCEPT`;
  const base = [
    "-N BERTH-ISOLATION-1",
    "-N BERTH-ISOLATION-2",
    "-N BERTH-FORWARD",
    "-A FORWARD -j BERTH-FORWARD",
    "-A FORWARD -j BERTH-ISOLATION-1",
    "-A FORWARD -j BERTH-FORWARD",
    legacy,
    `-A BERTH-FORWARD -i ${br} ! -o ${br} -m comment --comment "berth network app abababababab" -j ACCEPT`,
  ].join("\n");
  // the network is internal now: its outbound rule goes
  const calls = planNetworkRules(parseTable(base), { ...net, internal: true });
  const after = parseTable(apply(base, calls));
  assert.deepEqual(
    after.rules.filter((r) => r[0] === "FORWARD"),
    [
      ["FORWARD", "-j", "BERTH-ISOLATION-1"],
      ["FORWARD", "-j", "BERTH-FORWARD"],
    ],
    "one jump each, in order; the older berth's rule gone",
  );
  assert.ok(!after.rules.some((r) => r[0] === "BERTH-FORWARD" && r.includes("!")), "the outbound rule went");
  assert.deepEqual(planNetworkRules(after, { ...net, internal: true }), []);
  // removal takes the network's rules (and an older berth's) and leaves the chains and jumps
  const removed = parseTable(apply(apply(base, calls), planRemoveNetworkRules(after, net)));
  assert.deepEqual(
    removed.rules.filter((r) => r.some((a) => a.includes("abababababab"))),
    [],
  );
  assert.deepEqual(removed.chains, ["BERTH-ISOLATION-1", "BERTH-ISOLATION-2", "BERTH-FORWARD"]);
});

test("planNetworkRules over every network from one read: after a flush, one check brings all of them back", () => {
  const other = { name: "db", id: "cd".repeat(32), bridge: "br-cdcdcdcdcdcd" };
  const calls = planNetworkRules(parseTable("-P FORWARD ACCEPT"), [net, other]);
  assert.equal(calls.filter((c) => c[0] === "-I").length, 2, "one pair of jumps");
  const after = parseTable(apply("-P FORWARD ACCEPT", calls));
  for (const n of [net, other])
    for (const rule of networkFilterRules(n))
      assert.ok(
        after.rules.some((r) => r.join(" ") === rule.join(" ")),
        `${n.name}: ${rule.join(" ")}`,
      );
  assert.deepEqual(planNetworkRules(after, [net, other]), []);
  // the isolation of one network's bridge from the other's holds in both directions
  assert.ok(after.rules.some((r) => r.join(" ").startsWith(`BERTH-ISOLATION-2 -o ${other.bridge}`)));
  assert.ok(after.rules.some((r) => r.join(" ").startsWith(`BERTH-ISOLATION-2 -o ${br}`)));
});
