// Devices: the default set, configured devices with mode and owner, the /dev symlinks.
import assert from "node:assert/strict";
import { rtest } from "./harness.js";

rtest("default devices exist with the right type and major:minor", (h) => {
  const devs = ["null", "zero", "full", "random", "urandom", "tty"];
  const out = h.runOk([
    "sh",
    "-c",
    `for d in ${devs.join(" ")}; do stat -c '%n %F %t:%T' /dev/$d; done; echo x > /dev/null && head -c 3 /dev/zero | wc -c`,
  ]);
  assert.deepEqual(out.trim().split("\n"), [
    "/dev/null character special file 1:3",
    "/dev/zero character special file 1:5",
    "/dev/full character special file 1:7",
    "/dev/random character special file 1:8",
    "/dev/urandom character special file 1:9",
    "/dev/tty character special file 5:0",
    "3",
  ]);
});

rtest("a configured device is created with its fileMode, uid and gid, and usable", (h) => {
  const out = h.runOk(["sh", "-c", "stat -c '%F %t:%T %a %u %g' /dev/btzero; head -c 4 /dev/btzero | wc -c"], (s) => {
    if (!s.linux) return;
    s.linux.devices = [{ path: "/dev/btzero", type: "c", major: 1, minor: 5, fileMode: 0o644, uid: 1234, gid: 5678 }];
    s.linux.resources = {
      devices: [
        { allow: false, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
      ],
    };
  });
  assert.deepEqual(out.trim().split("\n"), ["character special file 1:5 644 1234 5678", "4"]);
});

rtest("the device cgroup denies a device no rule allows, and allows it with a rule", (h) => {
  // the host's /dev/loop-control (10:237) bound in: not a default device; root owns it, so only the cgroup can refuse
  const withRule = (allow: boolean) =>
    h.run(["sh", "-c", ": < /dev/btloop && echo opened"], (s) => {
      s.mounts?.push({ destination: "/dev/btloop", type: "bind", source: "/dev/loop-control", options: ["bind"] });
      if (s.linux)
        s.linux.resources = {
          devices: [
            { allow: false, access: "rwm" },
            ...(allow ? [{ allow: true, type: "c", major: 10, minor: 237, access: "rw" }] : []),
          ],
        };
    });
  const denied = withRule(false);
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /Operation not permitted/);
  const allowed = withRule(true);
  assert.equal(allowed.stdout, "opened\n", allowed.stderr);
});

rtest("/dev/fd, /dev/stdin, /dev/stdout, /dev/stderr and /dev/ptmx are the usual symlinks", (h) => {
  const out = h.runOk(["sh", "-c", "for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done"]);
  assert.deepEqual(out.trim().split("\n"), [
    "/proc/self/fd",
    "/proc/self/fd/0",
    "/proc/self/fd/1",
    "/proc/self/fd/2",
    "pts/ptmx",
  ]);
});
