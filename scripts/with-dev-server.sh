#!/usr/bin/env bash
# with-dev-server.sh CMD [ARGS…]: runs CMD against a fresh `parley dev` on
# a temporary data directory, with rate limits off, and stops the server
# afterwards. CMD finds it through PARLEY_URL and PARLEY_DATA; the server's
# log goes to $PARLEY_LOG (default bin/dev-server.log). Exits with CMD's
# status. PARLEY_BIN names the binary (default bin/parley); PARLEY_DEV_FLAGS
# adds flags to `parley dev` (e.g. "--replication-slot temporary").
# PARLEY_NODES is the comma list of the nodes' base URLs: the list of the
# banner "parley: nodes on URL,URL,…" that `parley dev --nodes N` prints
# (waited for when PARLEY_DEV_FLAGS has --nodes N with N > 1), else
# PARLEY_URL.
set -eu
bin=${PARLEY_BIN:-bin/parley}
log=${PARLEY_LOG:-bin/dev-server.log}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true # as many sessions as the hard limit allows
pid=""
dir=$(mktemp -d "${TMPDIR:-/tmp}/parley-dev.XXXXXX")
stop() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$(dirname "$log")"
: >"$log"
"$bin" dev --data "$dir" --addr 127.0.0.1:0 --web "" --message-rate -1 --typing-rate -1 ${PARLEY_DEV_FLAGS:-} 2>"$log" &
pid=$!
# --nodes N (or -nodes, --nodes=N) with N > 1: wait for the nodes banner too.
want_nodes=$(printf '%s\n' "${PARLEY_DEV_FLAGS:-}" | sed -n 's/.*-\{1,2\}nodes[= ]*\([0-9][0-9]*\).*/\1/p')
[ "${want_nodes:-1}" -gt 1 ] 2>/dev/null || want_nodes=""
url=""
nodes=""
for _ in $(seq 1 600); do
	url=$(sed -n 's/.*serving on \(http:[^ ]*\).*/\1/p' "$log" | head -n 1)
	nodes=$(sed -n 's/.*parley: nodes on \(http[^ "]*\).*/\1/p' "$log" | head -n 1)
	[ -z "$url" ] && [ -n "$nodes" ] && url=${nodes%%,*}
	[ -n "$url" ] && { [ -z "$want_nodes" ] || [ -n "$nodes" ]; } && break
	kill -0 "$pid" 2>/dev/null || { echo "with-dev-server: parley dev exited; its log:" >&2; cat "$log" >&2; exit 1; }
	sleep 0.2
done
if [ -z "$url" ] || { [ -n "$want_nodes" ] && [ -z "$nodes" ]; }; then
	echo "with-dev-server: parley dev did not start within 2 minutes${want_nodes:+ (no \"parley: nodes on\" banner for $want_nodes nodes)}; its log:" >&2
	cat "$log" >&2
	exit 1
fi
nodes=${nodes:-$url}
echo "with-dev-server: parley dev on $url (nodes: $nodes; open files: $(ulimit -n); server log: $log)" >&2
status=0
PARLEY_URL=$url PARLEY_NODES=$nodes PARLEY_DATA=$dir "$@" || status=$?
echo "with-dev-server: server log has $(grep -c 'level=ERROR' "$log" || true) errors and $(grep -c 'level=WARN' "$log" || true) warnings" >&2
exit $status
