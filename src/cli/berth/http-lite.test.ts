import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isKind } from "../../errors/index.js";
import { DaemonClient, readAll } from "./client.js";
import { Chunked, parseHead, send } from "./http-lite.js";

test("chunked bodies decode whole however the bytes are split, trailers and extensions included", () => {
  const wire = Buffer.from("5;ext=1\r\nhello\r\n1\r\n \r\nb\r\nwide world!\r\n0\r\nX-Trailer: 1\r\n\r\n");
  for (let size = 1; size <= wire.length; size++) {
    const d = new Chunked();
    const out: Buffer[] = [];
    for (let i = 0; i < wire.length; i += size) out.push(...d.feed(wire.subarray(i, i + size)));
    assert.equal(Buffer.concat(out).toString(), "hello wide world!", `split every ${size} bytes`);
    assert.equal(d.complete, true);
  }
  assert.throws(() => new Chunked().feed(Buffer.from("zz\r\n")), /chunk size/);
  assert.throws(() => new Chunked().feed(Buffer.from("2\r\nabXY")), /CRLF/);
});

test("parseHead: status and lower-cased headers; garbage is an error", () => {
  assert.deepEqual(parseHead("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-A:  b "), {
    status: 404,
    headers: { "content-type": "application/json", "x-a": "b" },
  });
  assert.throws(() => parseHead("SSH-2.0-OpenSSH"), /status line/);
  assert.throws(() => parseHead("HTTP/1.1 200 OK\r\nno colon"), /header/);
});

let dir: string;
let server: Server;
let sock: string;
const upgraded = new Set<import("node:net").Socket>();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-http-lite-"));
  sock = join(dir, "s.sock");
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      if (req.url === "/echo") {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ method: req.method, body, host: req.headers.host }));
      } else if (req.url === "/stream") {
        // chunked, written over time
        res.writeHead(200);
        let n = 0;
        const t = setInterval(() => {
          res.write(`line ${n++}\n`);
          if (n === 5) {
            clearInterval(t);
            res.end();
          }
        }, 5);
      } else if (req.url === "/big") {
        res.writeHead(200, { "Content-Length": String(1 << 20) });
        res.end(Buffer.alloc(1 << 20, 97));
      } else if (req.url === "/missing") {
        res.writeHead(404, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ message: "No such container: x" }));
      } else if (req.url === "/cut") {
        res.writeHead(200, { "Content-Length": "100" });
        res.write("only part");
        setTimeout(() => res.destroy(), 10);
      } else if (req.url === "/empty") {
        res.writeHead(204);
        res.end();
      } else {
        res.writeHead(500);
        res.end();
      }
    });
  });
  server.on("upgrade", (req, s) => {
    if (req.url === "/missing") {
      const body = JSON.stringify({ message: "No such container: x" });
      s.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    upgraded.add(s as import("node:net").Socket);
    s.write("HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly bytes|");
    s.on("data", (d) => s.write(`echo:${d}`));
  });
  await new Promise<void>((r) => server.listen(sock, r));
});

after(async () => {
  server.closeAllConnections();
  for (const s of upgraded) s.destroy();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

test("call: a JSON request and answer, with the Host header the server expects", async () => {
  const c = new DaemonClient(`unix://${sock}`);
  const r = await c.call<{ method: string; body: string; host: string }>("POST", "/echo", { a: 1 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { method: "POST", body: '{"a":1}', host: "berthd" });
});

test("stream: a chunked body arrives as it is written, and ends", async () => {
  const c = new DaemonClient(`unix://${sock}`);
  const res = await c.stream("GET", "/stream");
  assert.equal(await readAll(res), "line 0\nline 1\nline 2\nline 3\nline 4\n");
});

test("a Content-Length body read slowly is whole (the socket waits for the reader)", async () => {
  const c = new DaemonClient(`unix://${sock}`);
  const res = await c.stream("GET", "/big");
  let n = 0;
  for await (const chunk of res) {
    n += (chunk as Buffer).length;
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(n, 1 << 20);
});

test("errors: an API error keeps its message and kind; no socket is Unavailable; a cut body is an error", async () => {
  const c = new DaemonClient(`unix://${sock}`);
  await assert.rejects(
    c.call("GET", "/missing"),
    (e) => isKind(e, "NotFound") && /No such container: x/.test((e as Error).message),
  );
  await assert.rejects(new DaemonClient(`unix://${join(dir, "nope.sock")}`).call("GET", "/echo"), (e) =>
    isKind(e, "Unavailable"),
  );
  const res = await c.stream("GET", "/cut");
  await assert.rejects(readAll(res), /closed the connection mid-response/);
  const empty = await c.call("GET", "/empty");
  assert.equal(empty.status, 204);
  assert.equal(empty.body, undefined);
});

test("hijack: the raw socket after 101, bytes sent with the head included", async () => {
  const c = new DaemonClient(`unix://${sock}`);
  const s = await c.hijack("/containers/x/attach?stream=1");
  let got = "";
  s.on("data", (d) => (got += d));
  s.write("ping");
  for (let i = 0; i < 100 && !got.includes("echo:ping"); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(got, "early bytes|echo:ping");
  s.destroy();
  // a plain answer to an upgrade request is the API's error
  const a = await send({ socketPath: sock, method: "POST", path: "/missing", headers: { Host: "berthd" }, upgrade: true });
  assert.equal(a.res?.statusCode, 404);
  assert.match(await readAll(a.res as NonNullable<typeof a.res>), /No such container/);
  await assert.rejects(c.hijack("/missing"), (e) => isKind(e, "NotFound"));
});
