import assert from "node:assert/strict";
import { test } from "node:test";
import { PullProgress } from "./progress.js";

const d = `sha256:${"ab".repeat(32)}`;
const e = `sha256:${"cd".repeat(32)}`;

test("without a terminal: one plain line per change of a layer's state", () => {
  let out = "";
  const p = new PullProgress((s) => (out += s), false);
  p.event({ type: "layer", digest: d, size: 2000, status: "waiting", current: 0 });
  p.event({ type: "layer", digest: d, size: 2000, status: "downloading", current: 10 });
  p.event({ type: "layer", digest: d, size: 2000, status: "downloading", current: 1000 });
  p.event({ type: "layer", digest: d, size: 2000, status: "done", current: 2000 });
  p.event({ type: "layer", digest: e, size: 5, status: "exists", current: 5 });
  p.event({ type: "layer", digest: e, size: 5, status: "done", current: 5 });
  assert.equal(
    out,
    "abababababab: Waiting\nabababababab: Downloading 2kB\nabababababab: Pull complete\ncdcdcdcdcdcd: Already exists\n",
  );
});

test("on a terminal: the layer lines are redrawn in place with a bar", () => {
  let out = "";
  const p = new PullProgress((s) => (out += s), true, 100);
  p.event({ type: "layer", digest: d, size: 1000, status: "downloading", current: 500 });
  p.event({ type: "layer", digest: e, size: 10, status: "waiting", current: 0 });
  p.flush();
  const last = out.slice(out.lastIndexOf("\x1b[2A"));
  assert.match(last, /^\x1b\[2A\x1b\[2Kabababababab: Downloading \[=+>\s+\] 500B\/1kB\n\x1b\[2Kcdcdcdcdcdcd: Waiting\n$/);
});
