// Errors callers rely on: unknown ids, bad ids, bad config.json, a program that does not exist.
import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { RUNTIME_NAME, leftovers, rtest } from "./harness.js";

rtest("an unknown id: stderr says does not exist, exit 1", (h) => {
  for (const args of [["state"], ["start"], ["kill"], ["delete"], ["ps", "--format", "json"], ["exec"]]) {
    const cmd =
      args[0] === "kill"
        ? [...args, "nosuchcontainer", "KILL"]
        : args[0] === "exec"
          ? [...args, "nosuchcontainer", "true"]
          : [...args, "nosuchcontainer"];
    const r = h.rt(cmd);
    // runc's exec reports its own failures with 255 (the exec'd process owns 1..254); callers match the text
    const code = args[0] === "exec" && RUNTIME_NAME === "runc" ? 255 : 1;
    assert.equal(r.code, code, `${cmd.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /does not exist/, `${cmd.join(" ")}`);
  }
});

rtest("an invalid id is rejected and creates nothing", (h) => {
  const bundle = h.bundle(["true"]);
  const tag = `${process.pid}-${Date.now()}`;
  for (const id of [`../escape-${tag}`, `a-${tag}/b`, "..", ""]) {
    const r = h.rt(["create", "--bundle", bundle, id]);
    assert.notEqual(r.code, 0, `id ${JSON.stringify(id)} must be refused`);
    assert.ok(r.stderr.length > 0, `and say why (id ${JSON.stringify(id)})`);
  }
  assert.deepEqual(readdirSync(h.root), [], "no state dir");
  // nothing beside the root (checked by name: other tests may be writing there meanwhile)
  assert.ok(!existsSync(join(dirname(h.root), `escape-${tag}`)), "no ../escape beside the root");
  assert.ok(!existsSync(join(h.root, `a-${tag}`)), "no a/ in the root");
  assert.ok(!existsSync(join(h.dir, "b")));
});

rtest("malformed config.json: create fails and says config.json is the problem", (h) => {
  const bundle = h.bundle(["true"]);
  writeFileSync(join(bundle, "config.json"), '{"ociVersion": "1.0.2", "process": {');
  const id = h.id();
  const r = h.rt(["create", "--bundle", bundle, id]);
  assert.equal(r.code, 1);
  // runc 1.1 prints only the JSON decoder's error ("unexpected EOF"), not the file
  assert.match(r.stderr, RUNTIME_NAME === "runc" ? /unexpected EOF/ : /config\.json/);
  assert.deepEqual(leftovers(h, id, bundle), []);
});

/** Set `path` (dotted) in a plain JSON object. */
function setPath(o: Record<string, unknown>, path: string, v: unknown): void {
  const keys = path.split(".");
  const last = keys.pop() ?? "";
  let cur = o;
  for (const k of keys) cur = cur[k] as Record<string, unknown>;
  cur[last] = v;
}

rtest("wrong field types in config.json: the error names the field", (h) => {
  const cases: [string, unknown, RegExp][] = [
    ["process.args", "sh -c true", /args/],
    ["hostname", 42, /hostname/],
    ["process.user.uid", "0", /uid/],
    ["linux.namespaces", { type: "pid" }, /namespaces/],
  ];
  for (const [field, value, named] of cases) {
    const bundle = h.bundle(["true"], (s) => setPath(s as unknown as Record<string, unknown>, field, value));
    const id = h.id();
    const r = h.rt(["create", "--bundle", bundle, id]);
    assert.equal(r.code, 1, field);
    assert.match(r.stderr, named, `${field}: ${r.stderr}`);
    assert.deepEqual(leftovers(h, id, bundle), [], field);
  }
});

rtest("a program that does not exist: create fails clearly and leaves nothing behind", (h) => {
  const bundle = h.bundle(["/no/such/program", "arg"]);
  const id = h.id();
  const r = h.rt(["create", "--bundle", bundle, id]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\/no\/such\/program/);
  assert.match(r.stderr, /no such file or directory/i);
  assert.deepEqual(leftovers(h, id, bundle), []);
  const again = h.rt(["state", id]);
  assert.match(again.stderr, /does not exist/);

  // the same through PATH lookup
  const b2 = h.bundle(["nosuchprogram"]);
  const id2 = h.id();
  const r2 = h.rt(["create", "--bundle", b2, id2]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /nosuchprogram/);
  assert.deepEqual(leftovers(h, id2, b2), []);
});

rtest("a bundle without a rootfs: create fails and leaves nothing behind", (h) => {
  const bundle = h.bundle(["true"], (s) => {
    if (s.root) s.root.path = "no-such-rootfs";
  });
  const id = h.id();
  const r = h.rt(["create", "--bundle", bundle, id]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no-such-rootfs|rootfs/);
  assert.deepEqual(leftovers(h, id, bundle), []);
});

rtest("create with an id already in use fails and leaves the first container alone", async (h) => {
  const { id, pid } = await h.detached(["sleep", "100"]);
  const r = h.rt(["create", "--bundle", h.bundle(["true"]), id]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /exists/);
  assert.equal(h.state(id)["pid"], pid);
  assert.equal(h.status(id), "running");
});
