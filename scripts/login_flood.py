"""Thumbnail time of one upload, idle and during a flood of bad Basic credentials.

usage: login_flood.py SERVER_BINARY WORK_DIR
environment: FLOOD_SECONDS (5..120, default 30), FLOOD_THREADS (1..64, default 16),
FLOOD_ADDRESSES (1..50, default 4: the flood comes from 127.0.0.2, 127.0.0.3, ...),
FLOOD_SAMPLES (1..20, default 5: uploads timed idle, and at most as many during the flood)

Standard library only; everything on loopback and bounded in time and count. Starts
`serve` on its defaults (SQLite, local files, in-process worker) in WORK_DIR (emptied
first), one Enterprise user. Then:
1. idle: FLOOD_SAMPLES uploads of one 1600 x 1600 noise PNG, one at a time, each timed from
   the upload's answer until every thumbnail is ready;
2. flood: FLOOD_THREADS threads send `GET /api/me/` with Basic credentials of random
   usernames and passwords for FLOOD_SECONDS, from FLOOD_ADDRESSES client addresses, while
   the same uploads are timed again one at a time.
It prints the medians, their ratio and what the flood was answered (401 = a password was
checked, 429 = throttled, 503 = password checks saturated). Nothing is asserted.
"""

import http.client
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_api import (  # noqa: E402  (the shared helpers of the API benchmark)
    ADMIN_PASSWORD, Api, basic, create_user, env_int, log, noise_png, start_server,
    wait_ready,
)

SECONDS = env_int("FLOOD_SECONDS", 30, 5, 120)
THREADS = env_int("FLOOD_THREADS", 16, 1, 64)
ADDRESSES = env_int("FLOOD_ADDRESSES", 4, 1, 50)
SAMPLES = env_int("FLOOD_SAMPLES", 5, 1, 20)


def flood(base, address, deadline, tally, lock):
    parts = urllib.parse.urlsplit(base)
    rng = random.Random()
    conn = None
    counts = {}
    while time.time() < deadline:
        if conn is None:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30,
                                              source_address=(address, 0))
        user = f"nobody{rng.getrandbits(48):x}"
        auth = basic(user, f"guess{rng.getrandbits(48):x}")
        try:
            conn.request("GET", "/api/me/", headers={"Authorization": auth})
            response = conn.getresponse()
            response.read()
            counts[response.status] = counts.get(response.status, 0) + 1
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (http.client.HTTPException, OSError):
            counts["error"] = counts.get("error", 0) + 1
            if conn is not None:
                conn.close()
            conn = None
    with lock:
        for key, value in counts.items():
            tally[key] = tally.get(key, 0) + value


def time_uploads(api, png, count, until=None):
    times = []
    for _ in range(count):
        if until is not None and time.time() >= until:
            break
        image = api.request("POST", "/api/images/", body=png, expect=(201,),
                            headers={"Content-Type": "image/png"})
        _, seconds = wait_ready(api, image["id"])
        times.append(seconds)
    return times


def main():
    binary, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if os.path.exists(work):
        for name in os.listdir(work):
            path = os.path.join(work, name)
            if os.path.isdir(path):
                import shutil
                shutil.rmtree(path)
            else:
                os.remove(path)
    media = os.path.join(work, "media")
    os.makedirs(media)
    png_path = os.path.join(work, "noise.png")
    noise_png(png_path, 1600 * 1600 * 3)
    with open(png_path, "rb") as f:
        png = f.read()

    server, base = start_server(binary, work, f"sqlite://{work}/imagevault.db", media)
    try:
        admin = Api(base, basic("admin", ADMIN_PASSWORD))
        api = Api(base, create_user(admin, base, "flood"))
        time_uploads(api, png, 1)  # warm up
        log(f"idle: {SAMPLES} uploads")
        idle = time_uploads(api, png, SAMPLES)

        log(f"flood: {THREADS} threads from {ADDRESSES} addresses for {SECONDS} s")
        tally, lock = {}, threading.Lock()
        start = time.time()
        deadline = start + SECONDS
        threads = [
            threading.Thread(target=flood,
                             args=(base, f"127.0.0.{2 + i % ADDRESSES}", deadline, tally, lock))
            for i in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(min(2.0, SECONDS / 5))  # let the flood build up
        during = time_uploads(api, png, SAMPLES, until=deadline)
        for thread in threads:
            thread.join(timeout=SECONDS + 60)
        elapsed = time.time() - start
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except Exception:
            server.kill()

    idle_median = statistics.median(idle)
    print(f"binary: {binary}")
    print(f"thumbnails of one upload, idle:        median {idle_median * 1000:.0f} ms "
          f"over {len(idle)} ({', '.join(f'{t * 1000:.0f}' for t in idle)})")
    if during:
        during_median = statistics.median(during)
        print(f"thumbnails of one upload, during flood: median {during_median * 1000:.0f} ms "
              f"over {len(during)} ({', '.join(f'{t * 1000:.0f}' for t in during)})")
        print(f"flood / idle: {during_median / idle_median:.2f}x")
    else:
        print("no upload finished during the flood")
    total = sum(tally.values())
    answers = ", ".join(f"{key}: {value}" for key, value in sorted(tally.items(), key=str))
    print(f"flood: {total} requests in {elapsed:.1f} s ({total / elapsed:.0f}/s); {answers}")


if __name__ == "__main__":
    main()
