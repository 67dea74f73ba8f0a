import assert from "node:assert/strict";
import { test } from "node:test";
import { allocateSubnet, defaultAddressPools } from "./allocate-subnet.js";
import { formatCidr, parseCidr } from "./cidr.js";

const pools = [{ base: "10.231.0.0/16", size: 24 }];
const alloc = (taken: string[], p = pools) => {
  const got = allocateSubnet(
    p,
    taken.map((t) => parseCidr(t, false)),
  );
  return got && formatCidr(got);
};

test("the first free subnet of the pool, skipping taken ones and host routes", () => {
  assert.equal(alloc([]), "10.231.0.0/24");
  assert.equal(alloc(["10.231.0.0/24", "10.231.1.0/24"]), "10.231.2.0/24");
  // a host route inside the pool (an interface address) takes its whole /24
  assert.equal(alloc(["10.231.0.77/32"]), "10.231.1.0/24");
  // a larger route skips every candidate it covers
  assert.equal(alloc(["10.231.0.0/20"]), "10.231.16.0/24");
  // unrelated routes do not matter
  assert.equal(alloc(["192.0.2.0/24", "172.21.0.0/16"]), "10.231.0.0/24");
});

test("pools are tried in order and exhaustion says so", () => {
  const two = [
    { base: "10.231.0.0/23", size: 24 },
    { base: "10.231.8.0/22", size: 23 },
  ];
  assert.equal(alloc(["10.231.0.0/23"], two), "10.231.8.0/23");
  assert.equal(alloc(["10.231.0.0/16"], two), undefined);
  // a pool whose size is smaller than its block is ignored, not looped on
  assert.equal(alloc([], [{ base: "10.231.0.0/24", size: 16 }]), undefined);
});

test("the default pools start at 172.21.0.0/24 and stay inside 172.21-172.31", () => {
  assert.equal(formatCidr(allocateSubnet(defaultAddressPools, []) ?? parseCidr("0.0.0.0/0")), "172.21.0.0/24");
  const all = allocateSubnet(defaultAddressPools, [parseCidr("172.21.0.0/16"), parseCidr("172.22.0.0/15")]);
  assert.equal(all && formatCidr(all), "172.24.0.0/24");
  assert.equal(allocateSubnet(defaultAddressPools, [parseCidr("172.16.0.0/12")]), undefined);
});
