import { unavailable } from "../errors/index.js";

/** A client that attached to a container before it started, waiting to join its stdio. */
export interface AttachWaiter {
  /** join the starting container's streams through its shim (before its init runs) */
  open(shim: string): Promise<void>;
  /** the wait ends without a stream: the start failed, the container went, or the client left */
  fail(error: Error): void;
}

interface Entry {
  waiter: AttachWaiter;
  /** detach from the client's abort signal */
  off: () => void;
}

/**
 * Attach requests waiting for a container's next start, per container. Each waiter ends
 * exactly once: opened by the start (`take`), failed with the start's error (`failAll`), or
 * cancelled alone when its own client goes away (its abort signal) — never because another
 * client of the same container went away.
 */
export class AttachWaiters {
  private readonly byContainer = new Map<string, Set<Entry>>();

  /** Wait for `id`'s next start; `signal` aborts this waiter alone (its client disconnected). */
  add(id: string, waiter: AttachWaiter, signal?: AbortSignal): void {
    if (signal?.aborted) {
      waiter.fail(cancelled(id));
      return;
    }
    const set = this.byContainer.get(id) ?? new Set<Entry>();
    const onAbort = () => {
      if (this.remove(id, entry)) waiter.fail(cancelled(id));
    };
    const entry: Entry = { waiter, off: () => signal?.removeEventListener("abort", onAbort) };
    signal?.addEventListener("abort", onAbort, { once: true });
    set.add(entry);
    this.byContainer.set(id, set);
  }

  /** The waiters of `id`, handed to its start (which opens or fails each); none are left waiting. */
  take(id: string): AttachWaiter[] {
    const set = this.byContainer.get(id);
    this.byContainer.delete(id);
    return [...(set ?? [])].map((e) => {
      e.off();
      return e.waiter;
    });
  }

  /** End every wait on `id` with `error` (its start failed before the waiters were taken, or it was removed). */
  failAll(id: string, error: Error): void {
    for (const w of this.take(id)) w.fail(error);
  }

  /** How many clients wait on `id`. */
  count(id: string): number {
    return this.byContainer.get(id)?.size ?? 0;
  }

  private remove(id: string, entry: Entry): boolean {
    const set = this.byContainer.get(id);
    if (!set?.delete(entry)) return false;
    entry.off();
    if (set.size === 0) this.byContainer.delete(id);
    return true;
  }
}

function cancelled(id: string): Error {
  return unavailable(`attach to container ${id.slice(0, 12)}: the client went away before the container started`);
}
