#!/usr/bin/env bash
# ensure-deps.sh installs what `make test` needs and finds missing:
#   - the PostgreSQL server binaries (initdb, pg_ctl) and, when running as
#     root, the "postgres" system user the test clusters run as
#     (both come with the Debian package postgresql);
#   - libvips with its headers and pkg-config file (libvips-dev), and a C
#     compiler, for media/vips (cgo);
#   - the Node packages of e2e/node, client-ts and examples, when node is
#     installed.
# It is idempotent and prints nothing when everything is already present.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DEBIAN_FRONTEND=noninteractive

log() { echo "ensure-deps: $*" >&2; }

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
	sudo_cmd=(sudo)
fi

apt_updated=0
apt_install() {
	if ! command -v apt-get >/dev/null 2>&1; then
		log "missing $*, and apt-get is not available: install it by hand"
		exit 1
	fi
	if [[ ${#sudo_cmd[@]} -gt 0 ]] && ! command -v sudo >/dev/null 2>&1; then
		log "missing $*: run as root or install it by hand (apt-get install -y $*)"
		exit 1
	fi
	if [[ $apt_updated -eq 0 ]]; then
		log "apt-get update"
		"${sudo_cmd[@]}" apt-get update -qq
		apt_updated=1
	fi
	log "installing $*"
	"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- PostgreSQL -------------------------------------------------------------
have_initdb() {
	command -v initdb >/dev/null 2>&1 && return 0
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
if ! have_initdb; then
	apt_install postgresql
elif [[ $(id -u) -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
	apt_install postgresql
fi

# --- libvips ----------------------------------------------------------------
# media/vips links libvips through cgo (pkg-config vips): the headers, the
# library, and a C compiler.
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists vips 2>/dev/null; then
	apt_install libvips-dev pkg-config
fi
if ! command -v gcc >/dev/null 2>&1 && ! command -v cc >/dev/null 2>&1; then
	apt_install gcc libc6-dev
fi

# --- Node.js and the Node packages of e2e/node, client-ts and examples -------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	apt_install nodejs npm
fi
for node_dir in e2e/node client-ts examples; do
	if command -v node >/dev/null 2>&1 && [[ -f $node_dir/package.json ]]; then
		if [[ ! -d $node_dir/node_modules ]] ||
			[[ -f $node_dir/package-lock.json && $node_dir/package-lock.json -nt $node_dir/node_modules ]] ||
			[[ ! -f $node_dir/package-lock.json && $node_dir/package.json -nt $node_dir/node_modules ]]; then
			if [[ -f $node_dir/package-lock.json ]]; then
				log "npm ci in $node_dir"
				(cd "$node_dir" && npm ci --no-audit --no-fund)
			else
				log "npm install in $node_dir (no package-lock.json)"
				(cd "$node_dir" && npm install --no-audit --no-fund)
			fi
			# npm neither always creates nor always touches the directory (no
			# dependencies, nothing changed); mark it as up to date.
			mkdir -p "$node_dir/node_modules"
			touch "$node_dir/node_modules"
		fi
	fi
done
