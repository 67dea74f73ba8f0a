import assert from "node:assert/strict";
import { test } from "node:test";
import { hostname, InsecurePolicy, isLoopback, mirrorBase, registryHost } from "./endpoints.js";
import { retryAfterMs, toNetworkError } from "./http.js";

test("docker.io's API host", () => {
  assert.equal(registryHost("docker.io"), "registry-1.docker.io");
  assert.equal(registryHost("quay.io"), "quay.io");
});

test("loopback is always insecure, as in docker", async () => {
  for (const h of ["localhost:5000", "localhost", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "::1"])
    assert.ok(isLoopback(h), h);
  for (const h of ["10.0.0.1:5000", "example.com", "[::2]:5000", "localhost.example.com"]) assert.ok(!isLoopback(h), h);
  assert.equal(hostname("[::1]:5000"), "::1");
  assert.equal(hostname("a.b:1"), "a.b");
  const p = new InsecurePolicy();
  assert.equal(await p.isInsecure("127.0.0.1:5000"), true);
  assert.equal(await p.isInsecure("registry.example.com"), false);
});

test("insecure registries: host:port, bare host, CIDR", async () => {
  const p = new InsecurePolicy(["myreg:5000", "http://other.io", "10.1.0.0/16", "fd00::/8"]);
  assert.equal(await p.isInsecure("myreg:5000"), true);
  assert.equal(await p.isInsecure("myreg:5001"), false);
  assert.equal(await p.isInsecure("other.io:443"), true);
  assert.equal(await p.isInsecure("10.1.2.3:5000"), true);
  assert.equal(await p.isInsecure("10.2.0.1:5000"), false);
  assert.equal(await p.isInsecure("[fd00::5]:5000"), true);
  assert.throws(() => new InsecurePolicy(["10.0.0.0/40"]), /bad CIDR prefix/);
  assert.throws(() => new InsecurePolicy(["a/b/c"]), /not "host\[:port\]" or a CIDR/);
});

test("mirror URLs", () => {
  assert.equal(mirrorBase("mirror.gcr.io").href, "https://mirror.gcr.io/");
  assert.equal(mirrorBase("http://127.0.0.1:5001/").href, "http://127.0.0.1:5001/");
  assert.equal(mirrorBase("https://m.io/prefix/v2/").href, "https://m.io/prefix");
  assert.throws(() => mirrorBase("ftp://m.io"), /not http or https/);
});

test("Retry-After and network error classes", () => {
  assert.equal(retryAfterMs("3"), 3000);
  assert.equal(retryAfterMs(undefined), undefined);
  assert.equal(retryAfterMs("soon"), undefined);
  assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6000);
  const refused = toNetworkError(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
  assert.ok(
    refused instanceof Error && "retryable" in refused && refused.retryable === true && refused.message === "connection refused",
  );
  const cert = toNetworkError(Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }));
  assert.ok(cert instanceof Error && "retryable" in cert && cert.retryable === false && /^tls: /.test(cert.message));
  const abort = Object.assign(new Error("aborted"), { name: "AbortError" });
  assert.equal(toNetworkError(abort), abort);
});
