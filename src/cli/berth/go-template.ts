/**
 * Go's text/template as docker's `--format` uses it, over JSON values: actions with fields
 * (`.A.B`), variables (`$`, `$x`, `$x.A`), literals, pipelines (`a | b`), parentheses;
 * `if`/`else if`/`else`, `range` (with `$i, $v :=` and `else`), `with`, `end`; comments and the
 * `{{-`/`-}}` trim markers; Go's functions (and, or, not, eq, ne, lt, le, gt, ge, index, len,
 * slice, print, printf, println) and docker's (json, join, split, lower, upper, title, truncate,
 * pad). Values print as Go's fmt does (`[a b]`, `map[k:v]`, `<nil>`), a missing field as
 * `<no value>`. Errors name the template and the offset, as Go's do.
 */
import { invalidArgument } from "../../errors/index.js";

type Value = unknown;
/** a missing map entry (Go's invalid reflect.Value): prints as <no value> */
const MISSING: unique symbol = Symbol("missing");

// ---- lexing

interface Tok {
  kind: "text" | "action";
  text: string;
  pos: number;
}

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf("{{", i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, "");
    trimNext = false;
    if (open < 0) {
      if (text) out.push({ kind: "text", text, pos: i });
      break;
    }
    const trimLeft = src.startsWith("{{- ", open) || src.startsWith("{{-\t", open) || src.startsWith("{{-\n", open);
    if (trimLeft) text = text.replace(/\s+$/, "");
    if (text) out.push({ kind: "text", text, pos: i });
    const start = open + (trimLeft ? 3 : 2);
    // the end of the action, past any quoted string in it
    let j = start;
    let quote = "";
    for (; j < src.length; j++) {
      const c = src[j];
      if (quote) {
        if (c === "\\" && quote === '"') j++;
        else if (c === quote) quote = "";
      } else if (c === '"' || c === "`") quote = c;
      else if (src.startsWith("}}", j)) break;
    }
    if (j >= src.length) throw parseError(src, open, "unclosed action");
    let body = src.slice(start, j);
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      trimNext = true;
    }
    out.push({ kind: "action", text: body.trim(), pos: open });
    i = j + 2;
  }
  return out;
}

function parseError(src: string, pos: number, msg: string): Error {
  const line = src.slice(0, pos).split("\n").length;
  return invalidArgument(`template parsing error: template: :${line}: ${msg}`);
}

// ---- expressions

/** marks a field word that touches the ")" before it */
const CHAINED = "\u0001";

/** A Go string literal's value (strconv.Unquote's escapes); a clear error for a malformed one. */
function unquote(lit: string, fail: (msg: string) => Error): string {
  let out = "";
  for (let i = 1; i < lit.length - 1; i++) {
    const c = lit[i] as string;
    if (c === "\n") throw fail("newline in quoted string");
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = lit[++i] as string;
    const simple: Record<string, string> = {
      a: "\x07",
      b: "\b",
      f: "\f",
      n: "\n",
      r: "\r",
      t: "\t",
      v: "\v",
      "\\": "\\",
      '"': '"',
      "'": "'",
    };
    const hex = (n: number) => {
      const h = lit.slice(i + 1, i + 1 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) throw fail(`invalid syntax in quoted string ${lit}`);
      i += n;
      return Number.parseInt(h, 16);
    };
    if (simple[e] !== undefined) out += simple[e];
    else if (e === "x") out += String.fromCharCode(hex(2));
    else if (e === "u") out += String.fromCodePoint(hex(4));
    else if (e === "U") out += String.fromCodePoint(hex(8));
    else if (/[0-7]/.test(e)) {
      const o = lit.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(o)) throw fail(`invalid syntax in quoted string ${lit}`);
      out += String.fromCharCode(Number.parseInt(o, 8));
      i += 2;
    } else throw fail(`invalid syntax in quoted string ${lit}`);
  }
  return out;
}

type Expr =
  | { t: "field"; base: Expr | null; path: string[] } // null base: the dot
  | { t: "var"; name: string; path: string[] }
  | { t: "lit"; v: Value }
  | { t: "call"; fn: string; args: Expr[] }
  | { t: "pipe"; pipe: Pipeline };

interface Pipeline {
  decl: string[];
  /** `$x = v`: assigns the variable declared earlier (`:=` declares one) */
  assign: boolean;
  cmds: Expr[][];
}

function tokenizeAction(s: string, where: () => Error): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      for (; j < s.length && s[j] !== '"'; j++) if (s[j] === "\\") j++;
      if (j >= s.length) throw where();
      out.push(s.slice(i, j + 1));
      i = j + 1;
    } else if (c === "`") {
      const j = s.indexOf("`", i + 1);
      if (j < 0) throw where();
      out.push(s.slice(i, j + 1));
      i = j + 1;
    } else if ("()|,".includes(c)) {
      out.push(c);
      i++;
    } else if (s.startsWith(":=", i) || s.startsWith("=", i)) {
      const op = s.startsWith(":=", i) ? ":=" : "=";
      out.push(op);
      i += op.length;
    } else {
      let j = i;
      while (j < s.length && !/[\s()|,=]/.test(s[j] as string) && !s.startsWith(":=", j)) j++;
      // a field chain right after a parenthesized pipeline, "(...).A.B" (not "(...) .A.B")
      out.push(c === "." && s[i - 1] === ")" ? `${CHAINED}${s.slice(i, j)}` : s.slice(i, j));
      i = j;
    }
  }
  return out;
}

class ExprParser {
  private i = 0;
  constructor(
    private readonly toks: string[],
    private readonly fail: (msg: string) => Error,
  ) {}

  done(): boolean {
    return this.i >= this.toks.length;
  }

  peek(): string | undefined {
    return this.toks[this.i];
  }

  pipeline(): Pipeline {
    const decl: string[] = [];
    let assign = false;
    // `$x :=`, `$k, $v :=`, and `$x =` (assignment)
    const save = this.i;
    if (this.peek()?.startsWith("$")) {
      const names = [this.toks[this.i++] as string];
      if (this.peek() === ",") {
        this.i++;
        names.push(this.toks[this.i++] ?? "");
      }
      if (this.peek() === ":=" || this.peek() === "=") {
        assign = this.toks[this.i++] === "=";
        decl.push(...names);
      } else this.i = save;
    }
    const cmds: Expr[][] = [this.command()];
    while (this.peek() === "|") {
      this.i++;
      cmds.push(this.command());
    }
    return { decl, assign, cmds };
  }

  private command(): Expr[] {
    const args: Expr[] = [];
    while (!this.done() && this.peek() !== "|" && this.peek() !== ")") args.push(this.operand());
    if (args.length === 0) throw this.fail("missing value for command");
    return args;
  }

  private operand(): Expr {
    const tok = this.toks[this.i++] as string;
    if (tok === "(") {
      const pipe = this.pipeline();
      if (this.toks[this.i++] !== ")") throw this.fail("unclosed left paren");
      // (pipeline).Field.Chain
      const next = this.peek();
      if (next?.startsWith(`${CHAINED}.`)) {
        this.i++;
        return { t: "field", base: { t: "pipe", pipe }, path: next.slice(2).split(".") };
      }
      return { t: "pipe", pipe };
    }
    if (tok.startsWith(CHAINED)) throw this.fail(`unexpected "${tok.slice(1)}" in operand`);
    if (tok === ".") return { t: "field", base: null, path: [] };
    if (tok.startsWith(".")) return { t: "field", base: null, path: tok.slice(1).split(".") };
    if (tok.startsWith("$")) {
      const [name = "$", ...path] = tok.split(".");
      return { t: "var", name, path };
    }
    if (tok.startsWith('"')) return { t: "lit", v: unquote(tok, this.fail) };
    if (tok.startsWith("`")) return { t: "lit", v: tok.slice(1, -1) };
    if (tok === "true" || tok === "false") return { t: "lit", v: tok === "true" };
    if (tok === "nil") return { t: "lit", v: null };
    if (/^[-+]?(\d|\.\d)/.test(tok)) {
      const n = Number(tok);
      if (Number.isNaN(n)) throw this.fail(`bad number syntax: "${tok}"`);
      return { t: "lit", v: n };
    }
    if (/^[A-Za-z_]\w*$/.test(tok)) return { t: "call", fn: tok, args: [] };
    throw this.fail(`unexpected "${tok}" in command`);
  }
}

// ---- statements

type Node =
  | { t: "text"; text: string }
  | { t: "out"; pipe: Pipeline }
  | { t: "if" | "with"; pipe: Pipeline; body: Node[]; else: Node[] }
  | { t: "range"; pipe: Pipeline; body: Node[]; else: Node[] };

function parse(src: string): Node[] {
  const toks = lex(src);
  let k = 0;
  const pipeOf = (text: string, pos: number): Pipeline => {
    const fail = (msg: string) => parseError(src, pos, msg);
    const p = new ExprParser(
      tokenizeAction(text, () => fail("unterminated quoted string")),
      fail,
    );
    const pipe = p.pipeline();
    if (!p.done()) throw fail(`unexpected "${p.peek()}" in operand`);
    return pipe;
  };
  // a list up to (not including) one of `stop` ("end", "else ..."); returns the keyword met
  const list = (stop: boolean): { nodes: Node[]; end: Tok | undefined } => {
    const nodes: Node[] = [];
    while (k < toks.length) {
      const tok = toks[k++] as Tok;
      if (tok.kind === "text") {
        nodes.push({ t: "text", text: tok.text });
        continue;
      }
      const a = tok.text;
      if (a.startsWith("/*")) {
        if (!a.endsWith("*/")) throw parseError(src, tok.pos, "unclosed comment");
        continue;
      }
      const word = /^(\w+)\b\s*(.*)$/s.exec(a);
      const kw = word?.[1];
      if (kw === "end" || kw === "else") {
        if (!stop) throw parseError(src, tok.pos, `unexpected {{${kw}}}`);
        return { nodes, end: tok };
      }
      if (kw === "if" || kw === "with" || kw === "range") {
        nodes.push(control(kw, word?.[2] ?? "", tok.pos));
        continue;
      }
      if (kw === "define" || kw === "template" || kw === "block" || kw === "break" || kw === "continue")
        throw parseError(src, tok.pos, `{{${kw}}} is not supported here`);
      nodes.push({ t: "out", pipe: pipeOf(a, tok.pos) });
    }
    if (stop) throw parseError(src, src.length, "unexpected EOF");
    return { nodes, end: undefined };
  };
  const control = (kw: "if" | "with" | "range", rest: string, pos: number): Node => {
    if (!rest.trim()) throw parseError(src, pos, `missing value for ${kw}`);
    const pipe = pipeOf(rest, pos);
    const body = list(true);
    let otherwise: Node[] = [];
    const endText = body.end?.text ?? "";
    if (endText.startsWith("else")) {
      const more = endText.slice(4).trim();
      if (more.startsWith("if ") && kw === "if") {
        // else if: a nested if that owns the final end
        otherwise = [control("if", more.slice(3), body.end?.pos ?? pos)];
      } else if (more.startsWith("with ") && kw === "with") {
        otherwise = [control("with", more.slice(5), body.end?.pos ?? pos)];
      } else {
        if (more) throw parseError(src, body.end?.pos ?? pos, `unexpected "${more}" after else`);
        const e = list(true);
        if (!e.end?.text.startsWith("end")) throw parseError(src, e.end?.pos ?? pos, "expected end; found else");
        otherwise = e.nodes;
      }
    }
    return { t: kw, pipe, body: body.nodes, else: otherwise };
  };
  return list(false).nodes;
}

// ---- values

const isObj = (v: Value): v is Record<string, Value> => typeof v === "object" && v !== null && !Array.isArray(v);

function truth(v: Value): boolean {
  if (v === MISSING || v === null || v === undefined || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObj(v)) return Object.keys(v).length > 0;
  return true;
}

function goNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  // Go's %v of a float64: shortest repr, exponent for large and small magnitudes
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e21)) return n.toExponential().replace(/e([+-])(\d)$/, "e$10$2");
  return String(n);
}

/** fmt's %v */
export function formatValue(v: Value, top = true): string {
  if (v === MISSING || v === undefined) return top ? "<no value>" : "<nil>";
  if (v === null) return "<nil>";
  if (typeof v === "string") return v;
  if (typeof v === "number") return goNumber(v);
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => formatValue(x, false)).join(" ")}]`;
  if (isObj(v)) {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${formatValue(v[k], false)}`).join(" ")}]`;
  }
  return String(v);
}

function field(v: Value, name: string): Value {
  if (isObj(v)) return Object.hasOwn(v, name) ? v[name] : MISSING;
  // a field of nothing: nothing (Go stops with "nil pointer evaluating"; docker users see <no value>)
  return MISSING;
}

function compare(fn: string, a: Value, b: Value): boolean {
  const norm = (x: Value) => (x === MISSING ? undefined : x);
  const [x, y] = [norm(a), norm(b)];
  if (fn === "eq") return x === y || (x == null && y == null);
  if (fn === "ne") return !(x === y || (x == null && y == null));
  if (typeof x !== typeof y || (typeof x !== "number" && typeof x !== "string"))
    throw invalidArgument(`template: error calling ${fn}: incompatible types for comparison`);
  const [p, q] = [x as number | string, y as number | string];
  return fn === "lt" ? p < q : fn === "le" ? p <= q : fn === "gt" ? p > q : p >= q;
}

/** Go's fmt verbs that people use in --format: %s %v %d %q %f (with width and precision) and %%. */
function sprintf(format: string, args: Value[]): string {
  let i = 0;
  return format.replace(
    /%([-+ 0#]*)(\d*)(?:\.(\d+))?([svdqfxXt%])/g,
    (_m, flags: string, width: string, prec: string, verb: string) => {
      if (verb === "%") return "%";
      const a = i < args.length ? args[i++] : undefined;
      let s: string;
      if (a === undefined) s = `%!${verb}(MISSING)`;
      else if (verb === "d") s = typeof a === "number" ? String(Math.trunc(a)) : `%!d(${typeof a}=${formatValue(a)})`;
      else if (verb === "f")
        s = typeof a === "number" ? a.toFixed(prec ? Number(prec) : 6) : `%!f(${typeof a}=${formatValue(a)})`;
      else if (verb === "q") s = JSON.stringify(formatValue(a));
      else if (verb === "x" || verb === "X") {
        s = typeof a === "number" ? a.toString(16) : Buffer.from(formatValue(a)).toString("hex");
        if (verb === "X") s = s.toUpperCase();
      } else s = formatValue(a);
      if (prec && (verb === "s" || verb === "v")) s = s.slice(0, Number(prec));
      const w = Number(width || 0);
      if (s.length < w) s = flags.includes("-") ? s.padEnd(w) : s.padStart(w, flags.includes("0") && verb !== "s" ? "0" : " ");
      return s;
    },
  );
}

/** docker's header functions: in a table's header row these leave the column titles as they are */
const HEADER_IDENTITY = new Set(["json", "join", "split", "lower", "upper", "title", "truncate", "pad"]);

function callFn(fn: string, args: Value[], header = false): Value {
  const arg = (i: number) => (args[i] === MISSING ? undefined : args[i]);
  const str = (i: number) => {
    const v = arg(i);
    return typeof v === "string" ? v : formatValue(v);
  };
  if (header && HEADER_IDENTITY.has(fn)) return str(0);
  switch (fn) {
    case "json":
      return JSON.stringify(arg(0) ?? null);
    case "len": {
      const v = arg(0);
      if (typeof v === "string" || Array.isArray(v)) return v.length;
      if (isObj(v)) return Object.keys(v).length;
      throw invalidArgument(`template: error calling len: len of ${v === undefined || v === null ? "nil" : typeof v}`);
    }
    case "index": {
      let v = arg(0);
      for (const k of args.slice(1)) {
        if (Array.isArray(v) && typeof k === "number") {
          if (k < 0 || k >= v.length) throw invalidArgument(`template: error calling index: index out of range: ${k}`);
          v = v[k];
        } else if (isObj(v) && typeof k === "string") {
          // a missing key is its map's zero value: "" in a map of strings (labels, options), as
          // docker's typed maps give; nothing known otherwise
          if (Object.hasOwn(v, k)) v = v[k];
          else return Object.values(v).every((x) => typeof x === "string") ? "" : MISSING;
        } else return MISSING;
      }
      return v;
    }
    case "slice": {
      const v = arg(0);
      const from = Number(arg(1) ?? 0);
      if (typeof v === "string" || Array.isArray(v)) return v.slice(from, arg(2) === undefined ? undefined : Number(arg(2)));
      throw invalidArgument("template: error calling slice: can't slice that value");
    }
    case "join": {
      const v = arg(0);
      return Array.isArray(v) ? v.map((x) => (typeof x === "string" ? x : formatValue(x, false))).join(str(1)) : str(0);
    }
    case "split":
      return str(0).split(str(1));
    case "lower":
      return str(0).toLowerCase();
    case "upper":
      return str(0).toUpperCase();
    case "title":
      return str(0).replace(/\b\w/g, (c) => c.toUpperCase());
    case "truncate": {
      const s = str(0);
      const n = Number(arg(1));
      return s.length > n ? s.slice(0, n) : s;
    }
    case "pad": {
      const n = (i: number) => Number(arg(i) ?? 0);
      return `${" ".repeat(n(1))}${str(0)}${" ".repeat(n(2))}`;
    }
    case "print":
      // Go's Sprint: a space between operands when neither is a string
      return args.reduce<string>((acc, v, i) => {
        const sep = i > 0 && typeof v !== "string" && typeof args[i - 1] !== "string" ? " " : "";
        return acc + sep + formatValue(v);
      }, "");
    case "println":
      return `${args.map((v) => formatValue(v)).join(" ")}\n`;
    case "printf":
      return sprintf(str(0), args.slice(1));
    case "not":
      return !truth(args[0]);
    case "and": {
      let v: Value = true;
      for (const a of args) {
        v = a;
        if (!truth(a)) return a;
      }
      return v;
    }
    case "or": {
      let v: Value = false;
      for (const a of args) {
        v = a;
        if (truth(a)) return a;
      }
      return v;
    }
    case "eq":
      // eq a b c: a equals any of the others
      return args.slice(1).some((b) => compare("eq", args[0], b));
    case "ne":
    case "lt":
    case "le":
    case "gt":
    case "ge":
      return compare(fn, args[0], args[1]);
    default:
      throw invalidArgument(`template parsing error: template: :1: function "${fn}" not defined`);
  }
}

// ---- execution

class Scope {
  constructor(
    private readonly vars: Map<string, Value>,
    private readonly parent?: Scope,
  ) {}
  get(name: string): Value {
    if (this.vars.has(name)) return this.vars.get(name);
    if (this.parent) return this.parent.get(name);
    throw invalidArgument(`template parsing error: template: :1: undefined variable "${name}"`);
  }
  set(name: string, v: Value): void {
    this.vars.set(name, v);
  }
  /** `$x = v`: the nearest declaration of $x gets the value */
  assign(name: string, v: Value): void {
    if (this.vars.has(name)) this.vars.set(name, v);
    else if (this.parent) this.parent.assign(name, v);
    else throw invalidArgument(`template parsing error: template: :1: undefined variable "${name}"`);
  }
  child(): Scope {
    return new Scope(new Map(), this);
  }
}

function evalExpr(e: Expr, dot: Value, scope: Scope, final: Value[], header = false): Value {
  switch (e.t) {
    case "lit":
      return e.v;
    case "field": {
      let v = e.base ? evalExpr(e.base, dot, scope, [], header) : dot;
      for (const k of e.path) v = field(v, k);
      return v;
    }
    case "var": {
      let v = scope.get(e.name);
      for (const k of e.path) v = field(v, k);
      return v;
    }
    case "pipe":
      return evalPipe(e.pipe, dot, scope, header);
    case "call":
      return callFn(e.fn, final, header);
  }
}

function evalPipe(p: Pipeline, dot: Value, scope: Scope, header = false): Value {
  let prev: Value[] = [];
  let v: Value;
  for (const cmd of p.cmds) {
    const [head, ...rest] = cmd;
    if (!head) throw invalidArgument("template: empty command");
    const operand = (a: Expr) => evalExpr(a, dot, scope, [], header);
    if (head.t === "call" && (head.fn === "and" || head.fn === "or")) {
      // evaluated left to right, stopping at the first that decides (Go's and/or)
      const operands = [...rest.map((a) => () => operand(a)), ...prev.map((x) => () => x)];
      if (operands.length === 0) throw invalidArgument(`template: wrong number of args for ${head.fn}: want at least 1 got 0`);
      for (const get of operands) {
        v = get();
        if (truth(v) === (head.fn === "or")) break;
      }
    } else if (head.t === "call") {
      v = callFn(head.fn, [...rest.map(operand), ...prev], header);
    } else {
      const target = operand(head);
      // a method of the row (docker's .Label "key"): called with the arguments
      if (typeof target === "function") v = (target as (...a: Value[]) => Value)(...rest.map(operand), ...prev);
      else if ((rest.length > 0 || prev.length > 0) && !header)
        throw invalidArgument("template: can't give argument to non-function");
      else v = target; // (a header's method field is its column title)
    }
    prev = [v];
  }
  if (p.decl.length === 1) {
    if (p.assign) scope.assign(p.decl[0] as string, v);
    else scope.set(p.decl[0] as string, v);
  }
  return v;
}

function exec(nodes: Node[], dot: Value, scope: Scope, out: string[], header: boolean): void {
  for (const n of nodes) {
    if (n.t === "text") out.push(n.text);
    else if (n.t === "out") {
      const v = evalPipe(n.pipe, dot, scope, header);
      if (n.pipe.decl.length === 0) out.push(formatValue(v));
    } else if (n.t === "if" || n.t === "with") {
      const inner = scope.child();
      const v = evalPipe(n.pipe, dot, inner, header);
      if (truth(v)) exec(n.body, n.t === "with" ? v : dot, inner, out, header);
      else exec(n.else, dot, inner, out, header);
    } else {
      const inner = scope.child();
      const decl = n.pipe.decl;
      const v = evalPipe({ ...n.pipe, decl: [] }, dot, inner, header);
      const entries: Array<[Value, Value]> = Array.isArray(v)
        ? v.map((x, i) => [i, x])
        : isObj(v)
          ? Object.keys(v)
              .sort()
              .map((k) => [k, v[k]])
          : typeof v === "number" && Number.isInteger(v)
            ? Array.from({ length: Math.max(0, v) }, (_, i) => [i, i])
            : [];
      if (v !== MISSING && v !== null && v !== undefined && !Array.isArray(v) && !isObj(v) && typeof v !== "number")
        throw invalidArgument(`template: range can't iterate over ${formatValue(v)}`);
      if (entries.length === 0) {
        exec(n.else, dot, inner, out, header);
        continue;
      }
      for (const [k, x] of entries) {
        const iter = inner.child();
        if (decl.length === 1) iter.set(decl[0] as string, x);
        if (decl.length === 2) {
          iter.set(decl[0] as string, k);
          iter.set(decl[1] as string, x);
        }
        exec(n.body, x, iter, out, header);
      }
    }
  }
}

/** A parsed template, to run on many values (the rows of `ps`, the objects of `inspect`). */
export class GoTemplate {
  private readonly nodes: Node[];
  constructor(readonly source: string) {
    this.nodes = parse(source);
  }

  /** `header`: a table's header row, where docker's formatting functions leave the titles as they are */
  render(data: Value, opts: { header?: boolean } = {}): string {
    const out: string[] = [];
    const root = new Scope(new Map([["$", data]]));
    exec(this.nodes, data, root, out, opts.header === true);
    return out.join("");
  }
}

/** Renders `format` with `data`: Go's text/template as docker's --format has it. */
export function renderTemplate(format: string, data: Value): string {
  return new GoTemplate(format).render(data);
}
