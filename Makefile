# Canopy's two commands: `make run` and `make test`. Both install what is missing on a
# Debian machine first (system packages through apt-get, with sudo when not root).
#
#   make run            build and start a headless Canopy host (prints invite URLs)
#   make test           fmt check, clippy -D warnings, every test (nextest + doc tests)
#   make bench          the runtime benchmarks (release build)
#   make deps-test      only install what the tests need

SHELL := /bin/bash
CARGO ?= cargo

# Debian packages each goal needs. graphviz: `dot` renders the introspection graph.
RUN_PACKAGES := pkg-config cmake
# librsvg2-bin, poppler-utils, qpdf: independent checks of SVG and PDF exports;
# sqlite3: .canopy files must open in the SQLite shell; espeak-ng, sox: speech for
# audio tests. cmake builds the vendored libopus.
TEST_PACKAGES := pkg-config cmake graphviz librsvg2-bin poppler-utils qpdf sqlite3 espeak-ng sox

# Installs the Debian packages named in $(1) that are not installed yet.
define ensure_packages
	@missing=""; \
	for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

.PHONY: run test deps-run deps-test toolchain fmt-check clippy unit-tests bench

toolchain:
	@command -v $(CARGO) >/dev/null || { echo "make: cargo not found; install the Rust toolchain (rustup) first" >&2; exit 1; }

deps-run: toolchain
	$(call ensure_packages,$(RUN_PACKAGES))

deps-test: toolchain
	$(call ensure_packages,$(TEST_PACKAGES))

run: deps-run
	$(CARGO) build --release -p canopy-node
	./target/release/canopy host --headless

fmt-check: toolchain
	$(CARGO) fmt --all -- --check

clippy: toolchain
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Doc tests first (nextest does not run them), so the run closes on nextest's summary.
# The integration tests run the `canopy` binary, which test builds do not make.
unit-tests: deps-test
	$(CARGO) build -p canopy-node --bin canopy
	$(CARGO) test --workspace --doc -q
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  $(CARGO) test --workspace --no-fail-fast --lib --bins --tests; \
	fi

test: deps-test fmt-check clippy unit-tests

bench: deps-run
	$(CARGO) bench -p canopy-axon
	$(CARGO) bench -p canopy-canvas
	$(CARGO) bench -p canopy-node
	$(CARGO) bench -p canopy-audio
