import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { validateProcess, validateSpec } from "./validate-spec.js";

type Json = Record<string, unknown>;

function minimal(): Json {
  return {
    ociVersion: "1.0.2",
    root: { path: "rootfs" },
    process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/" },
  };
}

/** A minimal spec with `patch` applied at a dotted path ("process.user.uid"). */
function withField(path: string, value: unknown): Json {
  const spec = minimal();
  const keys = path.split(".");
  let o: Json = spec;
  for (const k of keys.slice(0, -1)) {
    o[k] ??= {};
    o = o[k] as Json;
  }
  o[keys.at(-1) as string] = value;
  return spec;
}

function assertBad(spec: unknown, field: string, detail?: RegExp): void {
  assert.throws(
    () => validateSpec(spec),
    (e: unknown) => {
      assert.ok(isKind(e, "InvalidArgument"), `want InvalidArgument, got ${String(e)}`);
      const msg = (e as Error).message;
      assert.ok(msg.startsWith(`${field}: `), `message "${msg}" should start with "${field}: "`);
      if (detail) assert.match(msg, detail);
      return true;
    },
  );
}

test("a minimal spec passes and is returned as is", () => {
  const spec = minimal();
  assert.equal(validateSpec(spec), spec);
});

test("a full, valid spec passes", () => {
  const spec = {
    ...minimal(),
    hostname: "box",
    domainname: "example",
    process: {
      terminal: true,
      consoleSize: { height: 24, width: 80 },
      user: { uid: 1000, gid: 1000, umask: 18, additionalGids: [5, 6] },
      args: ["sh", "-c", "true"],
      env: ["PATH=/bin"],
      cwd: "/home",
      capabilities: { bounding: ["CAP_KILL"], effective: [], permitted: ["CAP_KILL"] },
      rlimits: [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 2 ** 64 }],
      noNewPrivileges: true,
      oomScoreAdj: -100,
      apparmorProfile: "p",
    },
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/data", source: "/d", options: ["rbind", "ro"], uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] },
    ],
    hooks: { prestart: [{ path: "/bin/h", args: ["h"], env: [], timeout: 3 }], poststop: [] },
    annotations: { "org.example": "x" },
    linux: {
      namespaces: [{ type: "pid" }, { type: "mount" }, { type: "network", path: "/proc/1/ns/net" }],
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      devices: [
        { type: "c", path: "/dev/fuse", major: 10, minor: 229, fileMode: 438, uid: 0, gid: 0 },
        { type: "p", path: "/dev/fifo" },
      ],
      cgroupsPath: "/berth/c1",
      rootfsPropagation: "rslave",
      sysctl: { "net.ipv4.ip_forward": "1" },
      maskedPaths: ["/proc/kcore"],
      readonlyPaths: ["/proc/sys"],
      resources: {},
      seccomp: { defaultAction: "SCMP_ACT_ALLOW" },
    },
    // unknown fields are allowed, as the spec says
    vendorExtension: { anything: true },
  };
  assert.doesNotThrow(() => validateSpec(spec));
});

test("the document itself must be an object", () => {
  assertBad(null, "config", /must be an object, got null/);
  assertBad([], "config", /got an array/);
  assertBad("x", "config");
});

test("ociVersion must be a 1.x.y string", () => {
  const { ociVersion: _, ...noVersion } = minimal();
  assertBad(noVersion, "ociVersion", /must be a string, got nothing/);
  assertBad(withField("ociVersion", 1), "ociVersion", /must be a string/);
  assertBad(withField("ociVersion", "2.0.0"), "ociVersion", /unsupported version "2.0.0"/);
  assert.doesNotThrow(() => validateSpec(withField("ociVersion", "1.2.0-rc.1")));
});

test("root", () => {
  assertBad(withField("root", "rootfs"), "root", /must be an object/);
  assertBad(withField("root.path", ""), "root.path", /must not be empty/);
  assertBad(withField("root.path", 3), "root.path", /must be a string/);
  assertBad(withField("root.readonly", "yes"), "root.readonly", /must be a boolean/);
});

test("hostname and domainname must be strings", () => {
  assertBad(withField("hostname", 1), "hostname");
  assertBad(withField("domainname", false), "domainname");
});

test("process.user fields are non-negative integers", () => {
  assertBad(withField("process.user.uid", -1), "process.user.uid", /must not be negative, got -1/);
  assertBad(withField("process.user.gid", 1.5), "process.user.gid", /must be an integer/);
  assertBad(withField("process.user.uid", "0"), "process.user.uid", /must be an integer/);
  assertBad(withField("process.user.umask", -2), "process.user.umask");
  assertBad(withField("process.user.additionalGids", [1, -3]), "process.user.additionalGids[1]");
  assertBad(withField("process.user.additionalGids", 5), "process.user.additionalGids", /must be an array/);
  assertBad(withField("process.user", null), "process.user", /must be an object, got null/);
});

test("process args, env and cwd", () => {
  assertBad(withField("process.args", []), "process.args", /at least one entry/);
  assertBad(withField("process.args", ["sh", 1]), "process.args[1]", /must be a string/);
  assertBad(withField("process.args", "sh"), "process.args", /must be an array/);
  const { args: _, ...noArgs } = minimal()["process"] as Json;
  assertBad({ ...minimal(), process: noArgs }, "process.args");
  assertBad(withField("process.env", ["A=1", null]), "process.env[1]");
  assertBad(withField("process.cwd", "home"), "process.cwd", /must be an absolute path, got "home"/);
  assertBad(withField("process.cwd", undefined), "process.cwd", /must be a string/);
});

test("process terminal, console size, capabilities, rlimits and the rest", () => {
  assertBad(withField("process.terminal", 1), "process.terminal", /must be a boolean/);
  assertBad(withField("process.consoleSize", { height: 24 }), "process.consoleSize.width");
  assertBad(withField("process.capabilities", { bounding: "CAP_KILL" }), "process.capabilities.bounding");
  assertBad(withField("process.capabilities", { ambient: [7] }), "process.capabilities.ambient[0]");
  assertBad(
    withField("process.rlimits", [
      { type: "RLIMIT_CORE", soft: 0, hard: 0 },
      { type: "RLIMIT_NOFILE", soft: -1, hard: 1 },
    ]),
    "process.rlimits[1].soft",
  );
  assertBad(withField("process.rlimits", [{ soft: 0, hard: 0 }]), "process.rlimits[0].type");
  assertBad(withField("process.rlimits", [{ type: "RLIMIT_CORE", soft: 0 }]), "process.rlimits[0].hard");
  assertBad(withField("process.noNewPrivileges", "true"), "process.noNewPrivileges");
  assertBad(withField("process.oomScoreAdj", 0.5), "process.oomScoreAdj");
  assert.doesNotThrow(() => validateSpec(withField("process.oomScoreAdj", -1000)));
  assertBad(withField("process.apparmorProfile", 1), "process.apparmorProfile");
  assertBad(withField("process.selinuxLabel", {}), "process.selinuxLabel");
});

test("validateProcess names fields under the path it is given", () => {
  assert.throws(
    () => validateProcess({ user: { uid: 0, gid: -1 }, args: ["sh"], cwd: "/" }, "process.json"),
    (e: unknown) => isKind(e, "InvalidArgument") && (e as Error).message.startsWith("process.json.user.gid: "),
  );
  const p = { user: { uid: 0, gid: 0 }, args: ["ps"], cwd: "/" };
  assert.equal(validateProcess(p, "process"), p);
});

test("mounts", () => {
  const proc = { destination: "/proc", type: "proc" };
  assertBad(withField("mounts", {}), "mounts", /must be an array/);
  assertBad(withField("mounts", [proc, "x"]), "mounts[1]", /must be an object/);
  assertBad(withField("mounts", [proc, { destination: "data" }]), "mounts[1].destination", /absolute path, got "data"/);
  assertBad(withField("mounts", [proc, { type: "tmpfs" }]), "mounts[1].destination", /must be a string/);
  assertBad(withField("mounts", [{ destination: "/x", type: 5 }]), "mounts[0].type");
  assertBad(withField("mounts", [{ destination: "/x", source: [] }]), "mounts[0].source");
  assertBad(withField("mounts", [{ destination: "/x", options: ["ro", 1] }]), "mounts[0].options[1]");
  assertBad(
    withField("mounts", [{ destination: "/x", uidMappings: [{ containerID: 0, hostID: 0, size: -1 }] }]),
    "mounts[0].uidMappings[0].size",
  );
  assertBad(withField("mounts", [{ destination: "/x", gidMappings: {} }]), "mounts[0].gidMappings", /must be an array/);
});

test("hooks", () => {
  assertBad(withField("hooks", []), "hooks", /must be an object/);
  assertBad(withField("hooks.prestart", {}), "hooks.prestart", /must be an array/);
  assertBad(withField("hooks.createRuntime", [{ path: "/ok" }, { path: "rel" }]), "hooks.createRuntime[1].path", /absolute/);
  assertBad(withField("hooks.poststop", [{}]), "hooks.poststop[0].path", /must be a string/);
  assertBad(withField("hooks.startContainer", [{ path: "/h", args: "h" }]), "hooks.startContainer[0].args");
  assertBad(withField("hooks.createContainer", [{ path: "/h", env: [1] }]), "hooks.createContainer[0].env[0]");
  assertBad(withField("hooks.poststart", [{ path: "/h", timeout: 0 }]), "hooks.poststart[0].timeout", /greater than zero/);
  assertBad(withField("hooks.poststart", [{ path: "/h", timeout: "5" }]), "hooks.poststart[0].timeout", /integer/);
});

test("annotations are strings", () => {
  assertBad(withField("annotations", { a: "1", b: 2 }), "annotations.b", /must be a string/);
  assertBad(withField("annotations", ["a"]), "annotations", /must be an object/);
});

test("linux.namespaces", () => {
  assertBad(withField("linux.namespaces", [{ type: "bogus" }]), "linux.namespaces[0].type", /unknown namespace type "bogus"/);
  assertBad(
    withField("linux.namespaces", [{ type: "pid" }, { type: "pid" }]),
    "linux.namespaces[1].type",
    /duplicate namespace "pid"/,
  );
  assertBad(withField("linux.namespaces", [{}]), "linux.namespaces[0].type", /must be a string/);
  assertBad(withField("linux.namespaces", [{ type: "net" }]), "linux.namespaces[0].type");
  assertBad(withField("linux.namespaces", [{ type: "pid", path: 3 }]), "linux.namespaces[0].path");
  assertBad(withField("linux.namespaces", { pid: true }), "linux.namespaces", /must be an array/);
  assertBad(withField("linux", []), "linux", /must be an object/);
});

test("linux id mappings", () => {
  assertBad(withField("linux.uidMappings", [{ containerID: 0, hostID: 1000, size: "1" }]), "linux.uidMappings[0].size");
  assertBad(withField("linux.gidMappings", [{ containerID: -1, hostID: 1000, size: 1 }]), "linux.gidMappings[0].containerID");
  assertBad(withField("linux.gidMappings", [{ containerID: 0, size: 1 }]), "linux.gidMappings[0].hostID");
});

test("linux.devices", () => {
  assertBad(withField("linux.devices", [{ type: "x", path: "/dev/x" }]), "linux.devices[0].type", /one of c, b, u, p; got "x"/);
  assertBad(withField("linux.devices", [{ type: "c", major: 1, minor: 3 }]), "linux.devices[0].path");
  assertBad(withField("linux.devices", [{ type: "c", path: "/dev/x", minor: 3 }]), "linux.devices[0].major");
  assertBad(withField("linux.devices", [{ type: "b", path: "/dev/x", major: 8, minor: 1.5 }]), "linux.devices[0].minor");
  assertBad(
    withField("linux.devices", [{ type: "c", path: "/dev/x", major: 1, minor: 3, fileMode: -1 }]),
    "linux.devices[0].fileMode",
  );
  assertBad(withField("linux.devices", [{ type: "c", path: "/dev/x", major: 1, minor: 3, uid: "0" }]), "linux.devices[0].uid");
  assertBad(withField("linux.devices", [{ type: "c", path: "/dev/x", major: 1, minor: 3, gid: null }]), "linux.devices[0].gid");
  // fifos need no device numbers
  assert.doesNotThrow(() => validateSpec(withField("linux.devices", [{ type: "p", path: "/dev/p" }])));
});

test("other linux fields", () => {
  assertBad(withField("linux.cgroupsPath", 1), "linux.cgroupsPath");
  assertBad(withField("linux.rootfsPropagation", "sideways"), "linux.rootfsPropagation", /unknown value "sideways"/);
  assertBad(withField("linux.rootfsPropagation", 1), "linux.rootfsPropagation", /must be a string/);
  assertBad(withField("linux.sysctl", { "kernel.x": 1 }), "linux.sysctl.kernel.x");
  assertBad(withField("linux.maskedPaths", ["/a", 2]), "linux.maskedPaths[1]");
  assertBad(withField("linux.readonlyPaths", "/proc"), "linux.readonlyPaths");
  assertBad(withField("linux.resources", []), "linux.resources");
  assertBad(withField("linux.seccomp", "x"), "linux.seccomp");
});
