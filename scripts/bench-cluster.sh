#!/usr/bin/env bash
# bench-cluster.sh [FLAGS…]: one node against three (`make bench-cluster`).
# For ROUNDS rounds (default 2), interleaved so that drift on the machine
# falls on both alike: a fresh `parley dev`, then a fresh `parley dev
# --nodes 3` (PARLEY_DEV_FLAGS="--nodes 3"), each through
# with-dev-server.sh and scripts/bench.sh with --url "$PARLEY_NODES" (the
# sessions go round robin over the nodes), scenarios b, a and d (d: the
# closed loop's sendMessage/s, its writers round robin too), the report to
# $BENCH_CLUSTER_DIR/bench-cluster-N-rR.json (default bin/), the server's
# log next to it (.log). FLAGS go to parley bench after these, so they win
# (BENCH_FLAGS="--quick" for a smoke run). Ends with a table of every round
# read from the reports with jq.
set -eu
rounds=${ROUNDS:-2}
dir=${BENCH_CLUSTER_DIR:-bin}
scenarios=${BENCH_CLUSTER_SCENARIOS:-b,a,d}
here=$(dirname "$0")
mkdir -p "$dir"
case $rounds in '' | *[!0-9]* | 0) echo "bench-cluster: ROUNDS=$rounds is not a positive number" >&2; exit 2 ;; esac

# run N R FLAGS…: one bench of round R on a fresh parley dev of N nodes.
run() {
	local n=$1 r=$2 devflags=""
	shift 2
	[ "$n" -gt 1 ] && devflags="--nodes $n"
	echo "bench-cluster: round $r of $rounds, $n node(s)" >&2
	rm -f "$dir/bench-cluster-$n-r$r.json" # no stale report in the table
	PARLEY_DEV_FLAGS="${PARLEY_DEV_FLAGS:-} $devflags" PARLEY_LOG="$dir/bench-cluster-$n-r$r.log" BENCH_CLUSTER_NODES=$n \
		"$here/with-dev-server.sh" sh -c '
			got=$(printf "%s\n" "$PARLEY_NODES" | tr , "\n" | grep -c .)
			if [ "$got" -ne "$BENCH_CLUSTER_NODES" ]; then
				echo "bench-cluster: want $BENCH_CLUSTER_NODES node URLs, parley dev gave $got: $PARLEY_NODES" >&2
				exit 1
			fi
			exec "$0" "$@"' "$here/bench.sh" --scenario "$scenarios" --json "$dir/bench-cluster-$n-r$r.json" "$@"
}

status=0
for r in $(seq 1 "$rounds"); do
	run 1 "$r" "$@" || status=1
	run 3 "$r" "$@" || status=1
done

if ! command -v jq >/dev/null; then
	echo "bench-cluster: no jq for the table; the reports are $dir/bench-cluster-*-r*.json" >&2
	exit $status
fi
# The table: a row per report. b and a: write→push p50/p99 ms (b's
# last-viewer p99 where the report has it); d: sendMessage/s completed.
echo
printf '%-5s %-7s %-5s %-5s  %9s %9s %10s  %9s %9s  %9s  %s\n' round "dev -n" nodes procs "b p50" "b p99" "b last99" "a p50" "a p99" "d msg/s" "notes"
for r in $(seq 1 "$rounds"); do
	for n in 1 3; do
		f="$dir/bench-cluster-$n-r$r.json"
		if [ ! -s "$f" ]; then
			printf '%-5s %-7s %-5s %-5s  %s\n' "$r" "$n" - - "no report ($f)"
			continue
		fi
		jq -r --arg r "$r" --arg dev "$n" '
			def row($s): (.rows // []) | map(select(.scenario == $s)) | first;
			def ms($x): if ($x | type) != "object" or ($x.n // 0) == 0 then "-" else ($x.p50 * 100 | round / 100 | tostring) end;
			def ms99($x): if ($x | type) != "object" or ($x.n // 0) == 0 then "-" else ($x.p99 * 100 | round / 100 | tostring) end;
			def val($row; $f): if $row == null or ($row.error // "") != "" then "-" else $row[$f] end;
			row("b") as $b | row("a") as $a | row("d") as $d |
			[ $r, $dev, ((.nodes // 0) | tostring), ((.serverProcesses // 0) | tostring),
			  ms(val($b; "latencyMs")), ms99(val($b; "latencyMs")), ms99(val($b; "lastViewerLatencyMs")),
			  ms(val($a; "latencyMs")), ms99(val($a; "latencyMs")),
			  (val($d; "mutationsPerSec") | if . == "-" then . else round | tostring end),
			  ([ (.rows // [])[] | select((.error // "") != "") | "\(.scenario) FAILED" ]
			   + [ (.rows // [])[] | select(.scenario == "b" and (.dropped // 0) > 0) | "b dropped \(.dropped)" ] | join("; ")) ]
			| @tsv' "$f" | while IFS=$'\t' read -r rr dev nodes procs bp50 bp99 blast ap50 ap99 dps notes; do
			printf '%-5s %-7s %-5s %-5s  %9s %9s %10s  %9s %9s  %9s  %s\n' "$rr" "$dev" "$nodes" "$procs" "$bp50" "$bp99" "$blast" "$ap50" "$ap99" "$dps" "$notes"
		done
	done
done
echo "dev -n: parley dev --nodes (1: plain parley dev); nodes: distinct node URLs the bench drove; procs: server processes they ran in (by their metrics)"
echo "latency: write→push ms (see parley bench); b last99: p99 to the last viewer, where the report has it; d: sendMessage calls completed per second, closed loop"
exit $status
