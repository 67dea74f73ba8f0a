import { isAbsolute } from "node:path";
import { invalidArgument } from "../errors/index.js";
import type { AttachRequest, Request, RuntimeRef } from "./protocol.js";

/** ids become file names in the state dir: the character set of runc's and docker's ids */
const ID = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;

type Obj = Record<string, unknown>;

/**
 * Validate one request line (the trust boundary: anything may arrive on the socket) and
 * return it typed. Throws InvalidArgument naming the field.
 */
export function parseRequest(line: string): Request | AttachRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw invalidArgument(`malformed request: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObj(v)) throw invalidArgument("malformed request: not a JSON object");
  const op = v["op"];
  if (op === "attach") {
    const r: AttachRequest = {
      op,
      id: id(v, "id"),
      stdin: bool(v, "stdin") ?? false,
      stdout: bool(v, "stdout") ?? false,
      stderr: bool(v, "stderr") ?? false,
    };
    const execId = optId(v, "execId");
    if (execId !== undefined) r.execId = execId;
    const logs = bool(v, "logs");
    if (logs !== undefined) r.logs = logs;
    return r;
  }
  const seq = v["seq"];
  if (typeof seq !== "number" || !Number.isSafeInteger(seq)) throw invalidArgument("request: seq must be an integer");
  switch (op) {
    case "create": {
      const r: Request = {
        op,
        seq,
        id: id(v, "id"),
        bundle: absPath(v, "bundle"),
        runtime: runtimeRef(v["runtime"]),
        ...stdio(v),
      };
      const logPath = v["logPath"];
      if (logPath !== undefined) r.logPath = absPath(v, "logPath");
      const maxSize = optInt(v, "logMaxSize", 0);
      if (maxSize !== undefined) r.logMaxSize = maxSize;
      const maxFiles = optInt(v, "logMaxFiles", 1);
      if (maxFiles !== undefined) r.logMaxFiles = maxFiles;
      const deleteOnExit = bool(v, "deleteOnExit");
      if (deleteOnExit !== undefined) r.deleteOnExit = deleteOnExit;
      size(v, r);
      return r;
    }
    case "exec": {
      const process = v["process"];
      if (!isObj(process)) throw invalidArgument("exec: process must be an OCI process object");
      const r: Request = { op, seq, id: id(v, "id"), execId: id(v, "execId"), process, ...stdio(v) };
      size(v, r);
      return r;
    }
    case "start":
    case "ps":
    case "pause":
    case "resume":
      return { op, seq, id: id(v, "id") };
    case "kill": {
      const signal = optInt(v, "signal", 1);
      if (signal === undefined || signal > 64) throw invalidArgument("kill: signal must be a signal number (1-64)");
      const r: Request = { op, seq, id: id(v, "id"), signal };
      const all = bool(v, "all");
      if (all !== undefined) r.all = all;
      const execId = optId(v, "execId");
      if (execId !== undefined) r.execId = execId;
      return r;
    }
    case "delete": {
      const r: Request = { op, seq, id: id(v, "id") };
      const force = bool(v, "force");
      if (force !== undefined) r.force = force;
      return r;
    }
    case "state":
    case "wait":
    case "closeStdin": {
      const execId = optId(v, "execId");
      return execId === undefined ? { op, seq, id: id(v, "id") } : { op, seq, id: id(v, "id"), execId };
    }
    case "resize": {
      const rows = optInt(v, "rows", 0);
      const cols = optInt(v, "cols", 0);
      if (rows === undefined || cols === undefined) throw invalidArgument("resize: rows and cols are required");
      const r: Request = { op, seq, id: id(v, "id"), rows, cols };
      const execId = optId(v, "execId");
      if (execId !== undefined) r.execId = execId;
      return r;
    }
    case "update": {
      const resources = v["resources"];
      if (!isObj(resources)) throw invalidArgument("update: resources must be an OCI LinuxResources object");
      return { op, seq, id: id(v, "id"), resources };
    }
    case "list":
    case "subscribe":
      return { op, seq };
    case "shutdown": {
      const r: Request = { op, seq };
      const force = bool(v, "force");
      if (force !== undefined) r.force = force;
      return r;
    }
    default:
      throw invalidArgument(`unknown op ${JSON.stringify(op)}`);
  }
}

/** The `seq` of a request that failed validation, when it has one (0 otherwise). */
export function seqOf(line: string): number {
  try {
    const v: unknown = JSON.parse(line);
    if (isObj(v) && typeof v["seq"] === "number") return v["seq"];
  } catch {
    // not JSON at all, or only the tail of a line (berthd writes seq as the last field)
    const m = /"seq"\s*:\s*(\d+)\s*\}?\s*$/.exec(line);
    if (m) return Number(m[1]);
  }
  return 0;
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function id(v: Obj, key: string): string {
  const s = v[key];
  if (typeof s !== "string" || !ID.test(s)) throw invalidArgument(`${key} must match ${ID.source}, got ${JSON.stringify(s)}`);
  return s;
}

function optId(v: Obj, key: string): string | undefined {
  return v[key] === undefined ? undefined : id(v, key);
}

function bool(v: Obj, key: string): boolean | undefined {
  const b = v[key];
  if (b === undefined) return undefined;
  if (typeof b !== "boolean") throw invalidArgument(`${key} must be a boolean`);
  return b;
}

function optInt(v: Obj, key: string, min: number): number | undefined {
  const n = v[key];
  if (n === undefined) return undefined;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min) throw invalidArgument(`${key} must be an integer >= ${min}`);
  return n;
}

function absPath(v: Obj, key: string): string {
  const p = v[key];
  if (typeof p !== "string" || !isAbsolute(p) || p.includes("\0")) throw invalidArgument(`${key} must be an absolute path`);
  return p;
}

function stdio(v: Obj): { terminal: boolean; stdin: boolean; stdinOnce?: boolean } {
  const r: { terminal: boolean; stdin: boolean; stdinOnce?: boolean } = {
    terminal: bool(v, "terminal") ?? false,
    stdin: bool(v, "stdin") ?? false,
  };
  const once = bool(v, "stdinOnce");
  if (once !== undefined) r.stdinOnce = once;
  return r;
}

function size(v: Obj, r: { rows?: number; cols?: number }): void {
  const rows = optInt(v, "rows", 0);
  const cols = optInt(v, "cols", 0);
  if (rows !== undefined) r.rows = rows;
  if (cols !== undefined) r.cols = cols;
}

function runtimeRef(v: unknown): RuntimeRef {
  if (!isObj(v)) throw invalidArgument("runtime must be an object {name, path, root, args?}");
  const name = v["name"];
  if (typeof name !== "string" || !name) throw invalidArgument("runtime.name must be a non-empty string");
  const r: RuntimeRef = { name, path: absPath(v, "path"), root: absPath(v, "root") };
  const args = v["args"];
  if (args !== undefined) {
    if (!Array.isArray(args) || !args.every((a) => typeof a === "string"))
      throw invalidArgument("runtime.args must be an array of strings");
    r.args = args;
  }
  return r;
}
