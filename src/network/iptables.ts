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

/** berth's filter chains, jumped to from the top of FORWARD in this order (docker's DOCKER-ISOLATION-STAGE-1/2 and DOCKER-FORWARD). */
export const ISOLATION_1 = "BERTH-ISOLATION-1";
export const ISOLATION_2 = "BERTH-ISOLATION-2";
export const FORWARD_CHAIN = "BERTH-FORWARD";
const OUR_CHAINS = [ISOLATION_1, ISOLATION_2, FORWARD_CHAIN];

/** The comment that names a network's filter rules (and, with `berth forward`, those of berth before the chains). */
const filterComment = (n: { name: string; id: string }) => `berth network ${n.name} ${n.id.slice(0, 12)}`;
const legacyComment = (n: { name: string; id: string }) => `berth forward ${n.name} ${n.id.slice(0, 12)}`;

/**
 * A network's rules in berth's filter chains, each [chain, ...arguments], as docker has them:
 * - isolation: what leaves a bridge for another berth bridge is dropped (ISOLATION-1 sends what
 *   leaves a bridge to ISOLATION-2, which drops it when it goes out of any berth bridge); an
 *   internal network's bridge neither sends out nor takes in anything but its own traffic;
 * - forwarding: within the bridge always; for a network that is not internal also out of it,
 *   the replies back, and connections to its containers' published ports (DNAT'ed by portmap:
 *   other hosts reach them whatever the FORWARD policy; docker's are one rule per port).
 * Whatever the host's FORWARD policy (docker sets DROP), its containers are forwarded with no
 * rule per container.
 */
export function networkFilterRules(network: { name: string; id: string; bridge: string; internal?: boolean }): string[][] {
  const br = network.bridge;
  const c = ["-m", "comment", "--comment", filterComment(network)];
  const rules = [[ISOLATION_2, "-o", br, ...c, "-j", "DROP"]];
  if (network.internal)
    rules.push(
      [ISOLATION_1, "-i", br, "!", "-o", br, ...c, "-j", "DROP"],
      [ISOLATION_1, "!", "-i", br, "-o", br, ...c, "-j", "DROP"],
    );
  else rules.push([ISOLATION_1, "-i", br, "!", "-o", br, ...c, "-j", ISOLATION_2]);
  rules.push([FORWARD_CHAIN, "-i", br, "-o", br, ...c, "-j", "ACCEPT"]);
  if (!network.internal)
    rules.push(
      [FORWARD_CHAIN, "-i", br, "!", "-o", br, ...c, "-j", "ACCEPT"],
      [FORWARD_CHAIN, "-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", ...c, "-j", "ACCEPT"],
      [FORWARD_CHAIN, "-o", br, "-m", "conntrack", "--ctstate", "DNAT", ...c, "-j", "ACCEPT"],
    );
  return rules;
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const hasComment = (r: string[], comment: string) => r.some((a, i) => a === comment && r[i - 1] === "--comment");

/**
 * The iptables calls (filter table) that put a network's rules in place in `table` (as
 * `iptables -S` shows it): berth's chains and FORWARD's jumps to them (both at the top, in order,
 * moved there again if something came between them), the network's rules that are missing (any
 * of a different shape, e.g. after `network` became internal, go), and the network's rules that
 * an older berth put in FORWARD itself.
 */
export function planNetworkRules(
  table: TableRules,
  networks: Parameters<typeof networkFilterRules>[0] | ReadonlyArray<Parameters<typeof networkFilterRules>[0]>,
): string[][] {
  const calls: string[][] = [];
  for (const chain of OUR_CHAINS) if (!table.chains.includes(chain)) calls.push(["-N", chain]);
  const forward = table.rules.filter((r) => r[0] === "FORWARD");
  const jumps = [ISOLATION_1, FORWARD_CHAIN].map((chain) => forward.findIndex((r) => same(r, ["FORWARD", "-j", chain])));
  const [iso = -1, fwd = -1] = jumps;
  const twice =
    forward.filter((r) => same(r, ["FORWARD", "-j", ISOLATION_1]) || same(r, ["FORWARD", "-j", FORWARD_CHAIN])).length > 2;
  if (iso < 0 || fwd !== iso + 1 || twice) {
    for (const r of forward)
      if (same(r, ["FORWARD", "-j", ISOLATION_1]) || same(r, ["FORWARD", "-j", FORWARD_CHAIN])) calls.push(["-D", ...r]);
    calls.push(["-I", "FORWARD", "1", "-j", FORWARD_CHAIN], ["-I", "FORWARD", "1", "-j", ISOLATION_1]);
  }
  // every network's, from the one read: isolation holds only when every bridge has its DROP
  // rules (after a flush, the first network checked brings them all back)
  for (const network of Array.isArray(networks) ? networks : [networks]) {
    const wanted = networkFilterRules(network);
    const comment = filterComment(network);
    for (const r of table.rules)
      if (OUR_CHAINS.includes(r[0] ?? "") && hasComment(r, comment) && !wanted.some((w) => same(w, r))) calls.push(["-D", ...r]);
    for (const w of wanted) if (!table.rules.some((r) => same(r, w))) calls.push(["-A", ...w]);
    for (const r of forward) if (hasComment(r, legacyComment(network))) calls.push(["-D", ...r]);
  }
  return calls;
}

/** The calls that remove a network's filter rules (berth's chains stay, as docker's do: other berthds may share them). */
export function planRemoveNetworkRules(table: TableRules, network: { name: string; id: string }): string[][] {
  return table.rules
    .filter(
      (r) =>
        (OUR_CHAINS.includes(r[0] ?? "") && hasComment(r, filterComment(network))) ||
        (r[0] === "FORWARD" && hasComment(r, legacyComment(network))),
    )
    .map((r) => ["-D", ...r]);
}

type RuledNetwork = Parameters<typeof masqueradeRule>[0] & Parameters<typeof networkFilterRules>[0];

/**
 * Adds what is missing of the rules of `networks`: the masquerade rule of each (not internal),
 * the isolation and FORWARD rules of all of them from one read of the filter table.
 */
export async function ensureNetworkRules(networks: RuledNetwork | readonly RuledNetwork[]): Promise<void> {
  const list = Array.isArray(networks) ? networks : [networks as RuledNetwork];
  if (list.some((n) => !n.internal)) {
    const postrouting = parseTable(await iptables("nat", ["-S", "POSTROUTING"]));
    for (const network of list) {
      const rule = masqueradeRule(network);
      if (!network.internal && !postrouting.rules.some((r) => same(r, rule))) await iptables("nat", ["-A", ...rule]);
    }
  }
  for (const call of planNetworkRules(await readTable("filter"), list)) {
    try {
      await iptables("filter", call);
    } catch (e) {
      // another berthd (or a re-check beside this one) made the same chain or removed the
      // same stale rule a moment ago: what this call wanted is the case
      if (call[0] === "-N" && /exists/i.test(String((e as Error).message))) continue;
      if (call[0] === "-D") continue;
      throw e;
    }
  }
}

/** Removes a network's rules (every copy of each); nothing to do for those not there. */
export async function removeNetworkRules(network: RuledNetwork): Promise<void> {
  for (let i = 0; i < 16; i++) {
    const del = await execProgram("iptables", ["-w", "-t", "nat", "-D", ...masqueradeRule(network)]);
    if (del.code !== 0) break;
  }
  for (const call of planRemoveNetworkRules(await readTable("filter"), network)) {
    // gone meanwhile (another remover): nothing to do
    await iptables("filter", call).catch(() => {});
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
