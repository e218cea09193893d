#!/usr/bin/env bash
# bench.sh [FLAGS…]: `parley bench` against the server that
# with-dev-server.sh started (`make bench`), every node of it
# (PARLEY_NODES, else PARLEY_URL); FLAGS go to parley bench.
set -eu
: "${PARLEY_URL:?run through scripts/with-dev-server.sh}" "${PARLEY_DATA:?}"
exec "${PARLEY_BIN:-bin/parley}" bench --url "${PARLEY_NODES:-$PARLEY_URL}" --data "$PARLEY_DATA" "$@"
