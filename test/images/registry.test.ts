/**
 * The distribution client against a real registry (distribution 2.8, test/fixtures/registry.ts),
 * with small HTTP proxies in front of it for what a well-behaved registry never does: corrupt
 * bytes, dropped connections, redirects to storage, 503s, silence.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { describe as describeError, isKind } from "../../src/errors/index.js";
import { type Descriptor, digestOf, MediaType, parseManifest } from "../../src/oci/index.js";
import {
  type BlobSink,
  loadCredentials,
  parseReference,
  type Reference,
  RegistryClient,
  type RegistryOptions,
  staticCredentials,
} from "../../src/registry/index.js";
import {
  freePort,
  registryUnavailable,
  startProxy,
  startRegistry,
  type TestProxy,
  type TestRegistry,
} from "../fixtures/registry.js";

class MemorySink implements BlobSink {
  private chunks: Buffer[] = [];
  offset = 0;
  readonly truncations: number[] = [];
  constructor(initial?: Buffer) {
    if (initial) {
      this.chunks.push(initial);
      this.offset = initial.length;
    }
  }
  async write(chunk: Uint8Array) {
    this.chunks.push(Buffer.from(chunk));
    this.offset += chunk.length;
  }
  async truncate(offset: number) {
    this.truncations.push(offset);
    this.chunks = [this.bytes().subarray(0, offset)];
    this.offset = offset;
  }
  bytes() {
    return Buffer.concat(this.chunks);
  }
}

interface PushedImage {
  manifest: Buffer;
  digest: string;
  mediaType: string;
  config: Buffer;
  configDesc: Descriptor;
  layer: Buffer;
  layerDesc: Descriptor;
}

/** A config (with history, so distribution can down-convert it to schema 1) and one gzip layer. */
async function pushImage(
  reg: TestRegistry,
  repo: string,
  tag: string,
  kind: "oci" | "docker",
  arch = "amd64",
): Promise<PushedImage> {
  const content = Buffer.from(`layer of ${repo}:${tag} ${kind} ${arch}\n`);
  const layer = gzipSync(content);
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: "linux",
      config: { Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: [digestOf(content)] },
      history: [{ created: "2024-01-01T00:00:00Z", created_by: "test" }],
    }),
  );
  const t =
    kind === "oci"
      ? { m: MediaType.OciManifest, c: MediaType.OciConfig, l: MediaType.OciLayerGzip }
      : { m: MediaType.DockerManifest, c: MediaType.DockerConfig, l: MediaType.DockerLayerGzip };
  const configDesc = { mediaType: t.c, ...(await reg.pushBlob(repo, config)) };
  const layerDesc = { mediaType: t.l, ...(await reg.pushBlob(repo, layer)) };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: t.m, config: configDesc, layers: [layerDesc] }));
  const digest = await reg.pushManifest(repo, tag, manifest, t.m);
  assert.equal(digest, digestOf(manifest));
  return { manifest, digest, mediaType: t.m, config, configDesc, layer, layerDesc };
}

const ref = (host: string, rest: string): Reference => parseReference(`${host}/${rest}`);

/** assert.rejects with a kind and a message pattern (on the whole cause chain) */
async function rejectsWith(p: Promise<unknown>, kind: Parameters<typeof isKind>[1], re: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isKind(e, kind), `expected ${kind}, got ${describeError(e)}`);
    assert.match(describeError(e), re);
    return true;
  });
}

const fast: RegistryOptions = { retryDelayMs: 10 };

describe("registry without auth", { skip: registryUnavailable() }, () => {
  let reg: TestRegistry;
  let client: RegistryClient;
  let oci: PushedImage;
  let docker: PushedImage;
  before(async () => {
    reg = await startRegistry();
    client = new RegistryClient(fast);
    oci = await pushImage(reg, "test/oci", "v1", "oci");
    docker = await pushImage(reg, "test/docker", "v1", "docker");
  });
  after(async () => {
    client?.close();
    await reg?.stop();
  });

  test("ping", async () => {
    await client.ping(reg.host);
  });

  test("an OCI manifest by tag and by digest", async () => {
    for (const r of [ref(reg.host, "test/oci:v1"), ref(reg.host, `test/oci@${oci.digest}`)]) {
      const { descriptor, bytes } = await client.getManifest(r);
      assert.deepEqual(descriptor, { mediaType: MediaType.OciManifest, digest: oci.digest, size: oci.manifest.length });
      assert.deepEqual(bytes, oci.manifest);
      const parsed = parseManifest(bytes, descriptor.mediaType);
      assert.equal(parsed.kind, "manifest");
    }
  });

  test("a Docker schema 2 manifest by tag and by digest", async () => {
    for (const r of [ref(reg.host, "test/docker:v1"), ref(reg.host, `test/docker@${docker.digest}`)]) {
      const { descriptor, bytes } = await client.getManifest(r);
      assert.deepEqual(descriptor, { mediaType: MediaType.DockerManifest, digest: docker.digest, size: docker.manifest.length });
      assert.deepEqual(bytes, docker.manifest);
    }
  });

  test("quirk: an OCI manifest asked for with only Docker types in Accept is a 404", async () => {
    await rejectsWith(
      client.getManifest(ref(reg.host, "test/oci:v1"), [MediaType.DockerManifestList, MediaType.DockerManifest]),
      "NotFound",
      new RegExp(
        `^manifest unknown: ${reg.host}/test/oci:v1: OCI manifest found, but accept header does not support OCI manifests`,
      ),
    );
  });

  test("quirk: a schema 2 manifest asked for by tag without its type comes back as signed schema 1", async () => {
    const { descriptor, bytes } = await client.getManifest(ref(reg.host, "test/docker:v1"), [MediaType.OciManifest]);
    assert.equal(descriptor.mediaType, MediaType.DockerManifestV1Signed);
    assert.equal(descriptor.digest, digestOf(bytes));
    assert.throws(
      () => parseManifest(bytes, descriptor.mediaType),
      (e: unknown) => isKind(e, "InvalidArgument") && /schema 1 manifests are not supported/.test((e as Error).message),
    );
    // by digest the registry never rewrites (it could not match the digest): the schema 2 bytes come back
    const byDigest = await client.getManifest(ref(reg.host, `test/docker@${docker.digest}`), [MediaType.OciManifest]);
    assert.deepEqual(byDigest.bytes, docker.manifest);
  });

  test("quirk: a manifest list asked for without the list type returns its linux/amd64 entry", async () => {
    const arm = await pushImage(reg, "test/list", "arm64", "docker", "arm64");
    const amd = await pushImage(reg, "test/list", "amd64", "docker", "amd64");
    const entry = (i: PushedImage, architecture: string) => ({
      mediaType: i.mediaType,
      digest: i.digest,
      size: i.manifest.length,
      platform: { architecture, os: "linux" },
    });
    const list = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.DockerManifestList,
        manifests: [entry(arm, "arm64"), entry(amd, "amd64")],
      }),
    );
    const listDigest = await reg.pushManifest("test/list", "multi", list, MediaType.DockerManifestList);
    const whole = await client.getManifest(ref(reg.host, "test/list:multi"));
    assert.deepEqual(whole.descriptor, { mediaType: MediaType.DockerManifestList, digest: listDigest, size: list.length });
    const { descriptor, bytes } = await client.getManifest(ref(reg.host, "test/list:multi"), [MediaType.DockerManifest]);
    assert.deepEqual(descriptor, { mediaType: MediaType.DockerManifest, digest: amd.digest, size: amd.manifest.length });
    assert.deepEqual(bytes, amd.manifest);
  });

  test("unknown tags, repositories and blobs are NotFound", async () => {
    await rejectsWith(
      client.getManifest(ref(reg.host, "test/oci:nope")),
      "NotFound",
      new RegExp(`^manifest unknown: ${reg.host}/test/oci:nope`),
    );
    await rejectsWith(client.getManifest(ref(reg.host, "no/such:v1")), "NotFound", /^manifest unknown: /);
    const missing = { mediaType: "x", digest: digestOf("missing"), size: 7 };
    await rejectsWith(client.getBlob(ref(reg.host, "test/oci"), missing), "NotFound", /^blob unknown: .*test\/oci@sha256:/);
    await rejectsWith(client.copyBlob(ref(reg.host, "test/oci"), missing, new MemorySink()), "NotFound", /^blob unknown: /);
  });

  test("getBlob verifies size and digest", async () => {
    const r = ref(reg.host, "test/oci");
    assert.deepEqual(await client.getBlob(r, oci.configDesc), oci.config);
    await rejectsWith(client.getBlob(r, { ...oci.configDesc, size: oci.config.length - 1 }), "InvalidArgument", /larger than/);
    await rejectsWith(client.getBlob(r, { ...oci.configDesc, size: oci.config.length + 1 }), "InvalidArgument", /size mismatch/);
  });

  test("copyBlob: whole, and resumed from the sink's offset with Range", async () => {
    const r = ref(reg.host, "test/oci");
    const whole = new MemorySink();
    const progress: number[] = [];
    await client.copyBlob(r, oci.layerDesc, whole, { onProgress: (n) => progress.push(n) });
    assert.deepEqual(whole.bytes(), oci.layer);
    assert.equal(progress.at(-1), oci.layer.length);
    const half = Math.floor(oci.layer.length / 2);
    const partial = new MemorySink(oci.layer.subarray(0, half));
    await client.copyBlob(r, oci.layerDesc, partial);
    assert.deepEqual(partial.bytes(), oci.layer);
    assert.deepEqual(partial.truncations, [], "the registry honours Range: nothing restarted");
    // an empty blob needs no request
    await client.copyBlob(r, { mediaType: "x", digest: digestOf(""), size: 0 }, new MemorySink());
  });

  test("a mirror is asked first; a mirror that is down falls back to the registry", async () => {
    const mirror = await startProxy(reg.url);
    const dead = await freePort();
    try {
      const c = new RegistryClient({ ...fast, mirrors: { [reg.host]: [`http://127.0.0.1:${dead}`, mirror.url] }, retries: 0 });
      const { bytes } = await c.getManifest(ref(reg.host, "test/oci:v1"));
      assert.deepEqual(bytes, oci.manifest);
      assert.ok(
        mirror.requests.some((q) => q.url === "/v2/test/oci/manifests/v1"),
        "the mirror served it",
      );
      const alone = new RegistryClient({ ...fast, mirrors: { [reg.host]: [`http://127.0.0.1:${dead}`] }, retries: 0 });
      assert.deepEqual((await alone.getManifest(ref(reg.host, "test/oci:v1"))).bytes, oci.manifest);
      c.close();
      alone.close();
    } finally {
      await mirror.close();
    }
  });

  describe("through a hostile proxy", () => {
    const blob = Buffer.alloc(300_000);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 7919) % 251;
    let blobDesc: Descriptor;
    let proxy: TestProxy | undefined;
    before(async () => {
      blobDesc = { mediaType: MediaType.OciLayer, ...(await reg.pushBlob("test/big", blob)) };
    });
    after(async () => proxy?.close());
    const via = async (handle: Parameters<typeof startProxy>[1]) => {
      await proxy?.close();
      proxy = await startProxy(reg.url, handle);
      return proxy;
    };
    const isBlob = (url: string | undefined) => /\/blobs\/sha256:/.test(url ?? "");

    test("bytes that do not match the digest asked for", async () => {
      const p = await via(async (req, res, ctx) => {
        if (!/\/manifests\//.test(req.url ?? "")) return false;
        const up = await ctx.upstream();
        const body = Buffer.from(up.body);
        body.writeUInt8(body.readUInt8(body.length - 2) ^ 1, body.length - 2);
        res.writeHead(up.status, { "Content-Type": String(up.headers["content-type"]) });
        res.end(body);
        return true;
      });
      const c = new RegistryClient(fast);
      await rejectsWith(
        c.getManifest(ref(p.host, `test/oci@${oci.digest}`)),
        "InvalidArgument",
        /digest mismatch: the content from/,
      );
      // by tag: the registry's Docker-Content-Digest does not match the bytes
      const q = await via(async (req, res, ctx) => {
        if (!/\/manifests\//.test(req.url ?? "")) return false;
        const up = await ctx.upstream();
        const body = Buffer.from(up.body);
        body.writeUInt8(body.readUInt8(body.length - 2) ^ 1, body.length - 2);
        res.writeHead(200, { "Content-Type": String(up.headers["content-type"]), "Docker-Content-Digest": oci.digest });
        res.end(body);
        return true;
      });
      await rejectsWith(
        c.getManifest(ref(q.host, "test/oci:v1")),
        "InvalidArgument",
        new RegExp(`says ${oci.digest}, the content is sha256:`),
      );
      c.close();
    });

    test("a manifest bigger than 4 MiB is refused", async () => {
      const p = await via((req, res) => {
        if (!/\/manifests\//.test(req.url ?? "")) return false;
        res.writeHead(200, { "Content-Type": MediaType.OciManifest });
        res.end(Buffer.alloc(5 << 20, 0x20));
        return true;
      });
      const c = new RegistryClient(fast);
      await rejectsWith(c.getManifest(ref(p.host, "test/oci:v1")), "InvalidArgument", /larger than 4194304 bytes/);
      c.close();
    });

    test("a dropped connection resumes with Range from where it broke", async () => {
      const cut = 100_000;
      const p = await via(async (req, res, ctx) => {
        if (!isBlob(req.url) || req.headers.range) return false;
        // the first whole-blob request: promise all of it, send `cut` bytes, drop the connection
        const up = await ctx.upstream();
        res.writeHead(200, { "Content-Length": String(up.body.length), "Content-Type": "application/octet-stream" });
        res.write(up.body.subarray(0, cut), () => res.socket?.destroy());
        return true;
      });
      const c = new RegistryClient(fast);
      const sink = new MemorySink();
      await c.copyBlob(ref(p.host, "test/big"), blobDesc, sink);
      assert.deepEqual(sink.bytes(), blob);
      const ranges = p.requests.filter((q) => isBlob(q.url)).map((q) => q.headers.range);
      assert.deepEqual(ranges, [undefined, `bytes=${cut}-`]);
      c.close();
    });

    test("a server that ignores Range answers 200: the sink starts over", async () => {
      const p = await via(async (req, res, ctx) => {
        if (!isBlob(req.url)) return false;
        const up = await ctx.upstream(undefined, { range: "bytes=0-" });
        res.writeHead(200, { "Content-Length": String(up.body.length) });
        res.end(up.body);
        return true;
      });
      const c = new RegistryClient(fast);
      const sink = new MemorySink(blob.subarray(0, 1000));
      await c.copyBlob(ref(p.host, "test/big"), blobDesc, sink);
      assert.deepEqual(sink.truncations, [0]);
      assert.deepEqual(sink.bytes(), blob);
      assert.equal(p.requests.find((q) => isBlob(q.url))?.headers.range, "bytes=1000-");
      c.close();
    });

    test("never more than the descriptor's size", async () => {
      const c = new RegistryClient(fast);
      const small = { ...blobDesc, size: 1000 };
      const sink = new MemorySink();
      await rejectsWith(c.copyBlob(ref(reg.host, "test/big"), small, sink), "InvalidArgument", /the descriptor says 1000/);
      assert.ok(sink.offset <= 1000);
      // the same when the server sends no Content-Length (chunked)
      const p = await via(async (req, res, ctx) => {
        if (!isBlob(req.url)) return false;
        const up = await ctx.upstream();
        res.writeHead(200);
        res.write(up.body.subarray(0, 600));
        res.end(up.body.subarray(600));
        return true;
      });
      const chunked = new MemorySink();
      await rejectsWith(c.copyBlob(ref(p.host, "test/big"), small, chunked), "InvalidArgument", /the descriptor says 1000/);
      assert.ok(chunked.offset <= 1000);
      c.close();
    });

    test("503 twice, then success; 429 honours Retry-After", async () => {
      let failures = 0;
      const p = await via((req, res) => {
        if (!/\/manifests\//.test(req.url ?? "") || failures >= 2) return false;
        failures++;
        res
          .writeHead(503, { "Content-Type": "application/json" })
          .end('{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}');
        return true;
      });
      const c = new RegistryClient(fast);
      assert.deepEqual((await c.getManifest(ref(p.host, "test/oci:v1"))).bytes, oci.manifest);
      assert.equal(p.requests.filter((q) => /manifests/.test(q.url)).length, 3);
      let limited = false;
      const q = await via((req, res) => {
        if (!/\/manifests\//.test(req.url ?? "") || limited) return false;
        limited = true;
        res.writeHead(429, { "Retry-After": "1" }).end();
        return true;
      });
      const t0 = Date.now();
      assert.deepEqual((await c.getManifest(ref(q.host, "test/oci:v1"))).bytes, oci.manifest);
      assert.ok(Date.now() - t0 >= 900, "waited for Retry-After");
      c.close();
    });

    test("503 for good: Unavailable after the retries, with the registry's message", async () => {
      const p = await via((req, res) => {
        if (!/\/manifests\//.test(req.url ?? "")) return false;
        res
          .writeHead(503, { "Content-Type": "application/json" })
          .end('{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}');
        return true;
      });
      const c = new RegistryClient({ ...fast, retries: 2 });
      await rejectsWith(c.getManifest(ref(p.host, "test/oci:v1")), "Unavailable", /answered HTTP 503: try later/);
      assert.equal(p.requests.filter((q) => /manifests/.test(q.url)).length, 3);
      c.close();
    });

    test("a silent server times out, and no socket stays open", async () => {
      const p = await via((req) => /\/manifests\//.test(req.url ?? "")); // never answers manifests
      const c = new RegistryClient({ ...fast, retries: 1, timeoutMs: 300 });
      const t0 = Date.now();
      await rejectsWith(c.getManifest(ref(p.host, "test/oci:v1")), "Unavailable", /timed out after 300 ms/);
      assert.ok(Date.now() - t0 < 5000);
      c.close();
      const deadline = Date.now() + 3000;
      while ((await p.connections()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await p.connections(), 0);
    });

    test("aborting a copy rejects at once", async () => {
      const p = await via((req) => isBlob(req.url)); // blobs never come
      const c = new RegistryClient(fast);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      await assert.rejects(c.copyBlob(ref(p.host, "test/big"), blobDesc, new MemorySink(), { signal: ac.signal }), {
        name: "AbortError",
      });
      c.close();
    });

    test("a redirect loop ends after 5 hops", async () => {
      const p = await via((req, res) => {
        if (!isBlob(req.url)) return false;
        res.writeHead(302, { Location: req.url }).end();
        return true;
      });
      const c = new RegistryClient({ ...fast, retries: 0 });
      await rejectsWith(c.copyBlob(ref(p.host, "test/big"), blobDesc, new MemorySink()), "Unavailable", /more than 5 redirects/);
      c.close();
    });
  });
});

describe("registry with htpasswd (Basic) auth", { skip: registryUnavailable({ auth: "basic" }) }, () => {
  let reg: TestRegistry;
  let img: PushedImage;
  before(async () => {
    reg = await startRegistry({ auth: "basic" });
    img = await pushImage(reg, "private/app", "v1", "oci");
  });
  after(async () => reg?.stop());

  test("distribution 2.8 serves Basic auth over plain HTTP; 401 with a challenge counts as reachable", async () => {
    assert.match(reg.url, /^http:/);
    const c = new RegistryClient(fast);
    await c.ping(reg.host);
    c.close();
  });

  test("good credentials pull; bad or none are PermissionDenied naming the registry and repository", async () => {
    const good = new RegistryClient({
      ...fast,
      credentials: staticCredentials({ [reg.host]: { username: "alice", password: "wonderland" } }),
    });
    assert.deepEqual((await good.getManifest(ref(reg.host, "private/app:v1"))).bytes, img.manifest);
    assert.deepEqual(await good.getBlob(ref(reg.host, "private/app"), img.configDesc), img.config);
    await good.login(reg.host);
    good.close();
    const bad = new RegistryClient({
      ...fast,
      credentials: staticCredentials({ [reg.host]: { username: "alice", password: "nope" } }),
    });
    await rejectsWith(
      bad.getManifest(ref(reg.host, "private/app:v1")),
      "PermissionDenied",
      new RegExp(`^authentication required to pull ${reg.host}/private/app: the registry refused the credentials`),
    );
    await rejectsWith(bad.login(reg.host), "PermissionDenied", /refused the credentials of user "alice"/);
    bad.close();
    const none = new RegistryClient(fast);
    await rejectsWith(
      none.getManifest(ref(reg.host, "private/app:v1")),
      "PermissionDenied",
      /no credentials for .* \(log in first\)/,
    );
    none.close();
  });

  test("credentials from a docker config.json", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-docker-config-"));
    try {
      const auth = Buffer.from("alice:wonderland").toString("base64");
      writeFileSync(join(dir, "config.json"), JSON.stringify({ auths: { [`http://${reg.host}`]: { auth } } }));
      const c = new RegistryClient({
        ...fast,
        credentials: loadCredentials({ authFile: join(dir, "none.json"), dockerConfig: dir }),
      });
      assert.deepEqual((await c.getManifest(ref(reg.host, `private/app@${img.digest}`))).bytes, img.manifest);
      c.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a blob redirect to storage on another port gets no Authorization", async () => {
    const adminAuth = `Basic ${Buffer.from(`${reg.admin.username}:${reg.admin.password}`).toString("base64")}`;
    // "storage": serves blobs by a path of its own, fetched from the registry as admin
    const storage = await startProxy(reg.url, async (req, res, ctx) => {
      const digest = /^\/storage\/(sha256:[a-f0-9]+)/.exec(req.url ?? "")?.[1];
      const up = await ctx.upstream(`/v2/private/app/blobs/${digest}`, { authorization: adminAuth });
      res.writeHead(up.status, { "Content-Length": String(up.body.length) });
      res.end(up.body);
      return true;
    });
    // the registry's front: blobs are redirected to storage, as S3-backed registries do
    const front = await startProxy(reg.url, (req, res) => {
      const digest = /\/blobs\/(sha256:[a-f0-9]+)$/.exec(req.url ?? "")?.[1];
      if (!digest) return false;
      res.writeHead(307, { Location: `${storage.url}/storage/${digest}?sig=x` }).end();
      return true;
    });
    try {
      const c = new RegistryClient({
        ...fast,
        credentials: staticCredentials({ [front.host]: { username: "alice", password: "wonderland" } }),
      });
      const sink = new MemorySink();
      await c.copyBlob(ref(front.host, "private/app"), img.layerDesc, sink);
      assert.deepEqual(sink.bytes(), img.layer);
      const blobAtFront = front.requests.filter((q) => /\/blobs\//.test(q.url));
      assert.ok(
        blobAtFront.some((q) => q.headers.authorization?.startsWith("Basic ")),
        "the registry got the credentials",
      );
      assert.equal(storage.requests.length, 1);
      assert.equal(storage.requests[0]?.headers.authorization, undefined, "storage on another host got no Authorization");
      c.close();
    } finally {
      await front.close();
      await storage.close();
    }
  });
});

describe("registry with token (Bearer) auth", { skip: registryUnavailable({ auth: "token" }) }, () => {
  let reg: TestRegistry;
  let img: PushedImage;
  before(async () => {
    reg = await startRegistry({ auth: "token", identityTokens: { "refresh-123": "alice" } });
    img = await pushImage(reg, "team/app", "v1", "docker");
  });
  after(async () => reg?.stop());

  test("Bearer flow: the token server gets the scope and the account; the token is cached", async () => {
    const c = new RegistryClient({
      ...fast,
      credentials: staticCredentials({ [reg.host]: { username: "alice", password: "wonderland" } }),
    });
    const before = reg.tokenLog.length;
    const { descriptor } = await c.getManifest(ref(reg.host, "team/app:v1"));
    assert.equal(descriptor.digest, img.digest);
    assert.deepEqual(await c.getBlob(ref(reg.host, "team/app"), img.configDesc), img.config);
    const sink = new MemorySink();
    await c.copyBlob(ref(reg.host, "team/app"), img.layerDesc, sink);
    assert.deepEqual(sink.bytes(), img.layer);
    const asked = reg.tokenLog.slice(before);
    assert.equal(asked.length, 1, "one token for the three requests");
    assert.deepEqual(asked[0], {
      method: "GET",
      scopes: ["repository:team/app:pull"],
      service: "berth-test-registry",
      account: "alice",
      user: "alice",
      granted: true,
    });
    assert.ok(reg.tokenRequests.includes("repository:team/app:pull"));
    await c.login(reg.host);
    c.close();
  });

  test("an identity token is exchanged with a refresh_token POST", async () => {
    const c = new RegistryClient({
      ...fast,
      credentials: staticCredentials({ [reg.host]: { username: "<token>", password: "refresh-123" } }),
    });
    const before = reg.tokenLog.length;
    assert.equal((await c.getManifest(ref(reg.host, "team/app:v1"))).descriptor.digest, img.digest);
    assert.deepEqual(
      reg.tokenLog.slice(before).map((r) => [r.method, r.user]),
      [["POST", "alice"]],
    );
    c.close();
  });

  test("bad credentials: the token server refuses; anonymous: the registry refuses", async () => {
    const bad = new RegistryClient({
      ...fast,
      credentials: staticCredentials({ [reg.host]: { username: "alice", password: "x" } }),
    });
    await rejectsWith(
      bad.getManifest(ref(reg.host, "team/app:v1")),
      "PermissionDenied",
      /^authenticate to 127\.0\.0\.1:\d+: the token server 127\.0\.0\.1:\d+ rejected the credentials of user "alice"/,
    );
    await rejectsWith(bad.login(reg.host), "PermissionDenied", /rejected the credentials of user "alice"/);
    bad.close();
    const anon = new RegistryClient(fast);
    await rejectsWith(
      anon.getManifest(ref(reg.host, "team/app:v1")),
      "PermissionDenied",
      new RegExp(`authentication required to pull ${reg.host}/team/app`),
    );
    anon.close();
  });

  test("anonymous pull where the token server allows it", async () => {
    const open = await startRegistry({ auth: "token", anonymousPull: true });
    try {
      const pushed = await pushImage(open, "pub/app", "v1", "oci");
      const c = new RegistryClient(fast);
      assert.equal((await c.getManifest(ref(open.host, "pub/app:v1"))).descriptor.digest, pushed.digest);
      assert.deepEqual(
        open.tokenLog.map((r) => [r.scopes, r.user, r.account]),
        [[["repository:pub/app:pull"], undefined, undefined]],
      );
      c.close();
    } finally {
      await open.stop();
    }
  });
});

describe("unreachable registries", () => {
  test("a registry that is down is Unavailable: connection refused", async () => {
    const port = await freePort();
    const c = new RegistryClient({ retries: 1, retryDelayMs: 10 });
    await rejectsWith(
      c.getManifest(parseReference(`127.0.0.1:${port}/x/y:v1`)),
      "Unavailable",
      new RegExp(`^fetch manifest 127\\.0\\.0\\.1:${port}/x/y:v1: connection refused`),
    );
    await rejectsWith(c.ping(`127.0.0.1:${port}`), "Unavailable", /connection refused/);
    c.close();
  });
});

/** A non-loopback IPv4 address of this machine, to test the rules for insecure registries. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return undefined;
}

describe("TLS and insecure registries", { skip: registryUnavailable({ tls: true }) }, () => {
  test("loopback with TLS: plain HTTP first, then https without verification", async () => {
    const reg = await startRegistry({ tls: true });
    try {
      const img = await pushImage(reg, "tls/app", "v1", "oci");
      const c = new RegistryClient(fast);
      assert.equal((await c.getManifest(ref(reg.host, "tls/app:v1"))).descriptor.digest, img.digest);
      c.close();
    } finally {
      await reg.stop();
    }
  });

  const ip = externalAddress();
  test("a non-loopback registry needs insecureRegistries for a self-signed certificate or plain HTTP", {
    skip: ip ? false : "no non-loopback IPv4 address here",
  }, async () => {
    const bindHost = ip ?? "";
    const tls = await startRegistry({ tls: true, bindHost });
    const plain = await startRegistry({ bindHost });
    try {
      const a = await pushImage(tls, "x/app", "v1", "oci");
      const b = await pushImage(plain, "x/app", "v1", "oci");
      const strict = new RegistryClient({ ...fast, retries: 0 });
      await rejectsWith(strict.getManifest(ref(tls.host, "x/app:v1")), "Unavailable", /tls: /);
      await rejectsWith(strict.getManifest(ref(plain.host, "x/app:v1")), "Unavailable", /tls: |connection reset/);
      strict.close();
      // "host:port" for the TLS one (https without verification), a CIDR for the plain one (https fails, then http)
      const lax = new RegistryClient({ ...fast, insecureRegistries: [tls.host, `${ip}/32`] });
      assert.equal((await lax.getManifest(ref(tls.host, "x/app:v1"))).descriptor.digest, a.digest);
      assert.equal((await lax.getManifest(ref(plain.host, "x/app:v1"))).descriptor.digest, b.digest);
      lax.close();
    } finally {
      await tls.stop();
      await plain.stop();
    }
  });
});
