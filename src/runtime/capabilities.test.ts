import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { CAPABILITIES, capNames, capSets } from "./capabilities.js";

const noWarn = (m: string) => assert.fail(`unexpected warning: ${m}`);

test("no capabilities: every set empty", () => {
  assert.deepEqual(capSets(undefined, 40, noWarn), { bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n });
  assert.deepEqual(capSets({}, 40, noWarn).bounding, 0n);
});

test("each set gets the bits of its names", () => {
  const s = capSets(
    {
      bounding: ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN", "CAP_SYSLOG"],
      effective: ["CAP_NET_BIND_SERVICE"],
      permitted: ["CAP_NET_BIND_SERVICE", "CAP_SETUID"],
      inheritable: ["CAP_AUDIT_WRITE"],
      ambient: ["CAP_CHECKPOINT_RESTORE"],
    },
    40,
    noWarn,
  );
  assert.equal(s.bounding, (1n << 0n) | (1n << 5n) | (1n << 21n) | (1n << 34n));
  assert.equal(s.effective, 1n << 10n);
  assert.equal(s.permitted, (1n << 10n) | (1n << 7n));
  assert.equal(s.inheritable, 1n << 29n);
  assert.equal(s.ambient, 1n << 40n);
});

test("duplicate names set one bit", () => {
  assert.equal(capSets({ effective: ["CAP_KILL", "CAP_KILL"] }, 40, noWarn).effective, 1n << 5n);
});

test("an unknown name is InvalidArgument naming the set", () => {
  assert.throws(
    () => capSets({ bounding: ["CAP_KILL"], permitted: ["CAP_FLY"] }, 40, noWarn),
    (e: unknown) =>
      isKind(e, "InvalidArgument") && (e as Error).message === 'process.capabilities.permitted: unknown capability "CAP_FLY"',
  );
  // names are case-sensitive, as in config.json
  assert.throws(
    () => capSets({ effective: ["cap_kill"] }, 40, noWarn),
    (e: unknown) => isKind(e, "InvalidArgument"),
  );
});

test("capabilities above the kernel's last cap are dropped with a warning", () => {
  const warnings: string[] = [];
  const s = capSets({ bounding: ["CAP_CHOWN", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"] }, 37, (m) => warnings.push(m));
  assert.equal(s.bounding, 1n);
  assert.equal(warnings.length, 3);
  assert.match(warnings[0] ?? "", /CAP_PERFMON/);
  assert.match(warnings[2] ?? "", /CAP_CHECKPOINT_RESTORE/);
  // the last cap itself is kept
  assert.equal(capSets({ bounding: ["CAP_AUDIT_READ"] }, 37, noWarn).bounding, 1n << 37n);
});

test("the table has every capability 0..40 once", () => {
  const numbers = Object.values(CAPABILITIES).sort((a, b) => a - b);
  assert.deepEqual(
    numbers,
    Array.from({ length: 41 }, (_, i) => i),
  );
  assert.equal(capNames().length, 41);
  assert.ok(capNames().every((n) => n.startsWith("CAP_")));
});
