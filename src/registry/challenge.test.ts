import assert from "node:assert/strict";
import { test } from "node:test";
import { parseChallenges } from "./challenge.js";

test("a Bearer challenge with a quoted scope holding commas", () => {
  assert.deepEqual(
    parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
    ),
    [
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:samalba/my-app:pull,push",
        },
      },
    ],
  );
});

test("Basic, as distribution's htpasswd sends it", () => {
  assert.deepEqual(parseChallenges('Basic realm="basic-realm"'), [{ scheme: "basic", params: { realm: "basic-realm" } }]);
});

test("several challenges in one header (or joined by node)", () => {
  assert.deepEqual(parseChallenges('Basic realm="a, b", Bearer realm="https://x/token",service="s",error="invalid_token"'), [
    { scheme: "basic", params: { realm: "a, b" } },
    { scheme: "bearer", params: { realm: "https://x/token", service: "s", error: "invalid_token" } },
  ]);
  assert.deepEqual(parseChallenges('Negotiate abc==, Basic realm="x"'), [
    { scheme: "negotiate", params: { token68: "abc==" } },
    { scheme: "basic", params: { realm: "x" } },
  ]);
  assert.deepEqual(parseChallenges("Negotiate, NTLM"), [
    { scheme: "negotiate", params: {} },
    { scheme: "ntlm", params: {} },
  ]);
});

test("escapes, unquoted values, odd spacing and case", () => {
  assert.deepEqual(parseChallenges('Bearer realm="a\\"b\\\\c"'), [{ scheme: "bearer", params: { realm: 'a"b\\c' } }]);
  assert.deepEqual(parseChallenges("BEARER  Realm = https://x/token ,  Service=reg ,"), [
    { scheme: "bearer", params: { realm: "https://x/token", service: "reg" } },
  ]);
  assert.deepEqual(parseChallenges('Bearer realm=""'), [{ scheme: "bearer", params: { realm: "" } }]);
});

test("nothing to parse", () => {
  assert.deepEqual(parseChallenges(undefined), []);
  assert.deepEqual(parseChallenges(""), []);
  assert.deepEqual(parseChallenges(" , ,"), []);
  // junk does not hang the parser
  assert.ok(Array.isArray(parseChallenges('"=,"=')));
});
