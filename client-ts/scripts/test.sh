#!/usr/bin/env bash
# test.sh runs everything client-ts has: installs the Node packages when
# node_modules is missing or older than the lockfile, typechecks (src and
# test/, the type tests test/*.test-d.ts included), builds, runs vitest
# (against a real `parley dev` it starts), then packs the package and checks
# the tarball (publint, subpath imports). Install scripts npm asks about are
# approved in package.json's allowScripts (esbuild's postinstall), so npm ci
# prints no install-scripts warnings.
# `make test` calls it. PARLEY_BIN=path/to/parley skips the `go build`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules ]]; then
	echo "client-ts: npm ci" >&2
	npm ci --no-audit --no-fund
	touch node_modules
fi
npm run --silent typecheck
npm run --silent build
npx vitest run
node scripts/check-package.mjs
