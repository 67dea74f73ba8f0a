import assert from "node:assert/strict";
import { test } from "node:test";
import { formatCidr } from "./cidr.js";
import { parseRoutes } from "./host.js";
import { parseMountInfo } from "./netns.js";

test("parseRoutes keeps IPv4 destinations, without the default route", () => {
  const json = JSON.stringify([
    { dst: "default", gateway: "192.0.2.1", dev: "eth0" },
    { dst: "192.0.2.0/24", dev: "eth0" },
    { dst: "10.9.8.7", dev: "tun0" },
    { dst: "fe80::/64", dev: "eth0" },
  ]);
  assert.deepEqual(parseRoutes(json).map(formatCidr), ["192.0.2.0/24", "10.9.8.7/32"]);
  assert.deepEqual(parseRoutes("{}"), []);
});

test("parseMountInfo reads mount points (unescaped), fs types and propagation", () => {
  const text = [
    "43 27 254:0 /run/x /run/berth/netns rw,relatime shared:2 - ext4 /dev/vda rw",
    "44 43 0:4 net:[4026532177] /run/berth/netns/c\\0401 rw shared:3 - nsfs nsfs rw",
    "45 27 0:5 / /mnt rw - tmpfs tmpfs rw",
  ].join("\n");
  assert.deepEqual(parseMountInfo(text), [
    { mountPoint: "/run/berth/netns", fsType: "ext4", optional: ["shared:2"] },
    { mountPoint: "/run/berth/netns/c 1", fsType: "nsfs", optional: ["shared:3"] },
    { mountPoint: "/mnt", fsType: "tmpfs", optional: [] },
  ]);
});
