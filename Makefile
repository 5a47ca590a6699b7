GO ?= go

.PHONY: test unit e2e fuzz bench build

build:
	$(GO) build -o burrow ./cmd/burrow

# Every test. The e2e part needs root (network namespaces) and skips otherwise.
test: unit e2e

unit:
	$(GO) test -race -count=1 ./...

e2e:
	$(GO) test -tags e2e -count=1 -timeout 30m -v ./test/e2e/

# Run each fuzzer for a while; new inputs land in testdata/fuzz.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParsePorts -fuzztime 30s ./internal/auth/
	$(GO) test -run '^$$' -fuzz FuzzParseJoinToken -fuzztime 30s ./internal/auth/

bench:
	scripts/bench.sh
