# coLinux NG — build, test, benchmark, lint.
GO      ?= go
BIN     := bin
PKGS    := ./...
# The fuzz smoke run in `make test` is short; `make fuzz FUZZTIME=5m` runs each target longer.
FUZZTIME ?= 10s

# Where coimage runs; corun and `coimage build` are Linux's (amd64, arm64).
TARGETS := linux/amd64 linux/arm64 windows/amd64 windows/arm64 darwin/amd64 darwin/arm64
HOST    := $(shell $(GO) env GOOS)/$(shell $(GO) env GOARCH)
# urfave/cli's man-page and markdown writers are never called; built
# without them, their markdown parser no longer initialises at every
# start of coimage and corun (~1.2 ms, ~6 % of a start).
TAGS    := urfave_cli_no_docs
# `make dist` stamps this into coimage --version.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: deps build test cross dist bench lint fuzz demo release clean

# What the demo and the tests drive (qemu-img, mke2fs, linux.uml, …):
# installed with apt-get as root, else the exact command is printed.
deps:
	bash scripts/deps.sh

# coinit is built first: corun embeds it (runtime/initramfs).
build:
	$(GO) generate ./runtime/initramfs
	$(GO) build -tags $(TAGS) -o $(BIN)/ ./cmd/...

test: deps lint cross build
	$(GO) test -count=1 -timeout 60m $(PKGS)

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# For every other target: go vet, and compile the test binaries of, the
# packages coimage is built from there (go list -deps), so a Linux-only
# call in any of them fails here, and their tests are ready to run there.
# corun's stub (cmd/corun/main_other.go) is vetted too: off Linux it must
# build and say why it cannot run, not fail to compile.
cross:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for t in $(filter-out $(HOST),$(TARGETS)); do \
	  export GOOS=$${t%/*} GOARCH=$${t#*/}; \
	  pkgs=$$($(GO) list -deps -f '{{if .Module}}{{if .Module.Main}}{{.ImportPath}}{{end}}{{end}}' ./cmd/coimage); \
	  echo "cross $$t: vet and test binaries of $$(echo $$pkgs | wc -w) packages"; \
	  $(GO) vet $$pkgs ./cmd/corun; \
	  $(GO) test -c -o "$$tmp/" $$pkgs >/dev/null; \
	done

# Release binaries in dist/bin/: coimage for every target, corun for Linux,
# with dist/bin/SHA256SUMS (sha256sum -c). Reproducible: the same commit
# gives the same bytes (no cgo, no paths, no build IDs, no VCS stamp).
# corun embeds coinit, built for the guest's architecture first (and for
# this host again at the end, whatever happens, for `make build`).
DIST_FLAGS := -tags $(TAGS) -trimpath -buildvcs=false -ldflags '-s -w -buildid= -X main.version=$(VERSION)'
dist:
	@set -e; rm -rf dist/bin; mkdir -p dist/bin; \
	trap '$(GO) generate ./runtime/initramfs' EXIT; \
	for t in $(TARGETS); do \
	  os=$${t%/*} arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "dist/bin/coimage-$$os-$$arch$$ext"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(DIST_FLAGS) -o dist/bin/coimage-$$os-$$arch$$ext ./cmd/coimage; \
	done; \
	for arch in amd64 arm64; do \
	  echo "dist/bin/corun-linux-$$arch"; \
	  GOOS=linux GOARCH=$$arch $(GO) generate ./runtime/initramfs; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build $(DIST_FLAGS) -o dist/bin/corun-linux-$$arch ./cmd/corun; \
	done; \
	cd dist/bin && sha256sum coimage-* corun-* >SHA256SUMS && sha256sum -c --quiet SHA256SUMS

# Runs every fuzz target for FUZZTIME each. Scratch directories go to
# /dev/shm: the extraction targets make and remove one per input, which on
# a disk mounted with discard stalls the fuzzer.
fuzz:
	@if [ -d /dev/shm ]; then export TMPDIR=/dev/shm; fi; \
	for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# bench/build.sh, the systemd part of bench/boot.sh and bench/net.sh (TAP)
# run as root.
bench: build
	bash bench/convert.sh
	bash bench/build.sh
	bash bench/boot.sh
	bash bench/net.sh
	bash bench/release.sh

demo: deps build
	bash scripts/demo.sh

# Builds recipes/debian.yaml (as root), releases it into dist/ signed with
# $$RELEASE_KEY, and verifies dist/ with minisign, sha256sum and zstd.
release: deps build
	bash scripts/release.sh

clean:
	rm -rf $(BIN) out bench/work
