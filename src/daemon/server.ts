import { chmodSync, existsSync, rmSync } from "node:fs";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { Duplex } from "node:stream";
import { BerthError, describe, invalidArgument, notFound } from "../errors/index.js";
import { registerArchiveRoutes } from "./archive-routes.js";
import type { Daemon } from "./daemon.js";
import { registerSystemRoutes } from "./system-routes.js";
import { parseLogTime, readLogs } from "./logs.js";
import { frame, output, relay } from "./streams.js";
import { containerSummary, inspectContainer } from "./views.js";

/** What a route returns: a JSON body, or a status without one, or nothing (it wrote itself). */
type Reply = { status?: number; body?: unknown } | undefined;
type Handler = (req: IncomingMessage, res: ServerResponse, p: Params) => Promise<Reply>;
type Hijack = (req: IncomingMessage, sock: Duplex, head: Buffer, p: Params) => Promise<void>;

interface Params {
  path: string[];
  q: URLSearchParams;
  body: () => Promise<unknown>;
}

const STATUS: Record<string, number> = {
  NotFound: 404,
  InvalidArgument: 400,
  AlreadyExists: 409,
  FailedPrecondition: 409,
  PermissionDenied: 403,
  Unavailable: 503,
  NotImplemented: 501,
};

/**
 * berthd's API on a unix socket: HTTP + JSON with the Docker Engine API's paths and shapes
 * (an optional `/v1.NN` prefix is accepted), so the Docker API is this plus version handling.
 * Attach and exec streams are hijacked connections (`Upgrade: tcp`), multiplexed as docker's.
 */
export class ApiServer {
  private readonly server: Server;
  private readonly routes: Array<{ method: string; pattern: RegExp; handler: Handler }> = [];
  private readonly hijacks: Array<{ method: string; pattern: RegExp; handler: Hijack }> = [];
  /** upgraded connections: the HTTP server no longer tracks them */
  private readonly hijacked = new Set<Duplex>();

  constructor(private readonly d: Daemon) {
    this.server = createServer((req, res) => {
      void this.dispatch(req, res);
    });
    this.server.on("upgrade", (req: IncomingMessage, sock: Duplex, head: Buffer) => {
      void this.dispatchUpgrade(req, sock, head);
    });
    this.server.keepAliveTimeout = 60_000;
    this.register();
  }

  listen(path: string, mode = 0o660): Promise<void> {
    if (existsSync(path)) rmSync(path);
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(path, () => {
        this.server.off("error", reject);
        chmodSync(path, mode);
        resolve();
      });
    });
  }

  /**
   * Stop serving: no new connections, every open one closed — also streams (logs -f, events,
   * waits, attach and exec connections), which would otherwise hold berthd up forever.
   */
  close(): Promise<void> {
    return new Promise((resolve) => {
      const done = setTimeout(resolve, 2000);
      this.server.close(() => {
        clearTimeout(done);
        resolve();
      });
      this.server.closeAllConnections();
      for (const s of this.hijacked) s.destroy();
    });
  }

  private get(pattern: string, handler: Handler): void {
    this.routes.push({ method: "GET", pattern: compile(pattern), handler });
  }
  private post(pattern: string, handler: Handler): void {
    this.routes.push({ method: "POST", pattern: compile(pattern), handler });
  }
  private del(pattern: string, handler: Handler): void {
    this.routes.push({ method: "DELETE", pattern: compile(pattern), handler });
  }

  private register(): void {
    const c = () => this.d.containers;
    const ping: Handler = async (_req, res) => {
      res.writeHead(200, { "Content-Type": "text/plain", "Api-Version": "1.41", "Cache-Control": "no-cache" });
      res.end("OK");
      return undefined;
    };
    this.get("/_ping", ping);
    this.routes.push({ method: "HEAD", pattern: compile("/_ping"), handler: ping });
    this.get("/version", async () => ({ body: this.d.version() }));
    this.get("/info", async () => ({ body: this.d.info() }));

    this.post("/containers/create", async (_req, _res, p) => {
      const body = (await p.body()) as Record<string, unknown>;
      if (!body || typeof body !== "object") throw invalidArgument("create: a JSON body is required");
      const { HostConfig, NetworkingConfig: _n, ...config } = body;
      const r = await c().create({
        ...(p.q.get("name") ? { name: p.q.get("name") as string } : {}),
        config: config as never,
        ...(HostConfig ? { hostConfig: HostConfig as never } : {}),
      });
      return { status: 201, body: r };
    });
    this.get("/containers/json", async (_req, _res, p) => {
      const filters = p.q.get("filters") ? parseFilters(p.q.get("filters") as string) : {};
      const list = c().list({ all: truthy(p.q.get("all")), filters, limit: Number(p.q.get("limit") ?? 0) });
      return { body: list.map((r) => containerSummary(r)) };
    });
    this.get("/containers/:id/json", async (_req, _res, p) => ({
      body: await inspectContainer(this.d, c().get(p.path[0] as string)),
    }));
    this.post("/containers/:id/start", async (_req, _res, p) =>
      (await c().start(p.path[0] as string)) ? { status: 204 } : { status: 304 },
    );
    this.post("/containers/:id/stop", async (_req, _res, p) => {
      const t = p.q.get("t");
      const ok = await c().stop(p.path[0] as string, t === null ? undefined : Number(t), p.q.get("signal") ?? undefined);
      return { status: ok ? 204 : 304 };
    });
    this.post("/containers/:id/restart", async (_req, _res, p) => {
      const t = p.q.get("t");
      await c().restart(p.path[0] as string, t === null ? undefined : Number(t));
      return { status: 204 };
    });
    this.post("/containers/:id/kill", async (_req, _res, p) => {
      await c().kill(p.path[0] as string, p.q.get("signal") ?? undefined);
      return { status: 204 };
    });
    this.post("/containers/:id/pause", async (_req, _res, p) => {
      await c().pause(p.path[0] as string, true);
      return { status: 204 };
    });
    this.post("/containers/:id/unpause", async (_req, _res, p) => {
      await c().pause(p.path[0] as string, false);
      return { status: 204 };
    });
    this.post("/containers/:id/rename", async (_req, _res, p) => {
      const name = p.q.get("name");
      if (!name) throw invalidArgument("rename: a new name is required");
      c().rename(p.path[0] as string, name);
      return { status: 204 };
    });
    this.post("/containers/:id/update", async (_req, _res, p) => {
      await c().update(p.path[0] as string, (await p.body()) as never);
      return { body: { Warnings: [] } };
    });
    this.post("/containers/:id/resize", async (_req, _res, p) => {
      await c().resize(p.path[0] as string, Number(p.q.get("h")), Number(p.q.get("w")));
      return { status: 200 };
    });
    this.post("/containers/:id/wait", async (req, res, p) => {
      const cond = (p.q.get("condition") || "not-running") as "not-running" | "next-exit" | "removed";
      if (!["not-running", "next-exit", "removed"].includes(cond)) throw invalidArgument(`invalid condition: ${cond}`);
      const waiting = c().wait(p.path[0] as string, cond);
      // headers now, so a client knows the wait is registered before it starts the container
      res.writeHead(200, { "Content-Type": "application/json" });
      res.flushHeaders();
      let gone = false;
      req.socket.once("close", () => {
        gone = true;
      });
      const r = await waiting;
      if (!gone) res.end(`${JSON.stringify(r)}\n`);
      return undefined;
    });
    this.del("/containers/:id", async (_req, _res, p) => {
      await c().remove(p.path[0] as string, { force: truthy(p.q.get("force")), volumes: truthy(p.q.get("v")) });
      return { status: 204 };
    });
    this.get("/containers/:id/stats", async (req, res, p) => {
      const id = p.path[0] as string;
      const stream = p.q.get("stream") !== "0" && p.q.get("stream") !== "false";
      let prev = c().stats(id);
      if (!stream || truthy(p.q.get("one-shot"))) {
        if (!truthy(p.q.get("one-shot"))) {
          // docker's non-streaming answer carries a CPU sample taken a moment earlier
          await new Promise((r) => setTimeout(r, 500));
          prev = c().stats(id, prev);
        }
        return { body: prev };
      }
      res.writeHead(200, { "Content-Type": "application/json" });
      let gone = false;
      req.socket.once("close", () => {
        gone = true;
      });
      while (!gone) {
        res.write(`${JSON.stringify(prev)}\n`);
        await new Promise((r) => setTimeout(r, 1000));
        try {
          prev = c().stats(id, prev);
        } catch {
          break;
        }
      }
      res.end();
      return undefined;
    });
    this.get("/containers/:id/top", async (_req, _res, p) => ({ body: await c().top(p.path[0] as string) }));
    this.get("/containers/:id/logs", async (req, res, p) => {
      const rec = c().get(p.path[0] as string);
      if (rec.HostConfig.LogConfig?.Type === "none")
        throw new BerthError("NotImplemented", "configured logging driver does not support reading");
      const stdout = truthy(p.q.get("stdout"));
      const stderr = truthy(p.q.get("stderr"));
      if (!stdout && !stderr) throw invalidArgument("Bad parameters: you must choose at least one stream");
      const tty = rec.Config.Tty === true;
      const timestamps = truthy(p.q.get("timestamps"));
      const tailQ = p.q.get("tail");
      // bad parameters are a 400 before the stream starts, not an empty 200
      if (tailQ && tailQ !== "all" && !/^\d+$/.test(tailQ))
        throw invalidArgument(`logs: tail ${JSON.stringify(tailQ)} is not a number or "all"`);
      for (const k of ["since", "until"]) {
        try {
          parseLogTime(p.q.get(k) ?? undefined);
        } catch (e) {
          throw invalidArgument(`logs: ${k}: ${(e as Error).message}`);
        }
      }
      res.writeHead(200, {
        "Content-Type": tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream",
      });
      const ac = new AbortController();
      req.socket.once("close", () => ac.abort());
      // a slow client holds the reader back instead of the whole log piling up in memory
      const write = (chunk: string | Buffer): Promise<void> | undefined => {
        if (res.write(chunk) || ac.signal.aborted) return undefined;
        return new Promise((resolve) => {
          const done = () => {
            res.off("drain", done);
            ac.signal.removeEventListener("abort", done);
            resolve();
          };
          res.once("drain", done);
          ac.signal.addEventListener("abort", done, { once: true });
        });
      };
      await readLogs(
        c().logPath(rec.Id),
        {
          stdout,
          stderr,
          follow: truthy(p.q.get("follow")),
          ...(tailQ && tailQ !== "all" ? { tail: Number(tailQ) } : {}),
          ...(p.q.get("since") ? { since: p.q.get("since") as string } : {}),
          ...(p.q.get("until") ? { until: p.q.get("until") as string } : {}),
        },
        (e) => {
          const text = timestamps ? `${e.time} ${e.log}` : e.log;
          return write(tty ? text : frame(e.stream === "stdout" ? 1 : 2, Buffer.from(text)));
        },
        () => {
          try {
            return !c().get(rec.Id).State.Running;
          } catch {
            return true;
          }
        },
        ac.signal,
      );
      res.end();
      return undefined;
    });
    this.post("/containers/:id/exec", async (_req, _res, p) => {
      const body = (await p.body()) as Record<string, unknown>;
      return { status: 201, body: c().execCreate(p.path[0] as string, body as never) };
    });
    this.get("/exec/:id/json", async (_req, _res, p) => {
      const x = c().execGet(p.path[0] as string);
      return {
        body: {
          ID: x.id,
          ContainerID: x.containerId,
          Running: x.running,
          ExitCode: x.exitCode ?? null,
          Pid: x.pid,
          ProcessConfig: {
            entrypoint: x.config.Cmd[0],
            arguments: x.config.Cmd.slice(1),
            tty: x.config.Tty === true,
            user: x.config.User ?? "",
          },
          OpenStdin: x.config.AttachStdin === true,
          OpenStdout: x.config.AttachStdout !== false,
          OpenStderr: x.config.AttachStderr !== false,
        },
      };
    });
    this.post("/exec/:id/resize", async (_req, _res, p) => {
      const x = c().execGet(p.path[0] as string);
      await c().resize(x.containerId, Number(p.q.get("h")), Number(p.q.get("w")), x.id);
      return { status: 200 };
    });
    // exec start without a hijack: detached
    this.post("/exec/:id/start", async (_req, _res, p) => {
      const body = ((await p.body()) ?? {}) as { Detach?: boolean };
      if (!body.Detach) throw invalidArgument("exec start: attach needs an upgraded connection (Upgrade: tcp)");
      await c().execStart(p.path[0] as string);
      return { status: 200 };
    });
    this.get("/events", async (req, res, p) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.flushHeaders();
      const since = p.q.get("since");
      const until = p.q.get("until");
      const untilNs = until ? BigInt(Math.floor(Number(until) * 1e9)) : undefined;
      const filters = p.q.get("filters") ? parseFilters(p.q.get("filters") as string) : {};
      await new Promise<void>((resolve) => {
        const stop = this.d.events.subscribe(
          (e) => {
            if (untilNs !== undefined && BigInt(e.timeNano) > untilNs) return;
            if (!eventMatches(e, filters)) return;
            res.write(`${JSON.stringify(e)}\n`);
          },
          since ? BigInt(Math.floor(Number(since) * 1e9)) : undefined,
        );
        const end = () => {
          stop();
          resolve();
        };
        req.socket.once("close", end);
        if (untilNs !== undefined) {
          const ms = Number(untilNs / 1_000_000n) - Date.now();
          setTimeout(end, Math.max(0, ms));
        }
      });
      res.end();
      return undefined;
    });

    // hijacked streams
    this.hijacks.push({
      method: "POST",
      pattern: compile("/containers/:id/attach"),
      handler: async (_req, sock, _head, p) => {
        const rec = c().get(p.path[0] as string);
        const streams = {
          stdin: truthy(p.q.get("stdin")),
          stdout: truthy(p.q.get("stdout")),
          stderr: truthy(p.q.get("stderr")),
        };
        const tty = rec.Config.Tty === true;
        upgraded(sock, tty);
        // this client's wait for a start ends when it goes; other clients' waits go on
        const gone = new AbortController();
        sock.once("close", () => gone.abort());
        const a = await c().attach(rec.Id, streams, output(sock, tty), gone.signal);
        relay(a, sock, streams.stdin);
      },
    });
    this.hijacks.push({
      method: "POST",
      pattern: compile("/exec/:id/start"),
      handler: async (_req, sock, _head, p) => {
        const x = c().execGet(p.path[0] as string);
        const tty = x.config.Tty === true;
        const body = ((await p.body()) ?? {}) as { Detach?: boolean };
        if (body.Detach) {
          await c().execStart(x.id);
          upgraded(sock, tty);
          sock.end();
          return;
        }
        // the 101 goes first: output may arrive as soon as the process runs
        upgraded(sock, tty);
        try {
          const a = await c().execStart(x.id, output(sock, tty));
          if (a) relay(a, sock, x.config.AttachStdin === true);
        } catch (e) {
          // the stream is already upgraded: the error goes to the client's stderr, as docker's does
          sock.end(frame(2, Buffer.from(`${describe(e)}\n`)));
        }
      },
    });
    this.d.registerImageRoutes(this);
    this.d.registerResourceRoutes(this);
    registerArchiveRoutes(this.d, this);
    registerSystemRoutes(this.d, this);
  }

  /** used by the image routes (daemon.ts) */
  route(method: string, pattern: string, handler: Handler): void {
    this.routes.push({ method, pattern: compile(pattern), handler });
  }

  private match<T extends { method: string; pattern: RegExp }>(list: T[], req: IncomingMessage): { r: T; p: Params } | undefined {
    const url = new URL(req.url ?? "/", "http://berthd");
    const path = url.pathname.replace(/^\/v\d+\.\d+(?=\/)/, "");
    for (const r of list) {
      if (r.method !== req.method) continue;
      const m = r.pattern.exec(path);
      if (!m) continue;
      return { r, p: { path: m.slice(1).map(decodeURIComponent), q: url.searchParams, body: () => readJson(req) } };
    }
    return undefined;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const hit = this.match(this.routes, req);
      if (!hit) {
        // an attach or exec start without Upgrade: docker serves it on the plain connection
        const hj = this.match(this.hijacks, req);
        if (hj) {
          res.detachSocket(req.socket);
          this.track(req.socket);
          await hj.r.handler(req, req.socket, Buffer.alloc(0), hj.p);
          return;
        }
        throw notFound(`page not found: ${req.method} ${req.url}`);
      }
      const reply = await hit.r.handler(req, res, hit.p);
      if (!reply) return;
      const status = reply.status ?? 200;
      if (reply.body === undefined) {
        res.writeHead(status);
        res.end();
      } else {
        const text = JSON.stringify(reply.body);
        res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
        res.end(text);
      }
    } catch (e) {
      this.fail(res, e);
    }
  }

  private fail(res: ServerResponse, e: unknown): void {
    const status = e instanceof BerthError ? (STATUS[e.kind] ?? 500) : e instanceof SyntaxError ? 400 : 500;
    if (status === 500) this.d.log(`API error: ${describe(e)}`);
    if (res.headersSent) {
      res.end();
      return;
    }
    const text = JSON.stringify({ message: describe(e) });
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
  }

  private track(sock: Duplex): void {
    this.hijacked.add(sock);
    sock.once("close", () => this.hijacked.delete(sock));
  }

  private async dispatchUpgrade(req: IncomingMessage, sock: Duplex, head: Buffer): Promise<void> {
    this.track(sock);
    const hit = this.match(this.hijacks, req);
    try {
      if (!hit) throw notFound(`page not found: ${req.method} ${req.url}`);
      await hit.r.handler(req, sock, head, hit.p);
    } catch (e) {
      const status = e instanceof BerthError ? (STATUS[e.kind] ?? 500) : 500;
      const text = JSON.stringify({ message: describe(e) });
      if (!sock.destroyed && !(sock as { upgradedSent?: boolean }).upgradedSent)
        sock.end(
          `HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
        );
      else sock.destroy();
    }
  }
}

function upgraded(sock: Duplex, tty: boolean): void {
  sock.write(
    `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream"}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
  );
  (sock as { upgradedSent?: boolean }).upgradedSent = true;
}

function compile(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/:[a-z]+/g, "([^/]+)").replace(/\*/g, "(.+)")}/?$`);
}

function truthy(v: string | null): boolean {
  return v === "1" || v === "true" || v === "True";
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on("data", (d: Buffer) => {
      n += d.length;
      if (n > 16 * 1024 * 1024) {
        reject(invalidArgument("request body over 16 MiB"));
        req.destroy();
        return;
      }
      chunks.push(d);
    });
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8").trim();
      if (!text) return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(invalidArgument(`malformed JSON body: ${(e as Error).message}`));
      }
    });
    req.on("error", reject);
  });
}

/** docker's `filters` query: {"key": ["v"]} or the old {"key": {"v": true}} */
export function parseFilters(text: string): Record<string, string[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw invalidArgument(`invalid filters: ${text}`);
  }
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (v && typeof v === "object") out[k] = Object.keys(v);
    else throw invalidArgument(`invalid filter ${k}`);
  }
  return out;
}

function eventMatches(
  e: { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } },
  f: Record<string, string[]>,
): boolean {
  for (const [k, vs] of Object.entries(f)) {
    const ok = vs.some((v) => {
      switch (k) {
        case "type":
          return e.Type === v;
        case "event":
          return e.Action === v || e.Action.startsWith(`${v}:`);
        case "container":
          return e.Type === "container" && (e.Actor.ID.startsWith(v) || e.Actor.Attributes.name === v);
        case "image":
          return e.Actor.Attributes.image === v || (e.Type === "image" && e.Actor.ID === v);
        case "label": {
          const [lk, lv] = v.split("=", 2);
          return lv === undefined ? lk !== undefined && lk in e.Actor.Attributes : e.Actor.Attributes[lk as string] === lv;
        }
        default:
          return true;
      }
    });
    if (!ok) return false;
  }
  return true;
}
