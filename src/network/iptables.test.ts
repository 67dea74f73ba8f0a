import assert from "node:assert/strict";
import { test } from "node:test";
import { forwardRules, masqueradeRule, parseTable, planPrune, planSweep, splitRule } from "./iptables.js";

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

test("forwardRules are docker's: within the bridge always; out of it and the replies back unless internal", () => {
  const net = { name: "app", id: "ab".repeat(32), bridge: "br-abababababab" };
  const tail = ["-m", "comment", "--comment", "berth forward app abababababab", "-j", "ACCEPT"];
  assert.deepEqual(forwardRules(net), [
    ["-i", "br-abababababab", "-o", "br-abababababab", ...tail],
    ["-i", "br-abababababab", "!", "-o", "br-abababababab", ...tail],
    ["-o", "br-abababababab", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", ...tail],
  ]);
  assert.deepEqual(forwardRules({ ...net, internal: true }), [["-i", "br-abababababab", "-o", "br-abababababab", ...tail]]);
});
