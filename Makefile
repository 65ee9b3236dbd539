# coLinux NG — build, test, benchmark, lint.
GO      ?= go
BIN     := bin
PKGS    := ./...
# The fuzz smoke run in `make test` is short; `make fuzz FUZZTIME=5m` runs each target longer.
FUZZTIME ?= 10s

.PHONY: deps build test bench lint fuzz demo release clean

# What the demo and the tests drive (qemu-img, mke2fs, linux.uml, …):
# installed with apt-get as root, else the exact command is printed.
deps:
	bash scripts/deps.sh

# coinit is built first: corun embeds it (runtime/initramfs).
build:
	$(GO) generate ./runtime/initramfs
	$(GO) build -o $(BIN)/ ./cmd/...

test: deps lint build
	$(GO) test -count=1 -timeout 60m $(PKGS)

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

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
