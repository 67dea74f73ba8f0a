import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { parseRequest, seqOf } from "./parse-request.js";

const runtime = { name: "runc", path: "/usr/sbin/runc", root: "/run/x" };

test("a create request is typed with its options", () => {
  const r = parseRequest(
    JSON.stringify({ op: "create", seq: 1, id: "c1", bundle: "/b", runtime, terminal: true, stdin: true, rows: 24, cols: 80 }),
  );
  assert.deepEqual(r, { op: "create", seq: 1, id: "c1", bundle: "/b", runtime, terminal: true, stdin: true, rows: 24, cols: 80 });
  const d = parseRequest(JSON.stringify({ op: "create", seq: 2, id: "c2", bundle: "/b", runtime, deleteOnExit: true }));
  assert.equal((d as { deleteOnExit?: boolean }).deleteOnExit, true);
  assert.throws(
    () => parseRequest(JSON.stringify({ op: "create", seq: 3, id: "c3", bundle: "/b", runtime, deleteOnExit: "yes" })),
    /deleteOnExit/,
  );
});

test("attach needs no seq", () => {
  assert.deepEqual(parseRequest('{"op":"attach","id":"c1","stdout":true}'), {
    op: "attach",
    id: "c1",
    stdin: false,
    stdout: true,
    stderr: false,
  });
});

test("malformed requests are InvalidArgument, naming what is wrong", () => {
  const bad: [string, RegExp][] = [
    ["not json", /malformed request/],
    ["[1]", /not a JSON object/],
    ['{"op":"list"}', /seq/],
    ['{"op":"nope","seq":1}', /unknown op/],
    ['{"op":"start","seq":1,"id":"../x"}', /id must match/],
    [JSON.stringify({ op: "create", seq: 1, id: "c", bundle: "rel", runtime }), /bundle must be an absolute path/],
    [JSON.stringify({ op: "create", seq: 1, id: "c", bundle: "/b", runtime: { ...runtime, args: [1] } }), /runtime.args/],
    ['{"op":"kill","seq":1,"id":"c","signal":0}', /signal/],
    ['{"op":"resize","seq":1,"id":"c","rows":1}', /rows and cols/],
  ];
  for (const [line, msg] of bad)
    assert.throws(
      () => parseRequest(line),
      (e) => isKind(e, "InvalidArgument") && msg.test((e as Error).message),
      line,
    );
  assert.equal(seqOf('{"op":"nope","seq":9}'), 9);
  assert.equal(seqOf("garbage"), 0);
});
