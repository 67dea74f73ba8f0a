/**
 * The wire contract between berthd and berth-shim (one shim serves a group of containers).
 *
 * Control connections: a unix stream socket (`<exec-root>/shims/<group>.sock`, mode 0600);
 * newline-delimited JSON. Every request carries a client-chosen `seq`; the shim answers each
 * with one `Response` line carrying the same `seq` (answers may come out of order: `wait`
 * answers only when the process has exited). A connection that sends `subscribe` also gets
 * `ShimEvent` lines (no `seq`) from then on, for every container of the shim.
 *
 * Stream connections: a connection whose first line is an `AttachRequest` becomes a stream of
 * the container's (or an exec's) stdio. Shim -> client: docker's multiplexed frames — 8-byte
 * header [stream, 0, 0, 0, size (uint32 big-endian)] then `size` bytes; stream 1 stdout,
 * 2 stderr (a terminal's output is all stream 1), and finally stream 3 once, whose payload
 * is the JSON `{"exitCode":N}` when the process ends (the shim then closes the connection).
 * The first frame is an empty stream-1 frame: the attach is registered, so output from then on
 * (a `start` sent next) reaches the client. An attach the shim refuses (no such process) gets
 * only a stream-3 frame `{"error":{"kind","message"}}`.
 * Client -> shim: raw stdin bytes; half-closing the connection closes the process's stdin
 * (when the process was created with `stdin` and `stdinOnce`, as docker's `-i` run does).
 */

/** How the shim invokes an OCI runtime: `path [...globalArgs] --root root <subcommand> ...` */
export interface RuntimeRef {
  /** name it is known by in berthd (`berth-runtime`, `runc`, ...) */
  name: string;
  /** absolute path of the runtime binary */
  path: string;
  /** the runtime's state root (`--root`); berthd gives each runtime its own under the exec root */
  root: string;
  /** extra global flags placed before `--root` (dockerd's runtimeArgs) */
  args?: string[];
}

export interface StdioOptions {
  /** allocate a pty (runtime `--console-socket`); stdout and stderr are then one stream */
  terminal: boolean;
  /** keep a stdin pipe (or the pty input) open for attach; without it stdin is /dev/null */
  stdin: boolean;
  /** close the process's stdin after the first attached client half-closes (docker's StdinOnce) */
  stdinOnce?: boolean;
}

export interface CreateRequest extends StdioOptions {
  op: "create";
  seq: number;
  id: string;
  /** bundle directory (config.json + rootfs); the runtime's `--log` goes to `<bundle>/log.json` */
  bundle: string;
  runtime: RuntimeRef;
  /** docker json-file log of the container's output (one JSON object per line), absent = no log */
  logPath?: string;
  /** rotate the log at this many bytes, keeping `logMaxFiles` files (docker's max-size/max-file) */
  logMaxSize?: number;
  logMaxFiles?: number;
  /** initial pty size */
  rows?: number;
  cols?: number;
  /**
   * run the runtime's `delete` as soon as the init has exited (berthd deletes every exited
   * container): the `delete` request that follows then only waits for it
   */
  deleteOnExit?: boolean;
}

export interface StartRequest {
  op: "start";
  seq: number;
  id: string;
}

export interface KillRequest {
  op: "kill";
  seq: number;
  id: string;
  /** signal number */
  signal: number;
  /** signal every process in the container (runtime `kill --all`) */
  all?: boolean;
  /** signal an exec's process instead of the init */
  execId?: string;
}

export interface DeleteRequest {
  op: "delete";
  seq: number;
  id: string;
  /** runtime `delete --force`: kill a running container first */
  force?: boolean;
}

export interface ExecRequest extends StdioOptions {
  op: "exec";
  seq: number;
  id: string;
  execId: string;
  /** an OCI `process` object (runtime `exec --process FILE --detach --pid-file P`) */
  process: Record<string, unknown>;
  rows?: number;
  cols?: number;
}

export interface StateRequest {
  op: "state";
  seq: number;
  id: string;
  execId?: string;
}

export interface ListRequest {
  op: "list";
  seq: number;
}

/** answered once the process (the init, or the exec) has exited — at once if it already has */
export interface WaitRequest {
  op: "wait";
  seq: number;
  id: string;
  execId?: string;
}

export interface ResizeRequest {
  op: "resize";
  seq: number;
  id: string;
  execId?: string;
  rows: number;
  cols: number;
}

/** close the process's stdin (docker's CloseStdin) */
export interface CloseStdinRequest {
  op: "closeStdin";
  seq: number;
  id: string;
  execId?: string;
}

/** runtime `pause` / `resume` / `update --resources -` / `ps --format json` passthroughs */
export interface PauseRequest {
  op: "pause" | "resume";
  seq: number;
  id: string;
}
export interface UpdateRequest {
  op: "update";
  seq: number;
  id: string;
  /** OCI LinuxResources */
  resources: Record<string, unknown>;
}
export interface PsRequest {
  op: "ps";
  seq: number;
  id: string;
}

export interface SubscribeRequest {
  op: "subscribe";
  seq: number;
}

/** shut the shim down: refused (FailedPrecondition) while it still has containers, unless `force` */
export interface ShutdownRequest {
  op: "shutdown";
  seq: number;
  force?: boolean;
}

export type Request =
  | CreateRequest
  | StartRequest
  | KillRequest
  | DeleteRequest
  | ExecRequest
  | StateRequest
  | ListRequest
  | WaitRequest
  | ResizeRequest
  | CloseStdinRequest
  | PauseRequest
  | UpdateRequest
  | PsRequest
  | SubscribeRequest
  | ShutdownRequest;

/** `error.kind` is one of src/errors' kinds (NotFound, FailedPrecondition, ...); `message` is the runtime's last error where it failed */
export interface Response {
  seq: number;
  ok: boolean;
  result?: unknown;
  error?: { kind: string; message: string };
}

export type ProcessStatus = "created" | "running" | "paused" | "stopped";

/** what `state` answers (and `list` answers one of per container, with `execs`) */
export interface ProcessState {
  id: string;
  execId?: string;
  status: ProcessStatus;
  /** host pid (0 before create finished) */
  pid: number;
  /** RFC 3339 */
  startedAt?: string;
  exitCode?: number;
  /** RFC 3339 */
  exitedAt?: string;
  /** the kernel's OOM killer ran in the container's cgroup while it ran */
  oomKilled?: boolean;
}

export interface ContainerEntry extends ProcessState {
  bundle: string;
  runtime: RuntimeRef;
  execs: ProcessState[];
}

/** `create` answers `{ pid }`; `exec` answers `{ pid }`; `wait` answers `{ exitCode, exitedAt }`; `ps` answers `{ pids }`; `list` answers `{ containers: ContainerEntry[], pid: <shim pid> }` */
export interface ExitEvent {
  type: "exit";
  id: string;
  execId?: string;
  pid: number;
  exitCode: number;
  exitedAt: string;
  oomKilled?: boolean;
}

export interface StartEvent {
  type: "start";
  id: string;
  pid: number;
}

export interface OomEvent {
  type: "oom";
  id: string;
}

export type ShimEvent = ExitEvent | StartEvent | OomEvent;

export interface AttachRequest {
  op: "attach";
  id: string;
  execId?: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** send the json-file log's content first (docker attach --logs); only for the init */
  logs?: boolean;
}

export const STREAM_STDIN = 0;
export const STREAM_STDOUT = 1;
export const STREAM_STDERR = 2;
/** berth's own: the last frame of an attach stream, `{"exitCode":N}` */
export const STREAM_EXIT = 3;
