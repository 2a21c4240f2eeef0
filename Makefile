# bootstrap: build, test, lint, demo.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         := bin/bootstrap

.PHONY: all build test unit e2e lint fmt demo bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/bootstrap
	$(GO) build -o bin/localcloud ./cmd/localcloud

# The whole suite: unit tests, then the end-to-end tests on real qemu VMs
# (the Debian image is built once with debootstrap and cached).
test: unit e2e

unit:
	$(GO) test -short -race -count=1 ./...

# One package at a time; inside it BOOTSTRAP_E2E_VMS VM tests (default 3) run at
# once under software emulation, while tests that only wait run beside them:
# -parallel is high enough that every test starts at once and only the VM tests'
# turns (and the API matrix's own) decide who runs.
e2e:
	$(GO) test -p 1 -parallel 48 -count=1 -timeout 75m ./e2e/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# The end-to-end demo on the built-in local cloud: no account needed.
demo: build
	$(GO) run ./localcloud/demo -bootstrap $(BIN)

bench:
	./bench/overhead

clean:
	rm -rf bin
