#!/usr/bin/env bash
# build.sh builds the web app into web/dist (what `parley dev` serves at /)
# and the @parley/client package it uses, installing their Node packages
# when missing; each step is skipped when up to date. `make run` calls it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
build_app
