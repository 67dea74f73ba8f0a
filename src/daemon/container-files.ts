import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { errnoCode, internal, invalidArgument } from "../errors/index.js";
import type { ContainerFiles } from "./container-types.js";

/** What `writeContainerFiles` needs to know about a container. */
export interface ContainerFilesOptions {
  /** the container's own directory for these files (created if missing) */
  dir: string;
  hostname: string;
  domainname?: string;
  /** the container's own address on its network, written to /etc/hosts beside its hostname */
  ip?: string;
  /** HostConfig.NetworkMode: "host" copies the host's hosts and resolv.conf files */
  networkMode?: string;
  /** HostConfig.ExtraHosts: "name:ip" or "name=ip"; ip may be "host-gateway" */
  extraHosts?: string[];
  /** the address "host-gateway" stands for (the bridge's gateway); without it the name is refused */
  hostGateway?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** whether the container has IPv6: keeps the host's IPv6 nameservers and adds IPv6 fallbacks */
  ipv6?: boolean;
  /** the host's files, for tests; default /etc/hosts, /etc/resolv.conf and systemd-resolved's upstream file */
  host?: { hosts?: string; resolvConf?: string; resolvedUpstream?: string };
}

const HOST_HOSTS = "/etc/hosts";
const HOST_RESOLV_CONF = "/etc/resolv.conf";
/** systemd-resolved's list of the real upstream servers, used when /etc/resolv.conf points at its stub */
const RESOLVED_UPSTREAM = "/run/systemd/resolve/resolv.conf";
const RESOLVED_STUB = "127.0.0.53";

/** Docker's fallbacks when the host's resolv.conf leaves no nameserver a container can reach. */
const FALLBACK_DNS_V4 = ["8.8.8.8", "8.8.4.4"];
const FALLBACK_DNS_V6 = ["2001:4860:4860::8888", "2001:4860:4860::8844"];

/** The lines every container's /etc/hosts starts with. */
const LOCALHOST = [
  "127.0.0.1\tlocalhost",
  "::1\tlocalhost ip6-localhost ip6-loopback",
  "fe00::0\tip6-localnet",
  "ff00::0\tip6-mcastprefix",
  "ff02::1\tip6-allnodes",
  "ff02::2\tip6-allrouters",
];

/**
 * Write a container's /etc/hostname, /etc/hosts and /etc/resolv.conf into `o.dir` (mode 0644,
 * rewritten in place so that a running container sees an update), as Docker does before it bind-mounts them into the container:
 * - hosts: localhost (IPv4 and IPv6), the ExtraHosts, then the container's own address and name;
 *   with the host's network, the host's /etc/hosts followed by the ExtraHosts;
 * - resolv.conf: the host's, less the nameservers only the host can reach (loopback; and IPv6
 *   ones unless the container has IPv6), falling back to public resolvers when none remain;
 *   Dns, DnsSearch and DnsOptions each replace their part. With the host's network it is the
 *   host's file as is, and Dns options are a conflict, as in Docker.
 */
export function writeContainerFiles(o: ContainerFilesOptions): ContainerFiles {
  const hostNetwork = o.networkMode === "host";
  if (hostNetwork && (o.dns?.length || o.dnsSearch?.length || o.dnsOptions?.length))
    throw invalidArgument("conflicting options: custom DNS settings (Dns, DnsSearch, DnsOptions) and the host's network mode");
  if (o.ip !== undefined && isIP(o.ip) === 0) throw invalidArgument(`container address "${o.ip}" is not an IP address`);
  if (!/^[^\s/]+$/.test(o.hostname)) throw invalidArgument(`invalid hostname "${o.hostname}"`);

  const extra = (o.extraHosts ?? []).map((h) => parseExtraHost(h, o.hostGateway));
  const host = o.host ?? {};
  let hosts: string;
  if (hostNetwork) {
    const base = readHostFile(host.hosts ?? HOST_HOSTS) ?? `${LOCALHOST.join("\n")}\n`;
    hosts = base + (base.endsWith("\n") || base === "" ? "" : "\n") + extra.map((e) => `${e.ip}\t${e.name}\n`).join("");
  } else {
    const lines = [...LOCALHOST, ...extra.map((e) => `${e.ip}\t${e.name}`)];
    if (o.ip !== undefined) {
      const names = o.domainname ? `${o.hostname}.${o.domainname} ${o.hostname}` : o.hostname;
      lines.push(`${o.ip}\t${names}`);
    }
    hosts = `${lines.join("\n")}\n`;
  }

  const hostResolv = readHostResolvConf(host.resolvConf ?? HOST_RESOLV_CONF, host.resolvedUpstream ?? RESOLVED_UPSTREAM);
  const resolvConf = hostNetwork ? hostResolv : containerResolvConf(hostResolv, o);

  try {
    mkdirSync(o.dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw internal(`create container files directory "${o.dir}"`, err);
  }
  const files: ContainerFiles = {
    hostname: join(o.dir, "hostname"),
    hosts: join(o.dir, "hosts"),
    resolvConf: join(o.dir, "resolv.conf"),
  };
  writeFile(files.hostname, `${o.hostname}\n`);
  writeFile(files.hosts, hosts);
  writeFile(files.resolvConf, resolvConf);
  return files;
}

/** An ExtraHosts entry: "name:ip" (split at the first colon, so "h:::1" is h -> ::1) or "name=ip". */
function parseExtraHost(entry: string, gateway: string | undefined): { name: string; ip: string } {
  const eq = entry.indexOf("=");
  const sep = eq >= 0 ? eq : entry.indexOf(":");
  if (sep <= 0) throw invalidArgument(`invalid extra host "${entry}": expected "name:ip"`);
  const name = entry.slice(0, sep);
  let ip = entry.slice(sep + 1);
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  if (/\s/.test(name)) throw invalidArgument(`invalid extra host "${entry}": the name contains white space`);
  if (ip === "host-gateway") {
    if (gateway === undefined)
      throw invalidArgument(`invalid extra host "${entry}": no host gateway address is configured for "host-gateway"`);
    ip = gateway;
  }
  if (isIP(ip) === 0) throw invalidArgument(`invalid extra host "${entry}": "${ip}" is not an IP address`);
  return { name, ip };
}

/** A host file's text, or undefined when the host has none. */
function readHostFile(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    // a host without the file (a minimal VM, a chroot): the caller falls back to defaults
    if (errnoCode(err) === "ENOENT") return undefined;
    throw internal(`read host file "${path}"`, err);
  }
}

/**
 * The host's resolv.conf; when systemd-resolved's stub is its only nameserver (reachable from
 * the host's loopback only), resolved's list of upstream servers instead, as Docker does.
 */
function readHostResolvConf(path: string, upstream: string): string {
  const text = readHostFile(path) ?? "";
  const servers = parseResolvConf(text).nameservers;
  if (servers.length > 0 && servers.every((s) => s === RESOLVED_STUB) && existsSync(upstream))
    return readHostFile(upstream) ?? text;
  return text;
}

interface ResolvConf {
  nameservers: string[];
  search: string[] | undefined;
  options: string[] | undefined;
  /** every other line (comments, sortlist, ...), kept in order */
  other: string[];
}

/** resolv.conf(5), enough to replace its nameserver, search/domain and options lines. */
function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: undefined, options: undefined, other: [] };
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    const [key = "", ...rest] = f;
    if (key === "nameserver" && rest[0] !== undefined) out.nameservers.push(rest[0]);
    else if (key === "search" || key === "domain")
      out.search = rest; // the last one wins, as in the resolver
    else if (key === "options") out.options = [...(out.options ?? []), ...rest];
    else if (line.trim() !== "") out.other.push(line);
  }
  return out;
}

/** Whether a nameserver address is one only the host can reach. */
function isLoopback(addr: string): boolean {
  return /^127\./.test(addr) || addr === "::1" || addr === "0:0:0:0:0:0:0:1";
}

/** The container's resolv.conf from the host's and the request's DNS settings. */
function containerResolvConf(hostText: string, o: ContainerFilesOptions): string {
  const host = parseResolvConf(hostText);
  for (const d of o.dns ?? []) if (isIP(d) === 0) throw invalidArgument(`invalid DNS server "${d}": not an IP address`);
  for (const s of o.dnsSearch ?? [])
    if (!/^[^\s]+$/.test(s)) throw invalidArgument(`invalid DNS search domain "${s}": contains white space`);
  for (const opt of o.dnsOptions ?? [])
    if (!/^[^\s]+$/.test(opt)) throw invalidArgument(`invalid DNS option "${opt}": contains white space`);

  let nameservers: string[];
  if (o.dns?.length) nameservers = o.dns;
  else {
    nameservers = host.nameservers.filter((n) => !isLoopback(n) && (o.ipv6 === true || isIP(n) !== 6));
    if (nameservers.length === 0) nameservers = o.ipv6 ? [...FALLBACK_DNS_V4, ...FALLBACK_DNS_V6] : FALLBACK_DNS_V4;
  }
  // DnsSearch ["."] means "no search domains"
  const search = o.dnsSearch?.length ? o.dnsSearch.filter((s) => s !== ".") : (host.search ?? []);
  const options = o.dnsOptions?.length ? o.dnsOptions : (host.options ?? []);

  const lines = [...host.other];
  if (search.length > 0) lines.push(`search ${search.join(" ")}`);
  for (const n of nameservers) lines.push(`nameserver ${n}`);
  if (options.length > 0) lines.push(`options ${options.join(" ")}`);
  return `${lines.join("\n")}\n`;
}

/**
 * Write `text` to `path`, mode 0644 whatever the umask. The file is rewritten in place, not
 * replaced by a rename: it is bind-mounted into the container, and a mount holds the inode,
 * so a later update (a network connect) must reach that same inode.
 */
function writeFile(path: string, text: string): void {
  try {
    writeFileSync(path, text, { mode: 0o644 });
    chmodSync(path, 0o644);
  } catch (err) {
    throw internal(`write container file "${path}"`, err);
  }
}
