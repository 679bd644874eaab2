#!/usr/bin/env bash
# Thumbnail time of one upload idle and during a 30 s flood of bad Basic credentials from
# several client addresses (scripts/login_flood.py; see there).
#
# Usage: scripts/login-flood.sh [SERVER_BINARY]
#   default: builds and runs target/release/imagevault-server; pass another binary (for
#   example one built from an older commit) to compare. FLOOD_* variables: see the .py.
# Prints figures; nothing is checked. Work files go to target/login-flood.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
binary="${1:-}"
if [[ -z "$binary" ]]; then
    echo "building imagevault-server (release)" >&2
    cargo build -q --release -p imagevault-server
    binary="$repo/target/release/imagevault-server"
fi
mkdir -p "$repo/target/login-flood"
exec python3 "$repo/scripts/login_flood.py" "$binary" "$repo/target/login-flood"
