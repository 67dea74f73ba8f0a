import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDuration } from "./events.js";
import { mergeResources, parseResourcesJson, resourcesFromFlags } from "./update.js";

test("resourcesFromFlags: runc's single flags, memory sizes with units", () => {
  assert.deepEqual(
    resourcesFromFlags({
      memory: "64m",
      memorySwap: "-1",
      memoryReservation: "32M",
      cpuQuota: "-1",
      cpuPeriod: "100000",
      cpuShares: "512",
      cpusetCpus: "0",
      pidsLimit: 20,
      blkioWeight: 500,
    }),
    {
      memory: { limit: 64 << 20, reservation: 32 << 20, swap: -1 },
      cpu: { shares: 512, quota: -1, period: 100000, cpus: "0" },
      pids: { limit: 20 },
      blockIO: { weight: 500 },
    },
  );
  assert.deepEqual(resourcesFromFlags({}), {});
  assert.throws(() => resourcesFromFlags({ memory: "lots" }), /--memory: invalid size/);
  assert.throws(() => resourcesFromFlags({ cpuPeriod: "-5" }), /--cpu-period/);
});

test("mergeResources: zeros and empty strings leave values alone; lists are upserted", () => {
  const old = {
    devices: [{ allow: false, access: "rwm" }],
    memory: { limit: 100, swap: 200 },
    cpu: { quota: 50000, period: 100000, cpus: "0-1" },
    pids: { limit: 10 },
    blockIO: { weight: 100, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1 }] },
  };
  const m = mergeResources(old, {
    memory: { limit: 0, swap: 300, kernel: 5 },
    cpu: { quota: 20000, cpus: "" },
    pids: { limit: 0 },
    blockIO: {
      throttleReadBpsDevice: [
        { major: 8, minor: 0, rate: 2 },
        { major: 8, minor: 16, rate: 3 },
      ],
    },
  });
  assert.deepEqual(m, {
    devices: [{ allow: false, access: "rwm" }],
    memory: { limit: 100, swap: 300 },
    cpu: { quota: 20000, period: 100000, cpus: "0-1" },
    pids: { limit: 10 },
    blockIO: {
      weight: 100,
      throttleReadBpsDevice: [
        { major: 8, minor: 0, rate: 2 },
        { major: 8, minor: 16, rate: 3 },
      ],
    },
  });
  assert.deepEqual(old.memory, { limit: 100, swap: 200 }, "the old resources are not changed");
  // unlimited memory without a swap value drops the old swap (the driver lifts memsw)
  assert.deepEqual(mergeResources(old, { memory: { limit: -1 } }).memory, { limit: -1 });
});

test("parseResourcesJson checks field types and reads null as absent", () => {
  assert.deepEqual(parseResourcesJson('{"memory":{"limit":1048576,"swap":null},"cpu":{"cpus":"0"}}', "stdin"), {
    memory: { limit: 1048576 },
    cpu: { cpus: "0" },
  });
  assert.throws(() => parseResourcesJson("[]", "stdin"), /JSON object/);
  assert.throws(() => parseResourcesJson('{"memory":{"limit":"1m"}}', "f"), /memory.limit" must be a number/);
  assert.throws(() => parseResourcesJson("{", "f"), /parse resources from f/);
});

test("parseDuration takes Go durations", () => {
  assert.equal(parseDuration("5s"), 5000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("1m30s"), 90_000);
  assert.equal(parseDuration("1.5h"), 5_400_000);
  assert.equal(parseDuration("0"), 0);
  assert.throws(() => parseDuration("5"), /invalid duration/);
  assert.throws(() => parseDuration("s"), /invalid duration/);
  assert.throws(() => parseDuration(""), /invalid duration/);
});
