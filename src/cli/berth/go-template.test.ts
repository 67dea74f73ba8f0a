import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../../errors/index.js";
import { formatRows } from "./format-rows.js";
import { renderTemplate as r } from "./go-template.js";

const ctr = {
  Id: "abc123",
  Name: "/web",
  State: { Status: "running", Running: true, Pid: 42, ExitCode: 0 },
  Config: { Env: ["A=1", "B=2"], Labels: { "com.x": "1", app: "web" }, Cmd: null },
  NetworkSettings: {
    Networks: {
      front: { IPAddress: "10.0.0.2", Aliases: ["web"] },
      back: { IPAddress: "10.1.0.2", Aliases: null },
    },
  },
  Mounts: [],
};

test("fields, json, and fmt's printing of values", () => {
  assert.equal(r("{{.State.Status}} {{.State.Pid}} {{.State.Running}}", ctr), "running 42 true");
  assert.equal(r("{{json .Config.Labels}}", ctr), '{"com.x":"1","app":"web"}');
  assert.equal(r("{{.Config.Env}}", ctr), "[A=1 B=2]");
  assert.equal(r("{{.Config.Labels}}", ctr), "map[app:web com.x:1]", "maps print with sorted keys");
  assert.equal(r("{{.Config.Cmd}}", ctr), "<nil>");
  assert.equal(r("{{.Nope}} {{.Nope.Deeper}}", ctr), "<no value> <no value>");
  assert.equal(r("{{.Mounts}}", ctr), "[]");
  assert.equal(r("{{1.5}} {{1000000}} {{0.00001}}", {}), "1.5 1000000 1e-05");
});

test("range over maps (sorted) and lists, with variables and else", () => {
  assert.equal(r("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", ctr), "10.1.0.2 10.0.0.2 ");
  assert.equal(r("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", ctr), "app=web;com.x=1;");
  assert.equal(r("{{range $i, $e := .Config.Env}}{{$i}}:{{$e}} {{end}}", ctr), "0:A=1 1:B=2 ");
  assert.equal(r("{{range $e := .Config.Env}}[{{$e}}]{{end}}", ctr), "[A=1][B=2]");
  assert.equal(r("{{range .Mounts}}x{{else}}none{{end}}", ctr), "none");
  // $ is the whole object inside a range
  assert.equal(r("{{range .Config.Env}}{{$.Name}} {{end}}", ctr), "/web /web ");
});

test("if / else if / else, with, comparisons, and, or, not", () => {
  assert.equal(r("{{if .State.Running}}up{{else}}down{{end}}", ctr), "up");
  assert.equal(r('{{if eq .State.Status "exited"}}x{{else if eq .State.Status "running"}}r{{else}}?{{end}}', ctr), "r");
  assert.equal(r("{{if and .State.Running (gt .State.Pid 1)}}ok{{end}}", ctr), "ok");
  assert.equal(r("{{if or .Nope .State.Pid}}{{not .State.Running}}{{end}}", ctr), "false");
  assert.equal(r("{{with .State}}{{.Pid}}{{end}}{{with .Nope}}x{{else}}-{{end}}", ctr), "42-");
  assert.equal(r('{{if ne .Name "/db"}}{{len .Config.Env}}{{end}}', ctr), "2");
  assert.equal(r("{{eq .State.ExitCode 1 0}}", ctr), "true", "eq with several: any");
});

test("functions and pipelines: index, join, split, lower/upper/title, printf, print, println, slice, len", () => {
  assert.equal(r('{{index .Config.Labels "com.x"}}', ctr), "1");
  assert.equal(r("{{index .Config.Env 1}}", ctr), "B=2");
  assert.equal(r('{{join .Config.Env ","}}', ctr), "A=1,B=2");
  assert.equal(r('{{split "a:b:c" ":"}}', ctr), "[a b c]");
  assert.equal(r('{{.State.Status | upper}} {{lower "AB"}} {{title "hello world"}}', ctr), "RUNNING ab Hello World");
  assert.equal(r('{{printf "%s has pid %d (%5.2f) %q" .Name .State.Pid 1.5 "x"}}', ctr), '/web has pid 42 ( 1.50) "x"');
  assert.equal(r('{{printf "%-6s|" "ab"}}', ctr), "ab    |");
  assert.equal(r("{{println .Name}}", ctr), "/web\n");
  assert.equal(r('{{print 1 2 "a" 3}}', ctr), "1 2a3");
  assert.equal(r("{{slice .Id 0 3}} {{len .Id}}", ctr), "abc 6");
  assert.equal(r('{{.Name | printf "%s!"}}', ctr), "/web!");
  assert.equal(r('{{(index .NetworkSettings.Networks "front").IPAddress}}', ctr), "10.0.0.2");
  assert.equal(r('{{truncate "abcdef" 3}}|{{pad "x" 1 2}}|', ctr), "abc| x  |");
});

test("variables, comments, and trim markers", () => {
  assert.equal(r("{{$n := .Name}}{{/* a comment */}}{{$n}}", ctr), "/web");
  assert.equal(r("a  {{- .Name -}}  b", ctr), "a/webb");
  assert.equal(r("{{range .Config.Env -}}\n  {{.}}\n{{- end}}", ctr), "A=1B=2");
});

test("errors are clear: bad syntax, unknown functions and variables", () => {
  const bad = (f: string, re: RegExp) =>
    assert.throws(
      () => r(f, ctr),
      (e: Error) => isKind(e, "InvalidArgument") && re.test(e.message),
    );
  bad("{{.Name", /unclosed action/);
  bad("{{if .Name}}x", /unexpected EOF/);
  bad("{{end}}", /unexpected \{\{end\}\}/);
  bad("{{nosuch .Name}}", /function "nosuch" not defined/);
  bad("{{$x}}", /undefined variable "\$x"/);
  bad('{{"unterminated}}', /unterminated quoted string|unclosed action/);
});

test("formatRows: json, a row template, and docker's table with titles and aligned columns", () => {
  const rows = [
    { ID: "aaa", Names: "web", Status: "Up 2 minutes" },
    { ID: "bbbbbbbb", Names: "db", Status: "Exited (0)" },
  ];
  const titles = { ID: "CONTAINER ID", Names: "NAMES", Status: "STATUS" };
  assert.equal(formatRows("json", rows, titles), `${JSON.stringify(rows[0])}\n${JSON.stringify(rows[1])}\n`);
  assert.equal(formatRows("{{.Names}}", rows, titles), "web\ndb\n");
  assert.equal(formatRows("{{.ID}}\\t{{.Names}}", rows, titles), "aaa\tweb\nbbbbbbbb\tdb\n", "\\t typed in the shell is a tab");
  assert.equal(
    formatRows("table {{.ID}}\\t{{.Status}}\\t{{.Names}}", rows, titles),
    ["CONTAINER ID   STATUS         NAMES", "aaa            Up 2 minutes   web", "bbbbbbbb       Exited (0)     db", ""].join(
      "\n",
    ),
  );
});

test("review cases: (pipeline).Field only when touching; assignment; Go string escapes; and/or stop early; index's zero value", () => {
  assert.equal(r('{{if and (eq .State.Status "running") .State.Pid}}yes{{end}}', ctr), "yes", "(eq ...) .Pid: two operands");
  assert.equal(r('{{printf "%s %s" (index .Config.Env 0) .Name}}', ctr), "A=1 /web");
  assert.equal(r('{{(index .NetworkSettings.Networks "front").IPAddress}}', ctr), "10.0.0.2");
  assert.equal(r("{{$n := 0}}{{range .Config.Env}}{{$n = 1}}{{end}}{{$n}}", ctr), "1", "= assigns the outer variable");
  assert.equal(r("{{$n:=1}}{{$n=2}}{{$n}}", ctr), "2");
  assert.throws(() => r("{{$x = 1}}", ctr), /undefined variable "\$x"/);
  assert.equal(r('{{"a\\tb\\x41\\101\\u00e9"}}', ctr), "a\tbAAé");
  assert.equal(r('{{"raw\ttab"}}', ctr), "raw\ttab", "a tab typed in a string is kept");
  assert.throws(
    () => r('{{"\\q"}}', ctr),
    (e: Error) => isKind(e, "InvalidArgument") && /invalid syntax/.test(e.message),
  );
  assert.equal(r("{{if and .Config.Cmd (gt (len .Config.Cmd) 1)}}x{{else}}y{{end}}", ctr), "y", "and stops at null");
  assert.equal(r("{{or .Nope .Name}}", ctr), "/web");
  assert.equal(r('[{{index .Config.Labels "missing"}}]', ctr), "[]", "a label map's missing key is empty");
  assert.equal(r('{{index .State "missing"}}', ctr), "<no value>");
  assert.throws(() => r("{{index .Config.Env 5}}", ctr), /index out of range/);
});

test("formatRows: a row's method field (.Label \"key\"), header titles untouched by functions, tabwriter's minimum width", () => {
  const rows = [{ Names: "web", State: "up", Label: (k: unknown) => ({ tier: "front" })[String(k)] ?? "" }];
  assert.equal(formatRows('{{.Names}} {{.Label "tier"}}|{{.Label "x"}}|', rows, {}), "web front||\n");
  assert.equal(
    formatRows('table {{upper .Names}}\\t{{.State}}\\t{{.Label "tier"}}', rows, { Names: "NAMES", State: "STATE" }),
    ["NAMES     STATE     LABEL", "WEB       up        front", ""].join("\n"),
  );
  assert.equal(
    formatRows('table {{printf "%s\\t%s" .Names .State}}', rows, { Names: "NAMES", State: "STATE" }),
    ["NAMES     STATE", "web       up", ""].join("\n"),
    "\\t inside a quoted string too",
  );
  assert.equal(formatRows("json", rows, {}), '{"Names":"web","State":"up"}\n', "methods are not fields of json");
});
