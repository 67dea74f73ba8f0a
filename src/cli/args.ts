import { invalidArgument } from "../errors/index.js";

export interface FlagSpec {
  /** long name without dashes */
  name: string;
  short?: string;
  type: "bool" | "string" | "int" | "list";
}

export type FlagValues = Record<string, string | boolean | number | string[] | undefined>;

/**
 * Parse flags the way runc's CLI does: `--flag value`, `--flag=value`, `-f value`,
 * booleans as `--flag` or `--flag=false`; parsing stops at the first positional
 * argument or at `--`, and everything after is positional. With `interspersed`
 * (docker's CLI), flags may also follow positional arguments, up to `--`.
 */
export function parseFlags(
  argv: string[],
  specs: FlagSpec[],
  where: string,
  opts: { interspersed?: boolean } = {},
): { flags: FlagValues; rest: string[] } {
  const flags: FlagValues = {};
  const positional: string[] = [];
  let i = 0;
  const find = (name: string, short: boolean) => specs.find((s) => (short ? s.short === name : s.name === name));
  for (; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      // docker's CLI (cobra) takes flags after positional arguments too
      if (!opts.interspersed) break;
      positional.push(a);
      continue;
    }
    const isLong = a.startsWith("--");
    const body = a.slice(isLong ? 2 : 1);
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    let spec = find(name, !isLong);
    // urfave/cli accepts single-dash long names too (-bundle, -pid-file)
    if (!spec && !isLong) spec = find(name, false);
    // combined short booleans, as docker's `-it` or `-qa`
    if (!spec && !isLong && eq < 0 && name.length > 1 && [...name].every((c) => find(c, true)?.type === "bool")) {
      for (const c of name) flags[(find(c, true) as FlagSpec).name] = true;
      continue;
    }
    if (!spec) throw invalidArgument(`${where}: flag provided but not defined: -${isLong ? "-" : ""}${name}`);
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (spec.type === "bool") {
      if (value !== undefined && !["true", "false", "1", "0"].includes(value))
        throw invalidArgument(`${where}: invalid boolean value "${value}" for --${spec.name}`);
      flags[spec.name] = value === undefined || value === "true" || value === "1";
      continue;
    }
    if (value === undefined) {
      i++;
      if (i >= argv.length) throw invalidArgument(`${where}: flag needs an argument: --${spec.name}`);
      value = argv[i] ?? "";
    }
    if (spec.type === "int") {
      if (!/^-?\d+$/.test(value)) throw invalidArgument(`${where}: invalid value "${value}" for --${spec.name}: not a number`);
      flags[spec.name] = Number(value);
    } else if (spec.type === "list") {
      flags[spec.name] = [...((flags[spec.name] as string[] | undefined) ?? []), value];
    } else flags[spec.name] = value;
  }
  return { flags, rest: [...positional, ...argv.slice(i)] };
}

export const str = (f: FlagValues, k: string): string | undefined => (typeof f[k] === "string" ? (f[k] as string) : undefined);
export const bool = (f: FlagValues, k: string): boolean => f[k] === true;
export const int = (f: FlagValues, k: string): number | undefined => (typeof f[k] === "number" ? (f[k] as number) : undefined);
export const list = (f: FlagValues, k: string): string[] => (Array.isArray(f[k]) ? (f[k] as string[]) : []);
