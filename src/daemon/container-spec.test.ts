import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, hostname as osHostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { Mount, Spec } from "../oci/index.js";
import { defaultSeccompProfile } from "../seccomp/index.js";
import {
  type ContainerSpecInput,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  type VolumeRequest,
  buildContainerSpec,
  containerArgs,
  containerCapabilities,
  containerEnv,
  convertSeccompProfile,
} from "./container-spec.js";
import type { ContainerConfig, HostConfig } from "./container-types.js";

const tmp = mkdtempSync(join(tmpdir(), "berth-spec-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const ID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const FILES = { hostname: "/c/hostname", hosts: "/c/hosts", resolvConf: "/c/resolv.conf" };
const SECCOMP = { arch: "x64", kernel: "6.1.0" };

function input(config: Partial<ContainerConfig> = {}, hostConfig: HostConfig = {}, more: Partial<ContainerSpecInput> = {}) {
  return {
    id: ID,
    image: { Cmd: ["sh"], Env: ["PATH=/image/bin", "LANG=C.UTF-8"] },
    config: { Image: "busybox", ...config },
    hostConfig,
    rootfs: "/var/lib/berth/rootfs/x",
    files: FILES,
    user: { uid: 0, gid: 0, additionalGids: [0, 10], home: "/root" },
    cgroupNamespace: false,
    swapLimit: true,
    seccomp: SECCOMP,
    ...more,
  };
}
const spec = (config: Partial<ContainerConfig> = {}, hostConfig: HostConfig = {}, more: Partial<ContainerSpecInput> = {}): Spec =>
  buildContainerSpec(input(config, hostConfig, more)).spec;
const invalid = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: Error & { kind?: string }) => {
    assert.equal(e.kind, "InvalidArgument", e.message);
    assert.match(e.message, re);
    return true;
  });
const dest = (s: Spec) => (s.mounts ?? []).map((m) => m.destination);
const mountAt = (s: Spec, d: string) => (s.mounts ?? []).find((m) => m.destination === d) as Mount;

test("Entrypoint and Cmd merge as Docker merges them", () => {
  const cases: [
    string,
    { Entrypoint?: string[] | null; Cmd?: string[] | null },
    { Entrypoint?: string[]; Cmd?: string[] },
    string[],
  ][] = [
    ["image cmd", { Cmd: ["sh"] }, {}, ["sh"]],
    ["image entrypoint + cmd", { Entrypoint: ["/init"], Cmd: ["serve"] }, {}, ["/init", "serve"]],
    ["request cmd replaces image cmd", { Entrypoint: ["/init"], Cmd: ["serve"] }, { Cmd: ["debug"] }, ["/init", "debug"]],
    ["request entrypoint drops image cmd", { Entrypoint: ["/init"], Cmd: ["serve"] }, { Entrypoint: ["/bin/ls"] }, ["/bin/ls"]],
    [
      "request entrypoint and cmd",
      { Entrypoint: ["/init"], Cmd: ["serve"] },
      { Entrypoint: ["/bin/ls"], Cmd: ["-l"] },
      ["/bin/ls", "-l"],
    ],
    ["empty entrypoint list keeps image cmd", { Entrypoint: ["/init"], Cmd: ["sh"] }, { Entrypoint: [] }, ["sh"]],
    ["--entrypoint '' with a cmd", { Entrypoint: ["/init"], Cmd: ["serve"] }, { Entrypoint: [""], Cmd: ["top"] }, ["top"]],
    ["null image fields", { Entrypoint: null, Cmd: null }, { Cmd: ["echo", "hi"] }, ["echo", "hi"]],
  ];
  for (const [name, image, request, want] of cases)
    assert.deepEqual(containerArgs(image, { Image: "x", ...request }), want, name);
  invalid(() => containerArgs({}, { Image: "x" }), /^no command specified$/);
  invalid(
    () => containerArgs({ Entrypoint: ["/init"], Cmd: ["serve"] }, { Image: "x", Entrypoint: [""] }),
    /no command specified/,
  );
  invalid(() => spec({ Cmd: [] }, {}, { image: undefined }), /no command specified/);
});

test("--init runs the command under /sbin/docker-init, bind-mounted read-only", () => {
  const s = spec({}, { Init: true }, { initPath: "/usr/bin/tini" });
  assert.deepEqual(s.process?.args, ["/sbin/docker-init", "--", "sh"]);
  assert.deepEqual(s.mounts?.at(-1), {
    destination: "/sbin/docker-init",
    type: "bind",
    source: "/usr/bin/tini",
    options: ["bind", "ro"],
  });
  assert.throws(
    () => spec({}, { Init: true }),
    (e: Error & { kind?: string }) => e.kind === "FailedPrecondition",
  );
});

test("environment: defaults, image, request override by key, unset, TERM and HOME", () => {
  assert.deepEqual(containerEnv(["PATH=/image/bin", "A=1", "B=2"], ["B=3", "C=4"], "h", false, "/root"), [
    "PATH=/image/bin",
    "HOSTNAME=h",
    "B=3",
    "C=4",
    "A=1",
    "HOME=/root",
  ]);
  // a bare name unsets, HOME from the image wins over passwd, TERM with a tty
  assert.deepEqual(containerEnv(["A=1", "HOME=/srv"], ["A", "HOSTNAME"], "h", true, "/root"), [
    `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    "TERM=xterm",
    "HOME=/srv",
  ]);
  invalid(() => containerEnv([], ["=x"], "h", false, "/"), /empty name/);
  const s = spec({ Env: ["LANG=fr_FR"], Tty: true });
  assert.deepEqual(s.process?.env, ["PATH=/image/bin", `HOSTNAME=${ID.slice(0, 12)}`, "TERM=xterm", "LANG=fr_FR", "HOME=/root"]);
  assert.equal(s.process?.terminal, true);
});

test("hostname, working directory, user and rootfs", () => {
  const s = spec({ WorkingDir: "/app/./x/", User: "ignored-here" }, { ReadonlyRootfs: true });
  assert.equal(s.hostname, ID.slice(0, 12));
  assert.equal(s.process?.cwd, "/app/x");
  assert.deepEqual(s.process?.user, { uid: 0, gid: 0, additionalGids: [0, 10] });
  assert.deepEqual(s.root, { path: "/var/lib/berth/rootfs/x", readonly: true });
  assert.equal(s.linux?.cgroupsPath, `/berth/${ID}`);
  assert.equal(spec({}, {}, { image: { Cmd: ["sh"], WorkingDir: "/srv" } }).process?.cwd, "/srv");
  assert.equal(spec().process?.cwd, "/");
  assert.equal(spec({ Hostname: "web", Domainname: "example.org" }).hostname, "web");
  assert.equal(spec({ Hostname: "web", Domainname: "example.org" }).domainname, "example.org");
  assert.equal(spec({}, { NetworkMode: "host" }).hostname, osHostname());
  assert.equal(spec({}, { CgroupParent: "/kubepods/pod1" }).linux?.cgroupsPath, `/kubepods/pod1/${ID}`);
  assert.equal(spec({}, { CgroupParent: "mine" }).linux?.cgroupsPath, `/mine/${ID}`);
  invalid(() => spec({}, { CgroupParent: "/a/../../b" }), /CgroupParent/);
  invalid(() => spec({ WorkingDir: "app" }), /needs to be an absolute path/);
  invalid(() => spec({ Hostname: "bad host" }), /invalid hostname/);
  invalid(() => spec({ Hostname: "x" }, { UTSMode: "host" }), /conflicting options: Hostname/);
  invalid(() => spec({}, {}, { rootfs: "relative/rootfs" }), /not an absolute path/);
  invalid(() => spec({}, {}, { id: "../x" }), /invalid container id/);
});

test("capabilities: Docker's 14 defaults, CapAdd/CapDrop in any spelling, ALL", () => {
  const s = spec();
  assert.deepEqual(s.process?.capabilities, {
    bounding: DEFAULT_CAPABILITIES,
    effective: DEFAULT_CAPABILITIES,
    permitted: DEFAULT_CAPABILITIES,
  });
  assert.equal(DEFAULT_CAPABILITIES.length, 14);
  const caps = containerCapabilities(["net_admin", "CAP_SYS_PTRACE", "Sys_Time"], ["cap_chown", "NET_RAW"], false);
  assert.ok(caps.includes("CAP_NET_ADMIN") && caps.includes("CAP_SYS_PTRACE") && caps.includes("CAP_SYS_TIME"));
  assert.ok(!caps.includes("CAP_CHOWN") && !caps.includes("CAP_NET_RAW"));
  assert.equal(caps.length, 15);
  assert.deepEqual(containerCapabilities(["kill"], ["ALL"], false), ["CAP_KILL"]);
  const all = containerCapabilities(["all"], ["sys_admin"], false);
  assert.ok(all.includes("CAP_SYS_MODULE") && !all.includes("CAP_SYS_ADMIN") && all.length > 30);
  assert.deepEqual(containerCapabilities([], ["all"], false), []);
  invalid(() => containerCapabilities(["CAP_FLY"], [], false), /unknown capability: "CAP_FLY"/);
  invalid(() => spec({}, { CapDrop: ["nope"] }), /unknown capability/);
  // the default seccomp profile follows the capabilities: CAP_SYS_ADMIN opens mount(2)
  const names = (x: Spec) => new Set(x.linux?.seccomp?.syscalls?.flatMap((c) => c.names));
  assert.ok(!names(s).has("mount"));
  assert.ok(names(spec({}, { CapAdd: ["SYS_ADMIN"] })).has("mount"));
  assert.deepEqual(s.linux?.seccomp, defaultSeccompProfile([...DEFAULT_CAPABILITIES], SECCOMP));
  assert.equal(s.process?.noNewPrivileges, undefined);
});

test("default mounts, /etc files, and request mounts sorted parent first", () => {
  const s = spec();
  assert.deepEqual(dest(s), [
    "/proc",
    "/dev",
    "/dev/pts",
    "/sys",
    "/sys/fs/cgroup",
    "/dev/mqueue",
    "/dev/shm",
    "/etc/resolv.conf",
    "/etc/hostname",
    "/etc/hosts",
  ]);
  assert.deepEqual(mountAt(s, "/dev/shm").options, ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]);
  assert.deepEqual(mountAt(s, "/sys").options, ["nosuid", "noexec", "nodev", "ro"]);
  assert.deepEqual(mountAt(s, "/etc/hosts"), {
    destination: "/etc/hosts",
    type: "bind",
    source: "/c/hosts",
    options: ["rbind", "rprivate"],
  });
  assert.deepEqual(mountAt(spec({}, { ReadonlyRootfs: true }), "/etc/hosts").options, ["rbind", "rprivate", "ro"]);
  assert.deepEqual(mountAt(spec({}, { ShmSize: 1 << 30 }), "/dev/shm").options?.at(-1), "size=1073741824");
  assert.deepEqual(s.linux?.maskedPaths, DEFAULT_MASKED_PATHS);
  assert.ok(s.linux?.readonlyPaths?.includes("/proc/sys"));

  const host = join(tmp, "data");
  const created = join(tmp, "created-by-bind");
  mkdirSync(host);
  const s2 = spec(
    {},
    {
      Binds: [`${host}:/data/deep/x:ro`, `${created}:/a`, `${host}:/data:rshared`],
      Tmpfs: { "/run": "", "/tmp": "size=1g,exec,mode=1777" },
      Mounts: [{ Type: "tmpfs", Target: "/dev/shm", TmpfsOptions: { SizeBytes: 1024, Mode: 0o700 } }],
    },
  );
  assert.ok(existsSync(created), "a missing Binds source is created, as docker -v does");
  assert.deepEqual(dest(s2), [
    "/proc",
    "/dev",
    "/dev/pts",
    "/sys",
    "/sys/fs/cgroup",
    "/dev/mqueue",
    "/a",
    "/data",
    "/run",
    "/tmp",
    "/etc/resolv.conf",
    "/etc/hostname",
    "/etc/hosts",
    "/dev/shm",
    "/data/deep/x",
  ]);
  assert.deepEqual(mountAt(s2, "/data/deep/x").options, ["rbind", "rprivate", "ro"]);
  assert.deepEqual(mountAt(s2, "/data").options, ["rbind", "rshared"]);
  assert.deepEqual(mountAt(s2, "/run").options, ["noexec", "nosuid", "nodev", "rprivate", "size=65536k"]);
  assert.deepEqual(mountAt(s2, "/tmp").options, ["nosuid", "nodev", "rprivate", "size=1g", "exec", "mode=1777"]);
  assert.deepEqual(mountAt(s2, "/dev/shm"), {
    destination: "/dev/shm",
    type: "tmpfs",
    source: "tmpfs",
    options: ["noexec", "nosuid", "nodev", "size=1024", "mode=700"],
  });
  assert.equal(s2.linux?.rootfsPropagation, "shared");

  // a request mount at /etc/hosts replaces berth's, one at /dev replaces every default under it
  const s3 = spec({}, { Binds: [`${host}:/etc/hosts:ro`, `${host}:/dev`] });
  assert.equal(mountAt(s3, "/etc/hosts").source, host);
  assert.deepEqual(
    dest(s3).filter((d) => d.startsWith("/dev")),
    ["/dev"],
  );

  invalid(() => spec({}, { Binds: [`${host}:/x`, `${host}:/x/`] }), /duplicate mount point: \/x/);
  invalid(() => spec({}, { Binds: [`${host}:/`] }), /cannot mount over the root/);
  invalid(() => spec({}, { Binds: [`${host}:rel`] }), /not an absolute path/);
  invalid(() => spec({}, { Binds: [`${host}:/x:rw,ro`] }), /invalid mode/);
  invalid(() => spec({}, { Binds: [`${host}:/x:bogus`] }), /invalid mode.*"bogus"/);
  invalid(() => spec({}, { Binds: ["./rel:/x"] }), /invalid characters for a local volume name/);
  invalid(() => spec({}, { Tmpfs: { "/t": "size=lots" } }), /invalid tmpfs option "size=lots"/);
  invalid(() => spec({}, { Tmpfs: { "/t": "bind" } }), /unknown tmpfs option "bind"/);
  invalid(
    () => spec({}, { Mounts: [{ Type: "bind", Source: join(tmp, "nope"), Target: "/x" }] }),
    /bind source path does not exist/,
  );
  invalid(() => spec({}, { Mounts: [{ Type: "tmpfs", Source: "x", Target: "/x" }] }), /takes no Source/);
});

test("volumes: named, anonymous (image VOLUMEs not otherwise mounted), via volumePath", () => {
  const asked: VolumeRequest[] = [];
  const volumePath = (v: VolumeRequest) => {
    asked.push(v);
    return `/var/lib/berth/volumes/${v.name ?? `anon${asked.length}`}/_data`;
  };
  const s = spec(
    { Volumes: { "/cache": {} } },
    {
      Binds: ["data:/var/lib/db:ro,nocopy"],
      Mounts: [
        { Type: "volume", Target: "/logs" },
        { Type: "volume", Source: "shared", Target: "/shared" },
      ],
    },
    { volumePath, image: { Cmd: ["sh"], Volumes: { "/var/lib/db": {}, "/srv/": {} } } },
  );
  assert.deepEqual(asked, [
    { name: "data", destination: "/var/lib/db", readOnly: true, noCopy: true },
    { name: undefined, destination: "/logs", readOnly: false, noCopy: false },
    { name: "shared", destination: "/shared", readOnly: false, noCopy: false },
    { name: undefined, destination: "/srv", readOnly: false, noCopy: false },
    { name: undefined, destination: "/cache", readOnly: false, noCopy: false },
  ]);
  assert.deepEqual(mountAt(s, "/var/lib/db"), {
    destination: "/var/lib/db",
    type: "bind",
    source: "/var/lib/berth/volumes/data/_data",
    options: ["rbind", "rprivate", "ro"],
  });
  assert.equal(mountAt(s, "/srv").source, "/var/lib/berth/volumes/anon4/_data");
  assert.throws(
    () => spec({}, { Binds: ["data:/x"] }),
    (e: Error & { kind?: string }) => e.kind === "FailedPrecondition",
  );
  invalid(() => spec({}, { Binds: ["data:/x:rshared"] }, { volumePath }), /propagation applies only to bind mounts/);
});

test("namespaces follow Pid/Ipc/UTS/NetworkMode and the netns given", () => {
  const types = (s: Spec) => s.linux?.namespaces?.map((n) => (n.path ? `${n.type}=${n.path}` : n.type));
  assert.deepEqual(types(spec()), ["pid", "ipc", "uts", "mount", "network"]);
  assert.deepEqual(types(spec({}, {}, { netns: "/run/netns/c1" })), ["pid", "ipc", "uts", "mount", "network=/run/netns/c1"]);
  assert.deepEqual(types(spec({}, {}, { netns: "host" })), ["pid", "ipc", "uts", "mount"]);
  assert.deepEqual(types(spec({}, { NetworkMode: "host" })), ["pid", "ipc", "uts", "mount"]);
  assert.deepEqual(types(spec({}, {}, { cgroupNamespace: true })), ["pid", "ipc", "uts", "mount", "network", "cgroup"]);
  const hostAll = spec({}, { PidMode: "host", IpcMode: "host", UTSMode: "host" });
  assert.deepEqual(types(hostAll), ["mount", "network"]);
  assert.equal(hostAll.hostname, undefined);
  assert.deepEqual(mountAt(hostAll, "/dev/shm"), {
    destination: "/dev/shm",
    type: "bind",
    source: "/dev/shm",
    options: ["rbind", "nosuid", "noexec", "nodev"],
  });
  const joined = spec(
    {},
    { PidMode: "container:abc", IpcMode: "container:abc" },
    { containerNamespaces: { pid: "/proc/42/ns/pid", ipc: "/proc/42/ns/ipc", shm: "/proc/42/root/dev/shm" } },
  );
  assert.deepEqual(types(joined)?.slice(0, 2), ["pid=/proc/42/ns/pid", "ipc=/proc/42/ns/ipc"]);
  assert.equal(mountAt(joined, "/dev/shm").source, "/proc/42/root/dev/shm");
  assert.ok(!dest(spec({}, { IpcMode: "none" })).includes("/dev/shm"));
  assert.throws(
    () => spec({}, { PidMode: "container:abc" }),
    (e: Error & { kind?: string }) => e.kind === "FailedPrecondition",
  );
  invalid(() => spec({}, { PidMode: "sideways" }), /invalid PidMode "sideways"/);
  invalid(() => spec({}, { NetworkMode: "host" }, { netns: "/run/netns/x" }), /conflicts/);
});

test("privileged: every capability, no seccomp or masked paths, writable /sys, all host devices", () => {
  const s = spec({}, { Privileged: true, CapDrop: ["ALL"] });
  assert.ok((s.process?.capabilities?.bounding?.length ?? 0) > 35);
  assert.ok(s.process?.capabilities?.bounding?.includes("CAP_SYS_ADMIN"));
  assert.equal(s.linux?.seccomp, undefined);
  assert.equal(s.linux?.maskedPaths, undefined);
  assert.equal(s.linux?.readonlyPaths, undefined);
  assert.deepEqual(mountAt(s, "/sys").options, ["nosuid", "noexec", "nodev"]);
  assert.ok(!mountAt(s, "/sys/fs/cgroup").options?.includes("ro"));
  assert.deepEqual(s.linux?.resources?.devices, [{ allow: true, access: "rwm" }]);
  const devNull = s.linux?.devices?.find((d) => d.path === "/dev/null");
  assert.deepEqual({ type: devNull?.type, major: devNull?.major, minor: devNull?.minor }, { type: "c", major: 1, minor: 3 });
  assert.ok(!s.linux?.devices?.some((d) => d.path.startsWith("/dev/pts/")));
});

test("SecurityOpt: seccomp=unconfined, a custom profile, no-new-privileges, systempaths", () => {
  assert.equal(spec({}, { SecurityOpt: ["seccomp=unconfined"] }).linux?.seccomp, undefined);
  assert.equal(spec({}, { SecurityOpt: ["seccomp:unconfined"] }).linux?.seccomp, undefined);
  assert.equal(spec({}, { SecurityOpt: ["no-new-privileges"] }).process?.noNewPrivileges, true);
  assert.equal(spec({}, { SecurityOpt: ["no-new-privileges=true"] }).process?.noNewPrivileges, true);
  assert.equal(spec({}, { SecurityOpt: ["no-new-privileges:false"] }).process?.noNewPrivileges, undefined);
  const open = spec({}, { SecurityOpt: ["systempaths=unconfined"] });
  assert.equal(open.linux?.maskedPaths, undefined);
  const profile = {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    archMap: [
      { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
      { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
    ],
    syscalls: [
      { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
      { name: "personality", action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 0, valueTwo: 0, op: "SCMP_CMP_EQ" }] },
      { names: ["arch_prctl"], action: "SCMP_ACT_ALLOW", includes: { arches: ["amd64"] } },
      { names: ["sync_file_range2"], action: "SCMP_ACT_ALLOW", includes: { arches: ["arm64"] } },
      { names: ["mount"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
      { names: ["clone"], action: "SCMP_ACT_ALLOW", excludes: { caps: ["CAP_SYS_ADMIN"] } },
      { names: ["future"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "99.0" } },
      { names: ["bpf"], action: "SCMP_ACT_ERRNO", errnoRet: 38 },
    ],
  };
  const s = spec({}, { SecurityOpt: [`seccomp=${JSON.stringify(profile)}`] });
  assert.deepEqual(s.linux?.seccomp, {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    syscalls: [
      { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
      { names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 0, op: "SCMP_CMP_EQ" }] },
      { names: ["arch_prctl"], action: "SCMP_ACT_ALLOW" },
      { names: ["clone"], action: "SCMP_ACT_ALLOW" },
      { names: ["bpf"], action: "SCMP_ACT_ERRNO", errnoRet: 38 },
    ],
  });
  const withAdmin = convertSeccompProfile(profile, ["CAP_SYS_ADMIN"], { arch: "arm64", kernel: "6.1" });
  assert.deepEqual(withAdmin.architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
  assert.deepEqual(
    withAdmin.syscalls?.map((c) => c.names[0]),
    ["read", "personality", "sync_file_range2", "mount", "bpf"],
  );
  // an OCI profile passes through
  const oci = {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [{ names: ["kexec_load"], action: "SCMP_ACT_KILL" }],
  };
  assert.deepEqual(convertSeccompProfile(oci, [], SECCOMP), oci);
  // privileged wins over a profile, as in Docker
  assert.equal(spec({}, { Privileged: true, SecurityOpt: [`seccomp=${JSON.stringify(oci)}`] }).linux?.seccomp, undefined);

  invalid(() => spec({}, { SecurityOpt: ["seccomp={not json"] }), /decoding seccomp profile failed/);
  invalid(() => convertSeccompProfile({ defaultAction: "SCMP_ACT_MAYBE" }, []), /defaultAction/);
  invalid(
    () => convertSeccompProfile({ defaultAction: "SCMP_ACT_ALLOW", architectures: ["a"], archMap: [{ architecture: "a" }] }, []),
    /both specified/,
  );
  invalid(
    () =>
      convertSeccompProfile(
        { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ name: "a", names: ["b"], action: "SCMP_ACT_ALLOW" }] },
        [],
      ),
    /'name' and 'names'/,
  );
  invalid(
    () =>
      convertSeccompProfile(
        {
          defaultAction: "SCMP_ACT_ALLOW",
          syscalls: [{ names: ["a"], action: "SCMP_ACT_ALLOW", args: [{ index: 9, value: 0, op: "SCMP_CMP_EQ" }] }],
        },
        [],
      ),
    /index must be 0 to 5/,
  );
  invalid(() => spec({}, { SecurityOpt: ["apparmor=docker-default"] }), /AppArmor/);
  invalid(() => spec({}, { SecurityOpt: ["bogus"] }), /invalid SecurityOpt "bogus"/);
  invalid(() => spec({}, { SecurityOpt: ["no-new-privileges=maybe"] }), /true or false/);
});

test("memory: limit, reservation, Docker's default swap of twice the limit, swappiness", () => {
  const mem = (h: HostConfig, more: Partial<ContainerSpecInput> = {}) => spec({}, h, more).linux?.resources?.memory;
  assert.equal(mem({}), undefined);
  assert.deepEqual(mem({ Memory: 256 << 20 }), { limit: 256 << 20, swap: 512 << 20 });
  assert.deepEqual(mem({ Memory: 256 << 20, MemorySwap: 300 << 20, MemoryReservation: 128 << 20, MemorySwappiness: 0 }), {
    limit: 256 << 20,
    reservation: 128 << 20,
    swap: 300 << 20,
    swappiness: 0,
  });
  assert.deepEqual(mem({ Memory: 256 << 20, MemorySwap: -1, MemorySwappiness: -1 }), { limit: 256 << 20, swap: -1 });
  assert.deepEqual(mem({ Memory: 256 << 20, OomKillDisable: true }), {
    limit: 256 << 20,
    swap: 512 << 20,
    disableOOMKiller: true,
  });
  // a host without swap accounting: no swap limit, and a warning when one was asked for
  const noSwap = buildContainerSpec(input({}, { Memory: 256 << 20, MemorySwap: 512 << 20 }, { swapLimit: false }));
  assert.deepEqual(noSwap.spec.linux?.resources?.memory, { limit: 256 << 20 });
  assert.match(noSwap.warnings.join("\n"), /does not support swap limit/);
  assert.match(buildContainerSpec(input({}, { OomKillDisable: true })).warnings.join("\n"), /OOM killer is disabled/);

  invalid(() => spec({}, { Memory: 1 << 20 }), /minimum memory limit allowed is 6MB/);
  invalid(() => spec({}, { Memory: 64 << 20, MemoryReservation: 128 << 20 }), /memory reservation/);
  invalid(() => spec({}, { MemorySwap: 64 << 20 }), /always set the memory limit/);
  invalid(() => spec({}, { Memory: 64 << 20, MemorySwap: 32 << 20 }), /memoryswap limit should be larger/);
  invalid(() => spec({}, { Memory: 64 << 20, MemorySwappiness: 101 }), /swappiness range is 0-100/);
  invalid(() => spec({}, { Memory: -5 }), /invalid Memory/);
});

test("cpu, pids, blkio: NanoCpus to quota/period, shares, cpusets, limits", () => {
  const res = (h: HostConfig) => buildContainerSpec(input({}, h)).spec.linux?.resources;
  assert.deepEqual(res({ NanoCpus: 500_000_000 })?.cpu, { quota: 50_000, period: 100_000 });
  assert.deepEqual(res({ NanoCpus: 1_000_000_000, CpuShares: 512, CpusetCpus: "0", CpusetMems: "0" })?.cpu, {
    shares: 512,
    quota: 100_000,
    period: 100_000,
    cpus: "0",
    mems: "0",
  });
  assert.deepEqual(res({ CpuPeriod: 50_000, CpuQuota: 25_000 })?.cpu, { quota: 25_000, period: 50_000 });
  assert.equal(res({})?.cpu, undefined);
  const w = buildContainerSpec(input({}, { CpuShares: 1 }));
  assert.equal(w.spec.linux?.resources?.cpu?.shares, 2);
  assert.equal(w.warnings.length, 1);
  assert.deepEqual(res({ PidsLimit: 100 })?.pids, { limit: 100 });
  assert.equal(res({ PidsLimit: 0 })?.pids, undefined);
  assert.equal(res({ PidsLimit: -1 })?.pids, undefined);
  assert.deepEqual(res({ BlkioWeight: 300 })?.blockIO, { weight: 300 });

  const n = availableParallelism();
  invalid(() => res({ NanoCpus: (n + 1) * 1e9 }), new RegExp(`range of CPUs is from 0.01 to ${n}.00`));
  invalid(() => res({ NanoCpus: 1e6 }), /range of CPUs/);
  invalid(() => res({ NanoCpus: 1e9, CpuPeriod: 100_000 }), /Nano CPUs and CPU Period/);
  invalid(() => res({ NanoCpus: 1e9, CpuQuota: 100_000 }), /Nano CPUs and CPU Quota/);
  invalid(() => res({ CpuPeriod: 10 }), /CPU cfs period/);
  invalid(() => res({ CpuQuota: 10 }), /CPU cfs quota/);
  invalid(() => res({ CpusetCpus: "0-" }), /invalid CpusetCpus/);
  invalid(() => res({ CpusetCpus: "3-1" }), /invalid CpusetCpus/);
  invalid(() => res({ BlkioWeight: 5 }), /blkio weight/);
});

test("devices: the default cgroup rules, and HostConfig.Devices from the host's nodes", () => {
  const s = spec();
  const rules = s.linux?.resources?.devices ?? [];
  assert.deepEqual(rules[0], { allow: false, access: "rwm" });
  const allowed = rules.filter((r) => r.allow).map((r) => `${r.type} ${r.major ?? "*"}:${r.minor ?? "*"} ${r.access}`);
  assert.deepEqual(allowed, [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
  ]);
  assert.equal(s.linux?.devices, undefined);

  const d = spec({}, { Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw" }] });
  assert.deepEqual(
    d.linux?.devices?.map(({ type, path, major, minor }) => ({ type, path, major, minor })),
    [{ type: "c", path: "/dev/mynull", major: 1, minor: 3 }],
  );
  assert.deepEqual(d.linux?.resources?.devices?.at(-1), { allow: true, type: "c", major: 1, minor: 3, access: "rw" });
  assert.equal(
    spec({}, { Devices: [{ PathOnHost: "/dev/zero", PathInContainer: "", CgroupPermissions: "" }] }).linux?.devices?.[0]?.path,
    "/dev/zero",
  );
  invalid(
    () => spec({}, { Devices: [{ PathOnHost: "/etc/hostname", PathInContainer: "", CgroupPermissions: "" }] }),
    /not a device node/,
  );
  invalid(
    () => spec({}, { Devices: [{ PathOnHost: "/dev/nonexistent-berth", PathInContainer: "", CgroupPermissions: "" }] }),
    /error gathering device information/,
  );
  invalid(
    () => spec({}, { Devices: [{ PathOnHost: "/dev/null", PathInContainer: "", CgroupPermissions: "rx" }] }),
    /invalid cgroup permissions/,
  );
});

test("ulimits, sysctls and oom score", () => {
  const s = spec(
    {},
    {
      Ulimits: [
        { Name: "nofile", Soft: 1024, Hard: 4096 },
        { Name: "core", Soft: -1, Hard: -1 },
      ],
      Sysctls: { "net.ipv4.ip_forward": "1", "kernel.shmmax": "1000000", "fs.mqueue.msg_max": "20" },
      OomScoreAdj: 500,
    },
    {
      defaultUlimits: [
        { Name: "nofile", Soft: 1, Hard: 1 },
        { Name: "nproc", Soft: 100, Hard: 200 },
      ],
    },
  );
  assert.deepEqual(s.process?.rlimits, [
    { type: "RLIMIT_NOFILE", soft: 1024, hard: 4096 },
    { type: "RLIMIT_NPROC", soft: 100, hard: 200 },
    { type: "RLIMIT_CORE", soft: 2 ** 64 - 1, hard: 2 ** 64 - 1 },
  ]);
  assert.deepEqual(s.linux?.sysctl, { "net.ipv4.ip_forward": "1", "kernel.shmmax": "1000000", "fs.mqueue.msg_max": "20" });
  assert.equal(s.process?.oomScoreAdj, 500);

  invalid(() => spec({}, { Ulimits: [{ Name: "bogus", Soft: 1, Hard: 1 }] }), /invalid ulimit "bogus"/);
  invalid(
    () => spec({}, { Ulimits: [{ Name: "nofile", Soft: 10, Hard: 5 }] }),
    /soft limit must be less than or equal to hard limit/,
  );
  invalid(() => spec({}, { Sysctls: { "kernel.panic": "1" } }), /not namespaced/);
  invalid(() => spec({}, { NetworkMode: "host", Sysctls: { "net.ipv4.ip_forward": "1" } }), /host's network namespace/);
  invalid(() => spec({}, { IpcMode: "host", Sysctls: { "kernel.shmmax": "1" } }), /host's IPC namespace/);
  invalid(() => spec({}, { OomScoreAdj: 1001 }), /range is -1000 to 1000/);
});

test("the spec is plain JSON with Docker's shape", () => {
  const s = spec({ Tty: false }, { Memory: 64 << 20 });
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  assert.equal(s.ociVersion, "1.2.0");
  assert.equal(s.process?.terminal, false);
  assert.equal(s.process?.capabilities?.inheritable, undefined);
  assert.equal(s.process?.capabilities?.ambient, undefined);
  assert.equal(s.annotations, undefined);
});
