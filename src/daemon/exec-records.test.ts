import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { type ExecRecord, ExecRecords } from "./exec-records.js";

const rec = (id: string, containerId = "c1"): ExecRecord => ({
  id,
  containerId,
  config: { Cmd: ["true"] },
  running: false,
  pid: 0,
});

test("finished execs beyond the limit go, oldest first; created and running ones stay", () => {
  const xs = new ExecRecords(2);
  const created = rec("created");
  xs.add(created);
  const running = { ...rec("running"), running: true };
  xs.add(running);
  for (const id of ["a", "b", "c"]) {
    const x = rec(id);
    xs.add(x);
    xs.finished(x, 0);
  }
  assert.equal(xs.find("a"), undefined);
  assert.equal(xs.find("b")?.exitCode, 0);
  assert.equal(xs.find("c")?.exitCode, 0);
  assert.equal(xs.find("created"), created);
  assert.equal(xs.find("running"), running);
});

test("the limit is per container", () => {
  const xs = new ExecRecords(1);
  const a = rec("a", "c1");
  const b = rec("b", "c2");
  xs.add(a);
  xs.add(b);
  xs.finished(a, 1);
  xs.finished(b, 2);
  assert.equal(xs.count("c1"), 1);
  assert.equal(xs.count("c2"), 1);
});

test("a stopped container's execs are forgotten: get says No such exec instance", () => {
  const xs = new ExecRecords();
  xs.add(rec("a", "c1"));
  xs.add(rec("b", "c2"));
  xs.forgetContainer("c1");
  assert.throws(
    () => xs.get("a"),
    (e: unknown) => isKind(e, "NotFound") && /No such exec instance: a/.test((e as Error).message),
  );
  assert.equal(xs.get("b").id, "b");
});
