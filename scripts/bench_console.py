"""The console benchmark: the gallery page (GET /, HTML, a session cookie) against the JSON
list page (GET /api/images/, a token) for the same user and the same images, in one run.

Run by scripts/bench-console.sh, which installs wrk and builds the release server; see
there. Standard library only, plus scripts/bench_api.py's HTTP client and wrk runner.
Every figure is printed, none is checked.

What it does, all on 127.0.0.1 and bounded in time and count:
1. `serve` on SQLite and local files in a fresh work directory, with its in-process
   worker, on a free port.
2. One Enterprise user with BENCH_IMAGES uploads of a 451x300 PNG, every thumbnail ready.
3. A session from the login form (GET /login/, then POST /login/ with the form's fields),
   and an API token.
4. wrk, one load at a time, each after an unmeasured 2 s warm-up: GET / with the session
   cookie, GET /api/images/?limit=<the gallery's page size> with the token; the two loads
   take turns for BENCH_ROUNDS rounds and the medians are reported with their ratio.

usage: bench_console.py SERVER_BINARY WORK_DIR
environment: BENCH_IMAGES (default 100, 1..1000), BENCH_DURATION (seconds per load,
default 10, 1..60), BENCH_CONNECTIONS (default 32), BENCH_THREADS (wrk threads, default 2),
BENCH_ROUNDS (default 3, 1..9).
"""

import html.parser
import http.client
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse

import bench_api
from bench_api import Api, basic, env_int, log, median_result, wrk

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
UPLOAD_FIXTURE = os.path.join(REPO, "tests", "fixtures", "chelsea_451x300.png")
USERNAME = "gallery"

IMAGES = env_int("BENCH_IMAGES", 100, 1, 1000)
DURATION = env_int("BENCH_DURATION", 10, 1, 60)
CONNECTIONS = env_int("BENCH_CONNECTIONS", 32, 1, 512)
ROUNDS = env_int("BENCH_ROUNDS", 3, 1, 9)
WARMUP = 2
# Waits are bounded: nothing here polls for longer than this.
READY_TIMEOUT = 600.0


def start_server(binary, work):
    """`serve` on SQLite and files under `work`; returns the process and its base URL."""
    log_path = os.path.join(work, "server.log")
    server = subprocess.Popen(
        [binary, "--log", "warn", "serve", "--bind", "127.0.0.1:0",
         "--admin-password", bench_api.ADMIN_PASSWORD],
        cwd=work,
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


def wait_all_ready(api, expected):
    """Polls the user's images until there are `expected` and every thumbnail is ready."""
    start = time.perf_counter()
    while True:
        images, path = [], "/api/images/?limit=100"
        while path:
            page = api.request("GET", path)
            images += page["results"]
            path = bench_api.path_of(page["next"]) if page["next"] else None
        statuses = {t["status"] for image in images for t in image["thumbnails"]}
        if len(images) == expected and statuses <= {"ready"}:
            return time.perf_counter() - start
        if "failed" in statuses:
            raise RuntimeError("a thumbnail failed")
        if time.perf_counter() - start > READY_TIMEOUT:
            raise RuntimeError(f"thumbnails not ready after {READY_TIMEOUT} s")
        time.sleep(0.1)


class FormFields(html.parser.HTMLParser):
    """The named inputs of form#login, with their values."""

    def __init__(self):
        super().__init__()
        self.in_form = False
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == "login":
            self.in_form = True
        elif tag == "input" and self.in_form and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False


def cookies_of(response):
    """`name=value` of every cookie a response sets."""
    return [header.split(";", 1)[0].strip()
            for name, header in response.getheaders() if name.lower() == "set-cookie"]


def session_cookie(base, username, password):
    """Signs in through the login form as a browser would; returns the session cookie
    (`name=value`)."""
    parsed = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    conn.request("GET", "/login/?next=/")
    response = conn.getresponse()
    page = response.read().decode()
    if response.status != 200:
        sys.exit(f"GET /login/: {response.status}; the console pages are needed (feature console)")
    cookies = cookies_of(response)
    form = FormFields()
    form.feed(page)
    if "username" not in form.fields or "password" not in form.fields:
        sys.exit("GET /login/ has no form#login with username and password inputs")
    fields = {**form.fields, "username": username, "password": password, "next": "/"}
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": base,
               "Sec-Fetch-Site": "same-origin"}
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    conn.request("POST", "/login/", body=urllib.parse.urlencode(fields), headers=headers)
    response = conn.getresponse()
    response.read()
    session = [c for c in cookies_of(response) if c.split("=", 1)[0].endswith("imagevault_session")]
    if response.status != 303 or not session:
        sys.exit(f"POST /login/: {response.status}, cookies {[c.split('=')[0] for c in cookies_of(response)]}")
    conn.close()
    return session[0]


def main():
    binary, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    server, base = start_server(binary, work)
    try:
        admin = Api(base, basic("admin", bench_api.ADMIN_PASSWORD))
        token = bench_api.create_user(admin, base, USERNAME)
        api = Api(base, token)
        with open(UPLOAD_FIXTURE, "rb") as f:
            png = f.read()
        log(f"uploading {IMAGES} images")
        for _ in range(IMAGES):
            bench_api.upload(api, png, content_type="image/png")
        waited = wait_all_ready(api, IMAGES)
        log(f"every thumbnail ready {waited:.1f} s after the last upload")

        cookie = session_cookie(base, USERNAME, bench_api.USER_PASSWORD)
        gallery = Api(base).request("GET", "/", headers={"Cookie": cookie})
        cards = len(re.findall(rb'<li[^>]*class="[^"]*\bimage-card\b', gallery))
        if cards == 0:
            sys.exit("GET / with the session shows no li.image-card")
        # The JSON page lists as many images as the gallery shows: the same work, two forms.
        listed = api.request("GET", f"/api/images/?limit={cards}")
        log(f"gallery page: {cards} images, {len(gallery):,} bytes; "
            f"JSON page: {len(listed['results'])} images")

        loads = [
            ("gallery GET / (HTML, session)", f"{base}/", [f"Cookie: {cookie}"]),
            (f"list GET /api/images/?limit={cards} (JSON, token)",
             f"{base}/api/images/?limit={cards}", [f"Authorization: {token}"]),
        ]
        runs = {label: [] for label, _, _ in loads}
        for round_number in range(1, ROUNDS + 1):
            for label, url, headers in loads:
                log(f"load (round {round_number} of {ROUNDS}): {label}")
                # Unmeasured first: connections open, statements prepared, caches warm.
                wrk(url, headers=headers, connections=CONNECTIONS, duration=WARMUP)
                runs[label].append(wrk(url, headers=headers, connections=CONNECTIONS,
                                       duration=DURATION))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    print(f"{IMAGES} images of one user on SQLite, {CONNECTIONS} connections, "
          f"{ROUNDS} rounds of {DURATION} s each (medians):")
    results = {label: median_result(r) for label, r in runs.items()}
    for label, r in results.items():
        print(f"- {label}: {r['rps']:.0f} req/s (min {r['rps_min']:.0f}, max {r['rps_max']:.0f}), "
              f"p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, errors {r['errors']}")
    gallery_rps, list_rps = (results[label]["rps"] for label, _, _ in loads)
    print(f"gallery / JSON list: {gallery_rps / list_rps:.2f}")


if __name__ == "__main__":
    main()
