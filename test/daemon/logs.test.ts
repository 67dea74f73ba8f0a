// Container logs end to end: `--log-driver`/`--log-opt` through berthd to berth-shim's json-file
// writer, rotation bounding the files on disk, `berth logs` (tail, streams, follow across
// rotations) reading them back. Root only (namespaces, mounts, cgroups).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BERTH, TestDaemon, waitFor } from "../fixtures/berthd.js";

const root = process.getuid?.() === 0;
const skip = root ? false : "needs root (namespaces, mounts, cgroups)";

// a subnet and bridge of the test's own, so the host's networks are never touched
const td = new TestDaemon({ prefix: "berthd-logs-test-", subnet: "10.231.86.0/24", bridge: `blg${process.pid % 100000}` });
const berth = (args: string[]) => td.berth(args);
const ok = (args: string[]) => td.ok(args);

/** The container's log files (name -> size in bytes). */
function logFiles(id: string): Map<string, number> {
  const dir = join(td.dataRoot, "containers", id);
  const out = new Map<string, number>();
  for (const n of readdirSync(dir)) if (n.startsWith(`${id}-json.log`)) out.set(n, statSync(join(dir, n)).size);
  return out;
}

/** `sh -c` text printing `prefix<i>` for i in [0, n): odd ones on stderr when `split`. */
function counter(n: number, opts: { split?: boolean; pauseEvery?: number } = {}): string {
  const out = opts.split ? "if [ $((i % 2)) = 1 ]; then echo line-$i >&2; else echo line-$i; fi" : "echo line-$i";
  const pause = opts.pauseEvery ? `; [ $((i % ${opts.pauseEvery})) = 0 ] && sleep 0.1` : "";
  return `i=0; while [ $i -lt ${n} ]; do ${out}; i=$((i+1))${pause}; done; true`;
}

const numbers = (text: string) =>
  text
    .split("\n")
    .filter(Boolean)
    .map((l) => Number(/^line-(\d+)$/.exec(l)?.[1] ?? Number.NaN));

describe("berthd container logs", { skip, concurrency: false }, () => {
  before(() => td.setup());

  after(() => td.teardown());

  test("max-size and max-file bound the files on disk; logs returns the retained lines in order", async () => {
    const id = (
      await ok([
        "run",
        "-d",
        "--network",
        "none",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        counter(400, { split: true }),
      ])
    ).trim();
    await ok(["wait", id]);
    const files = logFiles(id);
    assert.deepEqual([...files.keys()].sort(), [`${id}-json.log`, `${id}-json.log.1`, `${id}-json.log.2`]);
    for (const [name, size] of files) assert.ok(size <= 1000, `${name}: ${size} bytes, max-size 1k`);
    const config = (JSON.parse(await ok(["inspect", id]))[0] as { HostConfig: { LogConfig: unknown } }).HostConfig.LogConfig;
    assert.deepEqual(config, { Type: "json-file", Config: { "max-size": "1k", "max-file": "3" } });

    const r = await berth(["logs", id]);
    assert.equal(r.code, 0, r.stderr);
    const out = numbers(r.stdout);
    const err = numbers(r.stderr);
    assert.ok(out.every((i) => i % 2 === 0) && err.every((i) => i % 2 === 1), "stdout and stderr kept apart");
    // each stream is whole and in order from its oldest retained line (the two pipes are read
    // apart, so where one stream's lines fall among the other's is not fixed)
    assert.ok(out.length + err.length < 400, `the oldest lines were rotated away (${out.length + err.length} kept)`);
    for (const [lines, last] of [
      [out, 398],
      [err, 399],
    ] as const) {
      const first = lines[0] ?? last + 2;
      assert.equal(first % 2, last % 2);
      assert.deepEqual(
        lines,
        Array.from({ length: (last + 2 - first) / 2 }, (_, k) => first + 2 * k),
      );
    }
    await ok(["rm", id]);
  });

  test("--tail reads back across rotated files", async () => {
    const id = (
      await ok([
        "run",
        "-d",
        "--network",
        "none",
        "--log-opt",
        "max-size=800",
        "--log-opt",
        "max-file=5",
        "busybox",
        "sh",
        "-c",
        counter(300),
      ])
    ).trim();
    await ok(["wait", id]);
    assert.equal(logFiles(id).size, 5);
    // 40 lines are more than one file holds
    assert.deepEqual(
      numbers(await ok(["logs", "--tail", "40", id])),
      Array.from({ length: 40 }, (_, k) => 260 + k),
    );
    assert.equal(await ok(["logs", "--tail", "0", id]), "");
    const ts = (await ok(["logs", "-t", "-n", "2", id])).split("\n").filter(Boolean);
    assert.equal(ts.length, 2);
    for (const [k, l] of ts.entries()) assert.match(l, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z line-${298 + k}$`));
    // --since after the end: nothing; --until before the start: nothing
    assert.equal(await ok(["logs", "--since", String(Math.ceil(Date.now() / 1000) + 60), id]), "");
    assert.equal(await ok(["logs", "--until", "1", id]), "");
    await ok(["rm", id]);
  });

  test("logs -f sees every line of a writing container once, across rotations, and ends when it exits", async () => {
    const total = 3000;
    // the container waits for /go, so that the follow is on before the first counter line
    const id = (
      await ok([
        "run",
        "-d",
        "--network",
        "none",
        "--log-opt",
        "max-size=4k",
        "--log-opt",
        "max-file=4",
        "busybox",
        "sh",
        "-c",
        `echo ready; while [ ! -e /go ]; do sleep 0.05; done; ${counter(total, { pauseEvery: 50 })}`,
      ])
    ).trim();
    const p = spawn(process.execPath, [BERTH, "-H", `unix://${td.sock}`, "logs", "-f", id], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    p.stdout.setEncoding("utf8").on("data", (s: string) => {
      out += s;
    });
    p.stderr.setEncoding("utf8").on("data", (s: string) => {
      err += s;
    });
    const exited = new Promise<number | null>((r) => p.on("close", (code) => r(code)));
    try {
      await waitFor("logs -f to print ready", () => out.startsWith("ready\n"));
      await ok(["exec", id, "touch", "/go"]);
      const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 120_000).unref())]);
      assert.equal(code, 0, `logs -f: ${code}: ${err}`);
    } finally {
      if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    }
    assert.equal((JSON.parse(await ok(["inspect", id]))[0] as { State: { Running: boolean } }).State.Running, false);
    const lines = out.split("\n").filter(Boolean);
    assert.equal(lines[0], "ready");
    const got = numbers(lines.slice(1).join("\n"));
    assert.equal(got.length, total, `${got.length} counter lines of ${total}`);
    assert.deepEqual(
      got,
      Array.from({ length: total }, (_, k) => k),
      "no gap and no duplicate",
    );
    // it rotated many times, and kept max-file files
    assert.equal(logFiles(id).size, 4);
    await ok(["rm", id]);
  });

  test("invalid log options are refused at create, naming the option", async () => {
    const before = await ok(["ps", "-aq"]);
    const cases: Array<[string[], RegExp]> = [
      [["--log-opt", "max-size=10x"], /max-size.*invalid size "10x"/],
      [["--log-opt", "max-size=0"], /max-size must be a positive number/],
      [["--log-opt", "max-file=3"], /max-file can only be set if max-size is set/],
      [["--log-opt", "max-size=1m", "--log-opt", "max-file=0"], /max-file cannot be less than 1/],
      [["--log-opt", "mode=non-blocking"], /unknown log opt 'mode' for json-file log driver/],
      [["--log-opt", "max-size"], /invalid log opt "max-size": want key=value/],
      [["--log-driver", "syslog"], /logging driver "syslog" is not supported/],
      [["--log-driver", "none", "--log-opt", "max-size=1m"], /'max-size'.*none log driver/],
    ];
    for (const [flags, msg] of cases) {
      const r = await berth(["run", "--rm", "--network", "none", ...flags, "busybox", "true"]);
      assert.equal(r.code, 125, `run ${flags.join(" ")}: exit ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, msg, flags.join(" "));
    }
    const c = await berth(["create", "--log-opt", "max-size=big", "busybox", "true"]);
    assert.notEqual(c.code, 0);
    assert.match(c.stderr, /max-size/);
    assert.equal(await ok(["ps", "-aq"]), before, "nothing was created");
  });

  test("driver none: output still reaches an attached client, no log file, logs refuses to read", async () => {
    const name = "nolog";
    const r = await berth(["run", "--name", name, "--log-driver", "none", "--network", "none", "busybox", "echo", "hi"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hi\n");
    const rec = JSON.parse(await ok(["inspect", name]))[0] as { Id: string; HostConfig: { LogConfig: unknown } };
    assert.deepEqual(rec.HostConfig.LogConfig, { Type: "none", Config: {} });
    assert.equal(logFiles(rec.Id).size, 0, "no log file");
    const logs = await berth(["logs", name]);
    assert.notEqual(logs.code, 0);
    assert.match(logs.stderr, /configured logging driver does not support reading/);
    await ok(["rm", name]);

    // the default: json-file, shown in inspect
    const id = (await ok(["create", "--network", "none", "busybox", "true"])).trim();
    const def = JSON.parse(await ok(["inspect", id]))[0] as { HostConfig: { LogConfig: unknown } };
    assert.deepEqual(def.HostConfig.LogConfig, { Type: "json-file", Config: {} });
    await ok(["rm", id]);
  });
});
