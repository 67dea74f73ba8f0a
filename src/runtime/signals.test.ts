import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { parseSignal } from "./signals.js";

const invalid = (s: string) => (e: unknown) => {
  assert.ok(isKind(e, "InvalidArgument"), `${s}: ${String(e)}`);
  return true;
};

test("no signal means SIGTERM", () => {
  assert.equal(parseSignal(undefined), 15);
  assert.equal(parseSignal(""), 15);
});

test("names with or without SIG, in any case", () => {
  assert.equal(parseSignal("KILL"), 9);
  assert.equal(parseSignal("SIGKILL"), 9);
  assert.equal(parseSignal("sigkill"), 9);
  assert.equal(parseSignal("term"), 15);
  assert.equal(parseSignal("HUP"), 1);
  assert.equal(parseSignal("SIGUSR1"), 10);
  assert.equal(parseSignal("usr2"), 12);
  assert.equal(parseSignal("STOP"), 19);
  assert.equal(parseSignal("CONT"), 18);
  assert.equal(parseSignal("WINCH"), 28);
});

test("numbers from 1 to 64", () => {
  assert.equal(parseSignal("9"), 9);
  assert.equal(parseSignal("1"), 1);
  assert.equal(parseSignal("64"), 64);
  for (const s of ["0", "65", "-1", "1.5", "9x"]) assert.throws(() => parseSignal(s), invalid(s), s);
});

test("real-time signals: RTMIN+n and RTMAX-n", () => {
  assert.equal(parseSignal("RTMIN"), 34);
  assert.equal(parseSignal("SIGRTMIN"), 34);
  assert.equal(parseSignal("RTMIN+3"), 37);
  assert.equal(parseSignal("sigrtmin+1"), 35);
  assert.equal(parseSignal("RTMAX"), 64);
  assert.equal(parseSignal("RTMAX-2"), 62);
  assert.equal(parseSignal("SIGRTMIN+30"), 64);
});

test("real-time offsets outside SIGRTMIN..SIGRTMAX are invalid", () => {
  for (const s of ["RTMIN+31", "RTMAX-31"]) assert.throws(() => parseSignal(s), invalid(s), s);
});

test("unknown names are InvalidArgument quoting the input", () => {
  for (const s of ["FOO", "SIG", "RTMIN-1", "RTMAX+1", "SIGKILLX"])
    assert.throws(
      () => parseSignal(s),
      (e: unknown) => isKind(e, "InvalidArgument") && (e as Error).message === `unknown signal "${s}"`,
      s,
    );
});
