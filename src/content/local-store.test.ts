import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { digestOf } from "../oci/index.js";
import { LocalContentStore } from "./local-store.js";

function store(t: { after: (f: () => void) => void }): LocalContentStore {
  const dir = mkdtempSync(join(tmpdir(), "berth-content-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return new LocalContentStore(dir);
}

const data = Buffer.from("hello, content store\n".repeat(1000));
const digest = digestOf(data);

test("an ingest becomes a blob only after its digest and size check", async (t) => {
  const s = store(t);
  const w = await s.ingest(digest, data.length);
  assert.ok(w);
  await w.write(data.subarray(0, 100));
  assert.equal(await s.info(digest), undefined, "not visible while being written");
  await w.write(data.subarray(100));
  assert.deepEqual(await w.commit(), { digest, size: data.length });
  assert.deepEqual(await s.read(digest), data);
  assert.equal(await s.ingest(digest, data.length), undefined, "a committed blob needs no ingest");
  assert.deepEqual(readdirSync(join(s.root, "ingest")), [], "nothing left in ingest");
});

test("a digest mismatch is refused and nothing is stored", async (t) => {
  const s = store(t);
  const w = await s.ingest(digest, data.length);
  assert.ok(w);
  const bad = Buffer.from(data);
  bad[5] = 0;
  await w.write(bad);
  await assert.rejects(w.commit(), /verification failed: digest sha256:[0-9a-f]{64}, expected sha256:/);
  assert.equal(await s.info(digest), undefined);
  assert.deepEqual(readdirSync(join(s.root, "ingest")), []);
});

test("a short blob fails the size check; more bytes than the size are refused at write", async (t) => {
  const s = store(t);
  const w = await s.ingest(digest, data.length);
  assert.ok(w);
  await w.write(data.subarray(0, 10));
  await assert.rejects(w.commit(), /size 10, expected/);
  const w2 = await s.ingest(digest, 5);
  assert.ok(w2);
  await assert.rejects(w2.write(data.subarray(0, 6)), /more than the expected 5 bytes/);
  await w2.abort();
});

test("an interrupted ingest resumes at its offset and replays its bytes", async (t) => {
  const s = store(t);
  const w = await s.ingest(digest, data.length);
  assert.ok(w);
  await w.write(data.subarray(0, 4000));
  await w.close();
  const w2 = await s.ingest(digest, data.length);
  assert.ok(w2);
  assert.equal(w2.offset, 4000);
  const replayed: Buffer[] = [];
  for await (const c of w2.replay()) replayed.push(c as Buffer);
  assert.deepEqual(Buffer.concat(replayed), data.subarray(0, 4000));
  await w2.write(data.subarray(4000));
  await w2.commit();
  assert.deepEqual(await s.read(digest), data);
});

test("truncate(0) restarts an ingest (a server that ignored Range)", async (t) => {
  const s = store(t);
  const w = await s.ingest(digest, data.length);
  assert.ok(w);
  await w.write(Buffer.from("garbage"));
  await w.truncate(0);
  await w.write(data);
  await w.commit();
  assert.deepEqual(await s.read(digest), data);
});

test("a second writer of the same blob waits, then finds it committed", async (t) => {
  const s = store(t);
  const w = await s.ingest(digest, data.length);
  assert.ok(w);
  let second: unknown = "pending";
  const p = s.ingest(digest, data.length).then((x) => (second = x));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(second, "pending", "the second writer waits for the lock");
  await w.write(data);
  await w.commit();
  await p;
  assert.equal(second, undefined);
});

test("a second writer takes over an aborted ingest", async (t) => {
  const s = store(t);
  const w = await s.ingest(digest, data.length);
  assert.ok(w);
  const p = s.ingest(digest, data.length);
  await w.write(data.subarray(0, 10));
  await w.abort();
  const w2 = await p;
  assert.ok(w2);
  assert.equal(w2.offset, 0);
  await w2.write(data);
  await w2.commit();
});

test("put verifies an expected digest; putStream names a blob by its bytes", async (t) => {
  const s = store(t);
  await assert.rejects(s.put(Buffer.from("x"), digest), /the data has digest/);
  assert.deepEqual(await s.put(data, digest), { digest, size: data.length });
  const { Readable } = await import("node:stream");
  assert.deepEqual(await s.putStream(Readable.from([data.subarray(0, 7), data.subarray(7)])), { digest, size: data.length });
  assert.deepEqual(
    (await s.list()).map((b) => b.digest),
    [digest],
  );
  await s.delete(digest);
  assert.equal(existsSync(s.path(digest)), false);
  assert.throws(() => s.path("sha256:../../etc"), /not a sha256 or sha512 digest/);
});

test("pruneIngests drops what no writer holds", async (t) => {
  const s = store(t);
  const w = await s.ingest(digest, data.length);
  assert.ok(w);
  await w.write(data.subarray(0, 10));
  await w.close();
  writeFileSync(join(s.root, "ingest", "stream-999999999-abc"), "x");
  assert.equal(await s.pruneIngests(), 2);
  assert.deepEqual(readdirSync(join(s.root, "ingest")), []);
});
