import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { v1Writes } from "../v1/resources-v1.js";
import { applyV2, blkioWeightToIoWeight, sharesToWeight, v2Values } from "./resources-v2.js";

test("cpu.shares to cpu.weight: runc's integer conversion", () => {
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(100), 4);
  assert.equal(sharesToWeight(1024), 39);
  assert.equal(sharesToWeight(262144), 10000);
  assert.equal(v2Values({ cpu: { shares: 1024 } }).get("cpu.weight"), "39");
});

test("blkio weight to io.weight: runc's integer conversion", () => {
  assert.equal(blkioWeightToIoWeight(10), 1);
  assert.equal(blkioWeightToIoWeight(500), 4950);
  assert.equal(blkioWeightToIoWeight(1000), 10000);
});

test("throttle devices become one io.max line per device", () => {
  const v = v2Values({
    blockIO: {
      throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
      throttleWriteIOPSDevice: [
        { major: 8, minor: 0, rate: 100 },
        { major: 254, minor: 16, rate: 7 },
      ],
    },
  });
  assert.equal(v.get("io.max"), "8:0 rbps=1048576 wiops=100\n254:16 wiops=7");
});

test("applyV2 writes io.max once per line and falls back on io.weight without BFQ", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-cg2-res-"));
  try {
    writeFileSync(join(dir, "io.max"), "");
    writeFileSync(join(dir, "io.weight"), "default 100\n");
    const values = v2Values({
      blockIO: {
        weight: 500,
        throttleReadBpsDevice: [
          { major: 8, minor: 0, rate: 1 },
          { major: 8, minor: 16, rate: 2 },
        ],
      },
    });
    applyV2(dir, values);
    // a plain file keeps the last write: one write per device, the last device last
    assert.equal(readFileSync(join(dir, "io.max"), "utf8"), "8:16 rbps=2");
    assert.equal(readFileSync(join(dir, "io.weight"), "utf8"), "4950");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("weightDevice: one 'MAJ:MIN W' line per device after the default for BFQ; without BFQ only the default (as runc)", () => {
  const values = v2Values({
    blockIO: {
      weight: 500,
      weightDevice: [
        { major: 8, minor: 0, weight: 200 },
        { major: 8, minor: 16 },
      ],
    },
  });
  assert.equal(values.get("io.bfq.weight"), "500\n8:0 200", "a device without a weight is left alone");
  const dir = mkdtempSync(join(tmpdir(), "berth-cg2-res-"));
  try {
    writeFileSync(join(dir, "io.bfq.weight"), "");
    applyV2(dir, values);
    assert.equal(readFileSync(join(dir, "io.bfq.weight"), "utf8"), "8:0 200", "BFQ takes the lines as they are");
    rmSync(join(dir, "io.bfq.weight"));
    writeFileSync(join(dir, "io.weight"), "default 100\n");
    applyV2(dir, values);
    assert.equal(readFileSync(join(dir, "io.weight"), "utf8"), String(blkioWeightToIoWeight(500)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("rdma: one rdma.max line per device with the limits set, the same on v1", () => {
  const r = { rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 }, mlx4_0: { hcaObjects: 7 }, none0: {} } };
  assert.equal(v2Values(r).get("rdma.max"), "mlx5_1 hca_handle=3 hca_object=10000\nmlx4_0 hca_object=7");
  assert.deepEqual(
    v1Writes(r).filter((w) => w.controller === "rdma"),
    [
      { controller: "rdma", file: "rdma.max", value: "mlx5_1 hca_handle=3 hca_object=10000" },
      { controller: "rdma", file: "rdma.max", value: "mlx4_0 hca_object=7" },
    ],
  );
});
