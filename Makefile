# Parley. `make run` starts everything; `make test` tests everything.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO      ?= go
BIN     := bin/parley
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 20s

.PHONY: run run-cluster web test build deps bench bench-gap bench-cluster soak bench-pg bench-go fuzz lint generate clean chaos

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/parley

deps:
	@scripts/ensure-deps.sh

## run: private Postgres + demo data + server and web app on http://127.0.0.1:3210
run: deps build web
	$(BIN) dev

## run-cluster: the same as a cluster: embedded NATS and 3 nodes (3211-3213) behind a round-robin proxy on 3210
run-cluster: deps build web
	$(BIN) dev --nodes 3

## web: the web app (web/dist) that `parley dev` serves at /, built when its sources changed
web:
	@web/scripts/build.sh

## test: every test (Go with -race against a private Postgres, client-ts vitest, web browser tests in Chromium)
test: deps build
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 12m ./...
	PARLEY_BIN=$(CURDIR)/$(BIN) client-ts/scripts/test.sh
	PARLEY_BIN=$(CURDIR)/$(BIN) web/scripts/test.sh

CHAOS_REPORT ?= bin/chaos.md

## chaos: the chaos suite's long form (internal/chaos: Postgres crash, walsender kills, server kill -9,
## cut link, full media disk, clients that stop reading, 1,000 clients reconnecting); table in $(CHAOS_REPORT)
chaos: deps build
	@mkdir -p $(dir $(CHAOS_REPORT))
	PARLEY_BIN=$(CURDIR)/$(BIN) PARLEY_CHAOS=long PARLEY_CHAOS_REPORT=$(CURDIR)/$(CHAOS_REPORT) \
		$(GO) test -race -count=1 -timeout 60m -run '^TestChaos$$' -v ./internal/chaos/

BENCH_FLAGS ?=
BENCH_JSON  ?= bin/bench.json
BENCH_LOG   ?= bin/bench-server.log

## bench: the load scenarios (a, b, c, d, stall, gap, e, search) against a fresh `parley dev`, one table;
## BENCH_FLAGS="--quick" or e.g. "--scenario b --b-viewers 500" to change them
bench: deps build
	PARLEY_BIN=$(BIN) PARLEY_LOG="$(BENCH_LOG)" scripts/with-dev-server.sh \
		scripts/bench.sh --scenario all --json "$(BENCH_JSON)" $(BENCH_FLAGS)

GAP_MODES ?= permanent temporary

## bench-gap: scenario gap (replication cut with 100,000 live subscriptions, writes in the gap)
## on a fresh `parley dev` per slot mode: the permanent slot (resume) and temporary slots (reset)
bench-gap: deps build
	@for mode in $(GAP_MODES); do \
		flags=""; [ $$mode = temporary ] && flags="--replication-slot temporary"; \
		echo "bench-gap: $$mode slot"; \
		PARLEY_BIN=$(BIN) PARLEY_LOG="$(BENCH_LOG)" PARLEY_DEV_FLAGS="$$flags" scripts/with-dev-server.sh \
			scripts/bench.sh --scenario gap --json "bin/bench-gap-$$mode.json" $(BENCH_FLAGS) || exit 1; \
	done

ROUNDS ?= 2

## bench-cluster: one node against three: scenarios b, a and d on a fresh `parley dev` and on a fresh
## `parley dev --nodes 3` (sessions round robin over its nodes), ROUNDS (default 2) rounds interleaved, then a table
## of both per round; reports in bin/bench-cluster-N-rR.json; BENCH_FLAGS as for bench
bench-cluster: deps build
	PARLEY_BIN=$(BIN) ROUNDS=$(ROUNDS) scripts/bench-cluster.sh $(BENCH_FLAGS)

SOAK_FLAGS ?=

## soak: scenario a's load for 30 minutes on a fresh `parley dev`, a fault every 2 minutes (the
## walsender, then every server connection, terminated); the server's RSS, goroutines, open files
## and replication lag every 10 s go to bin/soak.csv and bin/soak.svg; fails if any grows without bound
soak: deps build
	PARLEY_BIN=$(BIN) PARLEY_LOG=bin/soak-server.log scripts/with-dev-server.sh \
		scripts/bench.sh --scenario soak --json bin/soak.json --soak-csv bin/soak.csv --soak-svg bin/soak.svg $(SOAK_FLAGS)

## bench-pg: Postgres's own ceiling for scenario d, with pgbench (see scripts/bench-pg.sh)
bench-pg: deps build
	PARLEY_BIN=$(BIN) PARLEY_LOG="$(BENCH_LOG)" scripts/with-dev-server.sh scripts/bench-pg.sh

## bench-go: Go benchmarks of the hot paths
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## fuzz: each fuzz target for $(FUZZTIME)
fuzz:
	@for target in $$($(GO) test -list '^Fuzz' ./... | grep '^Fuzz' ); do \
		pkg=$$(grep -rl "func $$target(" --include='*_test.go' . | head -1 | xargs dirname); \
		echo "fuzz $$pkg $$target"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet ./...

## generate: generated code from the Go registry: client-ts/src/api.ts and the Convex-style
## web/convex-app/convex/_generated (a test fails when either is stale)
generate:
	$(GO) generate ./...
	$(GO) run ./cmd/parley codegen --out client-ts/src/api.ts
	$(GO) run ./cmd/parley codegen --convex-dir web/convex-app/convex

clean:
	rm -rf bin

BENCH_MEDIA_DIR ?= bin/bench-media
BENCH_MEDIA_N   ?= 20

## bench-media: images/s, CPU ms per image and peak RSS of processing 12-megapixel JPEG and
## PNG inputs into the stored WebP + thumbnail, at concurrency 1 and 2 (each case in a process
## of its own, so its peak RSS is its own); results go in BENCHMARKS.md by hand
.PHONY: bench-media
bench-media: deps
	@mkdir -p $(BENCH_MEDIA_DIR)
	$(GO) test -c -o $(BENCH_MEDIA_DIR)/vips.test ./media/vips/
	@test -f $(BENCH_MEDIA_DIR)/12mp.jpeg -a -f $(BENCH_MEDIA_DIR)/12mp.png || \
		$(BENCH_MEDIA_DIR)/vips.test -test.run '^TestWriteBenchInputs$$' -bench-inputs $(BENCH_MEDIA_DIR)
	@echo "bench-media: libvips $$(pkg-config --modversion vips), $$(nproc) CPUs, load average $$(cut -d' ' -f1-3 /proc/loadavg)"
	@for input in jpeg png; do for c in 1 2; do \
		$(BENCH_MEDIA_DIR)/vips.test -test.run '^$$' -test.bench "^BenchmarkProcess12MP$$/^$$input$$/^c=$$c$$" \
			-test.benchtime $(BENCH_MEDIA_N)x -bench-inputs $(BENCH_MEDIA_DIR) | grep '^Benchmark' || exit 1; \
	done; done
