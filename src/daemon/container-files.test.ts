import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type ContainerFilesOptions, writeContainerFiles } from "./container-files.js";

const tmp = mkdtempSync(join(tmpdir(), "berth-files-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** Write the files for a container on a fake host whose resolv.conf and hosts are given. */
function write(o: Partial<ContainerFilesOptions>, host: { resolv?: string; hosts?: string; upstream?: string } = {}) {
  const dir = join(tmp, `c${n++}`);
  const hostDir = mkdtempSync(join(tmp, "host-"));
  const resolvConf = join(hostDir, "resolv.conf");
  const hosts = join(hostDir, "hosts");
  const resolvedUpstream = join(hostDir, "upstream.conf");
  if (host.resolv !== undefined) writeFileSync(resolvConf, host.resolv);
  if (host.hosts !== undefined) writeFileSync(hosts, host.hosts);
  if (host.upstream !== undefined) writeFileSync(resolvedUpstream, host.upstream);
  const files = writeContainerFiles({ dir, hostname: "abc123", ...o, host: { resolvConf, hosts, resolvedUpstream } });
  const read = (p: string) => readFileSync(p, "utf8");
  return { files, hostname: read(files.hostname), hosts: read(files.hosts), resolv: read(files.resolvConf) };
}

test("writes hostname, hosts and resolv.conf, mode 0644, and returns their paths", () => {
  const old = process.umask(0o077);
  try {
    const r = write({ ip: "172.17.0.2" }, { resolv: "nameserver 10.0.0.1\n" });
    assert.equal(r.hostname, "abc123\n");
    assert.equal(
      r.hosts,
      "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n" +
        "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n172.17.0.2\tabc123\n",
    );
    assert.equal(r.resolv, "nameserver 10.0.0.1\n");
    for (const p of Object.values(r.files)) assert.equal(statSync(p).mode & 0o777, 0o644, p);
    assert.deepEqual(Object.keys(r.files).sort(), ["hostname", "hosts", "resolvConf"]);
  } finally {
    process.umask(old);
  }
});

test("hosts: ExtraHosts before the container's own line, host-gateway only with a gateway", () => {
  const r = write({
    ip: "10.1.2.3",
    domainname: "example.org",
    extraHosts: ["db:10.0.0.5", "v6:::1", "br=[fe80::1]", "gw:host-gateway"],
    hostGateway: "172.17.0.1",
  });
  assert.match(
    r.hosts,
    /\n10\.0\.0\.5\tdb\n::1\tv6\nfe80::1\tbr\n172\.17\.0\.1\tgw\n10\.1\.2\.3\tabc123\.example\.org abc123\n$/,
  );
  assert.throws(() => write({ extraHosts: ["gw:host-gateway"] }), /no host gateway address/);
  assert.throws(() => write({ extraHosts: ["db:not-an-ip"] }), /"not-an-ip" is not an IP address/);
  assert.throws(() => write({ extraHosts: ["justaname"] }), /expected "name:ip"/);
  assert.throws(() => write({ ip: "300.1.1.1" }), /not an IP address/);
});

test("resolv.conf: the host's minus loopback nameservers, falling back to public resolvers", () => {
  const host =
    "# generated\nsearch corp.example\nnameserver 127.0.0.1\nnameserver 192.168.1.1\nnameserver ::1\noptions ndots:2\n";
  assert.equal(write({}, { resolv: host }).resolv, "# generated\nsearch corp.example\nnameserver 192.168.1.1\noptions ndots:2\n");
  // nothing left: Docker's fallbacks (IPv6 ones only for a container with IPv6)
  assert.equal(write({}, { resolv: "nameserver 127.0.0.1\n" }).resolv, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  assert.equal(
    write({ ipv6: true }, { resolv: "nameserver 127.0.1.1\n" }).resolv,
    "nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n",
  );
  // an IPv6 nameserver is kept only with IPv6
  assert.equal(write({}, { resolv: "nameserver 2001:db8::1\nnameserver 1.1.1.1\n" }).resolv, "nameserver 1.1.1.1\n");
  assert.equal(write({ ipv6: true }, { resolv: "nameserver 2001:db8::1\n" }).resolv, "nameserver 2001:db8::1\n");
  // no host file at all
  assert.equal(write({}).resolv, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
});

test("resolv.conf: systemd-resolved's stub is replaced by its upstream servers", () => {
  const r = write({}, { resolv: "nameserver 127.0.0.53\noptions edns0\n", upstream: "nameserver 10.9.8.7\nsearch lan\n" });
  assert.equal(r.resolv, "search lan\nnameserver 10.9.8.7\n");
});

test("resolv.conf: Dns, DnsSearch and DnsOptions each replace their part", () => {
  const host = "search corp.example\nnameserver 192.168.1.1\noptions ndots:2\n";
  assert.equal(
    write({ dns: ["1.1.1.1", "127.0.0.11"] }, { resolv: host }).resolv,
    "search corp.example\nnameserver 1.1.1.1\nnameserver 127.0.0.11\noptions ndots:2\n",
  );
  assert.equal(
    write({ dnsSearch: ["a.test", "b.test"] }, { resolv: host }).resolv,
    "search a.test b.test\nnameserver 192.168.1.1\noptions ndots:2\n",
  );
  assert.equal(
    write({ dnsSearch: ["."], dnsOptions: ["timeout:1", "rotate"] }, { resolv: host }).resolv,
    "nameserver 192.168.1.1\noptions timeout:1 rotate\n",
  );
  assert.throws(() => write({ dns: ["dns.example"] }), /invalid DNS server "dns.example"/);
});

test("host network: the host's files as they are, and Dns is a conflict", () => {
  const hosts = "127.0.0.1 localhost myhost\n10.0.0.9 nas\n";
  const resolv = "nameserver 127.0.0.53\nsearch home\n";
  const r = write({ networkMode: "host", extraHosts: ["x:1.2.3.4"], ip: "9.9.9.9" }, { hosts, resolv });
  assert.equal(r.hosts, `${hosts}1.2.3.4\tx\n`);
  assert.equal(r.resolv, resolv);
  assert.throws(() => write({ networkMode: "host", dns: ["1.1.1.1"] }), /conflicting options/);
});

test("rewriting the files keeps their inodes (they are bind-mounted)", () => {
  const dir = join(tmp, "rewrite");
  const a = writeContainerFiles({ dir, hostname: "one" });
  const ino = statSync(a.hosts).ino;
  const b = writeContainerFiles({ dir, hostname: "two", ip: "10.0.0.2" });
  assert.equal(statSync(b.hosts).ino, ino);
  assert.match(readFileSync(b.hosts, "utf8"), /10\.0\.0\.2\ttwo\n$/);
  assert.equal(readFileSync(b.hostname, "utf8"), "two\n");
  assert.throws(() => writeContainerFiles({ dir, hostname: "bad name" }), /invalid hostname/);
});
