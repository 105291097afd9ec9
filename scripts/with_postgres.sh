#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster: initdb in a temporary folder, a free port on
# 127.0.0.1, trust authentication; LIPSYNC_QUEUE points at it while the command runs, and the cluster is
# stopped and removed afterwards. As root the cluster runs as the `postgres` system user (initdb refuses root).
#   scripts/with_postgres.sh .build/release/lipsync bench queue
set -euo pipefail
BIN=$(pg_config --bindir 2>/dev/null || true)
[[ -x $BIN/initdb ]] || BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -x $BIN/initdb ]] || { echo "with_postgres.sh: PostgreSQL's initdb not found (scripts/setup.sh --dev installs it)" >&2; exit 1; }
DIR=$(mktemp -d /tmp/lipsync-pg-XXXXXX)
PORT=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
AS=()
if [[ $(id -u) -eq 0 ]]; then chown postgres "$DIR"; chmod 755 "$DIR"; AS=(runuser -u postgres --); fi
cleanup() { "${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
"${AS[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
"${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DIR -c fsync=off" start >/dev/null
LIPSYNC_QUEUE="postgres://postgres@127.0.0.1:$PORT/postgres" "$@"
