import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import type { FlagSpec } from "./args.js";
import { bool, int, list, parseFlags, str } from "./args.js";

const SPECS: FlagSpec[] = [
  { name: "bundle", short: "b", type: "string" },
  { name: "pid-file", type: "string" },
  { name: "detach", short: "d", type: "bool" },
  { name: "no-pivot", type: "bool" },
  { name: "preserve-fds", type: "int" },
  { name: "env", short: "e", type: "list" },
];

const parse = (argv: string[]) => parseFlags(argv, SPECS, "create");

function assertInvalid(argv: string[], pattern: RegExp): void {
  assert.throws(
    () => parse(argv),
    (e: unknown) => {
      assert.ok(isKind(e, "InvalidArgument"), String(e));
      assert.match((e as Error).message, pattern);
      return true;
    },
  );
}

test("long flags take a value as the next argument or after =", () => {
  assert.deepEqual(parse(["--bundle", "/b", "id"]), { flags: { bundle: "/b" }, rest: ["id"] });
  assert.deepEqual(parse(["--bundle=/b", "id"]), { flags: { bundle: "/b" }, rest: ["id"] });
  // only the first = splits
  assert.deepEqual(parse(["--bundle=a=b"]).flags, { bundle: "a=b" });
  // an empty value after = is a value
  assert.deepEqual(parse(["--bundle=", "id"]), { flags: { bundle: "" }, rest: ["id"] });
});

test("short flags and single-dash long names", () => {
  assert.deepEqual(parse(["-b", "/b", "id"]), { flags: { bundle: "/b" }, rest: ["id"] });
  assert.deepEqual(parse(["-b=/b"]).flags, { bundle: "/b" });
  assert.deepEqual(parse(["-bundle", "/b", "-pid-file", "/p", "id"]), {
    flags: { bundle: "/b", "pid-file": "/p" },
    rest: ["id"],
  });
  assert.deepEqual(parse(["-pid-file=/p"]).flags, { "pid-file": "/p" });
  // a short name is not a long name with two dashes
  assertInvalid(["--b", "/b"], /flag provided but not defined: --b$/);
});

test("booleans: bare, =true/=false, =1/=0; they never take the next argument", () => {
  assert.deepEqual(parse(["--detach", "id"]), { flags: { detach: true }, rest: ["id"] });
  assert.deepEqual(parse(["-d", "id"]), { flags: { detach: true }, rest: ["id"] });
  assert.deepEqual(parse(["--detach=false", "id"]).flags, { detach: false });
  assert.deepEqual(parse(["--detach=true"]).flags, { detach: true });
  assert.deepEqual(parse(["--no-pivot=1", "--detach=0"]).flags, { "no-pivot": true, detach: false });
  // "false" after a bare bool is a positional, not its value
  assert.deepEqual(parse(["--detach", "false"]), { flags: { detach: true }, rest: ["false"] });
  assertInvalid(["--detach=yes"], /invalid boolean value "yes" for --detach/);
});

test("ints are parsed and checked", () => {
  assert.deepEqual(parse(["--preserve-fds", "3"]).flags, { "preserve-fds": 3 });
  assert.deepEqual(parse(["--preserve-fds=-1"]).flags, { "preserve-fds": -1 });
  assertInvalid(["--preserve-fds", "3x"], /invalid value "3x" for --preserve-fds: not a number/);
  assertInvalid(["--preserve-fds", ""], /not a number/);
});

test("lists repeat and keep their order", () => {
  const { flags } = parse(["-e", "A=1", "--env", "B=2", "--env=C=3", "id"]);
  assert.deepEqual(flags, { env: ["A=1", "B=2", "C=3"] });
  assert.deepEqual(list(flags, "env"), ["A=1", "B=2", "C=3"]);
  assert.deepEqual(list({}, "env"), []);
});

test("the last value of a repeated string flag wins", () => {
  assert.deepEqual(parse(["--bundle", "/a", "--bundle", "/b"]).flags, { bundle: "/b" });
});

test("parsing stops at the first positional: later dashes are arguments", () => {
  assert.deepEqual(parse(["-d", "id", "--bundle", "/b", "-x"]), {
    flags: { detach: true },
    rest: ["id", "--bundle", "/b", "-x"],
  });
  // a lone "-" is a positional (stdin, by convention)
  assert.deepEqual(parse(["-", "--detach"]), { flags: {}, rest: ["-", "--detach"] });
});

test("-- ends the flags and is dropped", () => {
  assert.deepEqual(parse(["--detach", "--", "--bundle", "x"]), { flags: { detach: true }, rest: ["--bundle", "x"] });
  assert.deepEqual(parse(["--"]), { flags: {}, rest: [] });
});

test("a value may itself start with a dash", () => {
  assert.deepEqual(parse(["--bundle", "-weird", "id"]), { flags: { bundle: "-weird" }, rest: ["id"] });
});

test("unknown flags and missing values are InvalidArgument naming the command", () => {
  assertInvalid(["--nope"], /^create: flag provided but not defined: --nope$/);
  assertInvalid(["-z"], /^create: flag provided but not defined: -z$/);
  assertInvalid(["--nope=1"], /not defined: --nope$/);
  assertInvalid(["--bundle"], /^create: flag needs an argument: --bundle$/);
  assertInvalid(["-b"], /flag needs an argument: --bundle/);
  assertInvalid(["--env"], /flag needs an argument: --env/);
});

test("no arguments: no flags, nothing left", () => {
  assert.deepEqual(parse([]), { flags: {}, rest: [] });
});

test("typed accessors ignore values of the wrong type", () => {
  const flags = { bundle: "/b", detach: true, "preserve-fds": 2, env: ["A=1"] };
  assert.equal(str(flags, "bundle"), "/b");
  assert.equal(str(flags, "detach"), undefined);
  assert.equal(bool(flags, "detach"), true);
  assert.equal(bool(flags, "bundle"), false);
  assert.equal(int(flags, "preserve-fds"), 2);
  assert.equal(int(flags, "bundle"), undefined);
  assert.deepEqual(list(flags, "bundle"), []);
});

test("interspersed flags (docker's CLI): flags after positionals, combined short booleans, -- ends flags", () => {
  const specs = [
    { name: "quiet", short: "q", type: "bool" as const },
    { name: "all", short: "a", type: "bool" as const },
    { name: "format", type: "string" as const },
  ];
  const r = parseFlags(["busybox", "--format", "json", "-qa", "--", "--not-a-flag"], specs, "images", { interspersed: true });
  assert.deepEqual(r.flags, { format: "json", quiet: true, all: true });
  assert.deepEqual(r.rest, ["busybox", "--not-a-flag"]);
  assert.deepEqual(parseFlags(["x", "--format", "json"], specs, "images").rest, ["x", "--format", "json"]);
});
