# Brings up the local services the test suite talks to, when they are not already running.
# Sourced by .ci/run. Everything listens on loopback only.

log() { echo "services: $*"; }

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq && APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
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
