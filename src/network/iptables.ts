import { internal } from "../errors/index.js";
import { execProgram, firstLine } from "./exec.js";

/** A table as `iptables -S` prints it: user chains, and each rule's arguments after "-A". */
export interface TableRules {
  chains: string[];
  rules: string[][];
}

/** Splits one `iptables -S` line into arguments (double quotes group, backslash escapes). */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "\\" && i + 1 < line.length) {
      cur += line[++i];
      started = true;
    } else if (c === '"') {
      quoted = !quoted;
      started = true;
    } else if (c === " " && !quoted) {
      if (started) out.push(cur);
      cur = "";
      started = false;
    } else {
      cur += c;
      started = true;
    }
  }
  if (started) out.push(cur);
  return out;
}

export function parseTable(text: string): TableRules {
  const chains: string[] = [];
  const rules: string[][] = [];
  for (const line of text.split("\n")) {
    const args = splitRule(line.trim());
    if (args[0] === "-N" && args[1]) chains.push(args[1]);
    if (args[0] === "-A" && args.length > 2) rules.push(args.slice(1));
  }
  return { chains, rules };
}

const jumpOf = (rule: string[]) => {
  const j = rule.indexOf("-j");
  return j >= 0 ? rule[j + 1] : undefined;
};

/**
 * The iptables calls that remove every rule whose comment holds `marker` (the plugins tag
 * theirs with `name: "<network>" id: "<container>"`) and then the CNI-* chains those rules
 * jumped to, once nothing else refers to them.
 */
export function planSweep(table: TableRules, marker: string): string[][] {
  const doomed = table.rules.filter((r) => r.some((a) => a.includes(marker)));
  if (doomed.length === 0) return [];
  const calls = doomed.map((r) => ["-D", ...r]);
  const targets = new Set(doomed.map(jumpOf).filter((t): t is string => !!t && t.startsWith("CNI-") && table.chains.includes(t)));
  const remaining = table.rules.filter((r) => !doomed.includes(r));
  for (const t of targets) {
    if (remaining.some((r) => r[0] !== t && jumpOf(r) === t)) continue;
    calls.push(["-F", t], ["-X", t]);
  }
  return calls;
}

/**
 * Shared chains the plugins create on first use and never remove, with the rule that must be
 * all that is left in them for the set to be unused: portmap's (nat) and firewall's (filter).
 */
const shared: Record<string, { chains: string[]; idle: (t: TableRules) => boolean }> = {
  nat: {
    chains: ["CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"],
    idle: (t) => !t.rules.some((r) => r[0] === "CNI-HOSTPORT-DNAT"),
  },
  filter: {
    chains: ["CNI-FORWARD", "CNI-ADMIN"],
    idle: (t) =>
      !t.rules.some((r) => r[0] === "CNI-ADMIN") &&
      t.rules.filter((r) => r[0] === "CNI-FORWARD").every((r) => jumpOf(r) === "CNI-ADMIN"),
  },
};

/** The iptables calls that remove the plugins' shared chains of `tableName` once no container uses them. */
export function planPrune(tableName: "nat" | "filter", table: TableRules): string[][] {
  const set = shared[tableName];
  if (set === undefined) return [];
  if (!set.chains.some((c) => table.chains.includes(c)) || !set.idle(table)) return [];
  const calls: string[][] = [];
  for (const r of table.rules) {
    const j = jumpOf(r);
    if (j && set.chains.includes(j) && !set.chains.includes(r[0] ?? "")) calls.push(["-D", ...r]);
  }
  for (const c of set.chains) if (table.chains.includes(c)) calls.push(["-F", c]);
  for (const c of set.chains) if (table.chains.includes(c)) calls.push(["-X", c]);
  return calls;
}

async function iptables(table: string, args: string[]): Promise<string> {
  const res = await execProgram("iptables", ["-w", "-t", table, ...args]);
  if (res.code !== 0) throw internal(`iptables -t ${table} ${args.join(" ")}: ${firstLine(res.stderr)}`);
  return res.stdout;
}

async function readTable(table: string): Promise<TableRules> {
  return parseTable(await iptables(table, ["-S"]));
}

/** Removes rules (and their private chains) left behind for one attachment, e.g. when its netns vanished before DEL. */
export async function sweepAttachmentRules(network: string, containerId: string): Promise<void> {
  const marker = `name: "${network}" id: "${containerId}"`;
  for (const table of ["nat", "filter"]) {
    for (const call of planSweep(await readTable(table), marker)) await iptables(table, call);
  }
}

/** Removes portmap's and firewall's shared chains when no container uses them any more. */
export async function pruneSharedChains(): Promise<void> {
  for (const table of ["nat", "filter"] as const) {
    for (const call of planPrune(table, await readTable(table))) await iptables(table, call);
  }
}

/**
 * docker's masquerade, one rule per network: what leaves the subnet through another interface
 * than the network's bridge goes out with the host's address. One rule made once per network
 * instead of the bridge plugin's ipMasq (a chain and ~8 iptables calls per container and as many
 * again at DEL, ~60 ms of every container's start on this VM).
 */
export function masqueradeRule(network: { name: string; id: string; subnet: string; bridge: string }): string[] {
  const comment = `berth masquerade ${network.name} ${network.id.slice(0, 12)}`;
  return [
    "POSTROUTING",
    "-s",
    network.subnet,
    "!",
    "-o",
    network.bridge,
    "-m",
    "comment",
    "--comment",
    comment,
    "-j",
    "MASQUERADE",
  ];
}

/**
 * docker's FORWARD rules for a network's bridge (filter table, inserted at the top of FORWARD):
 * traffic between its containers, and (not internal) traffic leaving it and the replies to that.
 * Whatever the host's FORWARD policy (docker itself sets DROP), its containers are forwarded, with
 * no per-container rule (the CNI firewall plugin's, which needed the policy read at every attach).
 */
export function forwardRules(network: { name: string; id: string; bridge: string; internal?: boolean }): string[][] {
  const br = network.bridge;
  const tail = ["-m", "comment", "--comment", `berth forward ${network.name} ${network.id.slice(0, 12)}`, "-j", "ACCEPT"];
  const rules = [["-i", br, "-o", br, ...tail]];
  if (!network.internal)
    rules.push(["-i", br, "!", "-o", br, ...tail], ["-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", ...tail]);
  return rules;
}

type RuledNetwork = Parameters<typeof masqueradeRule>[0] & Parameters<typeof forwardRules>[0];

/** Adds a network's rules that are missing: its masquerade rule (not internal) and its FORWARD rules. */
export async function ensureNetworkRules(network: RuledNetwork): Promise<void> {
  if (!network.internal) {
    const rule = masqueradeRule(network);
    const check = await execProgram("iptables", ["-w", "-t", "nat", "-C", ...rule]);
    if (check.code !== 0) await iptables("nat", ["-A", ...rule]);
  }
  for (const rule of forwardRules(network)) {
    const check = await execProgram("iptables", ["-w", "-t", "filter", "-C", "FORWARD", ...rule]);
    if (check.code !== 0) await iptables("filter", ["-I", "FORWARD", "1", ...rule]);
  }
}

/** Removes a network's rules (every copy of each); nothing to do for those not there. */
export async function removeNetworkRules(network: RuledNetwork): Promise<void> {
  const rules: [string, string[]][] = [
    ["nat", masqueradeRule(network)],
    // an internal network's outbound rules too: it may have been made otherwise by an older berth
    ...forwardRules({ ...network, internal: false }).map((r): [string, string[]] => ["filter", ["FORWARD", ...r]]),
  ];
  for (const [table, rule] of rules) {
    for (let i = 0; i < 16; i++) {
      const del = await execProgram("iptables", ["-w", "-t", table, "-D", ...rule]);
      if (del.code !== 0) break;
    }
  }
}

/** Whether portmap's DNAT jump for one attachment is in place (nat table). */
export async function hasPortRules(network: string, containerId: string): Promise<boolean> {
  const marker = `dnat name: "${network}" id: "${containerId}"`;
  const nat = await readTable("nat");
  return nat.rules.some(
    (r) => r[0] === "CNI-HOSTPORT-DNAT" && r.some((a) => a === marker) && nat.chains.includes(r.at(-1) ?? ""),
  );
}
