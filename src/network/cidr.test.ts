import assert from "node:assert/strict";
import { test } from "node:test";
import { contains, formatCidr, lastOf, overlaps, parseCidr, parseIPv4 } from "./cidr.js";

test("parseIPv4 takes dotted quads only", () => {
  assert.equal(parseIPv4("10.231.0.1"), 0x0ae70001);
  assert.equal(parseIPv4("255.255.255.255"), 0xffffffff);
  for (const bad of ["", "10.0.0", "10.0.0.256", "01.2.3.4", "1.2.3.4.5", "a.b.c.d", "::1"])
    assert.equal(parseIPv4(bad), undefined, bad);
});

test("parseCidr: strict refuses host bits, loose clears them; a bare address is a /32", () => {
  assert.equal(formatCidr(parseCidr("10.231.4.0/24")), "10.231.4.0/24");
  assert.throws(() => parseCidr("10.231.4.1/24"), /host bits are set \(did you mean 10\.231\.4\.0\/24\?\)/);
  assert.equal(formatCidr(parseCidr("10.231.4.1/24", false)), "10.231.4.0/24");
  assert.equal(formatCidr(parseCidr("10.1.2.3", false)), "10.1.2.3/32");
  assert.equal(formatCidr(parseCidr("0.0.0.0/0")), "0.0.0.0/0");
  for (const bad of ["10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "x/8", "10.0.0.0/-1"])
    assert.throws(() => parseCidr(bad), /not an IPv4 CIDR/, bad);
});

test("overlaps and contains", () => {
  const a = parseCidr("10.231.0.0/16");
  const b = parseCidr("10.231.7.0/24");
  const c = parseCidr("10.232.0.0/24");
  assert.ok(overlaps(a, b) && overlaps(b, a));
  assert.ok(!overlaps(a, c) && !overlaps(b, c));
  assert.ok(contains(b, parseIPv4("10.231.7.255") ?? 0));
  assert.ok(!contains(b, parseIPv4("10.231.8.0") ?? 0));
  assert.equal(lastOf(parseCidr("0.0.0.0/0")), 0xffffffff);
});
