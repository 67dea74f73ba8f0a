/**
 * docker's `--format` for listings (ps, images...): "json" (one object per line), a Go template
 * per row, or "table TEMPLATE": the header is the template run over the column titles, rows and
 * header aligned as docker's tabwriter aligns them (cells split at tabs, three spaces apart). As
 * docker's, a literal `\t` or `\n` typed in the format is a tab or a newline.
 */
import { GoTemplate } from "./go-template.js";

export function formatRows(format: string, rows: Array<Record<string, unknown>>, titles: Record<string, string>): string {
  if (format === "json") return rows.map((r) => `${JSON.stringify(r)}\n`).join("");
  const isTable = format.startsWith("table");
  const body = (isTable ? format.slice("table".length) : format).trim().replaceAll("\\t", "\t").replaceAll("\\n", "\n");
  const tpl = new GoTemplate(body);
  const lines = rows.map((r) => tpl.render(r));
  if (!isTable) return lines.map((l) => `${l}\n`).join("");
  // the header: every field its title (a field without one, its name upper-cased)
  const header = tpl.render(
    new Proxy(titles, {
      get: (t, k) => (typeof k === "string" ? (t[k] ?? k.toUpperCase()) : undefined),
      has: () => true,
      getOwnPropertyDescriptor: (t, k) => ({
        configurable: true,
        enumerable: true,
        value: typeof k === "string" ? (t[k] ?? k.toUpperCase()) : undefined,
      }),
    }),
    { header: true },
  );
  return align([header, ...lines].flatMap((l) => l.split("\n")));
}

/**
 * Columns of tab-separated cells padded to their widest cell plus three spaces, ten at least
 * (docker's tabwriter: minwidth 10, padding 3); the last left as is.
 */
export function align(lines: string[]): string {
  const cells = lines.map((l) => l.split("\t"));
  const widths: number[] = [];
  for (const row of cells)
    for (let i = 0; i < row.length - 1; i++) widths[i] = Math.max(widths[i] ?? 0, (row[i] as string).length);
  return cells
    .map((row) =>
      row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(Math.max((widths[i] ?? 0) + 3, 10))))
        .join("")
        .trimEnd(),
    )
    .map((l) => `${l}\n`)
    .join("");
}
