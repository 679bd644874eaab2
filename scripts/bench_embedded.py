"""The embedded default beside PostgreSQL and nginx: one table of ratios from one run.

Run by scripts/bench-embedded.sh, which installs wrk and nginx and builds the release
server; see there. Standard library only, and the helpers of bench_api.py. Every figure is
printed, none is checked.

What it does, all on 127.0.0.1 and bounded in time and count:
1. Two servers of the same release binary, each with its in-process worker and media in a
   fresh directory: the embedded default (a SQLite file) and PostgreSQL (a fresh
   database). On each, one Enterprise user uploads UPLOADS copies of a 451x300 PNG photo
   (tests/fixtures/chelsea_451x300.png, 240 KB) and one 2560x1600 JPEG (483 KB), and
   waits for every thumbnail.
2. nginx serving the SQLite server's media directory.
3. wrk, one load at a time, each after an unmeasured 2 s warm-up, the loads taking turns
   for BENCH_ROUNDS rounds (medians reported): on each backend the list page (20 images),
   an image's detail, the PNG's 400 px thumbnail (which is its full size), the PNG
   original and the JPEG original; on nginx the same three files.
4. The list page on SQLite as a user's images grow: users padded to each of
   BENCH_FLAT_SIZES images (copies of an uploaded row, written with Python's sqlite3
   while the server runs), and the p50 of the largest against the smallest.

usage: bench_embedded.py SERVER_BINARY WORK_DIR
environment: BENCH_DURATION (seconds per load, default 10), BENCH_CONNECTIONS (32),
BENCH_THREADS (2), BENCH_ROUNDS (3), BENCH_PG (postgres://postgres@127.0.0.1:5432),
BENCH_UPLOADS (copies of the PNG, default 200, 1..2000), BENCH_FLAT_SIZES (default
1000,1000000; empty to skip), BENCH_PARTS (default backends,flat).
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

import bench_api as b

PNG_FIXTURE = os.path.join(b.REPO, "tests", "fixtures", "chelsea_451x300.png")
JPEG_FIXTURE = b.UPLOAD_FIXTURE
DATABASE = "imagevault_bench_embedded"
UPLOADS = b.env_int("BENCH_UPLOADS", 200, 1, 2000)
FLAT_SIZES = [int(s) for s in os.environ.get("BENCH_FLAT_SIZES", "1000,1000000").split(",") if s]
if any(not 1 <= s <= 2_000_000 for s in FLAT_SIZES):
    sys.exit("every BENCH_FLAT_SIZES entry must be within 1..2000000")
PARTS = [s.strip() for s in os.environ.get("BENCH_PARTS", "backends,flat").split(",")]
if not PARTS or any(part not in ("backends", "flat") for part in PARTS):
    sys.exit("BENCH_PARTS must name some of backends,flat")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def stop(process, timeout=60):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


class Backend:
    """One server with its data, and the URLs its loads use."""

    def __init__(self, name, binary, work, database_url):
        self.name = name
        self.dir = os.path.join(work, name)
        self.media = os.path.join(self.dir, "media")
        os.makedirs(self.media)
        self.database_url = database_url
        subprocess.run([binary, "--database", database_url, "--log", "warn", "migrate"],
                       check=True, stdout=subprocess.DEVNULL)
        self.server, self.base = b.start_server(binary, self.dir, database_url, self.media)
        self.admin = b.Api(self.base, b.basic("admin", b.ADMIN_PASSWORD))

    def seed(self, png, jpeg):
        """The user with UPLOADS copies of the PNG and one JPEG, every thumbnail ready."""
        self.token = b.create_user(self.admin, self.base, "bench")
        api = b.Api(self.base, self.token)
        start = time.perf_counter()
        ids = [b.upload(api, png, "image/png")["id"] for _ in range(UPLOADS)]
        jpeg_image, _ = b.wait_ready(api, b.upload(api, jpeg)["id"])
        for image_id in ids:
            image, _ = b.wait_ready(api, image_id)
        b.log(f"{self.name}: {UPLOADS + 1} uploads ready in {time.perf_counter() - start:.1f} s")
        self.detail = image
        self.thumbnail = max(image["thumbnails"], key=lambda t: t["height"])["url"]
        self.png_original = image["original"]
        self.jpeg_original = jpeg_image["original"]

    def loads(self):
        auth = [f"Authorization: {self.token}"]
        return [
            (f"{self.name}: list page, 20 images", f"{self.base}/api/images/?limit=20", auth),
            (f"{self.name}: image detail", f"{self.base}/api/images/{self.detail['id']}/", auth),
            (f"{self.name}: 400 px PNG thumbnail GET", self.thumbnail, []),
            (f"{self.name}: PNG original GET", self.png_original, []),
            (f"{self.name}: JPEG original GET", self.jpeg_original, []),
        ]


def run_rounds(loads):
    """Every load ROUNDS times, taking turns; the medians by label."""
    runs = {label: [] for label, _, _ in loads}
    for round_number in range(1, b.ROUNDS + 1):
        for label, url, headers in loads:
            b.log(f"load (round {round_number} of {b.ROUNDS}): {label}")
            b.wrk(url, headers=headers, duration=b.WARMUP)
            runs[label].append(b.wrk(url, headers=headers))
    return {label: b.median_result(results) for label, results in runs.items()}


def pad_sqlite(path, username, image_id, total):
    """Copies one image row (and its thumbnail rows) until `username` has `total` images.

    As bench_api.pad_images does on PostgreSQL: the copies are older than the original,
    with UUIDv7 ids stamped with their creation time, and share its storage keys. Columns
    are copied by name, so a migration that adds one needs no change here."""
    connection = sqlite3.connect(path, timeout=60)
    try:
        source = uuid.UUID(image_id).bytes
        (created_at,) = connection.execute(
            "SELECT created_at FROM images WHERE id = ?", (source,)).fetchone()

        def columns(table):
            return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]

        image_columns = [c for c in columns("images") if c not in ("id", "created_at")]
        thumb_columns = [c for c in columns("thumbnails") if c != "image_id"]
        insert_image = (f"INSERT INTO images (id, created_at, {', '.join(image_columns)}) "
                        f"SELECT ?, ?, {', '.join(image_columns)} FROM images WHERE id = ?")
        insert_thumbs = (f"INSERT INTO thumbnails (image_id, {', '.join(thumb_columns)}) "
                         f"SELECT ?, {', '.join(thumb_columns)} FROM thumbnails WHERE image_id = ?")
        batch = []

        def flush():
            connection.executemany(insert_image, [(i, t, source) for i, t in batch])
            connection.executemany(insert_thumbs, [(i, source) for i, _ in batch])
            batch.clear()

        connection.execute("BEGIN")
        for n in range(1, total):
            stamp = created_at - n * 1_000_000
            millis = stamp // 1000
            random_part = bytearray(os.urandom(10))
            random_part[0] = (random_part[0] & 0x0F) | 0x70
            random_part[2] = (random_part[2] & 0x3F) | 0x80
            batch.append((millis.to_bytes(6, "big") + bytes(random_part), stamp))
            if len(batch) == 10_000:
                flush()
        flush()
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        count = connection.execute(
            "SELECT count(*) FROM images i JOIN users u ON u.id = i.owner WHERE u.username = ?",
            (username,)).fetchone()[0]
        if count != total:
            raise RuntimeError(f"{username} has {count} images, expected {total}")
    finally:
        connection.close()


def flat_list(backend, database_path, jpeg):
    """The list page's figures for users of FLAT_SIZES images on `backend` (SQLite)."""
    users = []
    for total in FLAT_SIZES:
        username = f"list{total}"
        # A fresh admin connection: the one from seeding has idled past the keep-alive.
        admin = b.Api(backend.base, b.basic("admin", b.ADMIN_PASSWORD))
        token = b.create_user(admin, backend.base, username)
        api = b.Api(backend.base, token)
        image, _ = b.wait_ready(api, b.upload(api, jpeg)["id"])
        start = time.perf_counter()
        pad_sqlite(database_path, username, image["id"], total)
        b.log(f"{username}: padded to {total:,} images in {time.perf_counter() - start:.1f} s")
        users.append((f"SQLite: list page, {total:,} images",
                      f"{backend.base}/api/images/?limit=20", [f"Authorization: {token}"]))
    return run_rounds(users)


def main():
    binary, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    png, jpeg = read(PNG_FIXTURE), read(JPEG_FIXTURE)
    sqlite_path = os.path.join(work, "SQLite", "imagevault.db")
    backends, nginx = [], None
    try:
        sqlite_backend = Backend("SQLite", binary, work, f"sqlite://{sqlite_path}")
        backends.append(sqlite_backend)
        if "backends" in PARTS:
            b.log(f"creating database {DATABASE}")
            b.psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", database="postgres")
            b.psql(f"CREATE DATABASE {DATABASE}", database="postgres")
            backends.append(Backend("PostgreSQL", binary, work, f"{b.PG}/{DATABASE}"))
            for backend in backends:
                backend.seed(png, jpeg)
            nginx, nginx_base = b.start_nginx(work, sqlite_backend.media)
            nginx_loads = [
                (f"nginx: {label}", f"{nginx_base}{b.path_of(url)}", [])
                for label, url in (("400 px PNG thumbnail GET", sqlite_backend.thumbnail),
                                   ("PNG original GET", sqlite_backend.png_original),
                                   ("JPEG original GET", sqlite_backend.jpeg_original))
            ]
            loads = [load for backend in backends for load in backend.loads()] + nginx_loads
            medians = run_rounds(loads)
            report_backends(medians, len(png), len(jpeg))
        if "flat" in PARTS and FLAT_SIZES:
            flat = flat_list(sqlite_backend, sqlite_path, jpeg)
            report_flat(flat)
    finally:
        for backend in backends:
            stop(backend.server)
        if nginx:
            nginx.terminate()
            nginx.wait(timeout=10)


def report_backends(medians, png_bytes, jpeg_bytes):
    print(f"imagevault on the embedded default (SQLite, local files, in-process worker) and on "
          f"PostgreSQL, beside nginx serving the same files; {os.cpu_count()} cores, wrk "
          f"{b.THREADS} threads, {b.CONNECTIONS} connections, {b.DURATION} s per load, "
          f"loopback; medians of {b.ROUNDS} rounds. Data: one user with {UPLOADS} uploads of a "
          f"{png_bytes:,}-byte 451x300 PNG and one {jpeg_bytes:,}-byte 2560x1600 JPEG.")
    print()
    if medians:
        print("| load | SQLite req/s | PostgreSQL req/s | nginx req/s | SQLite / PostgreSQL "
              "| SQLite / nginx | PostgreSQL / nginx | p50 ms (SQLite, PostgreSQL, nginx) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for load in ("list page, 20 images", "image detail", "400 px PNG thumbnail GET",
                     "PNG original GET", "JPEG original GET"):
            s, p = medians[f"SQLite: {load}"], medians[f"PostgreSQL: {load}"]
            n = medians.get(f"nginx: {load}")

            def ratio(x, y):
                return f"{x['rps'] / y['rps']:.2f}" if y else ""

            cells = [load, f"{s['rps']:,.0f}", f"{p['rps']:,.0f}", f"{n['rps']:,.0f}" if n else "",
                     ratio(s, p), ratio(s, n), ratio(p, n),
                     ", ".join(f"{r['p50']:.2f}" for r in (s, p, n) if r)]
            print("| " + " | ".join(cells) + " |")
        errors = sum(r["errors"] for r in medians.values())
        print()
        print(f"Errors (non-2xx or socket) over every load: {errors}.")
    sys.stdout.flush()


def report_flat(flat):
    if flat:
        print()
        print("| SQLite list page | req/s | p50 ms | p90 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|")
        for label, r in flat.items():
            print(f"| {label.split(': ', 1)[1]} | {r['rps']:,.0f} | {r['p50']:.2f} | "
                  f"{r['p90']:.2f} | {r['p99']:.2f} |")
        first, last = list(flat.values())[0], list(flat.values())[-1]
        print()
        print(f"p50 at the largest / the smallest: {last['p50'] / first['p50']:.2f}x.")


if __name__ == "__main__":
    main()
