import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import type { IdMapIo } from "./id-maps.js";
import { writeIdMaps } from "./id-maps.js";

/** A recording fake: writes to files in `eperm` fail as the kernel refuses an unprivileged mapping. */
function fakeIo(rootless: boolean, o: { eperm?: string[]; noTool?: boolean } = {}): IdMapIo & { log: string[] } {
  const log: string[] = [];
  return {
    rootless,
    egid: 1000,
    log,
    writeFile(path, data) {
      if (o.eperm?.includes(path)) throw Object.assign(new Error("EPERM"), { code: "EPERM" });
      log.push(`write ${path} ${data.trim()}`);
    },
    runTool(tool, args) {
      if (o.noTool) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      log.push(`${tool} ${args.join(" ")}`);
    },
  };
}

const self = [{ containerID: 0, hostID: 1000, size: 1 }];
const wide = [
  { containerID: 0, hostID: 1000, size: 1 },
  { containerID: 1, hostID: 300000, size: 65536 },
];

test("root writes any mapping itself and leaves setgroups alone", () => {
  const io = fakeIo(false);
  writeIdMaps(42, wide, self, io);
  assert.deepEqual(io.log, ["write /proc/42/uid_map 0 1000 1\n1 300000 65536", "write /proc/42/gid_map 0 1000 1"]);
});

test("rootless self-mapping: setgroups denied first, then uid_map and gid_map written directly", () => {
  const io = fakeIo(true);
  writeIdMaps(42, self, self, io);
  assert.deepEqual(io.log, [
    "write /proc/42/setgroups deny",
    "write /proc/42/uid_map 0 1000 1",
    "write /proc/42/gid_map 0 1000 1",
  ]);
});

test("rootless wider mappings go through newuidmap (after EPERM) and newgidmap", () => {
  const io = fakeIo(true, { eperm: ["/proc/42/uid_map"] });
  writeIdMaps(42, wide, wide, io);
  assert.deepEqual(io.log, ["newuidmap 42 0 1000 1 1 300000 65536", "newgidmap 42 0 1000 1 1 300000 65536"]);
});

test("rootless without the helpers: a PermissionDenied naming the field and the package", () => {
  const io = fakeIo(true, { eperm: ["/proc/42/uid_map"], noTool: true });
  assert.throws(
    () => writeIdMaps(42, wide, self, io),
    (err: unknown) =>
      isKind(err, "PermissionDenied") && /linux\.uidMappings: .*newuidmap.*uidmap package/.test((err as Error).message),
  );
});
