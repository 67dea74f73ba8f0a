import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { type AttachWaiter, AttachWaiters } from "./attach-waiters.js";

function waiter(): AttachWaiter & { opened: string[]; failed: Error[] } {
  const w = {
    opened: [] as string[],
    failed: [] as Error[],
    open: async (shim: string) => {
      w.opened.push(shim);
    },
    fail: (e: Error) => {
      w.failed.push(e);
    },
  };
  return w;
}

test("one client's abort ends its wait alone; the start takes the others", async () => {
  const ws = new AttachWaiters();
  const a = waiter();
  const b = waiter();
  const ca = new AbortController();
  ws.add("c1", a, ca.signal);
  ws.add("c1", b, new AbortController().signal);
  ca.abort();
  assert.equal(a.failed.length, 1);
  assert.ok(isKind(a.failed[0], "Unavailable"));
  assert.equal(ws.count("c1"), 1);
  const taken = ws.take("c1");
  assert.deepEqual(taken, [b]);
  assert.equal(ws.count("c1"), 0);
  await Promise.all(taken.map((w) => w.open("shim.sock")));
  assert.deepEqual(b.opened, ["shim.sock"]);
  assert.equal(b.failed.length, 0);
});

test("an abort after the start took the waiter changes nothing", () => {
  const ws = new AttachWaiters();
  const a = waiter();
  const ca = new AbortController();
  ws.add("c1", a, ca.signal);
  ws.take("c1");
  ca.abort();
  assert.equal(a.failed.length, 0);
});

test("an already aborted client never waits", () => {
  const ws = new AttachWaiters();
  const a = waiter();
  const ca = new AbortController();
  ca.abort();
  ws.add("c1", a, ca.signal);
  assert.equal(a.failed.length, 1);
  assert.equal(ws.count("c1"), 0);
});

test("failAll ends every wait of one container with the error, others keep waiting", () => {
  const ws = new AttachWaiters();
  const a = waiter();
  const b = waiter();
  const other = waiter();
  ws.add("c1", a);
  ws.add("c1", b);
  ws.add("c2", other);
  const err = new Error("start failed");
  ws.failAll("c1", err);
  assert.deepEqual(a.failed, [err]);
  assert.deepEqual(b.failed, [err]);
  assert.equal(other.failed.length, 0);
  assert.equal(ws.count("c2"), 1);
});
