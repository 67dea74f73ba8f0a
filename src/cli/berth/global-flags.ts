import type { FlagSpec } from "../args.js";

/** berth's options before the command (`berth -H unix:///x.sock run ...`). */
export const GLOBAL: FlagSpec[] = [
  { name: "host", short: "H", type: "string" },
  { name: "data-root", type: "string" },
  { name: "insecure-registry", type: "list" },
  { name: "registry-mirror", type: "list" },
  { name: "snapshotter", type: "string" },
  { name: "storage-driver", type: "string" },
  { name: "debug", short: "D", type: "bool" },
  { name: "version", short: "v", type: "bool" },
  { name: "help", short: "h", type: "bool" },
];

/**
 * The command word of a berth command line ("run", "ps"...), past the global options; "" when
 * there is none. For the loader, which picks a code cache per command before any bundle runs.
 */
export function commandOf(argv: readonly string[]): string {
  const takesValue = (f: FlagSpec | undefined) => f !== undefined && f.type !== "bool";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--") return argv[i + 1] ?? "";
    if (a.startsWith("--")) {
      if (!a.includes("=") && takesValue(GLOBAL.find((f) => f.name === a.slice(2)))) i++;
    } else if (a.startsWith("-") && a.length > 1) {
      if (a.length === 2 && takesValue(GLOBAL.find((f) => f.short === a[1]))) i++;
    } else {
      return a;
    }
  }
  return "";
}
