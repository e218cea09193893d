#!/usr/bin/env bash
# bench-pg.sh: what this machine's Postgres alone can do of scenario d's
# work, measured with pgbench — the ceiling under Parley's sendMessage/s.
# Run through with-dev-server.sh (`make bench-pg`): it seeds d's data set
# with a short `parley bench --scenario d`, then runs, from C clients (as
# many as d's writers) for SECS seconds each:
#   send          sendMessage's transaction alone (internal/bench/pgbench/send.sql)
#   send+reruns   that and the 4 queries each message re-runs (reruns.sql),
#                 at equal weights: about one re-run transaction per message
#   insert        the floor: a bare one-row INSERT transaction (insert.sql)
# The server stays connected and decodes the WAL as in d, but no client
# subscribes, so nothing is re-run or pushed. Serialization failures are
# retried as Parley retries them (up to 24 tries) and reported.
set -eu
: "${PARLEY_URL:?run through scripts/with-dev-server.sh}" "${PARLEY_DATA:?}"
cd "$(dirname "$0")/.."
bin=${PARLEY_BIN:-bin/parley}
clients=${C:-32}
secs=${SECS:-15}
dir=internal/bench/pgbench
pgbench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1)
[ -x "$pgbench" ] || { echo "bench-pg: pgbench not found (it comes with the postgresql package)" >&2; exit 1; }
db=$(cat "$PARLEY_DATA/database.url")

# Client k writes to conversation k+1; d seeds one per two subscribers.
echo "bench-pg: seeding scenario d's data set" >&2
"$bin" bench --url "$PARLEY_URL" --data "$PARLEY_DATA" --scenario d --d-subscribers $((2 * clients)) \
	--d-writers "$clients" --duration 2s --warmup 0s --log-level warn >/dev/null

# run NAME SCRIPT…: prints each script's transactions/s and the failures.
run() {
	local name=$1 out
	shift
	local args=()
	for f in "$@"; do args+=(-f "$dir/$f"); done
	out=$("$pgbench" -n -M prepared --max-tries=24 -c "$clients" -j 2 -T "$secs" "${args[@]}" "$db" 2>&1) ||
		{ echo "$out" >&2; return 1; }
	awk -v name="$name" -v single=$(($# == 1)) '
		/^tps = / && single { printf "%-12s %-12s %8.0f/s", name, first, $3 }
		/^SQL script [0-9]+:/ { script = $NF; sub(/.*\//, "", script) }
		/^ - [0-9]+ transactions .*tps = / && !single { t = $0; sub(/.*tps = /, "", t); sub(/\).*/, "", t)
			printf "%-12s %-12s %8.0f/s\n", name, script, t }
		/^number of failed transactions:/ { failed = $5 }
		/^number of transactions retried:/ { retried = $5 }
		END { if (single) printf "\n"; printf "%-12s %-12s failed %s, retried %s\n", name, "", failed, retried + 0 }
	' first="$1" <<<"$out"
}
version=$(psql -At "$db" -c 'SHOW server_version' 2>/dev/null || echo "?")
echo "bench-pg: $clients clients, ${secs}s each, $(nproc) CPUs, Postgres $version"
run send send.sql
run send+reruns send.sql reruns.sql
run insert insert.sql
