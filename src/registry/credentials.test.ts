import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { credentialKey, defaultAuthFile, loadCredentials, saveCredentials } from "./credentials.js";

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
