import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import {
  credentialKey,
  credentialsFor,
  decodeRegistryAuth,
  defaultAuthFile,
  encodeRegistryAuth,
  IDENTITY_TOKEN_USER,
  loadCredentials,
  saveCredentials,
  staticCredentials,
} from "./credentials.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

function withDir(fn: (dir: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), "berth-creds-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("credential keys: docker hub aliases, schemes and paths", () => {
  assert.equal(credentialKey("https://index.docker.io/v1/"), "docker.io");
  assert.equal(credentialKey("registry-1.docker.io"), "docker.io");
  assert.equal(credentialKey("index.docker.io"), "docker.io");
  assert.equal(credentialKey("http://LocalHost:5000/v2/"), "localhost:5000");
  assert.equal(credentialKey("quay.io"), "quay.io");
});

test("docker's config.json: auth, username/password, identitytoken, hub keys", () => {
  withDir((dir) => {
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: b64("hubuser:hub:pass") },
          "localhost:5000": { username: "u", password: "p" },
          "quay.io": { identitytoken: "refresh-me" },
          "empty.io": {},
        },
        credsStore: "desktop",
      }),
    );
    const store = loadCredentials({ authFile: join(dir, "none.json"), dockerConfig: dir });
    assert.deepEqual(store.get("docker.io"), { username: "hubuser", password: "hub:pass" });
    assert.deepEqual(store.get("localhost:5000"), { username: "u", password: "p" });
    assert.deepEqual(store.get("quay.io"), { username: "<token>", password: "refresh-me" });
    assert.equal(store.get("empty.io"), undefined);
    assert.equal(store.get("other.io"), undefined);
    // the file itself works too
    assert.deepEqual(
      loadCredentials({ authFile: join(dir, "none.json"), dockerConfig: join(dir, "config.json") }).get("docker.io")?.username,
      "hubuser",
    );
  });
});

test("berth's file wins over docker's; missing files are no credentials; bad JSON is an error", () => {
  withDir((dir) => {
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({ auths: { "r.io": { auth: b64("docker:1") }, "s.io": { auth: b64("docker:2") } } }),
    );
    writeFileSync(join(dir, "auth.json"), JSON.stringify({ auths: { "r.io": { auth: b64("berth:1") } } }));
    const store = loadCredentials({ authFile: join(dir, "auth.json"), dockerConfig: dir });
    assert.equal(store.get("r.io")?.username, "berth");
    assert.equal(store.get("s.io")?.username, "docker");
    assert.equal(loadCredentials({ authFile: join(dir, "x.json"), dockerConfig: join(dir, "nowhere") }).get("r.io"), undefined);
    writeFileSync(join(dir, "bad.json"), "{");
    assert.throws(
      () => loadCredentials({ authFile: join(dir, "bad.json"), dockerConfig: dir }),
      (e: unknown) => isKind(e, "InvalidArgument") && /bad\.json.*not JSON/.test((e as Error).message),
    );
    writeFileSync(join(dir, "bad2.json"), JSON.stringify({ auths: { "r.io": { auth: b64("nocolon") } } }));
    assert.throws(
      () => loadCredentials({ authFile: join(dir, "bad2.json"), dockerConfig: dir }),
      /not base64 of "user:password"/,
    );
  });
});

test("saveCredentials: login and logout keep the rest, 0600, docker's layout", () => {
  withDir((dir) => {
    const file = join(dir, "sub", "auth.json");
    mkdirSync(join(dir, "sub"));
    writeFileSync(
      file,
      JSON.stringify({ auths: { "index.docker.io": { auth: b64("old:x") }, "keep.io": { auth: b64("k:v") } }, other: 1 }),
    );
    saveCredentials(file, "docker.io", { username: "me", password: "secret" });
    const doc = JSON.parse(readFileSync(file, "utf8"));
    assert.deepEqual(doc.auths["https://index.docker.io/v1/"], { auth: b64("me:secret") });
    assert.equal(doc.auths["index.docker.io"], undefined, "the alias is replaced, not kept beside");
    assert.equal(doc.other, 1);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    saveCredentials(file, "localhost:5000", { username: "<token>", password: "tok" });
    assert.deepEqual(JSON.parse(readFileSync(file, "utf8")).auths["localhost:5000"], { identitytoken: "tok" });
    const store = loadCredentials({ authFile: file, dockerConfig: join(dir, "none") });
    assert.deepEqual(store.get("docker.io"), { username: "me", password: "secret" });
    assert.deepEqual(store.get("localhost:5000"), { username: "<token>", password: "tok" });
    saveCredentials(file, "docker.io", undefined);
    const after = JSON.parse(readFileSync(file, "utf8"));
    assert.deepEqual(Object.keys(after.auths).sort(), ["keep.io", "localhost:5000"]);
    // a fresh file in a fresh directory
    const fresh = join(dir, "new", "deep", "auth.json");
    saveCredentials(fresh, "r.io", { username: "a", password: "b" });
    assert.equal(statSync(fresh).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "new", "deep")).mode & 0o777, 0o700);
  });
});

test("default auth file: $BERTH_AUTH_FILE, then XDG_CONFIG_HOME", () => {
  assert.equal(defaultAuthFile({ BERTH_AUTH_FILE: "/x/a.json" }), "/x/a.json");
  assert.equal(defaultAuthFile({ XDG_CONFIG_HOME: "/cfg" }), "/cfg/berth/auth.json");
  assert.match(defaultAuthFile({}), /\.config\/berth\/auth\.json$/);
});

test("X-Registry-Auth: docker's base64url JSON both ways; auth pairs, identity tokens, empty configs", () => {
  const enc = encodeRegistryAuth({ username: "u", password: "p+/=?" }, "r.example:5000");
  assert.doesNotMatch(enc, /[+/=]/, "base64url");
  assert.deepEqual(JSON.parse(Buffer.from(enc, "base64url").toString()), {
    username: "u",
    password: "p+/=?",
    serveraddress: "r.example:5000",
  });
  assert.deepEqual(decodeRegistryAuth(enc), { username: "u", password: "p+/=?" });
  // standard base64 too, and the "auth" pair of a config.json
  const std = Buffer.from(JSON.stringify({ auth: Buffer.from("me:se:cret").toString("base64") })).toString("base64");
  assert.deepEqual(decodeRegistryAuth(std), { username: "me", password: "se:cret" });
  const token = encodeRegistryAuth({ username: IDENTITY_TOKEN_USER, password: "tok" }, "r");
  assert.deepEqual(decodeRegistryAuth(token), { username: IDENTITY_TOKEN_USER, password: "tok" });
  // what the docker CLI sends when it has nothing
  assert.equal(decodeRegistryAuth(Buffer.from("{}").toString("base64")), undefined);
  assert.throws(() => decodeRegistryAuth("%%%"), /X-Registry-Auth/);
  assert.throws(() => decodeRegistryAuth(Buffer.from("[1]").toString("base64")), /X-Registry-Auth/);
});

test("credentialsFor: a request's own credentials for its registry, the store's for the others", () => {
  const base = staticCredentials({ "other.example": { username: "o", password: "o" } });
  const c = credentialsFor("https://index.docker.io/v1/", { username: "me", password: "x" }, base);
  assert.deepEqual(c.get("docker.io"), { username: "me", password: "x" });
  assert.deepEqual(c.get("other.example"), { username: "o", password: "o" });
  assert.equal(c.get("third.example"), undefined);
});
