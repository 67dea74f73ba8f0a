import assert from "node:assert/strict";
import { test } from "node:test";
import { buildConfList, pluginConfig } from "./conflist.js";
import type { Network } from "./types.js";

const net: Network = {
  name: "app",
  id: "ab".repeat(32),
  driver: "bridge",
  subnet: "10.231.5.0/24",
  gateway: "10.231.5.1",
  bridge: "br-abababababab",
  internal: false,
  labels: {},
  created: "2026-01-01T00:00:00.000Z",
};

test("a plain network is one bridge plugin with host-local IPAM, gateway and hairpin; masquerade is the network's rule, not ipMasq", () => {
  const list = buildConfList(net, { ipamDataDir: "/var/lib/berth/network/ipam" });
  assert.equal(list.cniVersion, "1.0.0");
  assert.equal(list.name, "app");
  assert.deepEqual(list.plugins, [
    {
      type: "bridge",
      bridge: "br-abababababab",
      isGateway: true,
      ipMasq: false,
      hairpinMode: true,
      ipam: {
        type: "host-local",
        ranges: [[{ subnet: "10.231.5.0/24", gateway: "10.231.5.1" }]],
        routes: [{ dst: "0.0.0.0/0" }],
        dataDir: "/var/lib/berth/network/ipam",
      },
    },
  ]);
});

test("ports chain portmap with snat and the runtimeConfig; internal drops the default route", () => {
  const list = buildConfList(
    { ...net, internal: true },
    {
      ipamDataDir: "/d",
      ports: [
        { hostIP: "0.0.0.0", hostPort: 8080, containerPort: 80, protocol: "tcp" },
        { hostIP: "127.0.0.1", hostPort: 5353, containerPort: 53, protocol: "udp" },
      ],
      mtu: 1400,
    },
  );
  assert.deepEqual(
    list.plugins.map((p) => p.type),
    ["bridge", "portmap"],
  );
  const [bridge, portmap] = list.plugins;
  assert.equal(bridge?.["ipMasq"], false);
  assert.equal(bridge?.["mtu"], 1400);
  assert.deepEqual((bridge?.["ipam"] as { routes?: unknown[] } | undefined)?.routes, []);
  assert.deepEqual(portmap, {
    type: "portmap",
    capabilities: { portMappings: true },
    snat: true,
    runtimeConfig: {
      portMappings: [
        { hostPort: 8080, containerPort: 80, protocol: "tcp" },
        { hostPort: 5353, containerPort: 53, protocol: "udp", hostIP: "127.0.0.1" },
      ],
    },
  });
});

test("each plugin gets the list's version and name, and prevResult when chained", () => {
  const list = buildConfList(net, {
    ipamDataDir: "/d",
    ports: [{ hostIP: "0.0.0.0", hostPort: 1, containerPort: 1, protocol: "tcp" }],
  });
  const [, portmap] = list.plugins;
  assert.ok(portmap);
  const conf = pluginConfig(list, portmap, { cniVersion: "1.0.0", ips: [] });
  assert.equal(conf["cniVersion"], "1.0.0");
  assert.equal(conf["name"], "app");
  assert.deepEqual(conf["prevResult"], { cniVersion: "1.0.0", ips: [] });
  assert.equal("prevResult" in pluginConfig(list, portmap), false);
});
