import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { validateContainerId, validateInterfaceName, validateNetworkName } from "./names.js";
import { parseNetworkMode } from "./network-mode.js";

test("network names follow docker's pattern", () => {
  for (const ok of ["a", "my-net", "net_1.x", "0abc", "A.B-C_D"]) validateNetworkName(ok);
  for (const bad of ["", "-a", ".a", "_a", "a b", "a/b", "a:b", "ünï", "x".repeat(129)]) {
    assert.throws(
      () => validateNetworkName(bad),
      (e) => isKind(e, "InvalidArgument"),
      bad,
    );
  }
});

test("container ids and interface names", () => {
  validateContainerId("0123abcd".repeat(8));
  assert.throws(() => validateContainerId("../etc"), /invalid container id/);
  assert.throws(() => validateContainerId(""), /invalid container id/);
  validateInterfaceName("eth0");
  validateInterfaceName("br-0123456789ab");
  assert.throws(() => validateInterfaceName("br-0123456789abc"), /invalid interface name/);
  assert.throws(() => validateInterfaceName("a/b"), /invalid interface name/);
});

test("parseNetworkMode: none, host, bridge, container:<id>, names", () => {
  assert.deepEqual(parseNetworkMode("none"), { kind: "none" });
  assert.deepEqual(parseNetworkMode("host"), { kind: "host" });
  assert.deepEqual(parseNetworkMode("bridge"), { kind: "bridge" });
  assert.deepEqual(parseNetworkMode("default"), { kind: "bridge" });
  assert.deepEqual(parseNetworkMode(""), { kind: "bridge" });
  assert.deepEqual(parseNetworkMode("backend.net"), { kind: "network", name: "backend.net" });
  assert.deepEqual(parseNetworkMode("container:abc123"), { kind: "container", container: "abc123" });
  assert.deepEqual(parseNetworkMode("container:/web"), { kind: "container", container: "web" });
  for (const bad of ["container:", "container:-x", "a b", "host:x", "/x"]) {
    assert.throws(
      () => parseNetworkMode(bad),
      (e) => isKind(e, "InvalidArgument") && /invalid network mode/.test(String(e)),
      bad,
    );
  }
});
