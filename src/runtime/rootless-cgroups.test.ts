import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { loadManager } from "../cgroups/index.js";
import type { Spec } from "../oci/index.js";
import { rootlessCgroups } from "./rootless-cgroups.js";

const V1 = {
  "cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/c1",
  pids: "/sys/fs/cgroup/pids/c1",
  devices: "/sys/fs/cgroup/devices/c1",
};
const spec = (linux: Spec["linux"] = {}): Spec => ({ ociVersion: "1.0.2", linux });

test("not delegated: every hierarchy left out, said at debug level, device rules dropped", () => {
  const said: string[] = [];
  const r = rootlessCgroups(
    loadManager(1, V1),
    spec({ resources: { devices: [{ allow: false, access: "rwm" }] } }),
    (m) => said.push(m),
    () => false,
  );
  assert.deepEqual(r.cg.paths, {});
  assert.equal(r.resources, undefined);
  assert.match(said.join("\n"), /rootless: no permission .* cpu,cpuacct pids devices/);
});

test("a limit whose controller is left out is an error; a delegated one is kept", () => {
  const limited = spec({ resources: { pids: { limit: 10 } } });
  assert.throws(
    () =>
      rootlessCgroups(
        loadManager(1, V1),
        limited,
        () => {},
        () => false,
      ),
    (err: unknown) => isKind(err, "PermissionDenied") && /^linux\.resources\.pids: /.test((err as Error).message),
  );
  const r = rootlessCgroups(
    loadManager(1, V1),
    limited,
    () => {},
    (d) => d.includes("/pids/"),
  );
  assert.deepEqual(r.cg.paths, { pids: V1.pids });
  assert.deepEqual(r.resources, { pids: { limit: 10 } });
});

test("an explicit cgroupsPath that cannot be used is an error, as in runc", () => {
  assert.throws(
    () =>
      rootlessCgroups(
        loadManager(1, V1),
        spec({ cgroupsPath: "/mine" }),
        () => {},
        () => false,
      ),
    (err: unknown) => isKind(err, "PermissionDenied") && /^linux\.cgroupsPath: /.test((err as Error).message),
  );
});
