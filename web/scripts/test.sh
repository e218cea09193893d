#!/usr/bin/env bash
# test.sh runs the web app's browser tests (web/tests) in Debian's headless
# Chromium against a real `parley dev`, installing what is missing:
# Chromium (apt), the Node packages of client-ts and web (npm), the builds
# of both. The parley binary is $PARLEY_BIN, or built by the tests.
# Screenshots land in web/test-artifacts/. `make test` calls it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
if [[ ! -x $chromium ]]; then
	sudo_cmd=()
	[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
	log "installing chromium (apt-get)"
	"${sudo_cmd[@]}" apt-get update -qq
	"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
	log "node is missing: run scripts/ensure-deps.sh (make deps) first"
	exit 1
fi

build_app
log "browser tests (Chromium: $chromium)"
exec node --test --test-concurrency=1 tests/
