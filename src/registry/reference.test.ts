import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { familiarName, formatReference, parseReference, validateReference } from "./reference.js";

const d = `sha256:${"a".repeat(64)}`;

test("docker's normalisation of short names", () => {
  assert.deepEqual(parseReference("busybox"), { domain: "docker.io", path: "library/busybox", tag: "latest" });
  assert.deepEqual(parseReference("library/busybox:1.36"), { domain: "docker.io", path: "library/busybox", tag: "1.36" });
  assert.deepEqual(parseReference("docker.io/busybox"), { domain: "docker.io", path: "library/busybox", tag: "latest" });
  assert.deepEqual(parseReference("index.docker.io/user/repo"), { domain: "docker.io", path: "user/repo", tag: "latest" });
  assert.deepEqual(parseReference("user/repo:v1"), { domain: "docker.io", path: "user/repo", tag: "v1" });
  assert.deepEqual(parseReference("docker.io/library/a/b"), { domain: "docker.io", path: "library/a/b", tag: "latest" });
});

test("registries with ports, localhost, IPs, digests", () => {
  assert.deepEqual(parseReference("localhost:5000/a/b:t"), { domain: "localhost:5000", path: "a/b", tag: "t" });
  assert.deepEqual(parseReference("localhost/busybox"), { domain: "localhost", path: "busybox", tag: "latest" });
  assert.deepEqual(parseReference(`127.0.0.1:5000/x@${d}`), { domain: "127.0.0.1:5000", path: "x", digest: d });
  assert.deepEqual(parseReference(`foo.com:8080/bar:tag@${d}`), { domain: "foo.com:8080", path: "bar", tag: "tag", digest: d });
  assert.deepEqual(parseReference(`busybox:1@${d}`), { domain: "docker.io", path: "library/busybox", tag: "1", digest: d });
  assert.deepEqual(parseReference("[::1]:5000/x"), { domain: "[::1]:5000", path: "x", tag: "latest" });
  assert.deepEqual(parseReference("quay.io/coreos/etcd:v3.5.0"), { domain: "quay.io", path: "coreos/etcd", tag: "v3.5.0" });
  // a first component with an upper-case letter is a domain (docker's splitDockerDomain)
  assert.equal(parseReference("Foo/bar").domain, "Foo");
  assert.deepEqual(parseReference("a__b/c-d--e/f.g_h"), { domain: "docker.io", path: "a__b/c-d--e/f.g_h", tag: "latest" });
});

test("invalid references are InvalidArgument with the reason", () => {
  const cases: [string, RegExp][] = [
    ["", /empty reference/],
    ["Busybox", /must be lowercase/],
    ["foo/Bar", /must be lowercase/],
    ["busybox:", /tag ""/],
    [`busybox:${"x".repeat(129)}`, /tag/],
    ["busybox:-x", /tag/],
    ["busybox@sha256:abc", /bad digest/],
    ["a//b", /path component ""/],
    ["-foo", /path component "-foo"/],
    ["foo_", /path component/],
    [":tag", /no repository name/],
    ["a".repeat(64).replace(/a/g, "b"), /64-character hexadecimal/],
    ["a:b:c", /path component "a:b"/],
    [`x/${"a".repeat(260)}`, /longer than 255/],
    ["bad_host:5000/x", /registry "bad_host:5000"/],
  ];
  for (const [s, re] of cases) {
    assert.throws(
      () => parseReference(s),
      (e: unknown) => isKind(e, "InvalidArgument") && re.test((e as Error).message),
      s,
    );
  }
  assert.equal(parseReference(`busybox:${"x".repeat(128)}`).tag?.length, 128);
});

test("format and familiar names", () => {
  assert.equal(formatReference(parseReference("busybox")), "docker.io/library/busybox:latest");
  assert.equal(familiarName(parseReference("busybox")), "busybox:latest");
  assert.equal(familiarName(parseReference("docker.io/library/busybox:1")), "busybox:1");
  assert.equal(familiarName(parseReference("user/repo:t")), "user/repo:t");
  assert.equal(familiarName(parseReference("docker.io/library/a/b")), "library/a/b:latest");
  assert.equal(familiarName(parseReference(`localhost:5000/a@${d}`)), `localhost:5000/a@${d}`);
  assert.equal(formatReference(parseReference(`x:t@${d}`)), `docker.io/library/x:t@${d}`);
  for (const s of ["busybox:latest", "quay.io/a/b:c", `localhost:5000/x@${d}`]) assert.equal(familiarName(parseReference(s)), s);
});

test("validateReference refuses hand-built references that would escape the URL path", () => {
  assert.throws(() => validateReference({ domain: "r.io", path: "../x" }), /repository path/);
  assert.throws(() => validateReference({ domain: "r.io", path: "x", tag: "a/b" }), /tag/);
  assert.throws(() => validateReference({ domain: "r.io/x", path: "x" }), /registry/);
  assert.doesNotThrow(() => validateReference({ domain: "r.io:5000", path: "a/b", tag: "t", digest: d }));
});
