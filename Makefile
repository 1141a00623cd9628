# cgscale: `make demo` runs the main job on a generated sample store,
# `make test` runs every test (with the race detector).
GO      ?= go
BIN     ?= bin/cgscale
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
VOLUMES ?= /var/tmp/cgvol

.PHONY: build test demo vet volumes rmvolumes bench clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/cgscale

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -race -count=1 ./...

demo: build
	scripts/demo.sh $(BIN)

# Loop volumes (ext4 with and without dir_index, xfs, btrfs, tmpfs) for the
# filesystem tests and benchmarks; needs root. Then:
#   export CGSCALE_VOLUMES=$(VOLUMES)
volumes:
	scripts/mkvolumes.sh $(VOLUMES)

rmvolumes:
	scripts/rmvolumes.sh $(VOLUMES)

bench: build
	for s in scripts/bench-*.sh; do echo "== $$s"; "$$s" $(BIN) || exit 1; done

clean:
	rm -rf bin
