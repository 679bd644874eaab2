"""Hostile load on imagevault-server: big uploads and decompression bombs, with the server's
memory and /healthz watched all along.

Run by scripts/stress.sh, which builds the release server; see there. Standard library
only. It prints figures and a verdict line per bound; it never asserts a duration.

What it does, all on 127.0.0.1 and bounded in time and count:
1. `serve` on its embedded defaults (SQLite, local files, in-process worker with 2 jobs
   at once, 8 upload permits) in a fresh directory, one Enterprise user.
2. Big uploads: STRESS_UPLOADS (default 50) concurrent uploads of a 25 MiB PNG of random
   pixels (the largest body the default limit accepts), then every thumbnail made.
3. Bombs, STRESS_ROUNDS (default 3) rounds, each firing 10 at a time:
   - 10 PNGs of 49 megapixels (7000 x 7000 RGBA, all zero: about 200 KB on the wire,
     196 MB decoded), within the default 50 MP limit, so they are accepted and decoded;
   - 10 rejected bombs: PNGs whose headers claim 100000 x 100000 pixels, and real
     8000 x 8000 zero PNGs (64 MP, over the limit) that decompress to 64 MB.
4. Throughout, the server's RSS is sampled every 5 ms and a separate process times
   GET /healthz every 20 ms.

The stated bound on RSS (see the README's "Memory" notes): the server's resident base
plus the upload permits' bodies (8 x 25 MiB) plus, per concurrent job, one original
(25 MiB) and one decoded image at the pixel limit (50 MP x 4 bytes = 200 MB) with its
resize buffers (a quarter of that), plus the thumbnail cache (32 MiB by default), plus
64 MiB of allocator slack.

usage: stress.py SERVER_BINARY WORK_DIR
environment: STRESS_UPLOADS (1..200, default 50), STRESS_ROUNDS (1..10, default 3)
"""

import http.client
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_api import (  # noqa: E402  (the shared helpers of the API benchmark)
    ADMIN_PASSWORD, Api, basic, env_int, log, noise_png, rss_kib, start_server,
)

UPLOADS = env_int("STRESS_UPLOADS", 50, 1, 200)
ROUNDS = env_int("STRESS_ROUNDS", 3, 1, 10)
MIB = 1024 * 1024
MAX_UPLOAD = 25 * MIB
MAX_PIXELS = 50_000_000
UPLOAD_PERMITS = 8
CONCURRENT_JOBS = 2
# VaultConfig::media_cache_bytes, the default.
MEDIA_CACHE_MIB = 32
HEALTHZ_LIMIT_MS = 100.0
ENTERPRISE = "00000000-0000-7000-8000-00000000b003"
USER_PASSWORD = "stress-user-password"
# Waits are bounded: nothing here waits longer than this for one phase.
PHASE_TIMEOUT = 900.0


def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def zero_png(width, height, color_type, channels, claimed=None):
    """A PNG of all-zero pixels, compressed row by row (never held whole in memory).

    With `claimed`, the header states that (width, height) instead: a file whose header
    promises far more than its data holds.
    """
    compressor = zlib.compressobj(9)
    row = bytes(1 + width * channels)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header_w, header_h = claimed or (width, height)
    return (b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", struct.pack(">IIBBBBB", header_w, header_h, 8, color_type,
                                              0, 0, 0))
            + png_chunk(b"IDAT", data)
            + png_chunk(b"IEND", b""))


def post_image(base, token, data, content_type="image/png"):
    """One upload on its own connection: (status, JSON or text body)."""
    host, port = base.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=PHASE_TIMEOUT)
    try:
        conn.request("POST", "/api/images/", body=data,
                     headers={"Authorization": token, "Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    except (http.client.HTTPException, OSError) as error:
        return None, str(error)
    finally:
        conn.close()


def fire(base, token, bodies):
    """Sends every (label, data) at once; returns (label, status, body) per request."""
    results = [None] * len(bodies)

    def send(index, label, data):
        status, body = post_image(base, token, data)
        results[index] = (label, status, body)

    threads = [threading.Thread(target=send, args=(i, label, data))
               for i, (label, data) in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=PHASE_TIMEOUT)
    return [r if r else ("lost", None, "no answer") for r in results]


def wait_all_done(api, image_ids):
    """Waits until no thumbnail of these images is pending; returns their final states."""
    deadline = time.perf_counter() + PHASE_TIMEOUT
    states = {}
    for image_id in image_ids:
        while True:
            image = api.request("GET", f"/api/images/{image_id}/")
            statuses = [t["status"] for t in image["thumbnails"]]
            if "pending" not in statuses:
                for status in statuses:
                    states[status] = states.get(status, 0) + 1
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"thumbnails still pending after {PHASE_TIMEOUT} s")
            time.sleep(0.05)
    return states


class Watch:
    """Samples the server's RSS in a thread and /healthz in a separate process."""

    def __init__(self, pid, base):
        self.pid, self.base = pid, base
        self.start_mib = rss_kib(pid)[0] / 1024
        self.samples = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample)
        # A separate interpreter, so that the uploading threads' work never delays a probe.
        self.probe = subprocess.Popen([sys.executable, os.path.abspath(__file__), "probe", base],
                                      stdout=subprocess.PIPE, text=True)
        self.thread.start()

    def _sample(self):
        while not self.done.is_set():
            self.samples.append(rss_kib(self.pid)[0])
            time.sleep(0.005)

    def stop(self):
        self.done.set()
        self.thread.join()
        self.probe.send_signal(signal.SIGTERM)
        out, _ = self.probe.communicate(timeout=30)
        health = [float(line) for line in out.split()]
        return {
            "start_mib": self.start_mib,
            "peak_mib": max(self.samples) / 1024,
            "healthz_count": len(health),
            "healthz_p50_ms": sorted(health)[len(health) // 2] if health else None,
            "healthz_p99_ms": sorted(health)[int(len(health) * 0.99)] if health else None,
            "healthz_max_ms": max(health) if health else None,
            "healthz_over": sum(1 for h in health if h >= HEALTHZ_LIMIT_MS),
            "healthz_failed": sum(1 for h in health if h < 0),
        }


def probe(base):
    """Times GET /healthz every 20 ms until SIGTERM; prints one latency (ms) per line, -1
    for a failed probe."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    host, port = base.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    times = []
    while not stop.is_set():
        start = time.perf_counter()
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (http.client.HTTPException, OSError):
            conn.close()
            ok = False
        times.append((time.perf_counter() - start) * 1000.0 if ok else -1.0)
        stop.wait(0.02)
    print("\n".join(f"{t:.3f}" for t in times))


def count(results):
    tally = {}
    for label, status, _ in results:
        tally[(label, status)] = tally.get((label, status), 0) + 1
    return tally


def main():
    binary, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    media = os.path.join(work, "media")
    os.makedirs(media)
    database = f"sqlite://{work}/imagevault.db"

    log("making the inputs")
    big_path = os.path.join(work, "noise.png")
    noise_png(big_path, MAX_UPLOAD - 64 * 1024)
    with open(big_path, "rb") as f:
        big = f.read()
    accepted_bomb = zero_png(7000, 7000, 6, 4)
    over_limit_bomb = zero_png(8000, 8000, 0, 1)
    huge_header = zero_png(64, 64, 2, 3, claimed=(100_000, 100_000))

    server, base = start_server(binary, work, database, media)
    report = {}
    try:
        admin = Api(base, basic("admin", ADMIN_PASSWORD))
        admin.request("POST", "/api/admin/users/", expect=(201,),
                      body={"username": "stress", "password": USER_PASSWORD, "plan": ENTERPRISE})
        token = "Token " + Api(base).request(
            "POST", "/api/auth/token/",
            body={"username": "stress", "password": USER_PASSWORD})["token"]
        api = Api(base, token)
        time.sleep(1)
        base_mib = rss_kib(server.pid)[0] / 1024

        log(f"big uploads: {UPLOADS} at once, {len(big) / MIB:.1f} MiB each")
        watch = Watch(server.pid, base)
        start = time.perf_counter()
        results = fire(base, token, [("25 MiB PNG", big)] * UPLOADS)
        sent = time.perf_counter() - start
        ids = [json_id(body) for _, status, body in results if status == 201]
        states = wait_all_done(api, ids)
        report["big"] = dict(watch.stop(), tally=count(results), states=states,
                             sent_s=sent, done_s=time.perf_counter() - start)

        log(f"bombs: {ROUNDS} rounds of 10 at a time")
        watch = Watch(server.pid, base)
        start = time.perf_counter()
        tally, states = {}, {}
        for _ in range(ROUNDS):
            results = fire(base, token, [("49 MP zero PNG", accepted_bomb)] * 10)
            rejected = fire(base, token, [("100000x100000 header", huge_header)] * 5
                            + [("64 MP zero PNG", over_limit_bomb)] * 5)
            for key, n in count(results + rejected).items():
                tally[key] = tally.get(key, 0) + n
            for _, status, body in rejected:
                if status == 400:
                    report.setdefault("messages", set()).add(body[:240])
            ids = [json_id(body) for _, status, body in results if status == 201]
            for key, n in wait_all_done(api, ids).items():
                states[key] = states.get(key, 0) + n
        report["bombs"] = dict(watch.stop(), tally=tally, states=states,
                               done_s=time.perf_counter() - start)
        report["base_mib"] = base_mib
        report["health_after"] = Api(base).request("GET", "/healthz")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    print_report(report)


def json_id(body):
    return json.loads(body)["id"]


def print_report(report):
    base = report["base_mib"]
    per_job = MAX_UPLOAD / MIB + MAX_PIXELS * 4 * 1.25 / MIB
    bound = (base + UPLOAD_PERMITS * MAX_UPLOAD / MIB + CONCURRENT_JOBS * per_job
             + MEDIA_CACHE_MIB + 64)
    print()
    tunables = os.environ.get("GLIBC_TUNABLES", "none")
    print(f"imagevault-server stress ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, "
          f"GLIBC_TUNABLES={tunables}); resident base {base:.0f} MiB")
    print(f"stated RSS bound: {base:.0f} + {UPLOAD_PERMITS} x 25 MiB bodies + "
          f"{CONCURRENT_JOBS} jobs x {per_job:.0f} MiB + {MEDIA_CACHE_MIB} MiB media "
          f"cache + 64 MiB slack = {bound:.0f} MiB")
    print()
    print("| phase | requests (label: status x n) | thumbnails | RSS at start / peak | "
          "/healthz p50 / p99 / max | probes >= 100 ms | failed probes | time |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, phase in ((f"{UPLOADS} x 25 MiB uploads", report["big"]),
                        (f"bombs, {ROUNDS} round(s) of 10", report["bombs"])):
        tally = "; ".join(f"{label}: {status} x {n}" for (label, status), n in
                          sorted(phase["tally"].items(), key=str))
        states = ", ".join(f"{k} {v}" for k, v in sorted(phase["states"].items()))
        print(f"| {name} | {tally} | {states} | "
              f"{phase['start_mib']:.0f} / {phase['peak_mib']:.0f} MiB | "
              f"{phase['healthz_p50_ms']:.1f} / {phase['healthz_p99_ms']:.1f} / "
              f"{phase['healthz_max_ms']:.1f} ms | {phase['healthz_over']} of "
              f"{phase['healthz_count']} | {phase['healthz_failed']} | {phase['done_s']:.1f} s |")
    print()
    for message in sorted(report.get("messages", ())):
        print(f"400 body: {message}")
    peak = max(report["big"]["peak_mib"], report["bombs"]["peak_mib"])
    worst = max(report["big"]["healthz_max_ms"], report["bombs"]["healthz_max_ms"])
    print(f"RSS: peak {peak:.0f} MiB, {'within' if peak <= bound else 'OVER'} the stated "
          f"{bound:.0f} MiB")
    print(f"/healthz: slowest {worst:.1f} ms, "
          f"{'within' if worst < HEALTHZ_LIMIT_MS else 'OVER'} {HEALTHZ_LIMIT_MS:.0f} ms")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "probe":
        probe(sys.argv[2])
    elif len(sys.argv) == 3:
        main()
    else:
        sys.exit(__doc__)
