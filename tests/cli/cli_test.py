#!/usr/bin/env python3
"""Tests that run the built `datatier` binary.

Usage: cli_test.py DATATIER_BINARY TEST_DATA_DIR [unittest arguments, e.g. a class name]

The golden files and the values checked here are those of tests/data/README
(the golden README): checksums, user versions, timestamps and data sizes.
"""

import datetime
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

DATATIER = None
DATA = None

# name -> (data size, user version, checksum, time_unix_s, time_unix_ns,
#          time_monotonic_s, time_monotonic_ns)
GOLDEN = {
    "mmap_8192_uv0_seed1.pool": (
        8192, 0, "3167d296fda21499db8dc4fc31b490f8172a5dfc26e8a384c73031c83fb01c9c",
        1795462057, 1795462057391762246, 519, 519574574892),
    "fbm_8192_uv7_seed2.pool": (
        8192, 7, "7e17d5ceb5e55ab3a0292f49bd3a3aa5f2cb17ae2fadb14469eb8b352068e90b",
        1795462057, 1795462057395546096, 519, 519578358742),
    "mmap_65536_uv42_seed3.pool": (
        65536, 42, "f3d80af4f4b6a391bb996051bd023fc2b85fb8331d0ae0c175583ddb03621177",
        1795462057, 1795462057398451004, 519, 519581263640),
}
BUG_FILE = os.path.join("extra", "mmap_5000_uv0_seed1_BUG.pool")


def run(*args, env=None, timeout=120):
    return subprocess.run([DATATIER, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def golden(name):
    return os.path.join(DATA, name)


def splitmix64_bytes(seed, n):
    """The golden README's generator."""
    mask = (1 << 64) - 1
    state = seed
    out = bytearray()
    while len(out) < n:
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        out += z.to_bytes(8, "little")
    return bytes(out[:n])


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="datatier-cli-test-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def copy_golden(self, name):
        dst = self.path(os.path.basename(name))
        shutil.copyfile(golden(name), dst)
        return dst

    def assert_one_error_line(self, result, *words):
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("datatier: "), result.stderr)
        for word in words:
            self.assertIn(word, lines[0])


class Info(TempDirTest):
    def test_json_fields_match_the_golden_readme(self):
        for name, (size, uv, checksum, unix_s, unix_ns, mono_s, mono_ns) in GOLDEN.items():
            with self.subTest(name=name):
                r = run("info", "--json", golden(name))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "")
                info = json.loads(r.stdout)
                self.assertEqual(info["file_size"], 4096 + size)
                self.assertEqual(info["data_size"], size)
                self.assertEqual(info["data_size_source"], "file size")
                self.assertEqual(info["magic"], "PELIKAN!")
                self.assertTrue(info["magic_ok"])
                self.assertEqual(info["version"], 0)
                self.assertEqual(info["user_version"], uv)
                self.assertEqual(info["options"], 0)
                self.assertFalse(info["in_use"])
                self.assertEqual(info["checksum"], checksum)
                self.assertEqual(info["time_unix_s"], unix_s)
                self.assertEqual(info["time_unix_ns"], unix_ns)
                self.assertEqual(info["time_monotonic_s"], mono_s)
                self.assertEqual(info["time_monotonic_ns"], mono_ns)
                expected_utc = datetime.datetime.fromtimestamp(
                    unix_s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                self.assertEqual(info["time_unix_s_utc"], expected_utc)
                self.assertEqual(info["time_unix_ns_utc"],
                                 expected_utc[:-1] + ".%09dZ" % (unix_ns % 10**9))
                self.assertEqual(info["time_monotonic_ns_seconds"],
                                 "%d.%09d" % (mono_ns // 10**9, mono_ns % 10**9))

    def test_text_shows_the_fields(self):
        r = run("info", golden("mmap_65536_uv42_seed3.pool"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(GOLDEN["mmap_65536_uv42_seed3.pool"][2], r.stdout)
        self.assertIn("PELIKAN!", r.stdout)
        self.assertIn("65536 bytes", r.stdout)
        self.assertIn("2026-11-23T19:27:37.398451004Z", r.stdout)
        self.assertRegex(r.stdout, r"user version\s+42")

    def test_missing_file_exits_2(self):
        r = run("info", self.path("nope.pool"))
        self.assertEqual(r.returncode, 2)
        self.assert_one_error_line(r, "nope.pool", "No such file")

    def test_file_shorter_than_a_header_exits_1(self):
        short = self.path("short.pool")
        with open(short, "wb") as f:
            f.write(b"PELIKAN!" * 10)
        r = run("info", short)
        self.assertEqual(r.returncode, 1)
        self.assert_one_error_line(r, "short.pool", "not a pool file", "80 bytes")


class Verify(TempDirTest):
    def test_golden_files_are_intact(self):
        for name, (size, uv, checksum, *_) in GOLDEN.items():
            with self.subTest(name=name):
                r = run("verify", "--json", golden(name))
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                report = json.loads(r.stdout)
                self.assertTrue(report["ok"])
                self.assertIsNone(report["error"])
                self.assertEqual(report["data_size"], size)
                self.assertEqual(report["file_size"], 4096 + size)
                self.assertEqual(report["user_version"], uv)
                self.assertEqual(report["computed_checksum"], checksum)
                self.assertEqual(report["header"]["checksum"], checksum)
                self.assertEqual(report["header"]["user_version"], uv)
                self.assertEqual(report["damaged"], [])
                # The same with the expectations spelled out.
                r = run("verify", golden(name), "--size", str(size), "--user-version", str(uv))
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertTrue(r.stdout.startswith("ok"), r.stdout)
                self.assertIn(checksum, r.stdout)

    def test_flipped_data_byte_exits_1_and_names_the_checksum(self):
        path = self.copy_golden("mmap_65536_uv42_seed3.pool")
        with open(path, "r+b") as f:
            f.seek(4096 + 1000)
            b = f.read(1)
            f.seek(4096 + 1000)
            f.write(bytes([b[0] ^ 0x01]))
        r = run("verify", path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("checksum", r.stdout)
        self.assertIn(GOLDEN["mmap_65536_uv42_seed3.pool"][2], r.stdout)  # stored, as expected
        r = run("verify", "--json", path)
        self.assertEqual(r.returncode, 1)
        report = json.loads(r.stdout)
        self.assertFalse(report["ok"])
        self.assertEqual(report["error"], "checksum_mismatch")
        self.assertNotEqual(report["computed_checksum"], report["header"]["checksum"])
        # Without a block index beside it, the file is named as a whole.
        self.assertEqual(report["damaged"], [])
        self.assertNotIn("damaged data", run("verify", path).stdout)

    def flip_data_bytes(self, path, offsets):
        with open(path, "r+b") as f:
            for offset in offsets:
                f.seek(4096 + offset)
                b = f.read(1)
                f.seek(4096 + offset)
                f.write(bytes([b[0] ^ 0x01]))

    def create_indexed_pool(self, size):
        """An fbm pool of `size` data bytes, saved once: with a block index of
        64 KiB blocks of the hashed stream (the 4096-byte header, then the
        data), so data block b > 0 holds data bytes [b * 64 KiB - 4096,
        (b + 1) * 64 KiB - 4096)."""
        path = self.path("p.pool")
        r = run("create", path, "--kind", "fbm", "--size", str(size), "--fill", "random")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(path + ".index"))
        return path

    def test_damaged_ranges_are_named_by_the_block_index(self):
        path = self.create_indexed_pool(256 * 1024)
        self.flip_data_bytes(path, (100000, 200000))  # blocks 1 and 3
        ranges = [(61440, 65536), (192512, 65536)]
        r = run("verify", path)
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("not intact: checksum mismatch"), r.stdout)
        self.assertEqual(lines[1:3], ["damaged data: offset %d, length %d" % x for x in ranges])
        self.assertTrue(lines[3].startswith("previous snapshot"), r.stdout)
        r = run("verify", "--json", path)
        self.assertEqual(r.returncode, 1, r.stderr)
        report = json.loads(r.stdout)
        self.assertEqual(report["error"], "checksum_mismatch")
        self.assertEqual(report["damaged"], [{"offset": o, "length": n} for o, n in ranges])
        self.assertEqual(report["previous"]["damaged"], [])

    def test_many_damaged_ranges_are_counted_past_the_first_sixteen(self):
        block = 64 * 1024
        path = self.create_indexed_pool(41 * block)
        # Every other block from block 2, so that no two ranges merge.
        self.flip_data_bytes(path, [2 * k * block for k in range(1, 21)])
        r = run("verify", path)
        self.assertEqual(r.returncode, 1, r.stderr)
        damaged = [line for line in r.stdout.splitlines() if line.startswith("damaged data")]
        self.assertEqual(len(damaged), 17, r.stdout)
        self.assertEqual(damaged[0], "damaged data: offset %d, length %d" % (2 * block - 4096, block))
        self.assertEqual(damaged[-1], "damaged data: 4 more ranges")
        report = json.loads(run("verify", "--json", path).stdout)
        self.assertEqual(report["damaged"],
                         [{"offset": 2 * k * block - 4096, "length": block} for k in range(1, 21)])

    def test_truncated_copy_exits_1_and_names_the_size(self):
        path = self.copy_golden("fbm_8192_uv7_seed2.pool")
        os.truncate(path, 12288 - 100)
        r = run("verify", path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("size", r.stdout)
        self.assertIn("12188", r.stdout)
        report = json.loads(run("verify", "--json", path).stdout)
        self.assertEqual(report["error"], "size_mismatch")

    def test_wrong_expectations_exit_1(self):
        r = run("verify", "--json", golden("fbm_8192_uv7_seed2.pool"), "--user-version", "8")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout)["error"], "user_version_mismatch")
        r = run("verify", "--json", golden("fbm_8192_uv7_seed2.pool"), "--size", "4KiB")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout)["error"], "size_mismatch")

    def test_bad_magic_exits_1(self):
        path = self.copy_golden("mmap_8192_uv0_seed1.pool")
        with open(path, "r+b") as f:
            f.seek(32)
            f.write(b"X")
        r = run("verify", "--json", path)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout)["error"], "bad_magic")

    def test_reference_file_of_an_odd_size(self):
        # Checked against the 5000 bytes it was created with, it fails (the
        # reference hashed whole pages when it wrote it); against the whole
        # pages the file holds, it verifies.
        r = run("verify", "--json", golden(BUG_FILE), "--size", "5000")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout)["error"], "checksum_mismatch")
        r = run("verify", "--json", golden(BUG_FILE))
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(json.loads(r.stdout)["data_size"], 8192)

    def test_missing_file_exits_2(self):
        r = run("verify", self.path("missing.pool"))
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assert_one_error_line(r, "missing.pool")

    def test_file_that_is_not_a_pool_says_so(self):
        text = self.path("notes.txt")
        with open(text, "wb") as f:
            f.write(b"hello\n" * 2000)  # 12000 bytes: no pool has that size either
        short = self.path("short")
        with open(short, "wb") as f:
            f.write(b"PELIKAN!")
        for path, detail in ((text, 'found "llo\\nhell"'), (short, "8 bytes, shorter")):
            with self.subTest(path=path):
                r = run("verify", path)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertTrue(r.stdout.startswith("not a pool file: "), r.stdout)
                self.assertIn(detail, r.stdout)
                r = run("verify", "--json", path)
                self.assertEqual(r.returncode, 1, r.stderr)
                report = json.loads(r.stdout)
                self.assertFalse(report["ok"])
                self.assertTrue(report["not_a_pool"])
                self.assertEqual(report["error"], "bad_magic")
                self.assertTrue(report["message"].startswith("not a pool file: "), report)

    def test_previous_snapshot_of_a_file_that_is_not_a_pool_is_checked_on_its_own(self):
        path = self.copy_golden("mmap_8192_uv0_seed1.pool")
        shutil.copyfile(path, path + ".prev")
        with open(path, "r+b") as f:
            f.seek(32)
            f.write(b"\0" * 8)  # the magic gone: no size or version to go by
        r = run("verify", path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stdout, r"previous snapshot '.*\.prev': ok: 8192 data bytes")

    def test_file_held_by_a_pool_is_in_use_not_corrupt(self):
        path = self.copy_golden("mmap_8192_uv0_seed1.pool")
        with open(path, "rb") as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # as a running pool holds its file
            r = run("verify", path)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertTrue(r.stdout.startswith("in use:"), r.stdout)
            self.assertNotIn("checksum", r.stdout)
            report = json.loads(run("verify", "--json", path).stdout)
            self.assertEqual(report["error"], "pool_in_use")
            self.assertIsNone(report["computed_checksum"])
        self.assertEqual(run("verify", path).returncode, 0)

    def test_previous_snapshot_is_checked_too(self):
        path = self.path("p.pool")
        r = run("create", path, "--kind", "fbm", "--size", "8KiB", "--fill", "random",
                "--seed", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("verify", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("previous snapshot", r.stdout)
        self.assertIn("no previous snapshot yet", r.stdout)
        # A damaged previous snapshot is reported, the pool file still decides.
        shutil.copyfile(path, path + ".prev")
        with open(path + ".prev", "r+b") as f:
            f.seek(4096 + 5)
            f.write(b"\xff")
        r = run("verify", path)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stdout, r"previous snapshot '.*p\.pool\.prev': not intact: checksum")
        report = json.loads(run("verify", "--json", path).stdout)
        self.assertTrue(report["ok"])
        self.assertEqual(report["previous"]["error"], "checksum_mismatch")

    def test_no_progress_output_when_stderr_is_not_a_terminal(self):
        r = run("verify", golden("mmap_65536_uv42_seed3.pool"))
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stderr, "")


class Create(TempDirTest):
    SIZES = [0, 1, 4095, 4096, 4097, 1024 * 1024 + 3]

    def test_create_then_verify_round_trips(self):
        for kind in ("mmap", "fbm"):
            for size in self.SIZES:
                for fill in (["--fill", "zero"], ["--fill", "random", "--seed", "9"]):
                    with self.subTest(kind=kind, size=size, fill=fill[1]):
                        path = self.path("%s-%d-%s.pool" % (kind, size, fill[1]))
                        r = run("create", path, "--size", str(size), "--kind", kind,
                                "--user-version", "5", "--json", *fill)
                        self.assertEqual(r.returncode, 0, r.stderr)
                        created = json.loads(r.stdout)
                        self.assertEqual(created["data_size"], size)
                        self.assertEqual(created["file_size"], os.path.getsize(path))
                        self.assertEqual(os.path.getsize(path), 4096 * (1 + (size + 4095) // 4096))
                        spare = path + ".prev"
                        self.assertEqual(os.path.exists(spare), kind == "fbm")
                        # A pool of more than one 64 KiB block of the index
                        # has one after its save.
                        index = path + ".index"
                        indexed = kind == "fbm" and 4096 + size > 64 * 1024
                        self.assertEqual(os.path.exists(index), indexed)
                        self.assertEqual(created["index_path"], index if indexed else None)
                        r = run("verify", "--json", path, "--user-version", "5")
                        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                        report = json.loads(r.stdout)
                        self.assertEqual(report["data_size"], size)
                        self.assertEqual(report["computed_checksum"], created["checksum"])
                        with open(path, "rb") as f:
                            data = f.read()[4096:4096 + size]
                        if fill[1] == "random":
                            self.assertEqual(data, splitmix64_bytes(9, size))
                        else:
                            self.assertEqual(data, bytes(size))

    def test_random_fill_matches_the_golden_data(self):
        path = self.path("seed1.pool")
        r = run("create", path, "--size", "8KiB", "--fill", "random", "--seed", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(path, "rb") as f, open(golden("mmap_8192_uv0_seed1.pool"), "rb") as g:
            self.assertEqual(f.read()[4096:], g.read()[4096:])

    def test_existing_file_is_refused_with_exit_2(self):
        path = self.copy_golden("mmap_8192_uv0_seed1.pool")
        r = run("create", path, "--size", "8192")
        self.assertEqual(r.returncode, 2)
        self.assert_one_error_line(r, "exists")
        with open(path, "rb") as f, open(golden("mmap_8192_uv0_seed1.pool"), "rb") as g:
            self.assertEqual(f.read(), g.read())

    def test_seed_without_random_fill_is_a_usage_error(self):
        r = run("create", self.path("x.pool"), "--size", "1", "--seed", "3")
        self.assertEqual(r.returncode, 2)
        self.assertFalse(os.path.exists(self.path("x.pool")))


class Sizes(TempDirTest):
    GOOD = {
        "4096": 4096, "0": 0, "64KiB": 65536, "1MiB": 1 << 20, "1K": 1024, "2k": 2048,
        "1.5KiB": 1536, "3KB": 3000, "1.5K": 1536, "7B": 7, "0.5MiB": 1 << 19,
    }
    BAD = ["", "abc", "-1", "1.5", "1.5B", "0x1000", "1 KiB", "KiB", "1KiBx", "1.KiB",
           "4096.", "1e3", "99999999999999999999", "16777216TiB", "1XB", " 4096"]

    def test_good_sizes(self):
        for text, size in self.GOOD.items():
            with self.subTest(text=text):
                path = self.path("s%d.pool" % len(os.listdir(self.dir)))
                r = run("create", path, "--size", text, "--json")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(json.loads(r.stdout)["data_size"], size)

    def test_bad_sizes_exit_2_with_one_clear_line(self):
        for text in self.BAD:
            for args in (["create", self.path("bad.pool"), "--size", text],
                         ["verify", golden("mmap_8192_uv0_seed1.pool"), "--size", text],
                         ["bench", "--size", text, "--dir", self.dir]):
                with self.subTest(text=text, command=args[0]):
                    r = run(*args)
                    self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                    self.assert_one_error_line(r)
                    self.assertIn("size", r.stderr)
        self.assertEqual(os.listdir(self.dir), [])


class Usage(TempDirTest):
    def test_version(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.strip(), r"^datatier \d+\.\d+\.\d+$")

    COMMANDS = ("info", "verify", "create", "rm", "restore-prev", "bench")

    def test_help_on_every_subcommand(self):
        for sub in self.COMMANDS:
            with self.subTest(sub=sub):
                r = run(sub, "--help")
                self.assertEqual(r.returncode, 0)
                self.assertIn("Usage:", r.stdout)
                self.assertIn(sub, r.stdout)
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for sub in self.COMMANDS:
            self.assertIn(sub, r.stdout)

    def test_help_shows_placeholders_not_parser_types(self):
        for args in [["--help"]] + [[sub, "--help"] for sub in self.COMMANDS]:
            with self.subTest(args=args):
                r = run(*args)
                self.assertEqual(r.returncode, 0)
                self.assertNotRegex(r.stdout, r"\b(TEXT|UINT|INT|FLOAT|REQUIRED)\b|:\{|=\S")
        r = run("create", "--help")
        for placeholder in ("--size SIZE", "--user-version N", "--kind mmap|fbm",
                            "--fill zero|random", "--seed N"):
            self.assertIn(placeholder, r.stdout)

    def test_unknown_command_is_named_on_one_line(self):
        r = run("bogus")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, "datatier: unknown command 'bogus' (see 'datatier --help')\n")

    def test_usage_errors_exit_2(self):
        cases = [
            [],
            ["frobnicate"],
            ["info"],
            ["verify", golden("mmap_8192_uv0_seed1.pool"), "--bogus"],
            ["verify", golden("mmap_8192_uv0_seed1.pool"), "--user-version", "-1"],
            ["verify", golden("mmap_8192_uv0_seed1.pool"), "--user-version", "x"],
            ["create", self.path("x.pool")],
            ["create", self.path("x.pool"), "--size", "1", "--kind", "disk"],
            ["create", self.path("x.pool"), "--size", "1", "--fill", "ones"],
            ["bench", "--kinds", "memory,disk", "--dir", self.dir],
            ["bench", "--kinds", "mmap,mmap", "--dir", self.dir],
            ["bench", "--repeat", "0", "--dir", self.dir],
            ["bench", "--dir", self.path("no-such-dir")],
        ]
        for args in cases:
            with self.subTest(args=args):
                r = run(*args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assert_one_error_line(r)
        self.assertEqual(os.listdir(self.dir), [])


class Bench(TempDirTest):
    PHASES = {"memory": ["create", "fill", "flush", "drop"],
              "mmap": ["create", "fill", "flush", "drop", "open", "flush_marked"],
              "fbm": ["create", "fill", "flush", "flush_compare", "flush_marked", "flush_serving",
                      "drop", "open", "reopen", "open_lazy", "handoff"]}

    def test_small_run_emits_complete_json_and_leaves_nothing(self):
        r = run("bench", "--size", "4MiB", "--repeat", "1", "--dir", self.dir, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")  # no progress when stderr is not a terminal
        out = json.loads(r.stdout)
        self.assertEqual(out["size"], 4 << 20)
        self.assertEqual(out["repeat"], 1)
        self.assertEqual(out["dir"], self.dir)
        for name in ("fault_in", "fault_in_all", "fill", "blake3", "blake3_all", "blake3_changed",
                     "write_fsync", "write_changed", "read", "msync", "unmap", "read_hash",
                     "msync_hash", "compare_limit", "marked_limit"):
            self.assertGreater(out["baselines"][name]["seconds"], 0, name)
            self.assertGreater(out["baselines"][name]["gbps"], 0, name)
        self.assertEqual(sorted(out["kinds"]), ["fbm", "memory", "mmap"])
        for kind, phases in self.PHASES.items():
            self.assertEqual(sorted(out["kinds"][kind]), sorted(phases), kind)
            for phase in phases:
                m = out["kinds"][kind][phase]
                self.assertEqual(len(m["runs"]), 1)
                self.assertGreaterEqual(m["seconds"], 0)
                if (kind, phase) in (("memory", "flush"), ("fbm", "flush_serving"),
                                     ("fbm", "open_lazy"), ("fbm", "handoff")):
                    self.assertIsNone(m["baseline"])
                    self.assertIsNone(m["ratio"])
                else:
                    self.assertIsNotNone(m["baseline"])
                    self.assertGreater(m["ratio"], 0)
        self.assertEqual(out["kinds"]["mmap"]["open"]["baseline"], "blake3_all")
        self.assertEqual(out["kinds"]["fbm"]["reopen"]["baseline"], "blake3_all")
        self.assertEqual(out["kinds"]["fbm"]["open"]["baseline"], "read_hash")
        self.assertEqual(out["kinds"]["mmap"]["flush"]["baseline"], "msync_hash")
        self.assertIn(out["kinds"]["fbm"]["flush"]["baseline"], ("write_fsync", "write_direct"))
        self.assertIn("write_direct", out["baselines"])  # null where there is no O_DIRECT
        # The incremental saves: 1% of the 64 blocks of 64 KiB rounds to 1 block.
        self.assertEqual(out["changed"]["percent"], 1)
        self.assertEqual(out["changed"]["blocks"], 1)
        self.assertEqual(out["changed"]["block_size"], 64 << 10)
        fbm = out["kinds"]["fbm"]
        self.assertEqual(fbm["flush_compare"]["baseline"], "compare_limit")
        self.assertEqual(fbm["flush_marked"]["baseline"], "marked_limit")
        for phase in ("flush_compare", "flush_marked", "flush_serving"):
            self.assertAlmostEqual(fbm[phase]["time_vs_flush"],
                                   fbm[phase]["seconds"] / fbm["flush"]["seconds"], places=9)
        # The background save while writers write: their rates, mark_dirty's
        # latency, the copies held.
        serving = fbm["flush_serving"]
        self.assertGreater(serving["seconds"], 0)
        self.assertGreater(serving["begin_us"], 0)
        self.assertLess(serving["begin_us"], serving["seconds"] * 1e6)
        self.assertGreater(serving["writes_per_s"], 0)
        self.assertGreater(serving["writes_per_s_idle"], 0)
        self.assertAlmostEqual(serving["writes_ratio"],
                               serving["writes_per_s"] / serving["writes_per_s_idle"], places=9)
        self.assertGreater(serving["mark_p99_us"], 0)
        self.assertGreaterEqual(serving["mark_p999_us"], serving["mark_p99_us"])
        self.assertGreater(serving["extra_bytes_peak"], 0)
        self.assertLessEqual(serving["extra_bytes_peak"], serving["copy_budget"])
        self.assertEqual(serving["copy_budget"], 64 << 20)
        self.assertAlmostEqual(out["baselines"]["compare_limit"]["seconds"],
                               out["baselines"]["blake3_all"]["seconds"]
                               + out["baselines"]["write_changed"]["seconds"], places=9)
        self.assertAlmostEqual(out["baselines"]["marked_limit"]["seconds"],
                               out["baselines"]["blake3_changed"]["seconds"]
                               + out["baselines"]["write_changed"]["seconds"], places=9)
        mmap = out["kinds"]["mmap"]
        self.assertEqual(mmap["flush_marked"]["baseline"], "marked_limit")
        self.assertAlmostEqual(mmap["flush_marked"]["time_vs_flush"],
                               mmap["flush_marked"]["seconds"] / mmap["flush"]["seconds"], places=9)
        for kind in ("memory", "mmap"):
            self.assertNotIn("time_vs_flush", out["kinds"][kind]["flush"])
        # The hand-off to a child process, without and with verification.
        handoff = fbm["handoff"]
        self.assertGreater(handoff["seconds"], 0)
        self.assertGreater(handoff["verified_seconds"], 0)
        self.assertEqual(len(handoff["verified_runs"]), 1)
        self.assertAlmostEqual(handoff["verified_vs_blake3_all"],
                               handoff["verified_seconds"]
                               / out["baselines"]["blake3_all"]["seconds"], places=9)
        self.assertEqual(len(handoff["io_bytes_runs"]), 2)
        self.assertEqual(handoff["io_bytes"], max(handoff["io_bytes_runs"]))
        self.assert_open_lazy(fbm["open_lazy"], out["size"], runs=1)
        self.assertEqual(os.listdir(self.dir), [])

    def assert_open_lazy(self, lazy, size, runs):
        """The lazy open and its measures: the load's end, an eager open, the
        reads meanwhile (none where the pool is in before the first one)."""
        self.assertIsInstance(lazy["lazy"], bool)
        self.assertGreater(lazy["seconds"], 0)
        self.assertEqual(len(lazy["loaded_runs"]), runs)
        self.assertEqual(len(lazy["eager_runs"]), runs)
        for loaded, opened in zip(lazy["loaded_runs"], lazy["runs"]):
            self.assertGreaterEqual(loaded, opened)
        self.assertGreater(lazy["eager_seconds"], 0)
        self.assertAlmostEqual(lazy["loaded_vs_open"],
                               lazy["loaded_seconds"] / lazy["eager_seconds"], places=9)
        self.assertGreaterEqual(lazy["reads"], 0)
        self.assertGreaterEqual(lazy["first_read_p50_us"], 0)
        if runs == 1:  # one run's percentiles are ordered; medians of several need not be
            self.assertLessEqual(lazy["first_read_p50_us"], lazy["first_read_p99_us"])
            self.assertLessEqual(lazy["first_read_p99_us"], lazy["first_read_p999_us"])
        self.assertGreaterEqual(lazy["first_read_max_us"], 0)
        self.assertLessEqual(lazy["misses"], lazy["reads"])
        if runs == 1:
            self.assertLessEqual(lazy["miss_p50_us"], lazy["miss_p99_us"])
        for key in ("huge_bytes", "eager_huge_bytes"):
            self.assertGreaterEqual(lazy[key], 0)
            self.assertLessEqual(lazy[key], size)

    def test_changed_takes_a_fraction_of_a_percent(self):
        r = run("bench", "--size", "8MiB", "--repeat", "2", "--kinds", "fbm", "--changed", "12.5",
                "--dir", self.dir, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["changed"]["percent"], 12.5)
        self.assertEqual(out["changed"]["blocks"], 16)  # of 128
        for phase in ("flush_compare", "flush_marked"):
            self.assertEqual(len(out["kinds"]["fbm"][phase]["runs"]), 2)
        self.assert_open_lazy(out["kinds"]["fbm"]["open_lazy"], out["size"], runs=2)
        self.assertEqual(os.listdir(self.dir), [])

    def test_changed_must_be_a_percentage(self):
        for value in ("0", "-1", "100.5", "nan"):
            with self.subTest(value=value):
                r = run("bench", "--changed", value, "--dir", self.dir)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assert_one_error_line(r, "--changed")
        self.assertEqual(os.listdir(self.dir), [])

    def test_cold_run_reads_every_file_from_the_device(self):
        r = run("bench", "--size", "1MiB", "--repeat", "1", "--kinds", "fbm", "--cold", "--json",
                "--dir", self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["page_cache"], "cold")
        # The reopen phase times a file in the page cache, which a cold run never has.
        self.assertEqual(sorted(out["kinds"]["fbm"]),
                         ["create", "drop", "fill", "flush", "flush_compare", "flush_marked",
                          "flush_serving", "handoff", "open", "open_lazy"])
        self.assertEqual(os.listdir(self.dir), [])

    def test_table_and_medians(self):
        r = run("bench", "--size", "1MiB", "--repeat", "3", "--kinds", "mmap", "--dir", self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        for word in ("baseline", "fault-in", "write + fsync", "BLAKE3", "mmap", "open", "GB/s"):
            self.assertIn(word, r.stdout)
        self.assertNotIn("fbm", r.stdout)
        self.assertNotIn("flush_compare", r.stdout)  # fbm only
        self.assertEqual(os.listdir(self.dir), [])

    def test_default_directory_is_a_new_temporary_one_and_is_removed(self):
        env = dict(os.environ, TMPDIR=self.dir)
        r = run("bench", "--size", "1MiB", "--repeat", "1", "--json", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(os.path.dirname(out["dir"]), self.dir)
        self.assertEqual(os.listdir(self.dir), [])

    def test_refuses_to_start_without_space(self):
        r = run("bench", "--size", "1000TiB", "--dir", self.dir)
        self.assertEqual(r.returncode, 2)
        self.assert_one_error_line(r, "space", self.dir)
        self.assertEqual(os.listdir(self.dir), [])


class BenchInterrupt(TempDirTest):
    def interrupt(self, sig, wait_for_suffix):
        """Starts a bench big enough to run for a while, sends `sig` once a
        file ending in `wait_for_suffix` appears, and checks it cleaned up."""
        p = subprocess.Popen([DATATIER, "bench", "--size", "256MiB", "--repeat", "5",
                              "--dir", self.dir, "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not any(f.endswith(wait_for_suffix) for f in os.listdir(self.dir)):
                self.assertIsNone(p.poll(), "bench ended before it was interrupted")
                self.assertLess(time.monotonic(), deadline, "no bench file appeared")
                time.sleep(0.01)
            p.send_signal(sig)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, -sig, err)
        # No partial results: the one JSON object says what happened.
        self.assertEqual(json.loads(out), {"ok": False, "error": "interrupted",
                                           "message": err.strip()[len("datatier: "):]})
        self.assertIn("interrupted", err)
        self.assertEqual(os.listdir(self.dir), [])

    def test_sigint_during_the_baselines_removes_every_file(self):
        self.interrupt(signal.SIGINT, "baseline.dat")

    def test_sigterm_during_an_fbm_pool_removes_its_spare_too(self):
        self.interrupt(signal.SIGTERM, "fbm.pool")


class Rm(TempDirTest):
    def test_removes_a_pool_and_its_spare(self):
        path = self.path("p.pool")
        self.assertEqual(run("create", path, "--size", "8KiB", "--kind", "fbm").returncode, 0)
        r = run("rm", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "removed %s.prev\nremoved %s\n" % (path, path))
        self.assertEqual(os.listdir(self.dir), [])
        self.assertEqual(run("create", path, "--size", "8KiB").returncode, 0)
        r = run("rm", "--json", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"ok": True, "removed": [path]})
        self.assertEqual(os.listdir(self.dir), [])

    def test_removes_the_block_index_too(self):
        path = self.path("p.pool")
        r = run("create", path, "--size", "256KiB", "--kind", "fbm")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("block index     %s.index" % path, r.stdout)
        r = run("rm", "--json", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout),
                         {"ok": True, "removed": [path + ".index", path + ".prev", path]})
        self.assertEqual(os.listdir(self.dir), [])

    def test_refuses_a_pool_that_a_running_pool_holds(self):
        path = self.path("p.pool")
        run("create", path, "--size", "8KiB", "--kind", "fbm")
        with open(path, "rb") as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # as a running pool holds its file
            r = run("rm", path)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assert_one_error_line(r, "p.pool", "in use")
            r = run("rm", "--force", "--json", path)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertEqual(json.loads(r.stdout)["error"], "pool_in_use")
        self.assertEqual(sorted(os.listdir(self.dir)), ["p.pool", "p.pool.prev"])

    def test_refuses_a_file_that_is_not_a_pool_unless_forced(self):
        path = self.path("notes.txt")
        with open(path, "w") as f:
            f.write("not a pool\n" * 1000)
        r = run("rm", path)
        self.assertEqual(r.returncode, 1)
        self.assert_one_error_line(r, "notes.txt", "not a pool file", "--force")
        self.assertTrue(os.path.exists(path))
        r = run("rm", "--force", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.listdir(self.dir), [])

    def test_missing_file_exits_2(self):
        r = run("rm", self.path("gone.pool"))
        self.assertEqual(r.returncode, 2)
        self.assert_one_error_line(r, "gone.pool", "No such file")


class RestorePrev(TempDirTest):
    def two_snapshots(self):
        """A pool file holding seed 2's data, its spare seed 1's."""
        path = self.path("p.pool")
        for seed, name in ((1, "p.pool.prev"), (2, "p.pool")):
            r = run("create", self.path(name), "--size", "8KiB", "--fill", "random", "--seed",
                    str(seed), "--user-version", "4")
            self.assertEqual(r.returncode, 0, r.stderr)
        return path

    def data(self, path):
        with open(path, "rb") as f:
            return f.read()[4096:4096 + 8192]

    def test_puts_the_previous_snapshot_back_and_sets_the_file_aside(self):
        path = self.two_snapshots()
        previous = json.loads(run("verify", "--json", path + ".prev").stdout)["computed_checksum"]
        r = run("restore-prev", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), [
            "restored %s from %s.prev: 8192 data bytes (8 KiB), user version 4, checksum %s"
            % (path, path, previous),
            "the file that was there is now %s.damaged" % path])
        self.assertEqual(sorted(os.listdir(self.dir)), ["p.pool", "p.pool.damaged"])
        self.assertEqual(self.data(path), splitmix64_bytes(1, 8192))
        self.assertEqual(self.data(path + ".damaged"), splitmix64_bytes(2, 8192))
        self.assertEqual(run("verify", path, "--user-version", "4").returncode, 0)

    def test_json_and_the_next_free_damaged_name(self):
        path = self.two_snapshots()
        with open(path + ".damaged", "w") as f:
            f.write("kept")
        r = run("restore-prev", "--json", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertTrue(out["ok"])
        self.assertEqual(out["path"], path)
        self.assertEqual(out["restored_from"], path + ".prev")
        self.assertEqual(out["set_aside"], path + ".damaged.1")
        self.assertEqual(out["data_size"], 8192)
        self.assertEqual(out["user_version"], 4)
        with open(path + ".damaged") as f:
            self.assertEqual(f.read(), "kept")

    def test_refuses_a_damaged_previous_snapshot_and_changes_nothing(self):
        path = self.two_snapshots()
        with open(path + ".prev", "r+b") as f:
            f.seek(4096 + 7)
            f.write(b"\xee")
        before = {name: open(self.path(name), "rb").read() for name in os.listdir(self.dir)}
        r = run("restore-prev", "--json", path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(json.loads(r.stdout)["error"], "checksum_mismatch")
        self.assert_one_error_line(r, "p.pool.prev", "cannot be restored")
        after = {name: open(self.path(name), "rb").read() for name in os.listdir(self.dir)}
        self.assertEqual(after, before)

    def test_refuses_while_a_running_pool_holds_the_file(self):
        path = self.two_snapshots()
        with open(path, "rb") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            r = run("restore-prev", path)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assert_one_error_line(r, "in use")
        self.assertEqual(sorted(os.listdir(self.dir)), ["p.pool", "p.pool.prev"])

    def test_without_a_previous_snapshot_exits_2(self):
        path = self.path("p.pool")
        run("create", path, "--size", "8KiB")
        r = run("restore-prev", path)
        self.assertEqual(r.returncode, 2)
        self.assert_one_error_line(r, "p.pool.prev", "No such file")


class Json(TempDirTest):
    """Every command that has --json prints one JSON object whatever happens."""

    def assert_failure(self, args, status, error):
        r = run(*args)
        self.assertEqual(r.returncode, status, r.stdout + r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["ok"], False)
        self.assertEqual(out["error"], error)
        self.assert_one_error_line(r)
        self.assertEqual("datatier: " + out["message"], r.stderr.strip())

    def test_failures(self):
        missing = self.path("missing.pool")
        existing = self.copy_golden("mmap_8192_uv0_seed1.pool")
        notes = self.path("notes.txt")
        with open(notes, "w") as f:
            f.write("notes\n")
        cases = [
            (["info", "--json", missing], 2, "ENOENT"),
            (["info", "--json", notes], 1, "bad_magic"),
            (["info", "--json"], 2, "usage"),
            (["info", "--json", "--bogus", existing], 2, "usage"),
            (["verify", "--json", missing], 2, "ENOENT"),
            (["verify", "--json", existing, "--user-version", "-1"], 2, "usage"),
            (["verify", "--json", existing, "--size", "1.5"], 2, "usage"),
            (["create", "--json", existing, "--size", "8KiB"], 2, "EEXIST"),
            (["create", "--json", self.path("x.pool"), "--size", "12QB"], 2, "usage"),
            (["create", "--json", self.path("x.pool")], 2, "usage"),
            (["rm", "--json", missing], 2, "ENOENT"),
            (["rm", "--json", notes], 1, "bad_magic"),
            (["restore-prev", "--json", existing], 2, "ENOENT"),
            (["bench", "--json", "--kinds", "disk", "--dir", self.dir], 2, "usage"),
            (["bench", "--json", "--dir", missing], 2, "usage"),
            (["bogus", "--json"], 2, "usage"),
        ]
        for args, status, error in cases:
            with self.subTest(args=args):
                self.assert_failure(args, status, error)

    def test_successes_say_ok(self):
        path = self.path("p.pool")
        for args in (["create", "--json", path, "--size", "1"], ["info", "--json", path],
                     ["verify", "--json", path], ["rm", "--json", path]):
            with self.subTest(args=args):
                r = run(*args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIs(json.loads(r.stdout)["ok"], True)


class Names(TempDirTest):
    """File names with control characters or bytes that are not UTF-8 are
    shown escaped, and the JSON stays valid."""

    NAME = b"we\x1b[31mird\xff\\n\x07.pool"
    SHOWN = "we\\x1b[31mird\\xff\\\\n\\x07.pool"

    def run_bytes(self, *args):
        r = subprocess.run([DATATIER, *args], capture_output=True, timeout=120)
        return r.returncode, r.stdout, r.stderr

    def test_every_command_escapes_the_name(self):
        path = os.path.join(os.fsencode(self.dir), self.NAME)
        shown = self.dir + "/" + self.SHOWN
        for args in (["create", path, "--size", "1", "--kind", "fbm", "--json"],
                     ["info", path], ["info", path, "--json"],
                     ["verify", path], ["verify", path, "--json"],
                     ["rm", path, "--json"], ["rm", path]):
            with self.subTest(args=args[0:1] + args[2:]):
                status, out, err = self.run_bytes(*args)
                self.assertNotIn(b"\x1b", out + err)
                self.assertNotIn(b"\x07", out + err)
                text = (out + err).decode("utf-8")  # valid UTF-8 throughout
                if "--json" in args:
                    out = json.loads(out)
                    self.assertEqual(out.get("path", shown), shown)
                else:
                    self.assertIn(shown, text)
                if args == ["rm", path, "--json"]:
                    self.assertEqual(status, 0, err)
                    self.assertEqual(out["removed"], [shown + ".prev", shown])
                elif args[0] == "rm":
                    self.assertEqual(status, 2)  # gone already
                else:
                    self.assertEqual(status, 0, err)
        self.assertEqual(os.listdir(self.dir), [])


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    DATATIER = os.path.abspath(sys.argv[1])
    DATA = os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], *sys.argv[3:]], verbosity=2)
