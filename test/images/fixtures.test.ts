/**
 * Self-check of the test images (test/fixtures/images.ts): each one built, pushed to a local
 * docker-registry, read back with `skopeo inspect --raw` (media types of manifest, index or list,
 * and layers; digests as built), and umoci's unpack of the layered image holding the special
 * files it is meant to hold. Needs root, umoci, skopeo, zstd, python3 and docker-registry.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type ImageOptions,
  LAYERED,
  MEDIA,
  MULTI_ARCH_PLATFORMS,
  type TreeEntry,
  blobPath,
  busyboxImage,
  diffTrees,
  expectedRootfs,
  layeredImage,
  multiArchImage,
  platformString,
  treeManifest,
} from "../fixtures/images.js";
import { registryUnavailable, startRegistry } from "../fixtures/registry.js";

const TOOLS = ["/usr/bin/umoci", "/usr/bin/skopeo", "/usr/bin/zstd", "/usr/bin/docker-registry", "/usr/bin/python3"];
const missing = TOOLS.filter((t) => !existsSync(t));
const skip =
  process.getuid?.() !== 0
    ? "needs root (umoci keeps owners and special files)"
    : missing.length
      ? `needs ${missing.join(", ")}`
      : false;

function skopeo(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("skopeo", args, { encoding: "utf8", maxBuffer: 64 << 20 }, (err, out, stderr) =>
      err ? reject(new Error(`skopeo ${args.join(" ")}: ${stderr}`, { cause: err })) : resolve(out),
    ),
  );
}
/** The manifest (or index) bytes the registry serves, and their digest. */
async function inspectRaw(ref: string): Promise<{ digest: string; json: Record<string, unknown> }> {
  const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]);
  return { digest: "sha256:" + createHash("sha256").update(raw).digest("hex"), json: JSON.parse(raw) };
}
async function inspectConfig(ref: string): Promise<Record<string, unknown>> {
  return JSON.parse(await skopeo(["inspect", "--config", "--raw", "--tls-verify=false", `docker://${ref}`]));
}
const layerTypes = (m: Record<string, unknown>) => (m["layers"] as Array<{ mediaType: string }>).map((l) => l.mediaType);
/** The paths in a layer blob of the layout; GNU tar fails on a truncated or corrupt layer. */
function tarList(layoutDir: string, layer: { mediaType: string; digest: string }): string[] {
  const flag = layer.mediaType.endsWith("gzip") ? ["-z"] : layer.mediaType.endsWith("zstd") ? ["--zstd"] : [];
  return execFileSync("tar", [...flag, "-tf", blobPath(layoutDir, layer.digest)], { encoding: "utf8", maxBuffer: 64 << 20 })
    .split("\n")
    .filter(Boolean);
}
const repoOf = (ref: string) => ref.slice(0, ref.lastIndexOf(":"));

describe("test images", { skip }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  const work = mkdtempSync(join(tmpdir(), "berth-fixtures-test-"));
  before(async () => {
    registry = await startRegistry();
  });
  after(async () => {
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const single: Array<[ImageOptions, string, string]> = [
    [{ format: "oci", compression: "gzip" }, MEDIA.ociManifest, MEDIA.ociLayerGzip],
    [{ format: "oci", compression: "zstd" }, MEDIA.ociManifest, MEDIA.ociLayerZstd],
    [{ format: "oci", compression: "none" }, MEDIA.ociManifest, MEDIA.ociLayer],
    [{ format: "docker", compression: "gzip" }, MEDIA.dockerManifest, MEDIA.dockerLayerGzip],
    [{ format: "docker", compression: "none" }, MEDIA.dockerManifest, MEDIA.dockerLayer],
  ];
  for (const [opts, manifestType, layerType] of single) {
    test(`busybox ${opts.format}/${opts.compression}: ${manifestType}, layer ${layerType}`, async () => {
      const img = await busyboxImage(registry.host, "fixtures/busybox", `${opts.format}-${opts.compression}`, opts);
      const got = await inspectRaw(img.ref);
      assert.equal(got.digest, img.manifestDigest);
      assert.equal(got.json["mediaType"], manifestType);
      assert.deepEqual(layerTypes(got.json), [layerType]);
      assert.ok(tarList(img.layoutDir, img.layers[0] ?? { mediaType: "", digest: "" }).includes("bin/busybox"));
      const config = await inspectConfig(img.ref);
      assert.deepEqual((config["config"] as Record<string, unknown>)["Cmd"], ["sh"]);
      assert.equal(config["architecture"], "amd64");
    });
  }

  test("busybox docker/zstd is refused: Docker schema 2 has no zstd layer type", async () => {
    await assert.rejects(
      busyboxImage(registry.host, "fixtures/busybox", "docker-zstd", { format: "docker", compression: "zstd" }),
      /zstd/,
    );
  });

  test("pushes with credentials, to a token-auth registry served from this process", async (t) => {
    const why = registryUnavailable({ auth: "token" });
    if (why) return t.skip(why);
    const secured = await startRegistry({ auth: "token" });
    try {
      const creds = `${secured.admin.username}:${secured.admin.password}`;
      const img = await busyboxImage(secured.host, "fixtures/private", "latest", { creds });
      const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", "--creds", creds, `docker://${img.ref}`]);
      assert.equal("sha256:" + createHash("sha256").update(raw).digest("hex"), img.manifestDigest);
    } finally {
      await secured.stop();
    }
  });

  for (const [format, indexType, manifestType] of [
    ["oci", MEDIA.ociIndex, MEDIA.ociManifest],
    ["docker", MEDIA.dockerList, MEDIA.dockerManifest],
  ] as const) {
    test(`multi-arch ${format}: ${indexType} of linux/amd64, linux/arm64/v8, linux/arm/v7`, async () => {
      const img = await multiArchImage(registry.host, "fixtures/multiarch", format, { format });
      const got = await inspectRaw(img.ref);
      assert.equal(got.digest, img.manifestDigest);
      assert.equal(got.json["mediaType"], indexType);
      const entries = got.json["manifests"] as Array<{ mediaType: string; digest: string; platform: Record<string, string> }>;
      assert.deepEqual(
        entries.map((e) => e.platform),
        MULTI_ARCH_PLATFORMS.map((p) => ({ ...p })),
      );
      for (const [i, e] of entries.entries()) {
        const p = MULTI_ARCH_PLATFORMS[i];
        assert.equal(e.mediaType, manifestType);
        const byDigest = `${repoOf(img.ref)}@${e.digest}`;
        const config = await inspectConfig(byDigest);
        assert.equal(config["architecture"], p?.architecture);
        assert.equal(config["variant"], p?.variant);
        assert.equal(layerTypes((await inspectRaw(byDigest)).json).length, 2, "busybox + /arch");
        const marker = img.platforms[i]?.layers[1];
        assert.ok(marker);
        assert.deepEqual(tarList(img.layoutDir, marker), ["arch"]);
      }
      // each platform's /arch says which it is
      const amd64 = img.platforms[0];
      assert.ok(amd64);
      const rootfs = await expectedRootfs(img.layoutDir, amd64.unpackTag, join(work, `multiarch-${format}`));
      const arch = treeManifest(rootfs).find((e) => e.path === "/arch");
      const want =
        "sha256:" +
        createHash("sha256")
          .update(`${platformString(amd64.platform)}\n`)
          .digest("hex");
      assert.equal(arch?.sha256, want);
    });
  }

  describe("layered image", () => {
    let tree: Map<string, TreeEntry>;
    let layers: string[][];
    before(async () => {
      const img = await layeredImage(registry.host, "fixtures/layered", "latest");
      const got = await inspectRaw(img.ref);
      assert.equal(got.digest, img.manifestDigest);
      assert.deepEqual(layerTypes(got.json), [MEDIA.ociLayerGzip, MEDIA.ociLayerGzip, MEDIA.ociLayerGzip, MEDIA.ociLayerGzip]);
      layers = img.layers.map((l) => tarList(img.layoutDir, l));
      const rootfs = await expectedRootfs(img.layoutDir, img.unpackTag, join(work, "layered"));
      tree = new Map(treeManifest(rootfs).map((e) => [e.path, e]));
    });
    const at = (p: string) => {
      const e = tree.get(p);
      assert.ok(e, `${p} is in the unpacked tree`);
      return e;
    };

    test("umoci repack writes per-file whiteouts; umoci insert --opaque the opaque marker", () => {
      assert.ok(layers[2]?.includes("etc/.wh.removed-me"));
      assert.ok(layers[2]?.includes("opt/replaced/.wh.old1") && layers[2]?.includes("opt/replaced/.wh.sub"));
      assert.ok(!layers.flat().some((p) => p.endsWith(".wh..wh..opq") && !p.startsWith("srv/opaque/")));
      assert.ok(layers[3]?.includes("srv/opaque/.wh..wh..opq"));
    });
    test("whited-out and opaque-masked paths are gone, their replacements there", () => {
      for (const p of [LAYERED.removed, ...LAYERED.replacedOld, "/opt/replaced/sub/old3", LAYERED.opaqueOld])
        assert.ok(!tree.has(p), `${p} is gone`);
      assert.equal(at(LAYERED.replacedNew).type, "file");
      assert.equal(at(LAYERED.opaqueNew).type, "file");
      assert.deepEqual(
        [...tree.keys()].filter((p) => p.startsWith(`${LAYERED.opaqueDir}/`)),
        [LAYERED.opaqueNew],
      );
    });
    test("hard links share an inode, the symlink and fifo are what they are", () => {
      const [a, b] = LAYERED.hardlinks.map(at);
      assert.equal(a?.hardlink, LAYERED.hardlinks[0]);
      assert.equal(b?.hardlink, LAYERED.hardlinks[0]);
      assert.equal(a?.sha256, b?.sha256);
      assert.equal(at(LAYERED.symlink).type, "symlink");
      assert.equal(at(LAYERED.symlink).linkTarget, "hl-a");
      assert.equal(at(LAYERED.fifo).type, "fifo");
    });
    test("modes, owners and xattrs are kept", () => {
      assert.equal(at(LAYERED.setuid).mode, 0o4755);
      assert.equal(at(LAYERED.sticky).mode, 0o1777);
      assert.equal(at(LAYERED.chmodded).mode, 0o640);
      assert.deepEqual([at(LAYERED.owned).uid, at(LAYERED.owned).gid], [1000, 1000]);
      assert.deepEqual(at(LAYERED.xattr).xattrs, { "user.berth": "hello" });
    });
    test("type changes between layers", () => {
      assert.equal(at(LAYERED.dirToFile).type, "file");
      assert.ok(!tree.has(`${LAYERED.dirToFile}/inner`));
      assert.equal(at(LAYERED.fileToDir).type, "dir");
      assert.equal(at(`${LAYERED.fileToDir}/inner`).type, "file");
    });
    test("treeManifest is stable: a second unpack gives the same manifest", async () => {
      const img = await layeredImage(registry.host, "fixtures/layered", "again");
      const again = treeManifest(await expectedRootfs(img.layoutDir, img.unpackTag, join(work, "layered-again")));
      assert.deepEqual(diffTrees([...tree.values()], again), []);
    });
  });
});
