#!/usr/bin/env bash
# bench-pg.sh: what this machine's Postgres alone can do of scenario d's
# work, measured with pgbench — the ceiling under Parley's sendMessage/s.
# Run through with-dev-server.sh (`make bench-pg`): it seeds d's data set
# with a short `parley bench --scenario d`, then runs, from C clients (as
# many as d's writers) for SECS seconds each:
#   send          sendMessage's transaction alone (internal/bench/pgbench/send.sql)
#   send+reruns   that and the 4 queries each message re-runs, one of each
#                 per message (send.sql and reruns.sql at equal weights)
#   insert        the floor: a bare one-row INSERT transaction (insert.sql)
# The server stays connected and decodes the WAL as in d, but no client
# subscribes, so nothing is re-run or pushed.
set -eu
: "${PARLEY_URL:?run through scripts/with-dev-server.sh}" "${PARLEY_DATA:?}"
bin=${PARLEY_BIN:-bin/parley}
clients=${C:-32}
secs=${SECS:-15}
dir=internal/bench/pgbench
pgbench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1)
[ -x "$pgbench" ] || { echo "bench-pg: pgbench not found (it comes with the postgresql package)" >&2; exit 1; }
db=$(cat "$PARLEY_DATA/database.url")

echo "bench-pg: seeding scenario d's data set" >&2
"$bin" bench --url "$PARLEY_URL" --data "$PARLEY_DATA" --scenario d --d-writers "$clients" \
	--duration 2s --warmup 0s --log-level warn >/dev/null

run() { # name, pgbench script flags…
	local name=$1 out tps
	shift
	out=$("$pgbench" -n -M prepared -c "$clients" -j 2 -T "$secs" "$@" "$db" 2>&1) || { echo "$out" >&2; return 1; }
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
	printf '%-12s %8.0f transactions/s\n' "$name" "$tps"
}
echo "bench-pg: $clients clients, ${secs}s each, $(nproc) CPUs; postgres $("$pgbench" --version | sed -n "s/.*(PostgreSQL) \([^ ]*\).*/\1/p")"
run send -f "$dir/send.sql"
run send+reruns -f "$dir/send.sql" -f "$dir/reruns.sql"
run insert -f "$dir/insert.sql"
echo "(send+reruns counts both kinds: sendMessage/s is half of it)"
