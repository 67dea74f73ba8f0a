import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { assignHostPorts, checkPortConflicts, ephemeralPorts, normalizePorts, portsClash } from "./ports.js";
import type { PublishedPort } from "./types.js";

const p = (hostIP: string, hostPort: number, protocol: "tcp" | "udp" = "tcp"): PublishedPort => ({
  hostIP,
  hostPort,
  containerPort: 80,
  protocol,
});

test("normalizePorts fills the any address and refuses bad values", () => {
  assert.deepEqual(normalizePorts([{ hostPort: 8080, containerPort: 80, protocol: "tcp" }]), [p("0.0.0.0", 8080)]);
  assert.deepEqual(normalizePorts([{ containerPort: 80, protocol: "tcp", hostIP: "" }]), [p("0.0.0.0", 0)]);
  const bad = [
    { hostPort: 70000, containerPort: 80, protocol: "tcp" as const },
    { hostPort: 80, containerPort: 0, protocol: "tcp" as const },
    { hostPort: 80, containerPort: 80, protocol: "sctp" as "tcp" },
    { hostPort: 80, containerPort: 80, protocol: "tcp" as const, hostIP: "::1" },
  ];
  for (const m of bad)
    assert.throws(
      () => normalizePorts([m]),
      (e) => isKind(e, "InvalidArgument"),
      JSON.stringify(m),
    );
});

test("clashes: same protocol and port, and the same or an unspecified address", () => {
  assert.ok(portsClash(p("0.0.0.0", 80), p("127.0.0.1", 80)));
  assert.ok(portsClash(p("127.0.0.1", 80), p("127.0.0.1", 80)));
  assert.ok(!portsClash(p("127.0.0.1", 80), p("127.0.0.2", 80)));
  assert.ok(!portsClash(p("0.0.0.0", 80), p("0.0.0.0", 80, "udp")));
  assert.throws(() => checkPortConflicts([p("0.0.0.0", 80)], [p("10.0.0.1", 80)]), /port is already allocated/);
  assert.throws(() => checkPortConflicts([p("0.0.0.0", 80), p("0.0.0.0", 80)], []), /port is already allocated/);
  checkPortConflicts([p("0.0.0.0", 0), p("0.0.0.0", 0)], []);
});

test("assignHostPorts picks ephemeral ports nobody uses", async () => {
  const busy = new Set([ephemeralPorts.first + 1]);
  const got = await assignHostPorts(
    [p("0.0.0.0", 0), p("0.0.0.0", 9000), p("0.0.0.0", 0)],
    [p("0.0.0.0", ephemeralPorts.first)],
    async (q) => !busy.has(q.hostPort),
  );
  assert.deepEqual(
    got.map((q) => q.hostPort),
    [ephemeralPorts.first + 2, 9000, ephemeralPorts.first + 3],
  );
});
