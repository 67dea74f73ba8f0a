import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultSpec } from "./default-spec.js";
import { toRootless } from "./rootless-spec.js";

test("toRootless: user namespace with the caller's ids, no network namespace, /sys bound, no gid=, no resources", () => {
  const base = defaultSpec();
  const s = toRootless(base, { uid: 1000, gid: 1001 });
  assert.deepEqual(s.linux?.uidMappings, [{ containerID: 0, hostID: 1000, size: 1 }]);
  assert.deepEqual(s.linux?.gidMappings, [{ containerID: 0, hostID: 1001, size: 1 }]);
  assert.deepEqual(
    s.linux?.namespaces?.map((n) => n.type),
    ["pid", "ipc", "uts", "mount", "cgroup", "user"],
  );
  assert.deepEqual(
    s.mounts?.find((m) => m.destination === "/sys"),
    { destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] },
  );
  assert.ok(!s.mounts?.some((m) => m.options?.some((o) => /^(uid|gid)=/.test(o))));
  assert.equal(s.linux?.resources, undefined);
  assert.ok(base.linux?.resources, "the input is left as it was");
});
