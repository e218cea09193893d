# Shared by build.sh and test.sh (sourced; run from web/).

log() { echo "web: $*" >&2; }

# npm_deps DIR: installs DIR's Node packages when node_modules is missing or
# older than package.json or package-lock.json.
npm_deps() {
	local dir=$1
	if [[ -d $dir/node_modules && ! $dir/package.json -nt $dir/node_modules &&
		! ( -f $dir/package-lock.json && $dir/package-lock.json -nt $dir/node_modules ) ]]; then
		return 0
	fi
	log "npm ci in $dir"
	if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); then
		# A lock file that misses some platforms' optional packages (the
		# registry mirror here lacks them) fails npm ci's check; npm install
		# takes the same pinned versions.
		log "npm ci failed in $dir; npm install instead"
		(cd "$dir" && npm install --no-audit --no-fund --no-save --loglevel=error)
	fi
	touch "$dir/node_modules"
}

# newer_than FILE PATH...: whether any file under PATHs is newer than FILE
# (or FILE is missing).
newer_than() {
	local stamp=$1
	shift
	[[ ! -e $stamp ]] && return 0
	[[ -n $(find "$@" -newer "$stamp" -print -quit 2>/dev/null) ]]
}

# build_app: @parley/client (../client-ts/dist) and the app (dist/), each
# only when its sources changed.
build_app() {
	npm_deps ../client-ts
	if newer_than ../client-ts/dist/index.js ../client-ts/src ../client-ts/package.json ../client-ts/tsconfig.build.json; then
		log "building @parley/client (client-ts)"
		(cd ../client-ts && npm run build --silent)
	fi
	npm_deps .
	if newer_than dist/index.html src convex-app vue-app public index.html package.json vite.config.ts tsconfig.json ../client-ts/dist; then
		log "building the web app (web/dist)"
		npm run build --silent
	fi
}
