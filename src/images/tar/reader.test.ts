import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BLOCK, sealChecksum, writeBase256 } from "./header.js";
import { formatPax } from "./pax.js";
import { readTar } from "./reader.js";
import { encodeHeader, END_OF_ARCHIVE, tarBuffer } from "./writer.js";

async function* chunks(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function readAll(buf: Buffer, chunkSize = 4096) {
  const out = [];
  for await (const { header, body } of readTar(chunks(buf, chunkSize))) {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c as Buffer);
    out.push({ name: header.name, type: header.type, data: Buffer.concat(parts).toString("utf8"), header });
  }
  return out;
}

const hasGnuTar = spawnSync("tar", ["--version"], { encoding: "utf8" }).stdout?.includes("GNU tar") ?? false;

/** A raw header block (as a hostile or old writer would make it), checksum sealed. */
function rawBlock(name: string, typeflag: string, size: number, edit?: (b: Buffer) => void): Buffer {
  const b = encodeHeader({ name, size: typeflag === "0" ? size : 0 });
  b[156] = typeflag.charCodeAt(0);
  b.write(size.toString(8).padStart(11, "0"), 124, "latin1");
  edit?.(b);
  sealChecksum(b);
  return b;
}

const pad = (n: number) => Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);

test("readTar round-trips every entry type the writer makes, at any chunking", async () => {
  const entries = [
    { header: { name: "dir/", type: "directory" as const, mode: 0o1777, uid: 1, gid: 2, mtime: 1_700_000_000 } },
    { header: { name: "dir/file", mode: 0o4755, uid: 1000, gid: 1000, uname: "u", gname: "g", mtime: 5 }, body: "hello\n" },
    { header: { name: "dir/big", size: 3 * BLOCK + 7 }, body: "x".repeat(3 * BLOCK + 7) },
    { header: { name: "dir/empty" }, body: "" },
    { header: { name: "dir/link", type: "hardlink" as const, linkname: "dir/file" } },
    { header: { name: "dir/sym", type: "symlink" as const, linkname: "../etc/passwd" } },
    { header: { name: "dev/null", type: "chardev" as const, devmajor: 1, devminor: 3, mode: 0o666 } },
    { header: { name: "dev/sda", type: "blockdev" as const, devmajor: 8, devminor: 0 } },
    { header: { name: "fifo", type: "fifo" as const, mode: 0o600 } },
  ];
  const tar = tarBuffer(entries);
  for (const size of [1, 7, 512, 513, 100_000]) {
    const got = await readAll(tar, size);
    assert.deepEqual(
      got.map((e) => [e.name, e.type, e.data]),
      [
        ["dir/", "directory", ""],
        ["dir/file", "file", "hello\n"],
        ["dir/big", "file", "x".repeat(3 * BLOCK + 7)],
        ["dir/empty", "file", ""],
        ["dir/link", "hardlink", ""],
        ["dir/sym", "symlink", ""],
        ["dev/null", "chardev", ""],
        ["dev/sda", "blockdev", ""],
        ["fifo", "fifo", ""],
      ],
      `chunk size ${size}`,
    );
    const [dir, file, , , link, sym, dev] = got.map((e) => e.header);
    assert.equal(dir?.mode, 0o1777);
    assert.deepEqual(
      [file?.mode, file?.uid, file?.gid, file?.uname, file?.gname, file?.mtime],
      [0o4755, 1000, 1000, "u", "g", 5],
    );
    assert.equal(link?.linkname, "dir/file");
    assert.equal(sym?.linkname, "../etc/passwd");
    assert.deepEqual([dev?.devmajor, dev?.devminor], [1, 3]);
  }
});

test("readTar skips bodies left unread or half read", async () => {
  const tar = tarBuffer([
    { header: { name: "a" }, body: "a".repeat(5000) },
    { header: { name: "b" }, body: "bbb" },
    { header: { name: "c" }, body: "c".repeat(70_000) },
  ]);
  const names: string[] = [];
  for await (const { header, body } of readTar(chunks(tar, 1000))) {
    names.push(header.name);
    if (header.name === "c") {
      // read one chunk only
      for await (const c of body) {
        assert.ok((c as Buffer).length > 0);
        break;
      }
    }
  }
  assert.deepEqual(names, ["a", "b", "c"]);
});

test("PAX: long paths and link targets, big ids, fractional mtimes, binary xattrs, UTF-8 names", async () => {
  const long = `${"d".repeat(120)}/${"e".repeat(150)}/${"f".repeat(90)}`;
  const xattr = Buffer.from([0, 1, 2, 0xff, 0x0a, 0x3d]);
  const tar = tarBuffer([
    { header: { name: long }, body: "long" },
    { header: { name: "l", type: "symlink", linkname: "t".repeat(300) } },
    { header: { name: "ids", uid: 5_000_000_000, gid: 2 ** 31, mtime: 1_700_000_000.25 } },
    { header: { name: "before-epoch", mtime: -86_400.5 } },
    { header: { name: "x", xattrs: { "user.bin": xattr, "trusted.t": "v" } } },
    { header: { name: "héllo/wörld", uname: "ü".repeat(40) } },
  ]);
  const got = await readAll(tar);
  assert.equal(got[0]?.name, long);
  assert.equal(got[0]?.data, "long");
  assert.equal(got[1]?.header.linkname, "t".repeat(300));
  assert.deepEqual([got[2]?.header.uid, got[2]?.header.gid, got[2]?.header.mtime], [5_000_000_000, 2 ** 31, 1_700_000_000.25]);
  assert.equal(got[3]?.header.mtime, -86_400.5);
  assert.deepEqual(
    got[4]?.header.xattrs,
    new Map([
      ["user.bin", xattr],
      ["trusted.t", Buffer.from("v")],
    ]),
  );
  assert.equal(got[5]?.name, "héllo/wörld");
  assert.equal(got[5]?.header.uname, "ü".repeat(40));
});

test("ustar prefix: a name up to 256 bytes splits without PAX", async () => {
  const name = `${"p".repeat(150)}/${"n".repeat(99)}`;
  const h = encodeHeader({ name });
  assert.equal(h.length, BLOCK, "no PAX header needed");
  const got = await readAll(Buffer.concat([h, END_OF_ARCHIVE]));
  assert.equal(got[0]?.name, name);
});

test("PAX global headers apply to later entries; an entry's empty record clears one", async () => {
  const g = formatPax([
    ["uid", "42"],
    ["SCHILY.xattr.user.g", "1"],
  ]);
  const x = formatPax([["uid", ""]]);
  const tar = Buffer.concat([
    rawBlock("pax_global_header", "g", g.length),
    g,
    pad(g.length),
    encodeHeader({ name: "a", uid: 7 }),
    rawBlock("PaxHeaders/b", "x", x.length),
    x,
    pad(x.length),
    encodeHeader({ name: "b", uid: 7 }),
    END_OF_ARCHIVE,
  ]);
  const got = await readAll(tar);
  assert.equal(got[0]?.header.uid, 42);
  assert.equal(got[0]?.header.xattrs.get("user.g")?.toString(), "1");
  assert.equal(got[1]?.header.uid, 7);
});

test("LIBARCHIVE.xattr records: URL-encoded names, base64 values", async () => {
  const x = formatPax([["LIBARCHIVE.xattr.user.a%3Db", Buffer.from("hi\0there").toString("base64")]]);
  const tar = Buffer.concat([
    rawBlock("PaxHeaders/f", "x", x.length),
    x,
    pad(x.length),
    encodeHeader({ name: "f" }),
    END_OF_ARCHIVE,
  ]);
  const got = await readAll(tar);
  assert.deepEqual(got[0]?.header.xattrs, new Map([["user.a=b", Buffer.from("hi\0there")]]));
});

test("GNU long names (L) and long link names (K)", async () => {
  const name = `${"n".repeat(300)}/file`;
  const link = `${"k".repeat(200)}/target`;
  const L = Buffer.from(`${name}\0`);
  const K = Buffer.from(`${link}\0`);
  const gnu = (b: Buffer) => {
    b.write("ustar  \0", 257, "latin1");
  };
  const tar = Buffer.concat([
    rawBlock("././@LongLink", "L", L.length, gnu),
    L,
    pad(L.length),
    rawBlock("././@LongLink", "K", K.length, gnu),
    K,
    pad(K.length),
    rawBlock("short", "1", 0, gnu),
    END_OF_ARCHIVE,
  ]);
  const got = await readAll(tar);
  assert.equal(got[0]?.name, name);
  assert.equal(got[0]?.type, "hardlink");
  assert.equal(got[0]?.header.linkname, link);
});

test("base-256 numeric fields (GNU): big and negative values", async () => {
  const b = encodeHeader({ name: "b256" });
  writeBase256(b, "uid", 3_000_000_000);
  writeBase256(b, "gid", 2 ** 40);
  writeBase256(b, "mtime", -1);
  b.write("ustar  \0", 257, "latin1");
  sealChecksum(b);
  const got = await readAll(Buffer.concat([b, END_OF_ARCHIVE]));
  assert.deepEqual([got[0]?.header.uid, got[0]?.header.gid, got[0]?.header.mtime], [3_000_000_000, 2 ** 40, -1]);
});

test("a bad header checksum is an error, not a silent end", async () => {
  const tar = tarBuffer([{ header: { name: "a" }, body: "aaa" }, { header: { name: "b" } }]);
  const bad = Buffer.from(tar);
  bad[1024 + 1] = (bad[1024 + 1] ?? 0) ^ 0x20; // "b"'s header: a name byte
  await assert.rejects(readAll(bad), /bad header checksum at byte 1024/);
  const first = Buffer.from(tar);
  first[100] = 0x37; // mode field of the first header
  await assert.rejects(readAll(first), /bad header checksum at byte 0/);
});

test("a truncated archive is an error wherever it is cut", async () => {
  const tar = tarBuffer([
    { header: { name: "a" }, body: "a".repeat(1000) },
    { header: { name: "b" }, body: "b" },
  ]);
  // header 512, data 1024 (with padding), header 512, data 512, end 1024
  for (const cut of [0, 100, 512, 700, 1536, 1600, 2048, 2100, 2560, 3000]) {
    await assert.rejects(readAll(tar.subarray(0, cut)), /truncated/, `cut at ${cut}`);
  }
  await readAll(tar); // the whole one reads
});

test("anything after the end-of-archive blocks is consumed and ignored", async () => {
  const tar = Buffer.concat([tarBuffer([{ header: { name: "a" }, body: "a" }]), Buffer.alloc(8192, 0), Buffer.from("junk")]);
  let consumed = 0;
  async function* counted() {
    for await (const c of chunks(tar, 1000)) {
      consumed += c.length;
      yield c;
    }
  }
  const names = [];
  for await (const e of readTar(counted())) names.push(e.header.name);
  assert.deepEqual(names, ["a"]);
  assert.equal(consumed, tar.length);
});

test("a zero block followed by a header is an error", async () => {
  const tar = Buffer.concat([Buffer.alloc(BLOCK), encodeHeader({ name: "a" }), END_OF_ARCHIVE]);
  await assert.rejects(readAll(tar), /zero block at byte 0 is followed by data/);
});

test("GNU sparse files are refused clearly", async () => {
  const tar = Buffer.concat([rawBlock("sparse", "S", 0), END_OF_ARCHIVE]);
  await assert.rejects(readAll(tar), /GNU sparse file at byte 0 is not supported/);
  const x = formatPax([["GNU.sparse.major", "1"]]);
  const pax = Buffer.concat([rawBlock("p", "x", x.length), x, pad(x.length), encodeHeader({ name: "s" }), END_OF_ARCHIVE]);
  await assert.rejects(readAll(pax), /sparse/);
});

test("oversized PAX headers and malformed records are refused", async () => {
  const big = Buffer.alloc(2 << 20, 0x61);
  await assert.rejects(readAll(Buffer.concat([rawBlock("p", "x", big.length), big, END_OF_ARCHIVE])), /over the 1048576 allowed/);
  const bad = Buffer.from("99 path=x\n");
  await assert.rejects(
    readAll(Buffer.concat([rawBlock("p", "x", bad.length), bad, pad(bad.length), encodeHeader({ name: "s" }), END_OF_ARCHIVE])),
    /malformed/,
  );
});

test("GNU tar's archives read: gnu format (long names, big uids), posix format (xattrs)", {
  skip: !hasGnuTar && "GNU tar is not installed",
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-tar-"));
  try {
    const root = join(dir, "root");
    const deep = join(root, "a".repeat(60), "b".repeat(60), "c".repeat(60));
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, `${"f".repeat(120)}.txt`), "deep\n");
    symlinkSync("x".repeat(150), join(root, "longlink"));
    const owner = ["--owner=3000000000", "--group=7"];
    for (const format of ["gnu", "posix"]) {
      const tar = execFileSync("tar", ["-C", root, `--format=${format}`, ...owner, "--mtime=@1700000000", "-cf", "-", "."], {
        maxBuffer: 1 << 26,
      });
      const got = await readAll(tar);
      const file = got.find((e) => e.name.endsWith(".txt"));
      assert.equal(file?.data, "deep\n", format);
      assert.equal(file?.name, `./${"a".repeat(60)}/${"b".repeat(60)}/${"c".repeat(60)}/${"f".repeat(120)}.txt`);
      assert.equal(file?.header.uid, 3_000_000_000, format);
      assert.equal(file?.header.mtime, 1_700_000_000);
      const link = got.find((e) => e.name === "./longlink");
      assert.equal(link?.header.linkname, "x".repeat(150), format);
      assert.ok(got.some((e) => e.type === "directory" && e.name === "./"));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
