"""The API benchmark: imagevault-server on PostgreSQL under loopback load, beside nginx.

Run by scripts/bench-api.sh, which installs wrk and nginx and builds the release server;
see there. Standard library only. Every figure is printed, none is checked.

What it does, all on 127.0.0.1 and bounded in time and count:
1. A fresh PostgreSQL database; `imagevault-server migrate`; `serve` with its in-process
   worker on a free port, media in a fresh directory.
2. Enterprise users `list1k`, `list100k`, `list1m` (each with one real uploaded JPEG and
   its thumbnails), padded to 1,000 / 100,000 / 1,000,000 images with SQL copies of that
   row (the copies are older, so the real image heads every list).
3. wrk, one load at a time, each after an unmeasured 2 s warm-up: the list page (20 items)
   and the image detail for each user, a thumbnail GET against nginx serving the same file
   from the same directory, an expiring-link GET; these loads take turns for several rounds
   and the medians are reported. Then raw uploads of a 500 KB JPEG, and how long until
   every uploaded image's thumbnails are ready.
4. Memory: 50 concurrent uploads of a 20 MB image, sampling the server's RSS and timing
   /healthz all along.

usage: bench_api.py SERVER_BINARY WORK_DIR
environment: BENCH_DURATION (seconds per load, default 10, 1..60), BENCH_CONNECTIONS
(default 32), BENCH_THREADS (wrk threads, default 2), BENCH_PG (default
postgres://postgres@127.0.0.1:5432), BENCH_SIZES (default 1000,100000,1000000; each at
most 2,000,000), BENCH_BURST (concurrent big uploads, default 50, at most 200),
BENCH_LOADS (which loads to run, default list,detail,media,uploads,burst; a subset is
for iterating on one part, the README's table comes from all of them), BENCH_ROUNDS
(rounds of the wrk loads, default 3, 1..9).
"""

import base64
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
UPLOAD_FIXTURE = os.path.join(REPO, "tests", "fixtures", "bythewater_2560x1600.jpg")
ENTERPRISE = "00000000-0000-7000-8000-00000000b003"
ADMIN_PASSWORD = "bench-admin-password"
USER_PASSWORD = "bench-user-password"
DATABASE = "imagevault_bench"


def env_int(name, default, low, high):
    value = int(os.environ.get(name, default))
    if not low <= value <= high:
        sys.exit(f"{name}={value} is outside {low}..{high}")
    return value


DURATION = env_int("BENCH_DURATION", 10, 1, 60)
CONNECTIONS = env_int("BENCH_CONNECTIONS", 32, 1, 512)
THREADS = env_int("BENCH_THREADS", 2, 1, 16)
BURST = env_int("BENCH_BURST", 50, 1, 200)
BURST_BYTES = 20_000_000
# Each wrk load runs this many times, the loads taking turns, and the table reports medians:
# on a shared 2-core VM one 10 s window can lose a fifth of its throughput to a neighbour.
ROUNDS = env_int("BENCH_ROUNDS", 3, 1, 9)
WARMUP = 2
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000,100000,1000000").split(",")]
if any(not 1 <= s <= 2_000_000 for s in SIZES):
    sys.exit("every BENCH_SIZES entry must be within 1..2000000")
ALL_LOADS = ("list", "detail", "media", "uploads", "burst")
LOADS = [s.strip() for s in os.environ.get("BENCH_LOADS", ",".join(ALL_LOADS)).split(",")]
if not LOADS or any(load not in ALL_LOADS for load in LOADS):
    sys.exit(f"BENCH_LOADS must name some of {','.join(ALL_LOADS)}")
# Waits are bounded: nothing here polls for longer than this.
READY_TIMEOUT = 600.0


def log(message):
    print(message, file=sys.stderr, flush=True)


def psql(sql, database=DATABASE):
    """Runs SQL with psql and returns its unaligned, tuples-only output."""
    result = subprocess.run(
        ["psql", f"{PG}/{database}", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


class Api:
    """A tiny HTTP client for the server: one keep-alive connection per instance."""

    def __init__(self, base, auth=None):
        parsed = urllib.parse.urlsplit(base)
        self.host, self.port = parsed.hostname, parsed.port
        self.auth = auth
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def request(self, method, path, body=None, headers=None, expect=(200,)):
        all_headers = dict(headers or {})
        if self.auth:
            all_headers["Authorization"] = self.auth
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=body, headers=all_headers)
            response = self.conn.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            raise
        if response.status not in expect:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        content_type = response.getheader("Content-Type", "")
        return json.loads(data) if content_type.startswith("application/json") else data


def basic(username, password):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def path_of(url):
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def wait_ready(api, image_id, timeout=READY_TIMEOUT):
    """Polls an image until every thumbnail is ready; returns the image and the seconds taken."""
    start = time.perf_counter()
    while True:
        image = api.request("GET", f"/api/images/{image_id}/")
        statuses = {t["status"] for t in image["thumbnails"]}
        if statuses == {"ready"}:
            return image, time.perf_counter() - start
        if "failed" in statuses:
            raise RuntimeError(f"thumbnail failed: {image}")
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"thumbnails not ready after {timeout} s: {image}")
        time.sleep(0.005)


def rss_kib(pid):
    """(VmRSS, VmHWM) of a process in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                values[key] = int(value.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------
# wrk


LATENCY_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url, headers=(), script=None, connections=CONNECTIONS, duration=DURATION):
    """Runs one bounded wrk load; returns requests/s, latency percentiles in ms, errors."""
    command = ["wrk", f"-t{min(THREADS, connections)}", f"-c{connections}", f"-d{duration}s",
               "--latency", "--timeout", "10s"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", script]
    command.append(url)
    out = subprocess.run(command, check=True, capture_output=True, text=True,
                         timeout=duration + 60).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    result["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        result[f"p{pct}"] = float(m.group(1)) * LATENCY_UNITS[m.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non2xx"] = int(bad.group(1)) if bad else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = sum(int(g) for g in sock.groups()) if sock else 0
    return result


def median_result(results):
    """The median of each figure over the rounds, and the spread of requests/s."""
    merged = {key: statistics.median(r[key] for r in results)
              for key in ("rps", "p50", "p90", "p99")}
    merged["errors"] = sum(r["non2xx"] + r["socket_errors"] for r in results)
    merged["rps_min"] = min(r["rps"] for r in results)
    merged["rps_max"] = max(r["rps"] for r in results)
    return merged


# ---------------------------------------------------------------------------------------
# setup


def start_server(binary, work, database_url, media):
    log_path = os.path.join(work, "server.log")
    server = subprocess.Popen(
        [binary, "--database", database_url, "--storage", f"file://{media}",
         "--log", "warn", "serve", "--bind", "127.0.0.1:0",
         "--admin-password", ADMIN_PASSWORD],
        # The loads upload as one user, many at once: lift the per-user limit (2 by
        # default) so they measure the server, not that rule. An environment variable,
        # not a flag, so binaries built before the limit existed still start.
        env={**os.environ, "IMAGEVAULT_MAX_UPLOADS_PER_USER": "1000"},
        stdout=subprocess.PIPE,
        stderr=open(log_path, "wb"),
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        line = server.stdout.readline()
        if not line:
            sys.exit(f"the server exited before listening; see {log_path}")
        m = re.search(r"imagevault listening on (\S+)", line)
        if m:
            return server, m.group(1)
    sys.exit("the server did not report its address within 60 s")


def create_user(admin, base, username):
    admin.request("POST", "/api/admin/users/", expect=(201,),
                  body={"username": username, "password": USER_PASSWORD, "plan": ENTERPRISE})
    anonymous = Api(base)
    token = anonymous.request("POST", "/api/auth/token/",
                              body={"username": username, "password": USER_PASSWORD})["token"]
    return f"Token {token}"


def upload(api, data, content_type="image/jpeg"):
    return api.request("POST", "/api/images/", body=data, expect=(201,),
                       headers={"Content-Type": content_type})


def pad_images(owner_username, image_id, total):
    """Copies one image row (and its thumbnail rows) until the owner has `total` images.

    The copies are older than the original, so the real image stays first in the list,
    and share its storage keys (the media exists; the sweeper sees them referenced). Their
    ids are UUIDv7 stamped with their creation time, as the server makes them (`ImageId`
    is `Uuid::now_v7`), so a page's thumbnail rows sit together in the primary key index
    as an uploaded history's would; random v4 ids would scatter them.
    This mirrors imagevault-sqlx/migrations/postgres: change both together."""
    copies = total - 1
    if copies <= 0:
        return
    psql(f"""
        BEGIN;
        -- UUIDv7: 48 bits of Unix milliseconds, the version nibble 7, then random bits
        -- (from v4 uuids, whose variant bits are already the 10 that v7 needs too).
        CREATE TEMP TABLE pad AS
            SELECT encode(set_byte(overlay(uuid_send(gen_random_uuid())
                       placing substring(int8send((extract(epoch FROM created_at) * 1000)::bigint)
                                         FROM 3 FOR 6) FROM 1 FOR 6),
                       6, (get_byte(uuid_send(gen_random_uuid()), 6) & 15) | 112), 'hex')::uuid
                   AS id, created_at
            FROM (SELECT i.created_at - g * interval '1 second' AS created_at
                  FROM generate_series(1, {copies}) AS g, images i
                  WHERE i.id = '{image_id}') AS stamps;
        INSERT INTO images (id, owner, name, format, width, height, size, storage_key, created_at)
            SELECT pad.id, i.owner, i.name, i.format, i.width, i.height, i.size, i.storage_key,
                   pad.created_at
            FROM pad, images i WHERE i.id = '{image_id}';
        INSERT INTO thumbnails (image_id, max_height, width, height, status, storage_key,
                                attempts, updated_at)
            SELECT pad.id, t.max_height, t.width, t.height, t.status, t.storage_key,
                   t.attempts, t.updated_at
            FROM pad, thumbnails t WHERE t.image_id = '{image_id}';
        COMMIT;
    """)
    count = int(psql(f"SELECT count(*) FROM images i JOIN users u ON u.id = i.owner "
                     f"WHERE u.username = '{owner_username}'"))
    if count != total:
        raise RuntimeError(f"{owner_username} has {count} images, expected {total}")


def start_nginx(work, media):
    """nginx serving the media directory under /media/ on a free loopback port."""
    port = free_port()
    prefix = os.path.join(work, "nginx")
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    user = "user root root;" if os.geteuid() == 0 else ""
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""{user}
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ image/jpeg jpg; image/png png; }}
    server {{
        listen 127.0.0.1:{port};
        location /media/ {{ alias {media}/; }}
    }}
}}
""")
    nginx = subprocess.Popen(["nginx", "-p", prefix, "-c", conf, "-g", "daemon off;"],
                             stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return nginx, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    nginx.kill()
    sys.exit(f"nginx did not start; see {prefix}/logs/error.log")


def noise_png(path, target_bytes):
    """An RGB PNG of random pixels (incompressible, so the file is about `target_bytes`)."""
    side = int((target_bytes / 3) ** 0.5)
    rng = random.Random(6)
    row_bytes = side * 3
    raw = bytearray()
    for _ in range(side):
        raw.append(0)  # filter: none
        raw += rng.randbytes(row_bytes)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(bytes(raw), 1)))
        f.write(chunk(b"IEND", b""))
    return side


# ---------------------------------------------------------------------------------------
# the measurements


def upload_load(base, token, work):
    """Raw uploads of the 500 KB JPEG for DURATION seconds, then the time until every one
    of them has its thumbnails."""
    script = os.path.join(work, "upload.lua")
    with open(script, "w") as f:
        f.write(f"""
local file = io.open("{UPLOAD_FIXTURE}", "rb")
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "image/jpeg"
wrk.headers["Authorization"] = "{token}"
""")
    load_start = time.perf_counter()
    result = wrk(f"{base}/api/images/", script=script, connections=4)
    load_end = time.perf_counter()
    pending_sql = ("SELECT count(*) FROM thumbnails t JOIN images i ON i.id = t.image_id "
                   "JOIN users u ON u.id = i.owner WHERE u.username = 'uploader' "
                   "AND t.status <> 'ready'")
    while int(psql(pending_sql)) > 0:
        if time.perf_counter() - load_end > READY_TIMEOUT:
            raise RuntimeError("uploaded thumbnails not ready in time")
        time.sleep(0.2)
    drained = time.perf_counter()
    uploaded = int(psql("SELECT count(*) FROM images i JOIN users u ON u.id = i.owner "
                        "WHERE u.username = 'uploader'"))
    result["uploaded"] = uploaded
    result["drain_s"] = drained - load_end
    result["all_ready_rate"] = uploaded / (drained - load_start)
    return result


def idle_upload_to_ready(api, data, runs=5):
    """Seconds from sending one upload to all its thumbnails ready, on an idle server."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        image = upload(api, data)
        wait_ready(api, image["id"])
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def upload_burst(base, token, pid, work):
    """BURST concurrent uploads of a 20 MB PNG: the server's RSS and /healthz all along."""
    path = os.path.join(work, "noise.png")
    side = noise_png(path, BURST_BYTES)
    with open(path, "rb") as f:
        data = f.read()
    baseline_rss, _ = rss_kib(pid)
    samples = []
    health = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            samples.append(rss_kib(pid)[0])
            time.sleep(0.005)

    def probe():
        api = Api(base)
        while not done.is_set():
            start = time.perf_counter()
            api.request("GET", "/healthz")
            health.append((time.perf_counter() - start) * 1000.0)
            time.sleep(0.02)

    statuses = []
    lock = threading.Lock()

    def send():
        api = Api(base, token)
        try:
            image = upload(api, data, "image/png")
            with lock:
                statuses.append(image["id"])
        except Exception as error:  # reported, not raised: the burst is what is measured
            with lock:
                statuses.append(error)

    watchers = [threading.Thread(target=sample), threading.Thread(target=probe)]
    for w in watchers:
        w.start()
    senders = [threading.Thread(target=send) for _ in range(BURST)]
    start = time.perf_counter()
    for s in senders:
        s.start()
    for s in senders:
        s.join(timeout=READY_TIMEOUT)
    uploads_done = time.perf_counter() - start
    upload_peak = max(samples)
    ids = [s for s in statuses if isinstance(s, str)]
    errors = [s for s in statuses if not isinstance(s, str)]
    api = Api(base, token)
    for image_id in ids:
        wait_ready(api, image_id)
    all_ready = time.perf_counter() - start
    done.set()
    for w in watchers:
        w.join()
    return {
        "side": side,
        "bytes": len(data),
        "ok": len(ids),
        "errors": [str(e)[:200] for e in errors[:3]],
        "error_count": len(errors),
        "baseline_mib": baseline_rss / 1024,
        "upload_peak_mib": upload_peak / 1024,
        "peak_mib": max(samples) / 1024,
        "uploads_s": uploads_done,
        "ready_s": all_ready,
        "healthz_max_ms": max(health),
        "healthz_p50_ms": sorted(health)[len(health) // 2],
        "healthz_count": len(health),
    }


def main():
    binary, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    media = os.path.join(work, "media")
    os.makedirs(media)

    log(f"creating database {DATABASE}")
    psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", database="postgres")
    psql(f"CREATE DATABASE {DATABASE}", database="postgres")
    database_url = f"{PG}/{DATABASE}"
    subprocess.run([binary, "--database", database_url, "--log", "warn", "migrate"],
                   check=True, stdout=subprocess.DEVNULL)

    server, base = start_server(binary, work, database_url, media)
    nginx = None
    try:
        admin = Api(base, basic("admin", ADMIN_PASSWORD))
        with open(UPLOAD_FIXTURE, "rb") as f:
            jpeg = f.read()

        users = {}
        for total in SIZES:
            username = f"list{total}"
            token = create_user(admin, base, username)
            api = Api(base, token)
            image, _ = wait_ready(api, upload(api, jpeg)["id"])
            seed_start = time.perf_counter()
            pad_images(username, image["id"], total)
            log(f"{username}: padded to {total} images in {time.perf_counter() - seed_start:.1f} s")
            users[total] = (token, image)
        # Hint bits, statistics and the visibility map set now, and the dirty pages of the
        # bulk load written out now, so that neither autovacuum nor a spread checkpoint
        # writing a gigabyte runs under the measured loads.
        psql("VACUUM ANALYZE")
        psql("CHECKPOINT")

        uploader_token = create_user(admin, base, "uploader")
        uploader = Api(base, uploader_token)
        # The media loads: a 200 px thumbnail and, to compare like with like, an expiring
        # link to an image whose original is that same file's bytes.
        token, image = users[SIZES[0]]
        thumb_url = image["thumbnails"][0]["url"]
        original_url = image["original"]
        media_api = Api(base, create_user(admin, base, "media"))
        thumb_bytes = Api(base).request("GET", path_of(thumb_url))
        twin = upload(media_api, thumb_bytes)
        link = media_api.request("POST", "/api/expiring-links/", expect=(201,),
                                 body={"base_image": twin["id"], "expiry_in_seconds": 30000})
        nginx, nginx_base = start_nginx(work, media)

        # (label, url, headers, the label of the peer it is compared with)
        loads = []
        if "list" in LOADS:
            for total in SIZES:
                token, image = users[total]
                loads.append((f"list page, {total:,} images", f"{base}/api/images/?limit=20",
                              [f"Authorization: {token}"], None))
        if "detail" in LOADS:
            for total in SIZES:
                token, image = users[total]
                loads.append((f"image detail, {total:,} images",
                              f"{base}/api/images/{image['id']}/", [f"Authorization: {token}"],
                              None))
        if "media" in LOADS:
            nginx_thumb = f"nginx: thumbnail file ({len(thumb_bytes) / 1024:.0f} KiB)"
            nginx_original = f"nginx: original file ({len(jpeg) / 1024:.0f} KiB)"
            loads += [
                (nginx_thumb, f"{nginx_base}{path_of(thumb_url)}", [], None),
                ("thumbnail GET", thumb_url, [], nginx_thumb),
                ("expiring-link GET, same bytes", link["url"], [], "thumbnail GET"),
                (nginx_original, f"{nginx_base}{path_of(original_url)}", [], None),
                ("original GET", original_url, [], nginx_original),
            ]
        runs = {label: [] for label, _, _, _ in loads}
        for round_number in range(1, ROUNDS + 1):
            for label, url, headers, _ in loads:
                log(f"load (round {round_number} of {ROUNDS}): {label}")
                # Unmeasured first: connections open, statements prepared, caches warm.
                wrk(url, headers=headers, duration=WARMUP)
                runs[label].append(wrk(url, headers=headers))
        medians = {label: median_result(results) for label, results in runs.items()}
        rows = [(label, medians[label], medians[peer] if peer else None)
                for label, _, _, peer in loads]

        uploads = idle_ready = burst = None
        if "uploads" in LOADS:
            log("load: uploads")
            uploads = upload_load(base, uploader_token, work)
            idle_ready = idle_upload_to_ready(uploader, jpeg)
        if "burst" in LOADS:
            log(f"burst: {BURST} concurrent uploads of {BURST_BYTES // 1_000_000} MB")
            burst = upload_burst(base, uploader_token, server.pid, work)
    finally:
        server.send_signal(signal.SIGTERM)
        if nginx:
            nginx.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        if nginx:
            nginx.wait(timeout=10)

    report(rows, uploads, idle_ready, burst)


def report(rows, uploads, idle_ready, burst):
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    print(f"imagevault API on PostgreSQL, {os.cpu_count()} cores ({cpu}); wrk {THREADS} threads, "
          f"{CONNECTIONS} connections, {DURATION} s per load, all on loopback; each figure is "
          f"the median of {ROUNDS} rounds (req/s range: the rounds' lowest and highest).")
    header = ("load", "req/s", "req/s range", "p50 ms", "p90 ms", "p99 ms", "errors", "vs")
    table = []
    for label, r, peer in rows:
        vs = ""
        if peer is not None:
            vs = f"{r['rps'] / peer['rps']:.2f}x the req/s, {r['p50'] / peer['p50']:.2f}x the p50"
        table.append((label, f"{r['rps']:,.0f}", f"{r['rps_min']:,.0f}-{r['rps_max']:,.0f}",
                      f"{r['p50']:.2f}", f"{r['p90']:.2f}", f"{r['p99']:.2f}", str(r["errors"]),
                      vs))
    by_label = {label: r for label, r, _ in rows}
    for kind in ("list page", "image detail"):
        labels = [label for label in by_label if label.startswith(kind)]
        if len(labels) >= 2:
            first, last = by_label[labels[0]], by_label[labels[-1]]
            table.append((f"{kind}: largest / smallest", "", "",
                          f"{last['p50'] / first['p50']:.2f}x",
                          f"{last['p90'] / first['p90']:.2f}x", f"{last['p99'] / first['p99']:.2f}x",
                          "", ""))
    widths = [max(len(c) for c in col) for col in zip(header, *table)]

    def line(cells):
        return "| " + " | ".join(
            c.ljust(w) if i in (0, 7) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ) + " |"

    print(line(header))
    print("|" + "|".join(("-" * (w + 2)) if i in (0, 7) else ("-" * (w + 1) + ":")
                         for i, w in enumerate(widths)) + "|")
    for row in table:
        print(line(row))
    u = uploads
    print()
    if u is not None:
        print(f"Uploads of a {os.path.getsize(UPLOAD_FIXTURE):,}-byte JPEG (2560x1600), raw body, "
              f"4 connections, {DURATION} s: {u['rps']:.1f} req/s (p50 {u['p50']:.0f} ms, "
              f"p99 {u['p99']:.0f} ms, errors {u['non2xx'] + u['socket_errors']}); "
              f"all {u['uploaded']} uploads' thumbnails ready {u['drain_s']:.1f} s after the load "
              f"ended ({u['all_ready_rate']:.1f} images/s end to end, with the in-process worker). "
              f"One upload on an idle server: thumbnails ready {idle_ready * 1000:.0f} ms after "
              f"sending (median of 5).")
    b = burst
    if b is not None:
        print(f"Burst (server defaults: 8 uploads received at once, 25 MiB upload limit, 2 thumbnail "
              f"jobs at once): {BURST} concurrent uploads of a {b['bytes']:,}-byte PNG ({b['side']}x{b['side']} "
              f"noise): {b['ok']} created, {b['error_count']} failed {b['errors']}; server RSS "
              f"{b['baseline_mib']:.0f} MiB before, peak {b['upload_peak_mib']:.0f} MiB while "
              f"receiving, peak {b['peak_mib']:.0f} MiB until all thumbnails were ready; uploads took "
              f"{b['uploads_s']:.1f} s, thumbnails ready after {b['ready_s']:.1f} s; /healthz p50 "
              f"{b['healthz_p50_ms']:.1f} ms, max {b['healthz_max_ms']:.1f} ms over "
              f"{b['healthz_count']} probes.")


if __name__ == "__main__":
    main()
