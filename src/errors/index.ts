/**
 * Error kinds, modelled on containerd's errdefs: every error berth raises has a
 * stable `code`; the CLI, HTTP and gRPC edges map kinds to exit codes and status.
 */

export type ErrorKind =
  | "NotFound"
  | "AlreadyExists"
  | "InvalidArgument"
  | "FailedPrecondition"
  | "Unavailable"
  | "NotImplemented"
  | "PermissionDenied"
  | "Internal";

const codes: Record<ErrorKind, string> = {
  NotFound: "ERR_BERTH_NOT_FOUND",
  AlreadyExists: "ERR_BERTH_ALREADY_EXISTS",
  InvalidArgument: "ERR_BERTH_INVALID_ARGUMENT",
  FailedPrecondition: "ERR_BERTH_FAILED_PRECONDITION",
  Unavailable: "ERR_BERTH_UNAVAILABLE",
  NotImplemented: "ERR_BERTH_NOT_IMPLEMENTED",
  PermissionDenied: "ERR_BERTH_PERMISSION_DENIED",
  Internal: "ERR_BERTH_INTERNAL",
};

export class BerthError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BerthError";
    this.kind = kind;
    this.code = codes[kind];
  }
}

export const notFound = (msg: string, cause?: unknown) => new BerthError("NotFound", msg, { cause });
export const alreadyExists = (msg: string, cause?: unknown) => new BerthError("AlreadyExists", msg, { cause });
export const invalidArgument = (msg: string, cause?: unknown) => new BerthError("InvalidArgument", msg, { cause });
export const failedPrecondition = (msg: string, cause?: unknown) => new BerthError("FailedPrecondition", msg, { cause });
export const notImplemented = (msg: string, cause?: unknown) => new BerthError("NotImplemented", msg, { cause });
export const internal = (msg: string, cause?: unknown) => new BerthError("Internal", msg, { cause });
export const unavailable = (msg: string, cause?: unknown) => new BerthError("Unavailable", msg, { cause });
export const permissionDenied = (msg: string, cause?: unknown) => new BerthError("PermissionDenied", msg, { cause });

export function isKind(err: unknown, kind: ErrorKind): boolean {
  return err instanceof BerthError && err.kind === kind;
}

/** The errno name of a Node system error, if it is one ("ENOENT"). */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

/** "message: cause message: ..." — the chain as one line, Go style. */
export function describe(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 8; depth++) {
    if (e instanceof Error) {
      parts.push(e.message);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(": ");
}
