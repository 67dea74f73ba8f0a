import { invalidArgument } from "../errors/index.js";
import type { Platform } from "../oci/index.js";

const archAliases: Record<string, string> = {
  x86_64: "amd64",
  "x86-64": "amd64",
  aarch64: "arm64",
  armhf: "arm",
  armel: "arm",
  i386: "386",
};

/** Platform with containerd's normalisation: arch aliases, arm64 means arm64/v8, arm without a variant means arm/v7. */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  const architecture = archAliases[p.architecture.toLowerCase()] ?? p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  if (architecture === "arm64" && (variant === undefined || variant === "" || variant === "8")) variant = "v8";
  if (architecture === "arm" && (variant === undefined || variant === "")) variant = "v7";
  if (architecture === "arm" && variant && /^\d$/.test(variant)) variant = `v${variant}`;
  if (architecture === "amd64" && (variant === "" || variant === "v1")) variant = undefined;
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  return out;
}

/** The platform of this machine (what a pull picks from an index by default). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    arm: "arm",
    ia32: "386",
    ppc64: "ppc64le",
    s390x: "s390x",
    riscv64: "riscv64",
  };
  const p: Platform = { os: "linux", architecture: arch[process.arch] ?? process.arch };
  if (process.arch === "arm") {
    const v = (process.config.variables as Record<string, unknown>)["arm_version"];
    p.variant = `v${typeof v === "string" || typeof v === "number" ? v : 7}`;
  }
  return normalizePlatform(p);
}

/** "linux/arm64/v8" -> Platform. */
export function parsePlatform(s: string): Platform {
  const parts = s.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === ""))
    throw invalidArgument(`platform "${s}": expected os/arch[/variant]`);
  const [os, architecture, variant] = parts as [string, string, string?];
  return normalizePlatform(variant ? { os, architecture, variant } : { os, architecture });
}

export function formatPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  return [n.os, n.architecture, n.variant].filter(Boolean).join("/");
}

/**
 * How well `have` serves `want`: 0 for no, higher is better. An arm/v7 machine also runs v6
 * and v5 images (lower scores), as containerd's platform matcher allows.
 */
export function platformScore(want: Platform, have: Platform): number {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return 0;
  if (w.variant === h.variant) return 100;
  if (w.architecture === "arm" && w.variant && h.variant) {
    const wv = Number(w.variant.slice(1));
    const hv = Number(h.variant.slice(1));
    if (hv < wv) return 50 + hv;
  }
  return 0;
}
