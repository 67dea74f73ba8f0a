import { invalidArgument, notImplemented } from "../errors/index.js";

/** mount(2) flags. */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  I_VERSION: 0x800000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

const SET: Record<string, number> = {
  bind: MS.BIND,
  rbind: MS.BIND | MS.REC,
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  sync: MS.SYNCHRONOUS,
  remount: MS.REMOUNT,
  mand: MS.MANDLOCK,
  dirsync: MS.DIRSYNC,
  nosymfollow: MS.NOSYMFOLLOW,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  silent: MS.SILENT,
  relatime: MS.RELATIME,
  iversion: MS.I_VERSION,
  strictatime: MS.STRICTATIME,
  lazytime: MS.LAZYTIME,
  defaults: 0,
};

const CLEAR: Record<string, number> = {
  rw: MS.RDONLY,
  suid: MS.NOSUID,
  dev: MS.NODEV,
  exec: MS.NOEXEC,
  async: MS.SYNCHRONOUS,
  nomand: MS.MANDLOCK,
  atime: MS.NOATIME,
  diratime: MS.NODIRATIME,
  loud: MS.SILENT,
  norelatime: MS.RELATIME,
  noiversion: MS.I_VERSION,
  nostrictatime: MS.STRICTATIME,
  nolazytime: MS.LAZYTIME,
  symfollow: MS.NOSYMFOLLOW,
};

export const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

export interface ParsedOptions {
  flags: number;
  propagation: number;
  /** options passed to the filesystem as mount data ("size=65536k,mode=755") */
  data: string[];
  bind: boolean;
}

/** Split config.json mount options into flags, propagation and fs data, as mount(8) and runc read them. */
export function parseMountOptions(options: string[] | undefined, field: string): ParsedOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const o of options ?? []) {
    const set = SET[o];
    const clear = CLEAR[o];
    const prop = PROPAGATION[o];
    if (set !== undefined) flags |= set;
    else if (clear !== undefined) flags &= ~clear;
    else if (prop !== undefined) propagation |= prop;
    else if (o === "idmap" || o === "ridmap" || /^r(ro|rw|nosuid|suid|nodev|dev|noexec|exec|atime|noatime)$/.test(o))
      throw notImplemented(`${field}: mount option "${o}" is not supported yet`);
    else if (o === "tmpcopyup")
      continue; // runc extension; copy-up of tmpfs is not done
    else if (o === "") throw invalidArgument(`${field}: empty mount option`);
    else data.push(o);
  }
  return { flags, propagation, data, bind: (flags & MS.BIND) !== 0 };
}
