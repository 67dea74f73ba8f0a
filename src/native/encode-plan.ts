import type { Plan, Step } from "./plan.js";

/* Mirrors src/native/executor.h. */
const MAGIC = 0x48545242;
const VERSION = 1;
const NO_STR = 0xffffffff;
const HEADER = 16;
const STEP = 48;

const Op = {
  OpenSlot: 1,
  Setns: 2,
  Unshare: 3,
  Clone: 4,
  Sync: 5,
  Mount: 6,
  MkdirAll: 7,
  Mknod: 8,
  Symlink: 9,
  PivotRoot: 10,
  Chdir: 11,
  Sethostname: 12,
  Setdomainname: 13,
  WriteFile: 14,
  Setrlimit: 15,
  Prctl: 16,
  Caps: 17,
  Setgroups: 18,
  Setid: 19,
  Umask: 20,
  Seccomp: 21,
  OpenPty: 22,
  WaitFifo: 23,
  Hook: 24,
  MaskPath: 25,
  ReadonlyPath: 26,
  Exec: 27,
  Ready: 28,
  CloseSlot: 29,
  Setsid: 31,
  Dumpable: 34,
  RemountRoRoot: 35,
  Unmount: 36,
  CloseFds: 37,
  WriteSlot: 38,
} as const;

const MountF = { CreateDir: 1, CreateFile: 2, BindRemount: 4, Propagation: 8, HostTarget: 16 } as const;

interface Raw {
  op: number;
  flags: number;
  i: [bigint, bigint, bigint];
  s: [Uint8Array | null, Uint8Array | null, Uint8Array | null, Uint8Array | null];
}

const enc = new TextEncoder();
const cstr = (s: string | null): Uint8Array | null => (s === null ? null : enc.encode(`${s}\0`));
const list = (xs: string[]): Uint8Array => enc.encode(xs.map((x) => `${x}\0`).join(""));
const n = (x: number | bigint): bigint => BigInt(x);

function raw(s: Step): Raw {
  const r: Raw = { op: 0, flags: 0, i: [0n, 0n, 0n], s: [null, null, null, null] };
  const root = (x: number | null) => n(x ?? -1);
  switch (s.op) {
    case "open-slot":
      return { ...r, op: Op.OpenSlot, i: [n(s.slot), n(s.flags), 0n], s: [cstr(s.path), null, null, null] };
    case "close-slot":
      return { ...r, op: Op.CloseSlot, i: [n(s.slot), 0n, 0n] };
    case "setns":
      return { ...r, op: Op.Setns, i: [n(s.slot), n(s.nstype), 0n], s: [cstr(s.path), null, null, null] };
    case "unshare":
      return { ...r, op: Op.Unshare, i: [n(s.flags), 0n, 0n] };
    case "clone":
      return { ...r, op: Op.Clone, i: [n(s.flags), s.cgroupSlot === undefined ? 0n : n(s.cgroupSlot + 1), 0n] };
    case "sync":
      return { ...r, op: Op.Sync, i: [n(s.tag), 0n, 0n] };
    case "mount": {
      let flags = 0;
      if (s.create === "dir") flags |= MountF.CreateDir;
      if (s.create === "file") flags |= MountF.CreateFile;
      if (s.remount) flags |= MountF.BindRemount;
      if (s.propagation) flags |= MountF.Propagation;
      if (s.root === null) flags |= MountF.HostTarget;
      return {
        op: Op.Mount,
        flags,
        i: [root(s.root), n(s.flags), n(s.propagation ?? 0)],
        s: [cstr(s.source), cstr(s.target), cstr(s.fstype), cstr(s.data)],
      };
    }
    case "unmount":
      return { ...r, op: Op.Unmount, i: [n(s.flags), s.ignoreMissing ? 1n : 0n, 0n], s: [cstr(s.target), null, null, null] };
    case "mkdir-all":
      return { ...r, op: Op.MkdirAll, i: [root(s.root), n(s.mode), 0n], s: [cstr(s.path), null, null, null] };
    case "mknod":
      return { ...r, op: Op.Mknod, i: [root(s.root), n(s.mode), n(s.dev)], s: [cstr(s.path), cstr(s.owner), null, null] };
    case "symlink":
      return { ...r, op: Op.Symlink, i: [root(s.root), 0n, 0n], s: [cstr(s.path), cstr(s.target), null, null] };
    case "pivot-root":
      return { ...r, op: Op.PivotRoot, i: [s.chroot ? 2n : s.noPivot ? 1n : 0n, 0n, 0n], s: [cstr(s.rootfs), null, null, null] };
    case "chdir":
      return { ...r, op: Op.Chdir, flags: s.verify ? 1 : 0, s: [cstr(s.path), null, null, null] };
    case "sethostname":
      return { ...r, op: Op.Sethostname, s: [cstr(s.name), null, null, null] };
    case "setdomainname":
      return { ...r, op: Op.Setdomainname, s: [cstr(s.name), null, null, null] };
    case "write-file":
      return { ...r, op: Op.WriteFile, i: [s.ignoreMissing ? 1n : 0n, 0n, 0n], s: [cstr(s.path), cstr(s.data), null, null] };
    case "setrlimit":
      return { ...r, op: Op.Setrlimit, i: [n(s.resource), s.soft, s.hard], s: [cstr(s.name), null, null, null] };
    case "prctl":
      return { ...r, op: Op.Prctl, i: [n(s.option), n(s.arg2), n(s.arg3)], s: [cstr(s.name), null, null, null] };
    case "dumpable":
      return { ...r, op: Op.Dumpable, i: [n(s.value), 0n, 0n] };
    case "caps-bounding":
    case "caps": {
      const b = new Uint8Array(40);
      const dv = new DataView(b.buffer);
      if (s.op === "caps-bounding") dv.setBigUint64(0, s.bounding, true);
      else {
        dv.setBigUint64(8, s.effective, true);
        dv.setBigUint64(16, s.permitted, true);
        dv.setBigUint64(24, s.inheritable, true);
        dv.setBigUint64(32, s.ambient, true);
      }
      const phase = s.op === "caps" ? 1n : 0n;
      return { ...r, op: Op.Caps, i: [phase, s.op === "caps-bounding" ? n(s.lastCap) : 0n, 0n], s: [b, null, null, null] };
    }
    case "setgroups": {
      const b = new Uint8Array(s.gids.length * 4 || 4);
      const dv = new DataView(b.buffer);
      s.gids.forEach((g, i) => dv.setUint32(i * 4, g, true));
      return { ...r, op: Op.Setgroups, i: [n(s.gids.length), 0n, 0n], s: [b, null, null, null] };
    }
    case "setid":
      return { ...r, op: Op.Setid, i: [n(s.uid), n(s.gid), 0n] };
    case "umask":
      return { ...r, op: Op.Umask, i: [n(s.mask), 0n, 0n] };
    case "seccomp":
      return { ...r, op: Op.Seccomp, i: [n(s.filter.length), n(s.flags), s.listener ? 1n : 0n], s: [s.filter, null, null, null] };
    case "open-pty":
      return { ...r, op: Op.OpenPty, i: [n(s.rows), n(s.cols), 0n], s: [cstr(s.ptmx), null, null, null] };
    case "setsid":
      return { ...r, op: Op.Setsid };
    case "wait-fifo":
      return { ...r, op: Op.WaitFifo, i: [n(s.slot), 0n, 0n] };
    case "hook":
      return {
        ...r,
        op: Op.Hook,
        i: [n(s.args.length), n(s.env.length), n(s.timeout)],
        s: [cstr(s.path), list(s.args), list(s.env), null],
      };
    case "mask-path":
      return { ...r, op: Op.MaskPath, s: [cstr(s.path), null, null, null] };
    case "readonly-path":
      return { ...r, op: Op.ReadonlyPath, s: [cstr(s.path), null, null, null] };
    case "remount-ro-root":
      return { ...r, op: Op.RemountRoRoot };
    case "resolve-exec":
    case "exec":
      return {
        op: Op.Exec,
        flags: s.op === "resolve-exec" ? 1 : 0,
        i: [n(s.args.length), n(s.env.length), n(s.op === "exec" ? s.preserveFds : 0)],
        s: [cstr(s.args[0] ?? ""), list(s.args), list(s.env), null],
      };
    case "close-fds":
      return { ...r, op: Op.CloseFds, i: [n(s.preserveFds), 0n, 0n] };
    case "write-slot":
      return { ...r, op: Op.WriteSlot, i: [n(s.slot), 0n, 0n], s: [cstr(s.data), cstr(s.path), null, null] };
    case "ready":
      return { ...r, op: Op.Ready };
  }
}

/** Encode a plan into the executor's wire format (see executor.h). */
export function encodePlan(plan: Plan): Buffer {
  const raws = plan.map(raw);
  const strings: Uint8Array[] = [];
  let strOff = HEADER + STEP * raws.length;
  const offsets = raws.map((r) =>
    r.s.map((b) => {
      if (b === null) return NO_STR;
      const off = strOff;
      strings.push(b);
      strOff += b.length;
      // keep binary blobs 8-byte aligned (seccomp filters, capability sets)
      const pad = (8 - (strOff % 8)) % 8;
      if (pad) {
        strings.push(new Uint8Array(pad));
        strOff += pad;
      }
      return off;
    }),
  );
  const buf = Buffer.alloc(strOff);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(VERSION, 4);
  buf.writeUInt32LE(raws.length, 8);
  buf.writeUInt32LE(strOff, 12);
  raws.forEach((r, k) => {
    const o = HEADER + k * STEP;
    buf.writeUInt32LE(r.op, o);
    buf.writeUInt32LE(r.flags, o + 4);
    buf.writeBigInt64LE(BigInt.asIntN(64, r.i[0]), o + 8);
    buf.writeBigInt64LE(BigInt.asIntN(64, r.i[1]), o + 16);
    buf.writeBigInt64LE(BigInt.asIntN(64, r.i[2]), o + 24);
    offsets[k]?.forEach((off, j) => buf.writeUInt32LE(off, o + 32 + j * 4));
  });
  let p = HEADER + STEP * raws.length;
  for (const s of strings) {
    buf.set(s, p);
    p += s.length;
  }
  return buf;
}
