# Sourced by the load benchmarks (scripts/bench-api.sh, scripts/bench-embedded.sh).

# Installs wrk, nginx and psql with apt-get (Debian) when missing, and puts nginx on PATH.
install_load_tools() {
    local missing=() sudo=""
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    command -v psql >/dev/null || missing+=(postgresql-client)
    if ((${#missing[@]})); then
        [[ "$(id -u)" == 0 ]] || sudo="sudo"
        echo "installing ${missing[*]} with apt-get" >&2
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
        # Debian's package starts a system nginx on port 80; the benchmarks run their own.
        if [[ " ${missing[*]} " == *" nginx "* ]]; then
            $sudo systemctl stop nginx 2>/dev/null || $sudo service nginx stop 2>/dev/null || true
        fi
    fi
    export PATH="$PATH:/usr/sbin"
}
