import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { JsonFileLog } from "../shim/json-log.js";
import { generation, type LogEntry, type LogOptions, parseLogLine, parseLogTime, readLogs, wanted } from "./logs.js";

const dir = mkdtempSync("/tmp/berth-logs-");
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fail = (e: unknown) => assert.fail(String(e));
const both: LogOptions = { stdout: true, stderr: true };

function line(log: string, stream: "stdout" | "stderr" = "stdout", time = "2024-01-02T03:04:05.000000001Z"): string {
  return `${JSON.stringify({ log, stream, time })}\n`;
}

async function read(path: string, o: LogOptions, stopped = () => true): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  await readLogs(path, { pollMs: 5, ...o }, (e) => void out.push(e), stopped);
  return out;
}

/** A log written through the shim's own writer, rotating at `maxSize` bytes. */
function writeLog(count: number, maxSize: number, maxFiles: number): string {
  const path = join(dir, `${++n}`, "c-json.log");
  const log = new JsonFileLog({ path, maxSize, maxFiles, onError: fail });
  for (let i = 0; i < count; i++) log.write(i % 3 === 2 ? "stderr" : "stdout", Buffer.from(`line ${i}\n`));
  log.close();
  return path;
}

test("parseLogLine takes json-file entries and refuses torn or foreign lines", () => {
  assert.deepEqual(parseLogLine(line("a\n").trim()), { log: "a\n", stream: "stdout", time: "2024-01-02T03:04:05.000000001Z" });
  assert.equal(parseLogLine('{"log":"a\\n","stream":"std'), undefined);
  assert.equal(parseLogLine('{"log":1,"stream":"stdout","time":"x"}'), undefined);
  assert.equal(parseLogLine('{"log":"a","stream":"other","time":"x"}'), undefined);
  assert.equal(parseLogLine("null"), undefined);
});

test("generation orders a log's files and ignores others", () => {
  assert.equal(generation("c-json.log", "c-json.log"), 0);
  assert.equal(generation("c-json.log.1", "c-json.log"), 1);
  assert.equal(generation("c-json.log.12", "c-json.log"), 12);
  for (const other of ["c-json.log.0", "c-json.log.01", "c-json.log.x", "c-json.log.1.gz", "hosts"])
    assert.equal(generation(other, "c-json.log"), -1, other);
});

test("parseLogTime and wanted: streams and the since/until window", () => {
  assert.equal(parseLogTime("1.5"), 1_500_000_000n);
  assert.equal(parseLogTime("2024-01-02T03:04:05.000000001Z"), 1704164645000000001n);
  assert.equal(parseLogTime("0"), undefined);
  assert.throws(() => parseLogTime("yesterday"), /invalid time/);
  const e: LogEntry = { log: "x", stream: "stderr", time: "2024-01-02T03:04:05.000000001Z" };
  assert.equal(wanted(e, { stdout: true, stderr: false }), false);
  assert.equal(wanted(e, { stdout: false, stderr: true }), true);
  assert.equal(wanted(e, { stdout: true, stderr: true, since: 1704164645000000001n }), true);
  assert.equal(wanted(e, { stdout: true, stderr: true, since: 1704164645000000002n }), false);
  assert.equal(wanted(e, { stdout: true, stderr: true, until: 1704164645000000000n }), false);
});

test("rotated files are read oldest first, each line once", async () => {
  const path = writeLog(200, 1000, 3);
  // rotation really bounded the files: the live one and two rotated ones
  assert.deepEqual(readdirSync(join(path, "..")).sort(), ["c-json.log", "c-json.log.1", "c-json.log.2"]);
  const got = (await read(path, both)).map((e) => e.log);
  assert.ok(got.length > 10 && got.length < 200, `${got.length} lines retained`);
  const first = Number(/\d+/.exec(got[0] as string)?.[0]);
  assert.deepEqual(
    got,
    Array.from({ length: got.length }, (_, i) => `line ${first + i}\n`),
  );
  assert.equal(got.at(-1), "line 199\n");
});

test("tail reads backwards across rotated files; stream selection applies before the count", async () => {
  const path = writeLog(200, 1000, 3);
  const all = await read(path, both);
  for (const t of [0, 1, 5, 30, all.length, all.length + 50]) {
    const got = await read(path, { ...both, tail: t });
    assert.deepEqual(got, t === 0 ? [] : all.slice(-t), `tail ${t}`);
  }
  const errOnly = await read(path, { stdout: false, stderr: true, tail: 4 });
  assert.deepEqual(errOnly, all.filter((e) => e.stream === "stderr").slice(-4));
  assert.ok(errOnly.every((e) => e.stream === "stderr"));
});

test("tail over lines longer than a read chunk", async () => {
  const path = join(dir, `${++n}.log`);
  const big = (c: string) => `${c.repeat(100_000)}\n`;
  writeFileSync(path, line(big("a")) + line("mid\n") + line(big("b")));
  assert.deepEqual(
    (await read(path, { ...both, tail: 2 })).map((e) => e.log.length),
    [4, 100_001],
  );
  assert.deepEqual(
    (await read(path, { ...both, tail: 9 })).map((e) => e.log[0]),
    ["a", "m", "b"],
  );
});

test("a torn last line is skipped, and read once it is complete", async () => {
  const path = join(dir, `${++n}.log`);
  const whole = line("done\n");
  const torn = line("later\n");
  writeFileSync(path, whole + torn.slice(0, 10));
  assert.deepEqual(
    (await read(path, both)).map((e) => e.log),
    ["done\n"],
  );
  assert.deepEqual(
    (await read(path, { ...both, tail: 5 })).map((e) => e.log),
    ["done\n"],
  );
  // a follow that started on the torn line gets it whole once the writer finishes it
  const f = follow(path, { tail: 1 });
  try {
    await f.following;
    appendFileSync(path, torn.slice(10));
  } finally {
    await f.stop();
  }
  assert.deepEqual(f.got, ["done", "later"]);
});

test("since and until select by the entry's time", async () => {
  const path = join(dir, `${++n}.log`);
  writeFileSync(
    path,
    line("1\n", "stdout", "2024-01-01T00:00:01Z") +
      line("2\n", "stdout", "2024-01-01T00:00:02.5Z") +
      line("3\n", "stdout", "2024-01-01T00:00:03Z"),
  );
  const logs = async (o: Partial<LogOptions>) => (await read(path, { ...both, ...o })).map((e) => e.log.trim()).join("");
  assert.equal(await logs({ since: "2024-01-01T00:00:02Z" }), "23");
  assert.equal(await logs({ until: "2024-01-01T00:00:02.5Z" }), "12");
  assert.equal(await logs({ since: String(Date.parse("2024-01-01T00:00:02Z") / 1000), tail: 1 }), "3");
  // a follow whose until has passed ends once what is there is read
  assert.equal(await logs({ until: "2024-01-01T00:00:02Z", follow: true }), "1");
});

test("a missing log is empty, also for a follow of a stopped container", async () => {
  assert.deepEqual(await read(join(dir, "none", "x.log"), both), []);
  assert.deepEqual(await read(join(dir, "none", "x.log"), { ...both, follow: true, tail: 3 }), []);
});

/** A follow of `path` until stop(); `following` resolves once it reads on from where its first read ended. */
function follow(path: string, o: Partial<LogOptions>) {
  let stop = false;
  let onFollowing = () => {};
  const following = new Promise<void>((r) => {
    onFollowing = r;
  });
  const got: string[] = [];
  const done = readLogs(
    path,
    { ...both, follow: true, pollMs: 1, ...o },
    (e) => void got.push(e.log.trim()),
    () => {
      // asked first when the follow starts: the first read is over
      onFollowing();
      return stop;
    },
  );
  return {
    got,
    following,
    stop: () => {
      stop = true;
      return done;
    },
  };
}

test("follow sees every line once across rotations, then ends after the container stopped", async () => {
  for (const tail of [undefined, 0, 3]) {
    const path = join(dir, `${++n}`, "c-json.log");
    // about ten lines a file, three files kept
    const log = new JsonFileLog({ path, maxSize: 700, maxFiles: 3, onError: fail });
    for (let i = 0; i < 5; i++) log.write("stdout", Buffer.from(`${i}\n`));
    const f = follow(path, tail !== undefined ? { tail } : {});
    let i = 5;
    try {
      await f.following;
      // the writer runs between the reader's steps, so a rotation lands anywhere in a read; it
      // waits while the reader is more than a file behind (docker's limit too: a reader that falls
      // behind by max-file files loses the ones deleted before it got to them)
      for (let round = 0; round < 300; round++) {
        for (let k = 0; k < 1 + (round % 4); k++) log.write("stdout", Buffer.from(`${i++}\n`));
        await new Promise((r) => setImmediate(r));
        const t0 = Date.now();
        while (Number(f.got.at(-1) ?? -1) < i - 12) {
          if (Date.now() - t0 > 10_000) assert.fail(`the follow is stuck at ${f.got.at(-1)} of ${i - 1}`);
          await new Promise((r) => setTimeout(r, 1));
        }
      }
    } finally {
      log.close();
      await f.stop();
    }
    const from = tail === undefined ? 0 : 5 - tail;
    assert.deepEqual(
      f.got.map(Number),
      Array.from({ length: i - from }, (_, k) => from + k),
      `tail ${tail}`,
    );
  }
});

test("follow of a truncating log (max-file 1) starts the file again", async () => {
  const path = join(dir, `${++n}`, "c-json.log");
  const log = new JsonFileLog({ path, maxSize: 200, maxFiles: 1, onError: fail });
  log.write("stdout", Buffer.from("0\n1\n"));
  const f = follow(path, {});
  try {
    await f.following;
    // past 200 bytes: the writer truncates and starts over with the lines after it
    log.write("stdout", Buffer.from("2\n3\n4\n"));
  } finally {
    log.close();
    await f.stop();
  }
  assert.equal(f.got.slice(0, 2).join(""), "01");
  assert.equal(f.got.at(-1), "4");
});

test("an abort ends a follow of a running container", async () => {
  const path = writeLog(3, 0, 1);
  const ac = new AbortController();
  const got: string[] = [];
  const following = readLogs(
    path,
    { ...both, follow: true },
    (e) => void got.push(e.log),
    () => false,
    ac.signal,
  );
  await new Promise((r) => setTimeout(r, 30));
  ac.abort();
  await following;
  assert.equal(got.length, 3);
});

test("send may wait (a slow client): reading waits for it, in order", async () => {
  const path = writeLog(50, 500, 5);
  const expected = (await read(path, both)).map((e) => e.log);
  const got: string[] = [];
  await readLogs(
    path,
    both,
    async (e) => {
      await new Promise((r) => setImmediate(r));
      got.push(e.log);
    },
    () => true,
  );
  assert.deepEqual(got, expected);
});
