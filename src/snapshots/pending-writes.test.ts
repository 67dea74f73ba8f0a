// The background creation queue on its own: what waits for what, the bounds, the first failure.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PendingWrites } from "./pending-writes.js";

/** a creation that finishes when told to, recording its start */
function gate(log: string[], name: string, fail?: Error) {
  let open = () => {};
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return {
    open,
    run: async (release: () => void) => {
      log.push(`start ${name}`);
      await opened;
      if (fail) throw fail; // unreleased: the queue records the failure, then releases
      release();
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

test("settle waits for the path, the paths above it, and with `below` the paths under it", async () => {
  const log: string[] = [];
  const q = new PendingWrites({ running: 8 });
  const a = gate(log, "a/f");
  const b = gate(log, "b");
  q.add("a/f", 1, a.run);
  q.add("b", 1, b.run);
  const waited: string[] = [];
  const settle = (rel: string, below: boolean) => q.settle(rel, below).then(() => waited.push(`${rel}${below ? "/**" : ""}`));
  const all = [
    settle("a/f", false),
    settle("a", true),
    settle("a", false),
    settle("b/x", false),
    settle("c", true),
    settle("", true),
  ];
  await tick();
  assert.deepEqual(waited.sort(), ["a", "c/**"], "unrelated paths, and a directory whose contents stay, do not wait");
  a.open();
  await tick();
  assert.deepEqual(waited.sort(), ["a", "a/**", "a/f", "c/**"]);
  b.open();
  await Promise.all(all);
  assert.deepEqual(log, ["start a/f", "start b"]);
});

test("room bounds the entries and bytes queued; `running` bounds what runs", async () => {
  const log: string[] = [];
  const q = new PendingWrites({ queued: 3, bytes: 100, running: 2 });
  const gates = ["x", "y", "z"].map((n) => gate(log, n));
  for (const [i, g] of gates.entries()) q.add(`f${i}`, 30, g.run);
  await tick();
  assert.deepEqual(log, ["start x", "start y"], "two run, one waits");
  let roomy = false;
  const room = q.room(10).then(() => (roomy = true));
  await tick();
  assert.equal(roomy, false, "three queued: full");
  gates[0]?.open();
  await room;
  assert.deepEqual(log, ["start x", "start y", "start z"]);
  let big = false;
  const r2 = q.room(50).then(() => (big = true));
  await tick();
  assert.equal(big, false, "60 bytes held, 50 more would pass 100");
  gates[1]?.open();
  await r2;
  gates[2]?.open();
  await q.drain();
  await q.room(1000); // an entry over the byte bound runs alone
});

test("drain throws the first failure in queue order; what was queued behind a failure is not run", async () => {
  const log: string[] = [];
  const q = new PendingWrites({ running: 2 });
  const first = gate(log, "first", new Error("first failed"));
  const second = gate(log, "second", new Error("second failed"));
  const third = gate(log, "third");
  q.add("1", 0, first.run);
  q.add("2", 0, second.run);
  q.add("3", 0, third.run);
  second.open();
  await tick();
  first.open();
  await assert.rejects(q.drain(), /first failed/);
  assert.match(String(q.failed), /first failed/);
  assert.deepEqual(log, ["start first", "start second"]);
  await q.quiesce();
});
