# Parley. `make run` starts everything; `make test` tests everything.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO      ?= go
BIN     := bin/parley
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 20s

.PHONY: run test build deps bench fuzz lint generate clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/parley

deps:
	@scripts/ensure-deps.sh

## run: private Postgres + demo data + server on http://127.0.0.1:3210
run: deps build
	$(BIN) dev

## test: every test, against a private Postgres, with -race
test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 12m ./...

## bench: Go benchmarks of the hot paths
bench:
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

## generate: generated code (TypeScript API types arrive with client-ts)
generate:
	$(GO) generate ./...

clean:
	rm -rf bin
