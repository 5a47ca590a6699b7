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
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParsePorts -fuzztime $(FUZZTIME) ./internal/auth/
	$(GO) test -run '^$$' -fuzz FuzzParseJoinToken -fuzztime $(FUZZTIME) ./internal/auth/
	$(GO) test -run '^$$' -fuzz FuzzPortForwardRequest -fuzztime $(FUZZTIME) ./internal/api/
	$(GO) test -run '^$$' -fuzz FuzzSSHCertificateRequest -fuzztime $(FUZZTIME) ./internal/api/
	$(GO) test -run '^$$' -fuzz FuzzValidName -fuzztime $(FUZZTIME) ./internal/tunnel/
	$(GO) test -run '^$$' -fuzz FuzzFrameCodec -fuzztime $(FUZZTIME) ./internal/tunnel/
	$(GO) test -run '^$$' -fuzz FuzzParseModes -fuzztime $(FUZZTIME) ./internal/sshd/
	$(GO) test -run '^$$' -fuzz FuzzSessionRequest -fuzztime $(FUZZTIME) ./internal/sshd/
	$(GO) test -run '^$$' -fuzz FuzzGlobalRequest -fuzztime $(FUZZTIME) ./internal/sshd/
	$(GO) test -run '^$$' -fuzz FuzzDirectTCPIP -fuzztime $(FUZZTIME) ./internal/sshd/
	$(GO) test -run '^$$' -fuzz FuzzParseForward -fuzztime $(FUZZTIME) ./internal/cli/
	$(GO) test -run '^$$' -fuzz FuzzParseTargets -fuzztime $(FUZZTIME) ./internal/cli/
	$(GO) test -run '^$$' -fuzz FuzzParseSSHForwards -fuzztime $(FUZZTIME) ./internal/cli/
	$(GO) test -run '^$$' -fuzz FuzzParseRemote -fuzztime $(FUZZTIME) ./internal/cli/
	$(GO) test -run '^$$' -fuzz FuzzCleanText -fuzztime $(FUZZTIME) ./internal/store/
	$(GO) test -run '^$$' -fuzz FuzzSniff -fuzztime $(FUZZTIME) ./internal/controller/
	$(GO) test -run '^$$' -fuzz FuzzClientHello -fuzztime $(FUZZTIME) ./internal/sshcert/
	$(GO) test -run '^$$' -fuzz FuzzParseUserKeyID -fuzztime $(FUZZTIME) ./internal/sshca/

bench:
	scripts/bench.sh
