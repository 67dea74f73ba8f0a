import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readRootfsFile, resolveUser } from "./user.js";

const tmp = mkdtempSync(join(tmpdir(), "berth-user-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A rootfs with these files under it (a string is a file, { link } a symlink). */
function rootfs(files: Record<string, string | { link: string }>): string {
  const root = join(tmp, `rootfs-${n++}`);
  mkdirSync(root);
  for (const [path, v] of Object.entries(files)) {
    const p = join(root, path);
    mkdirSync(join(p, ".."), { recursive: true });
    if (typeof v === "string") writeFileSync(p, v);
    else symlinkSync(v.link, p);
  }
  return root;
}

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment, then a malformed line
broken:x:notanumber:0::/:/bin/sh
app:x:1000:1000:App:/home/app:/bin/sh
nohome:x:1001:1001::::
`;
const GROUP = `root:x:0:
wheel:x:10:root,app
app:x:1000:
audio:x:29:app
video:x:44:
staff:x:50:daemon
`;

test("an empty User is root, with root's home and memberships", () => {
  const root = rootfs({ "etc/passwd": PASSWD, "etc/group": GROUP });
  assert.deepEqual(resolveUser(root, ""), { uid: 0, gid: 0, additionalGids: [0, 10], home: "/root" });
  assert.deepEqual(resolveUser(root, undefined), { uid: 0, gid: 0, additionalGids: [0, 10], home: "/root" });
});

test("a user name takes uid, gid, home and supplementary groups from the image", () => {
  const root = rootfs({ "etc/passwd": PASSWD, "etc/group": GROUP });
  assert.deepEqual(resolveUser(root, "app"), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: "/home/app" });
  assert.deepEqual(resolveUser(root, "1000"), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: "/home/app" });
  // an entry without a home directory gets "/"
  assert.equal(resolveUser(root, "nohome").home, "/");
});

test("user:group sets the primary group and drops /etc/group memberships", () => {
  const root = rootfs({ "etc/passwd": PASSWD, "etc/group": GROUP });
  assert.deepEqual(resolveUser(root, "app:video"), { uid: 1000, gid: 44, additionalGids: [44], home: "/home/app" });
  assert.deepEqual(resolveUser(root, "app:5000"), { uid: 1000, gid: 5000, additionalGids: [5000], home: "/home/app" });
  assert.deepEqual(resolveUser(root, "1:staff"), { uid: 1, gid: 50, additionalGids: [50], home: "/usr/sbin" });
});

test("a numeric uid without a passwd entry is taken as is, with gid 0", () => {
  const root = rootfs({ "etc/passwd": PASSWD, "etc/group": GROUP });
  assert.deepEqual(resolveUser(root, "4242"), { uid: 4242, gid: 0, additionalGids: [0], home: "/" });
  assert.deepEqual(resolveUser(root, "4242:4343"), { uid: 4242, gid: 4343, additionalGids: [4343], home: "/" });
  // an image with no passwd or group file at all
  const bare = rootfs({});
  assert.deepEqual(resolveUser(bare, "123:456"), { uid: 123, gid: 456, additionalGids: [456], home: "/" });
  assert.deepEqual(resolveUser(bare, ""), { uid: 0, gid: 0, additionalGids: [0], home: "/" });
});

test("unknown names and bad ids are InvalidArgument with Docker's message", () => {
  const root = rootfs({ "etc/passwd": PASSWD, "etc/group": GROUP });
  assert.throws(
    () => resolveUser(root, "nobody"),
    (e: Error & { kind?: string }) =>
      e.kind === "InvalidArgument" && e.message === "unable to find user nobody: no matching entries in passwd file",
  );
  assert.throws(() => resolveUser(root, "app:nogroup"), /unable to find group nogroup: no matching entries in group file/);
  assert.throws(() => resolveUser(rootfs({}), "app"), /unable to find user app/);
  assert.throws(() => resolveUser(root, "99999999999"), /out of range/);
  assert.throws(() => resolveUser(root, "app:"), /invalid user "app:"/);
  assert.throws(() => resolveUser(root, ":0"), /invalid user/);
  // "broken" has a non-numeric uid, so it is no entry at all
  assert.throws(() => resolveUser(root, "broken"), /unable to find user broken/);
});

test("GroupAdd appends groups by name or number, after the user's own", () => {
  const root = rootfs({ "etc/passwd": PASSWD, "etc/group": GROUP });
  assert.deepEqual(resolveUser(root, "app", ["video", "777", "10"]).additionalGids, [1000, 10, 29, 44, 777]);
  assert.deepEqual(resolveUser(root, "app:app", ["audio"]).additionalGids, [1000, 29]);
  assert.throws(() => resolveUser(root, "app", ["nosuch"]), /unable to find group nosuch/);
});

test("a symlinked /etc/passwd is resolved inside the rootfs, never on the host", () => {
  const inRoot = "evil:x:4000:4000::/evil:/bin/sh\n";
  // absolute and relative escapes: both land on the rootfs's own /etc/shadow (which is not the host's)
  for (const link of ["/etc/shadow", "../../../../../../../../etc/shadow", "../../../etc/shadow"]) {
    const root = rootfs({ "etc/shadow": inRoot, "etc/passwd": { link } });
    assert.deepEqual(resolveUser(root, "evil"), { uid: 4000, gid: 4000, additionalGids: [4000], home: "/evil" }, link);
    assert.equal(readRootfsFile(root, "/etc/passwd"), inRoot);
  }
  // a link to a host file that the rootfs does not have: the file is missing, not read from the host
  const root = rootfs({ "etc/passwd": { link: "/etc/hostname" } });
  assert.equal(readRootfsFile(root, "/etc/passwd"), undefined);
  assert.throws(() => resolveUser(root, "root"), /unable to find user root/);
  // /etc itself a symlink out of the rootfs: resolved in the rootfs too
  const root2 = rootfs({ "elsewhere/passwd": "x:x:7:7::/x:/bin/sh\n", etc: { link: "/../../../../elsewhere" } });
  assert.equal(resolveUser(root2, "x").uid, 7);
});

test("readRootfsFile refuses what is not a regular file and symlink loops", () => {
  const root = rootfs({ "etc/a": { link: "b" }, "etc/b": { link: "a" }, "etc/group/x": "" });
  assert.throws(() => readRootfsFile(root, "/etc/a"), /too many levels of symbolic links/);
  assert.throws(() => readRootfsFile(root, "/etc/group"), /not a regular file/);
  assert.throws(() => readRootfsFile(root, "/"), /is a directory/);
  assert.throws(() => resolveUser(root, ""), /\/etc\/group.*not a regular file/);
  // a path through a regular file is simply missing
  assert.equal(readRootfsFile(root, "/etc/group/x/y"), undefined);
  assert.equal(readRootfsFile(root, "/etc/group/x"), "");
  assert.equal(readRootfsFile(root, "/etc/../etc/./group/x"), "");
});
