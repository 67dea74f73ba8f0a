import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "../errors/index.js";
import { normalizeLogConfig, parseLogSize, shimLogOptions, shimLogRequest } from "./log-config.js";

const refused = (f: () => unknown, msg: RegExp) =>
  assert.throws(f, (e: unknown) => isKind(e, "InvalidArgument") && msg.test((e as Error).message));

test("absent or empty LogConfig is json-file without options", () => {
  const def = { Type: "json-file", Config: {} };
  assert.deepEqual(normalizeLogConfig(undefined), def);
  assert.deepEqual(normalizeLogConfig(null), def);
  assert.deepEqual(normalizeLogConfig({ Type: "", Config: null }), def);
  assert.deepEqual(normalizeLogConfig({}), def);
  assert.deepEqual(normalizeLogConfig({ Type: "none" }), { Type: "none", Config: {} });
});

test("max-size and max-file become the shim's rotation", () => {
  const c = normalizeLogConfig({ Type: "json-file", Config: { "max-size": "10k", "max-file": "3" } });
  assert.deepEqual(c, { Type: "json-file", Config: { "max-size": "10k", "max-file": "3" } });
  assert.deepEqual(shimLogOptions(c), { logMaxSize: 10_000, logMaxFiles: 3 });
  assert.deepEqual(shimLogRequest(c, "/x/c-json.log"), { logPath: "/x/c-json.log", logMaxSize: 10_000, logMaxFiles: 3 });
  assert.deepEqual(shimLogOptions({ Type: "json-file", Config: { "max-size": "-1" } }), {});
  assert.deepEqual(shimLogOptions(undefined), {});
});

test("driver none: no log file at all", () => {
  assert.equal(shimLogOptions({ Type: "none", Config: {} }), undefined);
  assert.deepEqual(shimLogRequest({ Type: "none", Config: {} }, "/x/c-json.log"), {});
  refused(() => normalizeLogConfig({ Type: "none", Config: { "max-size": "1m" } }), /'max-size'.*none log driver/);
});

test("sizes as docker reads them: decimal units", () => {
  assert.equal(parseLogSize("100"), 100);
  assert.equal(parseLogSize("1k"), 1000);
  assert.equal(parseLogSize("1.5m"), 1_500_000);
  assert.equal(parseLogSize("2g"), 2_000_000_000);
  assert.equal(parseLogSize("10MB"), 10_000_000);
  assert.equal(parseLogSize("10 kb"), 10_000);
  for (const bad of ["", "k", "10x", "1ib", "-5m", "ten"]) refused(() => parseLogSize(bad), /max-size/);
  refused(() => parseLogSize("0"), /max-size must be a positive number/);
});

test("refusals name the driver or option", () => {
  refused(() => normalizeLogConfig({ Type: "syslog" }), /logging driver "syslog" is not supported/);
  refused(() => normalizeLogConfig({ Config: { "max-sise": "1m" } }), /unknown log opt 'max-sise' for json-file log driver/);
  refused(() => normalizeLogConfig({ Config: { compress: "true" } }), /log opt 'compress'.*not supported/);
  refused(() => normalizeLogConfig({ Config: { "max-size": "1m", "max-file": "0" } }), /max-file cannot be less than 1/);
  refused(() => normalizeLogConfig({ Config: { "max-size": "1m", "max-file": "two" } }), /'max-file'.*integer/);
  refused(() => normalizeLogConfig({ Config: { "max-file": "3" } }), /max-file can only be set if max-size is set/);
  refused(() => normalizeLogConfig({ Config: { "max-size": 5 } }), /'max-size'.*string/);
  refused(() => normalizeLogConfig("json-file"), /LogConfig/);
  refused(() => normalizeLogConfig({ Type: 1 }), /LogConfig.Type/);
  // max-file 1 alone is the default, harmless
  assert.deepEqual(shimLogOptions(normalizeLogConfig({ Config: { "max-file": "1" } })), { logMaxFiles: 1 });
});

test("the daemon's default: its driver for containers that name none, its options under theirs", () => {
  const daemon = { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } };
  assert.deepEqual(normalizeLogConfig(undefined, daemon), daemon);
  assert.deepEqual(normalizeLogConfig({ Type: "", Config: { "max-file": "5" } }, daemon), {
    Type: "json-file",
    Config: { "max-size": "10m", "max-file": "5" },
  });
  // another driver than the daemon's takes none of the daemon's options
  assert.deepEqual(normalizeLogConfig({ Type: "none" }, daemon), { Type: "none", Config: {} });
  assert.deepEqual(normalizeLogConfig({}, { Type: "none", Config: {} }), { Type: "none", Config: {} });
});
