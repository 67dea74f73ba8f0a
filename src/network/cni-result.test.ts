import assert from "node:assert/strict";
import { test } from "node:test";
import { containerAddress } from "./cni-result.js";

// the shape bridge 1.1.1 prints for CNI 1.0.0
const result = {
  cniVersion: "1.0.0",
  interfaces: [
    { name: "br-abababababab", mac: "aa:aa:aa:aa:aa:aa" },
    { name: "veth1234", mac: "bb:bb:bb:bb:bb:bb" },
    { name: "eth0", mac: "26:b4:5e:3b:50:a4", sandbox: "/run/berth/netns/c1" },
  ],
  ips: [
    { address: "fd00::2/64", gateway: "fd00::1", interface: 2 },
    { address: "10.231.0.2/24", gateway: "10.231.0.1", interface: 2 },
  ],
  routes: [{ dst: "0.0.0.0/0" }],
  dns: {},
};

test("the container's IPv4 address, gateway and MAC on its interface", () => {
  assert.deepEqual(containerAddress(result, "eth0", "10.231.0.254"), {
    ip: "10.231.0.2",
    prefixLen: 24,
    gateway: "10.231.0.1",
    mac: "26:b4:5e:3b:50:a4",
  });
});

test("a missing gateway falls back; a result without IPv4 or ips is an error", () => {
  const noGw = { ...result, ips: [{ address: "10.231.0.9/24", interface: 2 }] };
  assert.equal(containerAddress(noGw, "eth0", "10.231.0.1").gateway, "10.231.0.1");
  assert.throws(() => containerAddress({ ...result, ips: [] }, "eth0", "x"), /no IPv4 address for interface eth0/);
  assert.throws(() => containerAddress({ cniVersion: "1.0.0" }, "eth0", "x"), /no "ips" list/);
  assert.throws(() => containerAddress(null, "eth0", "x"), /no "ips" list/);
});
