import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import type { Plan, Step } from "../native/index.js";
import type { Spec } from "../oci/index.js";
import type { CreateOptions, HostFacts } from "./build-plan.js";
import { buildCreatePlan, buildExecPlan, cleanPath, NS_FLAGS } from "./build-plan.js";
import { MS } from "./mount-options.js";

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const RLIM_INFINITY = 0xffffffffffffffffn;

type Op = Step["op"];
type StepOf<T extends Op> = Extract<Step, { op: T }>;

const ops = (plan: Plan): Op[] => plan.map((s) => s.op);
const stepsOf = <T extends Op>(plan: Plan, op: T): StepOf<T>[] => plan.filter((s): s is StepOf<T> => s.op === op);
const indexOf = (plan: Plan, pred: (s: Step) => boolean): number => {
  const i = plan.findIndex(pred);
  assert.ok(i >= 0, "expected step not found");
  return i;
};
const mountAt = (plan: Plan, target: string): StepOf<"mount"> => {
  const m = stepsOf(plan, "mount").find((s) => s.target === target);
  assert.ok(m, `no mount step for ${target}`);
  return m;
};

interface FakeHost extends HostFacts {
  warnings: string[];
}

/** A host where only the listed paths exist; `dirs` are directories. */
function fakeHost(
  o: { files?: string[]; dirs?: string[]; lastCap?: number; cgroupPaths?: Record<string, string> } = {},
): FakeHost {
  const files = o.files ?? [];
  const dirs = o.dirs ?? [];
  const warnings: string[] = [];
  return {
    lastCap: o.lastCap ?? 40,
    isDir: (p) => dirs.includes(p),
    exists: (p) => files.includes(p) || dirs.includes(p),
    cgroupPaths: o.cgroupPaths ?? { "": "/sys/fs/cgroup/berth/c1" },
    warn: (m) => warnings.push(m),
    warnings,
  };
}

const HOST_DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"];

function baseSpec(): Spec {
  return {
    ociVersion: "1.0.2",
    root: { path: "rootfs" },
    process: { user: { uid: 0, gid: 0 }, args: ["sh", "-c", "true"], env: ["PATH=/bin"], cwd: "/" },
    linux: { namespaces: [{ type: "mount" }, { type: "pid" }] },
  };
}

const OPTS: CreateOptions = {
  rootfs: "/b/rootfs",
  bundle: "/b",
  fifo: "/run/berth/c1/exec.fifo",
  noPivot: false,
  preserveFds: 0,
  terminal: false,
};

function withLinux(spec: Spec, linux: NonNullable<Spec["linux"]>): Spec {
  return { ...spec, linux: { ...spec.linux, ...linux } };
}

function assertInvalid(fn: () => unknown, field: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isKind(err, "InvalidArgument"), `want InvalidArgument, got ${String(err)}`);
    assert.ok((err as Error).message.startsWith(`${field}:`), `message "${(err as Error).message}" should name ${field}`);
    return true;
  });
}

test("cleanPath keeps paths inside the container root", () => {
  assert.equal(cleanPath("/../x"), "/x");
  assert.equal(cleanPath("a/../../b"), "/b");
  assert.equal(cleanPath("/dev//pts/"), "/dev/pts");
});

test("minimal create plan has the full step sequence in lifecycle order", () => {
  const plan = buildCreatePlan(baseSpec(), OPTS, fakeHost());
  const mknods = Array<Op>(6).fill("mknod");
  assert.deepEqual(ops(plan), [
    "open-slot",
    "dumpable",
    "clone",
    "dumpable",
    "close-fds",
    "sync",
    "umask",
    "mount",
    "mount",
    "open-slot",
    "mkdir-all",
    ...mknods,
    "close-slot",
    "pivot-root",
    "setsid",
    "caps-bounding",
    "chdir",
    "setgroups",
    "setid",
    "chdir",
    "caps",
    "umask",
    "resolve-exec",
    "ready",
    "wait-fifo",
    "exec",
  ]);
  assert.deepEqual(stepsOf(plan, "clone"), [{ op: "clone", flags: NS_FLAGS.mount | NS_FLAGS.pid }]);
  assert.deepEqual(stepsOf(plan, "sync"), [{ op: "sync", tag: 1 }]);
  // the rootfs: rslave on "/" by default, then bound on itself
  const [rootProp, rootBind] = stepsOf(plan, "mount");
  assert.deepEqual(rootProp, {
    op: "mount",
    source: null,
    target: "/",
    fstype: null,
    flags: MS.SLAVE | MS.REC,
    data: null,
    root: null,
  });
  assert.equal(rootBind?.source, "/b/rootfs");
  assert.equal(rootBind?.flags, MS.BIND | MS.REC);
  // the fifo is opened before any namespace (a user-namespaced init may not reach the state root)
  assert.deepEqual(stepsOf(plan, "open-slot"), [
    { op: "open-slot", slot: 1, path: "/run/berth/c1/exec.fifo", flags: 0o10000000 },
    { op: "open-slot", slot: 0, path: "/b/rootfs", flags: 0o10000000 | 0o200000 },
  ]);
  assert.deepEqual(stepsOf(plan, "pivot-root"), [{ op: "pivot-root", rootfs: "/b/rootfs", noPivot: false, chroot: false }]);
  assert.deepEqual(stepsOf(plan, "wait-fifo"), [{ op: "wait-fifo", slot: 1 }]);
  assert.deepEqual(plan.at(-1), { op: "exec", args: ["sh", "-c", "true"], env: ["PATH=/bin"], preserveFds: 0 });
  assert.deepEqual(stepsOf(plan, "umask").at(-1), { op: "umask", mask: 0o022 });
});

test("rootfsPropagation is applied to the new root after pivot_root, which refuses shared mounts", () => {
  const plan = buildCreatePlan(withLinux(baseSpec(), { rootfsPropagation: "shared" }), OPTS, fakeHost());
  const roots = plan.filter((s) => s.op === "mount" && s.target === "/");
  assert.deepEqual(
    roots.map((s) => s.op === "mount" && s.flags),
    [MS.SLAVE | MS.REC, MS.SHARED | MS.REC],
  );
  const pivot = indexOf(plan, (s) => s.op === "pivot-root");
  assert.ok(indexOf(plan, (s) => s === roots[1]) > pivot);
});

test("namespaces joined by path are opened and set before clone, user first", () => {
  const spec = withLinux(baseSpec(), {
    namespaces: [
      { type: "mount" },
      { type: "network", path: "/proc/42/ns/net" },
      { type: "user", path: "/proc/42/ns/user" },
      { type: "uts" },
    ],
  });
  const plan = buildCreatePlan(spec, OPTS, fakeHost({ files: HOST_DEVICES }));
  const clone = indexOf(plan, (s) => s.op === "clone");
  assert.deepEqual(plan.slice(0, clone + 1), [
    { op: "open-slot", slot: 1, path: "/run/berth/c1/exec.fifo", flags: 0o10000000 },
    { op: "dumpable", value: 0 },
    { op: "open-slot", slot: 8, path: "/proc/42/ns/user", flags: 0 },
    { op: "open-slot", slot: 9, path: "/proc/42/ns/net", flags: 0 },
    { op: "setns", slot: 8, nstype: NS_FLAGS.user, path: "/proc/42/ns/user" },
    { op: "setns", slot: 9, nstype: NS_FLAGS.network, path: "/proc/42/ns/net" },
    { op: "close-slot", slot: 8 },
    { op: "close-slot", slot: 9 },
    { op: "clone", flags: NS_FLAGS.mount | NS_FLAGS.uts },
  ]);
  // a joined user namespace is already mapped: no setid 0 right after the sync
  const sync = indexOf(plan, (s) => s.op === "sync");
  assert.notEqual(plan[sync + 1]?.op, "setid");
});

test("an init that places itself is cloned into its cgroup2 dir and writes its v1 tasks files before the sync", () => {
  const spec = withLinux(baseSpec(), { namespaces: [{ type: "mount" }, { type: "pid" }] });
  const cgroupJoin = { into: "/sys/fs/cgroup/unified/berth/c1", tasks: ["/sys/fs/cgroup/memory/berth/c1/tasks"] };
  const plan = buildCreatePlan(spec, { ...OPTS, cgroupJoin }, fakeHost({ files: HOST_DEVICES }));
  const clone = indexOf(plan, (s) => s.op === "clone");
  assert.deepEqual(plan.slice(clone, clone + 3), [
    { op: "clone", flags: NS_FLAGS.mount | NS_FLAGS.pid, cgroupSlot: 2 },
    { op: "close-slot", slot: 2 },
    { op: "write-slot", slot: 24, data: "0", path: "/sys/fs/cgroup/memory/berth/c1/tasks" },
  ]);
  // the files are opened first, before any namespace is joined (a container's mount namespace
  // would resolve the paths its own way)
  assert.deepEqual(plan.slice(2, 4), [
    { op: "open-slot", slot: 2, path: "/sys/fs/cgroup/unified/berth/c1", flags: 0o200000 },
    { op: "open-slot", slot: 24, path: "/sys/fs/cgroup/memory/berth/c1/tasks", flags: 1 },
  ]);
  // placed before the parent hears of it (and before any mount the init makes)
  assert.ok(clone + 2 < indexOf(plan, (s) => s.op === "sync"));
  // without it, a plain clone: the parent moves the init
  const plain = buildCreatePlan(spec, OPTS, fakeHost({ files: HOST_DEVICES }));
  assert.deepEqual(
    plain.find((s) => s.op === "clone"),
    { op: "clone", flags: NS_FLAGS.mount | NS_FLAGS.pid },
  );
  assert.ok(!plain.some((s) => s.op === "write-slot"));
});

test("exec placing itself joins the container's cgroup namespace only after it sits in its cgroups", () => {
  const proc = baseSpec().process as NonNullable<ReturnType<typeof baseSpec>["process"]>;
  const ns = [
    { type: "cgroup" as const, path: "/proc/42/ns/cgroup" },
    { type: "mount" as const, path: "/proc/42/ns/mnt" },
  ];
  const cgroupJoin = { into: "/sys/fs/cgroup/c1", tasks: [] };
  const plan = buildExecPlan(proc, ns, { preserveFds: 0, terminal: false, cgroupJoin }, fakeHost());
  const clone = indexOf(plan, (s) => s.op === "clone");
  const setns = plan.flatMap((s, i) => (s.op === "setns" ? [[s.path, i] as const] : []));
  assert.deepEqual(
    setns.map(([p]) => p),
    ["/proc/42/ns/mnt", "/proc/42/ns/cgroup"],
  );
  assert.ok((setns[0]?.[1] ?? 99) < clone && clone < (setns[1]?.[1] ?? -1));
  // without self-placement, every namespace is joined before the clone, as before
  const plain = buildExecPlan(proc, ns, { preserveFds: 0, terminal: false }, fakeHost());
  const plainClone = indexOf(plain, (s) => s.op === "clone");
  assert.ok(plain.every((s, i) => s.op !== "setns" || i < plainClone));
});

test("a new user namespace needs uid mappings and makes the init root in it", () => {
  const spec = withLinux(baseSpec(), { namespaces: [{ type: "mount" }, { type: "user" }] });
  assertInvalid(() => buildCreatePlan(spec, OPTS, fakeHost({ files: HOST_DEVICES })), "linux.uidMappings");
  const mapped = withLinux(spec, {
    uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
    gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
  });
  const plan = buildCreatePlan(mapped, OPTS, fakeHost({ files: HOST_DEVICES }));
  assert.equal(stepsOf(plan, "clone")[0]?.flags, NS_FLAGS.mount | NS_FLAGS.user);
  const sync = indexOf(plan, (s) => s.op === "sync" && s.tag === 1);
  assert.deepEqual(plan[sync + 1], { op: "setid", uid: 0, gid: 0 });
});

test("rootless: the init stays dumpable until its maps are written, and setgroups is skipped when denied", () => {
  const spec = withLinux(baseSpec(), {
    namespaces: [{ type: "mount" }, { type: "user" }],
    uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
    gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
  });
  const root = buildCreatePlan(spec, OPTS, fakeHost({ files: HOST_DEVICES }));
  const sync = (p: Plan) => indexOf(p, (s) => s.op === "sync" && s.tag === 1);
  assert.ok(
    root.slice(0, sync(root)).some((s) => s.op === "dumpable"),
    "as root the init is not dumpable before the sync",
  );
  assert.equal(stepsOf(root, "setgroups").length, 1);
  const host = { ...fakeHost({ files: HOST_DEVICES }), rootless: true, setgroupsDenied: true };
  const plan = buildCreatePlan(spec, OPTS, host);
  assert.ok(!plan.slice(0, sync(plan)).some((s) => s.op === "dumpable"), "dumpable while the caller writes uid_map");
  assert.deepEqual(plan[sync(plan) + 1], { op: "dumpable", value: 0 });
  assert.equal(stepsOf(plan, "setgroups").length, 0);
  const groups = { ...spec, process: { ...baseSpec().process, user: { uid: 0, gid: 0, additionalGids: [5] } } } as Spec;
  assertInvalid(() => buildCreatePlan(groups, OPTS, host), "process.user.additionalGids");
});

test("mappings without a user namespace are rejected", () => {
  const spec = withLinux(baseSpec(), { uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] });
  assertInvalid(() => buildCreatePlan(spec, OPTS, fakeHost()), "linux.uidMappings");
});

test("the cgroup namespace is unshared by the init after the sync, not at clone", () => {
  const spec = withLinux(baseSpec(), { namespaces: [{ type: "mount" }, { type: "cgroup" }, { type: "ipc" }] });
  const plan = buildCreatePlan(spec, OPTS, fakeHost());
  assert.equal(stepsOf(plan, "clone")[0]?.flags, NS_FLAGS.mount | NS_FLAGS.ipc);
  const sync = indexOf(plan, (s) => s.op === "sync");
  assert.deepEqual(plan[sync + 1], { op: "unshare", flags: NS_FLAGS.cgroup });
  assert.ok(indexOf(plan, (s) => s.op === "unshare") < indexOf(plan, (s) => s.op === "pivot-root"));
});

test("a new time namespace is unshared before clone with its offsets", () => {
  const spec = withLinux(baseSpec(), {
    namespaces: [{ type: "mount" }, { type: "time" }],
    timeOffsets: { monotonic: { secs: 10, nanosecs: 5 } },
  });
  const plan = buildCreatePlan(spec, OPTS, fakeHost());
  const clone = indexOf(plan, (s) => s.op === "clone");
  assert.deepEqual(plan.slice(2, clone + 1), [
    { op: "unshare", flags: NS_FLAGS.time },
    { op: "write-file", path: "/proc/self/timens_offsets", data: "monotonic 10 5", ignoreMissing: false },
    { op: "clone", flags: NS_FLAGS.mount },
  ]);
  const noTimeNs = withLinux(baseSpec(), { timeOffsets: { boottime: { secs: 1 } } });
  assertInvalid(() => buildCreatePlan(noTimeNs, OPTS, fakeHost()), "linux.timeOffsets");
});

test("without a mount namespace the root is a chroot and the host's / is left alone", () => {
  const plan = buildCreatePlan(withLinux(baseSpec(), { namespaces: [{ type: "pid" }] }), OPTS, fakeHost());
  assert.deepEqual(stepsOf(plan, "pivot-root"), [{ op: "pivot-root", rootfs: "/b/rootfs", noPivot: false, chroot: true }]);
  assert.equal(
    plan.some((s) => s.op === "mount" && s.target === "/"),
    false,
  );
});

test("a mount namespace joined by path is set up in place", () => {
  const joined = withLinux(baseSpec(), { namespaces: [{ type: "mount", path: "/proc/1/ns/mnt" }] });
  const plan = buildCreatePlan(joined, OPTS, fakeHost());
  assert.ok(indexOf(plan, (s) => s.op === "setns") < indexOf(plan, (s) => s.op === "clone"));
  assert.deepEqual(stepsOf(plan, "pivot-root"), [{ op: "pivot-root", rootfs: "/b/rootfs", noPivot: false, chroot: false }]);
});

test("a spec without a process is rejected", () => {
  const { process: _, ...spec } = baseSpec();
  assertInvalid(() => buildCreatePlan(spec, OPTS, fakeHost()), "process");
});

test("hostname and domainname need a new uts namespace", () => {
  assertInvalid(() => buildCreatePlan({ ...baseSpec(), hostname: "box" }, OPTS, fakeHost()), "hostname");
  assertInvalid(() => buildCreatePlan({ ...baseSpec(), domainname: "example" }, OPTS, fakeHost()), "domainname");
  // an empty hostname asks for nothing
  assert.doesNotThrow(() => buildCreatePlan({ ...baseSpec(), hostname: "" }, OPTS, fakeHost()));
  const uts = withLinux(
    { ...baseSpec(), hostname: "box", domainname: "example" },
    {
      namespaces: [{ type: "mount" }, { type: "uts" }],
    },
  );
  const plan = buildCreatePlan(uts, OPTS, fakeHost());
  assert.deepEqual(stepsOf(plan, "sethostname"), [{ op: "sethostname", name: "box" }]);
  assert.deepEqual(stepsOf(plan, "setdomainname"), [{ op: "setdomainname", name: "example" }]);
  assert.ok(indexOf(plan, (s) => s.op === "sethostname") < indexOf(plan, (s) => s.op === "pivot-root"));
});

test("a read-only bind mount is resolved against the bundle and remounted", () => {
  const spec: Spec = {
    ...baseSpec(),
    mounts: [{ destination: "/data", type: "bind", source: "data", options: ["rbind", "ro", "rprivate"] }],
  };
  const plan = buildCreatePlan(spec, OPTS, fakeHost({ dirs: ["/b/data"] }));
  assert.deepEqual(mountAt(plan, "/data"), {
    op: "mount",
    source: "/b/data",
    target: "/data",
    fstype: null,
    flags: MS.BIND | MS.REC | MS.RDONLY,
    data: null,
    root: 0,
    create: "dir",
    remount: true,
    propagation: MS.PRIVATE | MS.REC,
  });
});

test("a plain bind of a file needs no remount and creates a file", () => {
  const spec: Spec = {
    ...baseSpec(),
    mounts: [{ destination: "/etc/resolv.conf", source: "/etc/resolv.conf", options: ["bind"] }],
  };
  const m = mountAt(buildCreatePlan(spec, OPTS, fakeHost({ files: ["/etc/resolv.conf"] })), "/etc/resolv.conf");
  assert.equal(m.flags, MS.BIND);
  assert.equal(m.create, "file");
  assert.equal(m.remount, undefined);
  assert.equal(m.propagation, undefined);
});

test("bind mounts need an existing source", () => {
  const noSource: Spec = { ...baseSpec(), mounts: [{ destination: "/x", type: "bind" }] };
  assertInvalid(() => buildCreatePlan(noSource, OPTS, fakeHost()), "mounts[0].source");
  const missing: Spec = {
    ...baseSpec(),
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/x", type: "bind", source: "/nope" },
    ],
  };
  assertInvalid(() => buildCreatePlan(missing, OPTS, fakeHost()), "mounts[1].source");
});

test("a non-bind mount without a type is rejected", () => {
  const spec: Spec = { ...baseSpec(), mounts: [{ destination: "/x", source: "x" }] };
  assertInvalid(() => buildCreatePlan(spec, OPTS, fakeHost()), "mounts[0].type");
});

test("tmpfs options split into flags and data, and the destination is cleaned", () => {
  const spec: Spec = {
    ...baseSpec(),
    mounts: [
      { destination: "/../run/../x", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", "size=64m"] },
      { destination: "/proc", type: "proc" },
    ],
  };
  const plan = buildCreatePlan(spec, OPTS, fakeHost());
  assert.deepEqual(mountAt(plan, "/x"), {
    op: "mount",
    source: "tmpfs",
    target: "/x",
    fstype: "tmpfs",
    flags: MS.NOSUID | MS.NODEV,
    data: "mode=1777,size=64m",
    root: 0,
    create: "dir",
  });
  const proc = mountAt(plan, "/proc");
  assert.equal(proc.source, "proc");
  assert.equal(proc.data, null);
  // configured mounts happen inside the rootfs, before pivot_root
  const pivot = indexOf(plan, (s) => s.op === "pivot-root");
  assert.ok(plan.indexOf(proc) < pivot);
  assert.ok(plan.indexOf(proc) > indexOf(plan, (s) => s.op === "open-slot" && s.slot === 0));
});

test("mount propagation options on a non-bind mount", () => {
  const spec: Spec = { ...baseSpec(), mounts: [{ destination: "/m", type: "tmpfs", options: ["rshared"] }] };
  assert.equal(mountAt(buildCreatePlan(spec, OPTS, fakeHost()), "/m").propagation, MS.SHARED | MS.REC);
});

test("the default devices are made with their device numbers", () => {
  const plan = buildCreatePlan(baseSpec(), OPTS, fakeHost());
  assert.deepEqual(stepsOf(plan, "mkdir-all"), [{ op: "mkdir-all", path: "/dev", mode: 0o755, root: 0 }]);
  assert.deepEqual(
    stepsOf(plan, "mknod").map((s) => [s.path, s.dev, s.mode, s.owner]),
    [
      ["/dev/null", 0x103, S_IFCHR | 0o666, "0:0"],
      ["/dev/zero", 0x105, S_IFCHR | 0o666, "0:0"],
      ["/dev/full", 0x107, S_IFCHR | 0o666, "0:0"],
      ["/dev/random", 0x108, S_IFCHR | 0o666, "0:0"],
      ["/dev/urandom", 0x109, S_IFCHR | 0o666, "0:0"],
      ["/dev/tty", 0x500, S_IFCHR | 0o666, "0:0"],
    ],
  );
});

test("custom devices: type, mode, owner, parent dirs, and overriding a default", () => {
  const spec = withLinux(baseSpec(), {
    devices: [
      { type: "c", path: "/dev/fuse", major: 10, minor: 229, fileMode: 0o600, uid: 1, gid: 2 },
      { type: "b", path: "/dev/disk/../disk/sda", major: 8, minor: 0 },
      { type: "c", path: "/dev/null", major: 1, minor: 3, fileMode: 0o620 },
      { type: "p", path: "/dev/pipe" },
      // minor above 255 goes into the high bits, glibc's gnu_dev_makedev
      { type: "c", path: "/dev/big", major: 250, minor: 0x1234 },
    ],
  });
  const plan = buildCreatePlan(spec, OPTS, fakeHost());
  const nods = stepsOf(plan, "mknod");
  assert.equal(nods.length, 10);
  assert.equal(nods.filter((s) => s.path === "/dev/null").length, 1);
  const by = (p: string) => nods.find((s) => s.path === p);
  assert.deepEqual(by("/dev/null"), { op: "mknod", path: "/dev/null", mode: S_IFCHR | 0o620, dev: 0x103, root: 0, owner: "0:0" });
  assert.deepEqual(by("/dev/fuse"), { op: "mknod", path: "/dev/fuse", mode: S_IFCHR | 0o600, dev: 0xae5, root: 0, owner: "1:2" });
  assert.equal(by("/dev/disk/sda")?.mode, S_IFBLK | 0o666);
  assert.equal(by("/dev/disk/sda")?.dev, 0x800);
  assert.equal(by("/dev/pipe")?.mode, 0o010000 | 0o666);
  assert.equal(by("/dev/pipe")?.dev, 0);
  assert.equal(by("/dev/big")?.dev, 0x120fa34);
  assert.deepEqual(
    stepsOf(plan, "mkdir-all").map((s) => s.path),
    ["/dev", "/dev/disk"],
  );
  assert.ok(plan.indexOf(stepsOf(plan, "mkdir-all")[1] as Step) < plan.indexOf(by("/dev/disk/sda") as Step));
});

test("device numbers with a 20-bit minor match glibc makedev", () => {
  // Linux minors have 20 bits; gnu_dev_makedev(1, 0x80000) == 0x80000100
  const spec = withLinux(baseSpec(), { devices: [{ type: "c", path: "/dev/hi", major: 1, minor: 0x80000 }] });
  const nod = stepsOf(buildCreatePlan(spec, OPTS, fakeHost()), "mknod").find((s) => s.path === "/dev/hi");
  assert.equal(nod?.dev, 0x80000100);
});

test("a bind-mounted /dev gets no device nodes but gets the /dev symlinks", () => {
  const spec: Spec = { ...baseSpec(), mounts: [{ destination: "/dev", type: "bind", source: "/dev", options: ["rbind"] }] };
  const plan = buildCreatePlan(spec, OPTS, fakeHost({ dirs: ["/dev"] }));
  assert.equal(stepsOf(plan, "mknod").length, 0);
  assert.deepEqual(
    stepsOf(plan, "symlink").map((s) => [s.path, s.target]),
    [
      ["/dev/fd", "/proc/self/fd"],
      ["/dev/stdin", "/proc/self/fd/0"],
      ["/dev/stdout", "/proc/self/fd/1"],
      ["/dev/stderr", "/proc/self/fd/2"],
    ],
  );
});

test("a tmpfs /dev with devpts gets the ptmx and core symlinks", () => {
  const spec: Spec = {
    ...baseSpec(),
    mounts: [
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "mode=755"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["newinstance", "ptmxmode=0666"] },
    ],
  };
  const plan = buildCreatePlan(spec, OPTS, fakeHost({ files: ["/proc/kcore"] }));
  assert.equal(stepsOf(plan, "mknod").length, 6);
  const links = stepsOf(plan, "symlink").map((s) => [s.path, s.target]);
  assert.deepEqual(links.slice(4), [
    ["/dev/core", "/proc/kcore"],
    ["/dev/ptmx", "pts/ptmx"],
  ]);
  assert.equal(mountAt(plan, "/dev/pts").data, "newinstance,ptmxmode=0666");
});

test("in a user namespace devices are bind-mounted from the host", () => {
  const spec = withLinux(baseSpec(), {
    namespaces: [{ type: "mount" }, { type: "user" }],
    uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
    gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
  });
  const plan = buildCreatePlan(spec, OPTS, fakeHost({ files: HOST_DEVICES }));
  assert.equal(stepsOf(plan, "mknod").length, 0);
  assert.deepEqual(mountAt(plan, "/dev/null"), {
    op: "mount",
    source: "/dev/null",
    target: "/dev/null",
    fstype: null,
    flags: MS.BIND,
    data: null,
    root: 0,
    create: "file",
  });
  assert.equal(stepsOf(plan, "mount").filter((m) => m.flags === MS.BIND && m.create === "file").length, 6);
  assert.throws(
    () => buildCreatePlan(spec, OPTS, fakeHost({ files: HOST_DEVICES.slice(1) })),
    (e: unknown) => isKind(e, "InvalidArgument") && /\/dev\/null/.test((e as Error).message),
  );
});

test("sysfs in a user namespace without its own network namespace binds the host's /sys", () => {
  const linux = {
    namespaces: [{ type: "mount" as const }, { type: "user" as const }],
    uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
    gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
  };
  const spec: Spec = withLinux({ ...baseSpec(), mounts: [{ destination: "/sys", type: "sysfs", source: "sysfs" }] }, linux);
  const sys = mountAt(buildCreatePlan(spec, OPTS, fakeHost({ files: HOST_DEVICES })), "/sys");
  assert.equal(sys.source, "/sys");
  assert.equal(sys.fstype, null);
  assert.equal(sys.flags, MS.BIND | MS.REC);
  const withNet = withLinux(spec, { namespaces: [...linux.namespaces, { type: "network" }] });
  assert.equal(mountAt(buildCreatePlan(withNet, OPTS, fakeHost({ files: HOST_DEVICES })), "/sys").fstype, "sysfs");
});

test("a cgroup mount on a pure v2 host binds the container's own cgroup", () => {
  const spec: Spec = {
    ...baseSpec(),
    mounts: [{ destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "ro"] }],
  };
  const m = mountAt(buildCreatePlan(spec, OPTS, fakeHost()), "/sys/fs/cgroup");
  assert.equal(m.source, "/sys/fs/cgroup/berth/c1");
  assert.equal(m.flags, MS.BIND | MS.REC | MS.NOSUID | MS.RDONLY);
  assert.equal(m.remount, true);
});

test("a cgroup mount on a v1 host is a tmpfs of per-hierarchy binds", () => {
  const spec: Spec = {
    ...baseSpec(),
    mounts: [{ destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "nodev", "ro"] }],
  };
  const cgroupPaths = {
    "cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/c1",
    "name=systemd": "/sys/fs/cgroup/systemd/c1",
    "": "/sys/fs/cgroup/unified/c1",
  };
  const plan = buildCreatePlan(spec, OPTS, fakeHost({ cgroupPaths }));
  const mine = plan.filter(
    (s) =>
      (s.op === "mount" && s.target.startsWith("/sys/fs/cgroup")) || (s.op === "symlink" && s.path.startsWith("/sys/fs/cgroup")),
  );
  const describe = (s: Step): string =>
    s.op === "mount" ? `mount ${s.source} ${s.target}` : s.op === "symlink" ? `link ${s.path}->${s.target}` : s.op;
  assert.deepEqual(mine.map(describe), [
    "mount tmpfs /sys/fs/cgroup",
    "mount /sys/fs/cgroup/cpu,cpuacct/c1 /sys/fs/cgroup/cpu,cpuacct",
    "link /sys/fs/cgroup/cpu->cpu,cpuacct",
    "link /sys/fs/cgroup/cpuacct->cpu,cpuacct",
    "mount /sys/fs/cgroup/systemd/c1 /sys/fs/cgroup/systemd",
    "mount /sys/fs/cgroup/unified/c1 /sys/fs/cgroup/unified",
    "mount null /sys/fs/cgroup",
  ]);
  const last = mine.at(-1);
  assert.ok(last?.op === "mount");
  assert.equal(last.flags, MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV);
});

test("masked and read-only paths, sysctls and a read-only root come after pivot_root", () => {
  const spec: Spec = withLinux(
    { ...baseSpec(), root: { path: "rootfs", readonly: true } },
    {
      maskedPaths: ["/proc/kcore", "/../proc/keys"],
      readonlyPaths: ["/proc/sys"],
      sysctl: { "net.ipv4.ip_forward": "1" },
    },
  );
  const plan = buildCreatePlan(spec, OPTS, fakeHost());
  const pivot = indexOf(plan, (s) => s.op === "pivot-root");
  const setsid = indexOf(plan, (s) => s.op === "setsid");
  assert.deepEqual(plan.slice(pivot + 1, setsid), [
    { op: "write-file", path: "/proc/sys/net/ipv4/ip_forward", data: "1", ignoreMissing: false },
    { op: "readonly-path", path: "/proc/sys" },
    { op: "mask-path", path: "/proc/kcore" },
    { op: "mask-path", path: "/proc/keys" },
    { op: "remount-ro-root" },
  ]);
});

test("hooks: createRuntime syncs with tag 2, createContainer before pivot_root, startContainer after the fifo", () => {
  const spec: Spec = {
    ...baseSpec(),
    hooks: {
      createRuntime: [{ path: "/bin/rt" }],
      createContainer: [{ path: "/bin/cc", args: ["cc", "-x"], env: ["A=1"], timeout: 5 }],
      startContainer: [{ path: "/bin/sc" }],
      poststart: [{ path: "/bin/ps" }],
    },
  };
  const plan = buildCreatePlan(spec, OPTS, fakeHost());
  const closeRoot = indexOf(plan, (s) => s.op === "close-slot" && s.slot === 0);
  const pivot = indexOf(plan, (s) => s.op === "pivot-root");
  assert.deepEqual(plan.slice(closeRoot + 1, pivot), [
    { op: "sync", tag: 2 },
    { op: "hook", kind: "createContainer", path: "/bin/cc", args: ["cc", "-x"], env: ["A=1"], timeout: 5 },
  ]);
  const fifo = indexOf(plan, (s) => s.op === "wait-fifo");
  assert.deepEqual(plan.slice(fifo + 1), [
    { op: "hook", kind: "startContainer", path: "/bin/sc", args: ["/bin/sc"], env: [], timeout: 0 },
    { op: "exec", args: ["sh", "-c", "true"], env: ["PATH=/bin"], preserveFds: 0 },
  ]);
  // the runtime namespace's hooks are run by the parent, never in the plan
  assert.equal(stepsOf(plan, "hook").length, 2);
});

test("prestart alone also asks for the createRuntime sync; no hooks, no sync", () => {
  const pre = buildCreatePlan({ ...baseSpec(), hooks: { prestart: [{ path: "/bin/p" }] } }, OPTS, fakeHost());
  assert.deepEqual(
    stepsOf(pre, "sync").map((s) => s.tag),
    [1, 2],
  );
  const none = buildCreatePlan({ ...baseSpec(), hooks: { poststop: [{ path: "/bin/p" }] } }, OPTS, fakeHost());
  assert.deepEqual(
    stepsOf(none, "sync").map((s) => s.tag),
    [1],
  );
});

test("a terminal opens a pty sized from consoleSize, otherwise setsid", () => {
  const base = baseSpec();
  const proc = base.process;
  assert.ok(proc);
  const spec: Spec = { ...base, process: { ...proc, terminal: true, consoleSize: { height: 24, width: 80 } } };
  const plan = buildCreatePlan(spec, { ...OPTS, terminal: true }, fakeHost());
  assert.deepEqual(stepsOf(plan, "open-pty"), [{ op: "open-pty", ptmx: "/dev/ptmx", rows: 24, cols: 80 }]);
  assert.equal(stepsOf(plan, "setsid").length, 0);
  assertInvalid(() => buildCreatePlan(spec, OPTS, fakeHost()), "process.terminal");
  const noTty = buildCreatePlan(base, { ...OPTS, terminal: true }, fakeHost());
  assert.equal(stepsOf(noTty, "open-pty").length, 0);
  assert.equal(stepsOf(noTty, "setsid").length, 1);
});

test("rlimits, oomScoreAdj and the caller's RLIMIT_NOFILE", () => {
  const base = baseSpec();
  const proc = base.process;
  assert.ok(proc);
  const spec: Spec = {
    ...base,
    process: {
      ...proc,
      oomScoreAdj: -500,
      rlimits: [
        { type: "RLIMIT_NOFILE", soft: 1024, hard: 2 ** 64 },
        { type: "RLIMIT_CORE", soft: 0, hard: 0 },
      ],
    },
  };
  const host = { ...fakeHost(), callerNofile: [4096n, 8192n] as [bigint, bigint] };
  const plan = buildCreatePlan(spec, OPTS, host);
  assert.deepEqual(stepsOf(plan, "setrlimit"), [
    { op: "setrlimit", resource: 7, soft: 1024n, hard: RLIM_INFINITY, name: "RLIMIT_NOFILE" },
    { op: "setrlimit", resource: 4, soft: 0n, hard: 0n, name: "RLIMIT_CORE" },
  ]);
  assert.deepEqual(stepsOf(plan, "write-file"), [
    { op: "write-file", path: "/proc/self/oom_score_adj", data: "-500", ignoreMissing: false },
  ]);
  // without a configured RLIMIT_NOFILE the container gets what the caller had
  const plain = buildCreatePlan(base, OPTS, host);
  assert.deepEqual(stepsOf(plain, "setrlimit"), [
    { op: "setrlimit", resource: 7, soft: 4096n, hard: 8192n, name: "RLIMIT_NOFILE" },
  ]);
  assert.equal(stepsOf(buildCreatePlan(base, OPTS, fakeHost()), "setrlimit").length, 0);
  const bad: Spec = { ...base, process: { ...proc, rlimits: [{ type: "RLIMIT_BOGUS", soft: 1, hard: 1 }] } };
  assertInvalid(() => buildCreatePlan(bad, OPTS, fakeHost()), "process.rlimits[0].type");
});

test("identity: capabilities, groups, user, cwd, no_new_privs and umask in order", () => {
  const base = baseSpec();
  const proc = base.process;
  assert.ok(proc);
  const spec: Spec = {
    ...base,
    process: {
      ...proc,
      user: { uid: 1000, gid: 100, umask: 0o077, additionalGids: [10, 20] },
      cwd: "/home/u",
      noNewPrivileges: true,
      capabilities: {
        bounding: ["CAP_CHOWN", "CAP_KILL", "CAP_BPF"],
        effective: ["CAP_KILL"],
        permitted: ["CAP_KILL"],
        ambient: ["CAP_NET_BIND_SERVICE"],
      },
    },
  };
  const host = fakeHost({ lastCap: 38 });
  const plan = buildCreatePlan(spec, OPTS, host);
  const setsid = indexOf(plan, (s) => s.op === "setsid");
  assert.deepEqual(
    plan.slice(
      setsid + 1,
      indexOf(plan, (s) => s.op === "ready"),
    ),
    [
      { op: "caps-bounding", bounding: (1n << 0n) | (1n << 5n), lastCap: 38 },
      { op: "chdir", path: "/home/u", verify: true },
      { op: "setgroups", gids: [10, 20] },
      { op: "setid", uid: 1000, gid: 100 },
      { op: "chdir", path: "/home/u" },
      { op: "caps", effective: 1n << 5n, permitted: 1n << 5n, inheritable: 0n, ambient: 1n << 10n },
      { op: "prctl", option: 38, arg2: 1, arg3: 0, name: "no_new_privs" },
      { op: "umask", mask: 0o077 },
      { op: "resolve-exec", args: ["sh", "-c", "true"], env: ["PATH=/bin"] },
    ],
  );
  assert.equal(host.warnings.length, 1);
  assert.match(host.warnings[0] ?? "", /CAP_BPF/);
  assert.equal(stepsOf(buildCreatePlan(base, OPTS, fakeHost()), "prctl").length, 0);
});

test("exec is the last step and carries preserveFds", () => {
  const plan = buildCreatePlan(baseSpec(), { ...OPTS, preserveFds: 3 }, fakeHost());
  assert.deepEqual(plan.at(-1), { op: "exec", args: ["sh", "-c", "true"], env: ["PATH=/bin"], preserveFds: 3 });
  assert.equal(stepsOf(plan, "exec").length, 1);
});

test("exec plan joins every namespace of the init, user first, then becomes the process", () => {
  const proc = baseSpec().process;
  assert.ok(proc);
  const plan = buildExecPlan(
    { ...proc, args: ["ps"], terminal: true },
    [
      { type: "network", path: "/proc/7/ns/net" },
      { type: "mount", path: "/proc/7/ns/mnt" },
      { type: "user", path: "/proc/7/ns/user" },
    ],
    { preserveFds: 1, terminal: true },
    fakeHost(),
  );
  assert.deepEqual(plan.slice(0, 11), [
    { op: "dumpable", value: 0 },
    { op: "open-slot", slot: 8, path: "/proc/7/ns/user", flags: 0 },
    { op: "open-slot", slot: 9, path: "/proc/7/ns/net", flags: 0 },
    { op: "open-slot", slot: 10, path: "/proc/7/ns/mnt", flags: 0 },
    { op: "setns", slot: 8, nstype: NS_FLAGS.user, path: "/proc/7/ns/user" },
    { op: "setns", slot: 9, nstype: NS_FLAGS.network, path: "/proc/7/ns/net" },
    { op: "setns", slot: 10, nstype: NS_FLAGS.mount, path: "/proc/7/ns/mnt" },
    { op: "close-slot", slot: 8 },
    { op: "close-slot", slot: 9 },
    { op: "close-slot", slot: 10 },
    { op: "clone", flags: 0 },
  ]);
  assert.deepEqual(plan.slice(11, 15), [
    { op: "dumpable", value: 0 },
    { op: "close-fds", preserveFds: 1 },
    { op: "sync", tag: 1 },
    { op: "open-pty", ptmx: "/dev/ptmx", rows: 0, cols: 0 },
  ]);
  for (const op of ["pivot-root", "wait-fifo", "mount", "unshare", "hook"] as const)
    assert.equal(stepsOf(plan, op).length, 0, op);
  assert.deepEqual(plan.slice(-2), [{ op: "ready" }, { op: "exec", args: ["ps"], env: ["PATH=/bin"], preserveFds: 1 }]);
});

test("an AppArmor profile is set for execve where the host enforces AppArmor, and refused where it does not", () => {
  const base = baseSpec();
  assert.ok(base.process);
  const spec: Spec = { ...base, process: { ...base.process, apparmorProfile: "berth-default" } };
  assertInvalid(() => buildCreatePlan(spec, OPTS, fakeHost()), "process.apparmorProfile");
  const plan = buildCreatePlan(spec, OPTS, { ...fakeHost(), apparmor: true });
  const write = indexOf(plan, (s) => s.op === "write-file" && s.path === "/proc/self/attr/apparmor/exec");
  assert.ok(write < indexOf(plan, (s) => s.op === "setid"), "while still root");
  assert.ok(write < indexOf(plan, (s) => s.op === "exec"), "before execve");
  assert.deepEqual(plan[write], {
    op: "write-file",
    path: "/proc/self/attr/apparmor/exec",
    data: "exec berth-default",
    ignoreMissing: false,
  });
});
