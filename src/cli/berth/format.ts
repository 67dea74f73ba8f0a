/** Output helpers shared by the berth commands: sizes and times as docker prints them, aligned tables. */

/** 1.2MB, 4.86kB, 512B: docker's units (decimal, 3 significant digits). */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : Number(v.toPrecision(3))}${units[i]}`;
}

/** "2 hours ago", "About a minute ago", as docker's `units.HumanDuration` + " ago". */
export function humanSince(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "N/A";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "N/A";
  const s = Math.max(0, Math.round((now - t) / 1000));
  const ago = (x: string) => `${x} ago`;
  if (s < 1) return "Less than a second ago";
  if (s === 1) return ago("1 second");
  if (s < 60) return ago(`${s} seconds`);
  const m = Math.round(s / 60);
  if (m === 1) return ago("About a minute");
  if (m < 60) return ago(`${m} minutes`);
  const h = Math.round(s / 3600);
  if (h === 1) return ago("About an hour");
  if (h < 48) return ago(`${h} hours`);
  if (h < 24 * 7 * 2) return ago(`${Math.round(h / 24)} days`);
  if (h < 24 * 30 * 2) return ago(`${Math.round(h / 24 / 7)} weeks`);
  if (h < 24 * 365 * 2) return ago(`${Math.round(h / 24 / 30)} months`);
  return ago(`${Math.round(h / 24 / 365)} years`);
}

/** Columns padded to their widest cell, three spaces apart (docker's tabwriter). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3)))
      .join("")
      .trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `${l}\n`).join("");
}

/** The 12-hex short form of an ID. */
export const shortId = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);
