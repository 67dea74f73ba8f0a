// Settling a layer unpacked on its own: what the layers below show, implied parents, idle whiteouts.
// Needs root (mknod, trusted.* xattrs).
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { tarBuffer, type TarWriteHeader } from "../images/tar/index.js";
import { applyLayer } from "./apply-layer.js";
import { lowerEntry, settleLayer } from "./settle-layer.js";

const skip = process.getuid?.() !== 0 && "needs root (mknod, trusted.* xattrs)";
const scratch = mkdtempSync(join(tmpdir(), "berth-settle-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(scratch, `d${++n}`);
  mkdirSync(d);
  return d;
};

type E = { header: TarWriteHeader; body?: string };
const f = (name: string, body = name): E => ({ header: { name }, body });
const d = (name: string, extra: Partial<TarWriteHeader> = {}): E => ({ header: { name, type: "directory", ...extra } });
const apply = (dir: string, entries: E[]) => applyLayer([tarBuffer(entries)], dir, { whiteouts: "overlay" });

test("lowerEntry: whiteouts, opaque directories and non-directories hide what is below", { skip }, async () => {
  const [top, mid, bottom] = [fresh(), fresh(), fresh()];
  await apply(bottom, [d("a/", { mode: 0o700 }), d("o/"), d("o/in/"), d("f/"), d("f/in/"), d("w/")]);
  await apply(mid, [f("o/.wh..wh..opq", ""), f("f", "file"), f(".wh.w", "")]);
  const lowers = [mid, bottom];
  assert.equal(lowerEntry(lowers, "a")?.path, join(bottom, "a"));
  assert.equal(lowerEntry(lowers, "o")?.path, join(mid, "o"));
  assert.equal(lowerEntry(lowers, "o/in"), undefined, "opaque in mid");
  assert.equal(lowerEntry(lowers, "f/in"), undefined, "a file in mid");
  assert.equal(lowerEntry(lowers, "w"), undefined, "whited out in mid");
  assert.equal(lowerEntry(lowers, "nothing"), undefined);
  // settle a top layer: its implied "a" takes bottom's mode; whiteouts over nothing go
  const r = await apply(top, [f("a/x"), f(".wh.a2", ""), f(".wh.o", "")]);
  settleLayer(top, lowers, r);
  assert.equal(lstatSync(join(top, "a")).mode & 0o7777, 0o700);
  assert.ok(!existsSync(join(top, "a2")));
  assert.ok(lstatSync(join(top, "o")).isCharacterDevice());
});
