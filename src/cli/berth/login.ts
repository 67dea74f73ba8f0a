import { readFileSync } from "node:fs";
import { invalidArgument } from "../../errors/index.js";
import { defaultAuthFile, parseReference, RegistryClient, saveCredentials, staticCredentials } from "../../registry/index.js";
import { bool, parseFlags, str } from "../args.js";
import type { Io } from "./image-commands.js";

/** "docker.io" for none; a host[:port] otherwise (an https:// URL is reduced to its host, as docker does). */
function serverOf(arg: string | undefined): string {
  if (!arg) return "docker.io";
  const host = arg.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  if (["index.docker.io", "registry-1.docker.io"].includes(host)) return "docker.io";
  return parseReference(`${host}/x`).domain;
}

export async function loginCmd(args: string[], io: Io, opts: { insecure: string[] }): Promise<number> {
  const { flags, rest } = parseFlags(
    args,
    [
      { name: "username", short: "u", type: "string" },
      { name: "password", short: "p", type: "string" },
      { name: "password-stdin", type: "bool" },
      { name: "authfile", type: "string" },
    ],
    "login",
    { interspersed: true },
  );
  if (rest.length > 1) throw invalidArgument('"berth login" accepts at most 1 argument: SERVER');
  const server = serverOf(rest[0]);
  const username = str(flags, "username");
  let password = str(flags, "password");
  if (bool(flags, "password-stdin")) {
    if (password !== undefined) throw invalidArgument("login: --password and --password-stdin are mutually exclusive");
    password = readFileSync(0, "utf8").replace(/\r?\n$/, "");
  } else if (password !== undefined) io.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
  if (!username || password === undefined) throw invalidArgument("login: give --username and --password or --password-stdin");
  const creds = { username, password };
  const client = new RegistryClient({ insecureRegistries: opts.insecure, credentials: staticCredentials({ [server]: creds }) });
  try {
    await client.login(server);
  } finally {
    client.close();
  }
  const authFile = str(flags, "authfile") ?? defaultAuthFile();
  saveCredentials(authFile, server, creds);
  io.out("Login Succeeded\n");
  return 0;
}

export async function logoutCmd(args: string[], io: Io): Promise<number> {
  const { flags, rest } = parseFlags(args, [{ name: "authfile", type: "string" }], "logout", { interspersed: true });
  const server = serverOf(rest[0]);
  saveCredentials(str(flags, "authfile") ?? defaultAuthFile(), server, undefined);
  io.out(`Removing login credentials for ${server}\n`);
  return 0;
}
