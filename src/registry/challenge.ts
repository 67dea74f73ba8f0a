/**
 * `WWW-Authenticate` challenges (RFC 9110 §11.6.1): one header may list several, each a scheme and
 * comma-separated `name=value` params whose values may be quoted strings with commas and escapes.
 * Node joins repeated headers with ", ", which this grammar reads the same way.
 */

export interface Challenge {
  /** lowercase: "basic", "bearer" */
  scheme: string;
  /** param names lowercase; values unquoted */
  params: Record<string, string>;
}

const tokenChar = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
// token68 (RFC 9110 §11.2) also allows "/" and trailing "="
const token68Char = /[-._~+/0-9A-Za-z]/;

export function parseChallenges(header: string | undefined): Challenge[] {
  const out: Challenge[] = [];
  if (!header) return out;
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  const readToken = (re: RegExp) => {
    const start = i;
    while (i < n && re.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  const readQuoted = () => {
    let v = "";
    i++; // opening quote
    while (i < n && header[i] !== '"') {
      if (header[i] === "\\" && i + 1 < n) i++;
      v += header[i];
      i++;
    }
    i++; // closing quote (or end)
    return v;
  };
  let current: Challenge | undefined;
  while (i < n) {
    skipSpace();
    if (header[i] === ",") {
      i++;
      continue;
    }
    const start = i;
    const name = readToken(tokenChar);
    if (name === "") {
      i++; // junk: skip a character rather than loop forever
      continue;
    }
    skipSpace();
    if (current && header[i] === "=") {
      i++;
      skipSpace();
      // unquoted values should be tokens; be lenient (servers send bare URLs) and read to the next comma
      current.params[name.toLowerCase()] = header[i] === '"' ? readQuoted() : readToken(/[^,]/).trim();
      continue;
    }
    // not a param: a new challenge's scheme, maybe followed by a token68 ("Negotiate abc==")
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
    const save = i;
    const t68 = readToken(token68Char);
    while (i < n && header[i] === "=") i++;
    const candidate = header.slice(save, i);
    skipSpace();
    if (t68 !== "" && (i >= n || header[i] === ",")) current.params["token68"] = candidate;
    else i = save;
    if (i === start) i++;
  }
  return out;
}
