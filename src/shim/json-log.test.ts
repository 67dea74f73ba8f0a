import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { JsonFileLog, LOG_PIECE } from "./json-log.js";

const dir = mkdtempSync("/tmp/berth-json-log-");
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fail = (e: unknown) => assert.fail(String(e));

function entries(path: string): { log: string; stream: string; time: string }[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { log: string; stream: string; time: string });
}

test("lines split at newlines, streams kept apart, a line completed across chunks", () => {
  const path = join(dir, `${++n}.log`);
  const log = new JsonFileLog({ path, onError: fail });
  log.write("stdout", Buffer.from("one\ntw"));
  log.write("stderr", Buffer.from("err\n"));
  log.write("stdout", Buffer.from("o\nthree"));
  log.close();
  const e = entries(path);
  assert.deepEqual(
    e.map((x) => [x.stream, x.log]),
    [
      ["stdout", "one\n"],
      ["stderr", "err\n"],
      ["stdout", "two\n"],
      ["stdout", "three"],
    ],
  );
  for (const x of e) assert.match(x.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
});

test("a line longer than 16 KiB is written as 16 KiB partial pieces", () => {
  const path = join(dir, `${++n}.log`);
  const log = new JsonFileLog({ path, onError: fail });
  log.write("stdout", Buffer.from(`${"x".repeat(LOG_PIECE * 2 + 5)}\n`));
  log.close();
  assert.deepEqual(
    entries(path).map((x) => x.log.length),
    [LOG_PIECE, LOG_PIECE, 6],
  );
  assert.ok(!entries(path)[0]?.log.endsWith("\n"));
});

test("rotation keeps maxFiles files of at most maxSize bytes, newest in path", () => {
  const path = join(dir, `${++n}.log`);
  const log = new JsonFileLog({ path, maxSize: 300, maxFiles: 3, onError: fail });
  for (let i = 0; i < 40; i++) log.write("stdout", Buffer.from(`line ${i}\n`));
  log.close();
  assert.ok(existsSync(`${path}.1`) && existsSync(`${path}.2`) && !existsSync(`${path}.3`));
  for (const f of [path, `${path}.1`, `${path}.2`]) assert.ok(readFileSync(f).length <= 300);
  const all = [`${path}.2`, `${path}.1`, path].flatMap((f) => entries(f).map((x) => x.log));
  assert.equal(all[all.length - 1], "line 39\n");
  // contiguous: nothing lost inside what was kept
  const first = Number(/\d+/.exec(all[0] ?? "")?.[0]);
  assert.deepEqual(
    all,
    Array.from({ length: 40 - first }, (_, i) => `line ${first + i}\n`),
  );
});

test("one file: rotation starts it again", () => {
  const path = join(dir, `${++n}.log`);
  const log = new JsonFileLog({ path, maxSize: 200, maxFiles: 1, onError: fail });
  for (let i = 0; i < 20; i++) log.write("stderr", Buffer.from(`line ${i}\n`));
  log.close();
  assert.ok(!existsSync(`${path}.1`));
  assert.equal(entries(path).at(-1)?.log, "line 19\n");
  assert.ok(readFileSync(path).length <= 200);
});
