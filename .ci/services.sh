# Brings up the local services the test suite talks to, when they are not already running.
# Sourced by .ci/run. Everything listens on loopback only.

log() { echo "services: $*"; }

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq && APT_UPDATED=1
  fi
  # Another apt-get (unattended upgrades, a parallel job) may hold the lock for a while:
  # wait for it instead of failing.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >/dev/null
}

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    return 0
  fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing postgresql"
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
    pg_createcluster "$version" main >/dev/null
  fi
  # Trust on loopback, as on the developers' machines; the tests create their own databases.
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -Eq "^host +all +all +127\.0\.0\.1/32 +trust" "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust # imagevault-ci\nhost all all ::1/128 trust # imagevault-ci' "$hba"
  fi
  log "starting postgresql $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 1
  done
  psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname = 'test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "create database test" >/dev/null
}

# Whether a Redis server answers on 127.0.0.1:6379, through bash's /dev/tcp so that no
# redis-cli is needed. A server that wants a password still answers (with an error).
redis_answers() {
  (
    exec 3<>/dev/tcp/127.0.0.1/6379 || exit 1
    printf 'PING\r\n' >&3
    IFS= read -r -t 2 reply <&3 || exit 1
    [[ "$reply" == +PONG* || "$reply" == -* ]]
  ) 2>/dev/null
}

ensure_redis() {
  if redis_answers; then
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    log "installing redis-server"
    apt_install redis-server
    # The package may have started its own server.
    redis_answers && return 0
  fi
  # Memory only, like the tests expect: nothing is written to disk.
  log "starting redis-server"
  redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
  for _ in $(seq 30); do
    redis_answers && return 0
    sleep 1
  done
  log "redis-server did not answer on 127.0.0.1:6379"
  return 1
}

# The S3-compatible test server: moto, in memory, on 127.0.0.1:5555 (the default of
# IMAGEVAULT_TEST_S3_ENDPOINT). Another endpoint in that variable is used as it is.
MOTO_ENDPOINT=http://127.0.0.1:5555

# Whether an HTTP server answers on 127.0.0.1:5555, through bash's /dev/tcp so that no curl
# is needed.
moto_answers() {
  (
    exec 3<>/dev/tcp/127.0.0.1/5555 || exit 1
    printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1:5555\r\n\r\n' >&3
    IFS= read -r -t 5 reply <&3 || exit 1
    [[ "$reply" == HTTP/* ]]
  ) 2>/dev/null
}

# Sets MOTO_SERVER to moto_server from PATH, or else from a virtualenv of our own: Debian's
# Python refuses `pip install` and `pip install --user` outside one (PEP 668).
find_moto() {
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/imagevault/moto-venv"
  if MOTO_SERVER=$(command -v moto_server); then
    return 0
  fi
  MOTO_SERVER="$venv/bin/moto_server"
  [ -x "$MOTO_SERVER" ] && return 0
  log "installing moto[server] into $venv"
  command -v python3 >/dev/null 2>&1 || apt_install python3
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    apt_install python3-venv
    python3 -m venv "$venv" || return 1
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'moto[server]' || return 1
  [ -x "$MOTO_SERVER" ]
}

ensure_moto() {
  if [ "${IMAGEVAULT_TEST_S3_ENDPOINT:-$MOTO_ENDPOINT}" != "$MOTO_ENDPOINT" ]; then
    log "using the S3 server at $IMAGEVAULT_TEST_S3_ENDPOINT"
    return 0
  fi
  if moto_answers; then
    return 0
  fi
  find_moto || { log "cannot install moto_server"; return 1; }
  local logfile="${CARGO_TARGET_DIR:-target}/moto_server.log"
  mkdir -p "$(dirname "$logfile")"
  log "starting $MOTO_SERVER (log: $logfile)"
  nohup "$MOTO_SERVER" -H 127.0.0.1 -p 5555 >>"$logfile" 2>&1 </dev/null &
  for _ in $(seq 60); do
    moto_answers && return 0
    sleep 0.5
  done
  log "moto_server did not answer on 127.0.0.1:5555; the end of $logfile:"
  tail -n 20 "$logfile" >&2 || true
  return 1
}

# The browser tests' tools (examples/server/tests/browser.rs): Debian's Chromium and its
# WebDriver server, and axe-core at the version pinned in the tests' package-lock.json.
BROWSER_TESTS=examples/server/tests/browser

ensure_browser() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}" || return 1
  fi
  # (Debian's launcher script complains on stderr about things that do not matter here.)
  if ! /usr/bin/chromium --version >/dev/null 2>&1 || ! /usr/bin/chromedriver --version >/dev/null; then
    log "chromium or chromedriver does not run"
    return 1
  fi
  if ! command -v npm >/dev/null 2>&1; then
    log "installing npm"
    apt_install npm || return 1
  fi
  # `npm ci` installs exactly the lock file's versions, checking their integrity hashes;
  # skipped when that axe-core is in place already.
  local pinned installed
  pinned=$(cd "$BROWSER_TESTS" && node -p "require('./package-lock.json').packages['node_modules/axe-core'].version")
  installed=$(cd "$BROWSER_TESTS" && node -p "require('./node_modules/axe-core/package.json').version" 2>/dev/null || true)
  if [ "$pinned" != "$installed" ]; then
    log "installing axe-core (npm ci in $BROWSER_TESTS)"
    (cd "$BROWSER_TESTS" && npm ci --no-audit --no-fund --loglevel=error) || return 1
  fi
}
