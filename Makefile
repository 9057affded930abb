# Canopy's two commands: `make run` and `make test`. Both install what is missing on a
# Debian machine first (system packages through apt-get, with sudo when not root).
#
#   make run              build and start a Canopy host: a desktop window when there is a
#                         display, a headless node otherwise (prints invite URLs either way)
#   make test             fmt check, clippy -D warnings, every test (nextest + doc tests)
#   make bench            the runtime benchmarks (release build; the window's under Xvfb)
#   make fuzz             every decoder under AFL++, FUZZ_SECONDS (600) per target; `make
#                         test` runs the same for FUZZ_SHORT_SECONDS (10) per target
#   make install-desktop  install `canopy` for this user and make canopy:// links open it
#   make deps-test        only install what the tests need
#   make architecture-graph  redraw docs/node-graph.svg from a running reference node

SHELL := /bin/bash
CARGO ?= cargo

# Debian packages each goal needs. graphviz: `dot` renders the introspection graph.
# The window loads OpenGL (Mesa, software rendering included), X11/Wayland client
# libraries and xkbcommon at run time. libasound2-dev: cpal's ALSA backend builds
# against it (PulseAudio/PipeWire are spoken natively, without a library).
RUN_PACKAGES := pkg-config cmake libasound2-dev libgl1 libegl1 libgl1-mesa-dri libxkbcommon-x11-0 \
	libxcursor1 libxi6 libxrandr2 libwayland-client0 libwayland-egl1
# librsvg2-bin, poppler-utils, qpdf: independent checks of SVG and PDF exports;
# sqlite3: .canopy files must open in the SQLite shell; espeak-ng, sox: speech for
# audio tests. cmake builds the vendored libopus.
# xvfb, xdotool, imagemagick: desktop tests run real windows on a virtual display,
# drive them and take screenshots; desktop-file-utils checks the .desktop file;
# prometheus brings promtool, which checks the relay's metrics; systemd and
# python3-yaml check the deploy/ files. pulseaudio: the sound-device test runs a
# private server whose null sinks are real-time clocked, no sound card needed.
TEST_PACKAGES := $(RUN_PACKAGES) graphviz librsvg2-bin poppler-utils qpdf sqlite3 espeak-ng sox \
	xvfb xdotool imagemagick desktop-file-utils prometheus systemd python3-yaml pulseaudio

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

.PHONY: run test deps-run deps-test toolchain fmt-check clippy unit-tests bench install-desktop architecture-graph \
	fuzz fuzz-build fuzz-short

toolchain:
	@command -v $(CARGO) >/dev/null || { echo "make: cargo not found; install the Rust toolchain (rustup) first" >&2; exit 1; }

deps-run: toolchain
	$(call ensure_packages,$(RUN_PACKAGES))

deps-test: toolchain
	$(call ensure_packages,$(TEST_PACKAGES))
	@python3 -c "import pystoi" 2>/dev/null || { \
	  echo "make: installing pystoi (speech intelligibility, for the audio loss test)"; \
	  python3 -m pip install --quiet pystoi 2>/dev/null || \
	  python3 -m pip install --quiet --break-system-packages pystoi; }

run: deps-run
	$(CARGO) build --release -p canopy --bin canopy
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
	  ./target/release/canopy host; \
	else \
	  echo "make: no display here (DISPLAY/WAYLAND_DISPLAY unset): starting a headless host"; \
	  ./target/release/canopy host --headless; \
	fi

# Installs the binary in ~/.local/bin and registers the .desktop file as the handler of
# canopy:// links (xdg-utils' `xdg-mime`, when present).
install-desktop: deps-run
	$(CARGO) build --release -p canopy --bin canopy
	install -D -m 755 target/release/canopy $(HOME)/.local/bin/canopy
	install -D -m 644 deploy/desktop/canopy.desktop $(HOME)/.local/share/applications/canopy.desktop
	@if command -v update-desktop-database >/dev/null; then update-desktop-database $(HOME)/.local/share/applications; fi
	@if command -v xdg-mime >/dev/null; then \
	  xdg-mime default canopy.desktop x-scheme-handler/canopy && echo "canopy:// links now open Canopy"; \
	else \
	  echo "install xdg-utils, then: xdg-mime default canopy.desktop x-scheme-handler/canopy"; \
	fi

fmt-check: toolchain
	$(CARGO) fmt --all -- --check

clippy: toolchain
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Doc tests first (nextest does not run them), so the run closes on nextest's summary.
# The integration tests run the `canopy` and `canopy-relay` binaries, which test builds
# do not make. The relay is built on its own: built with `canopy`, cargo would unify
# features and give it the sound devices the container image does not have.
unit-tests: deps-test
	$(CARGO) build -p canopy-relay --bin canopy-relay
	$(CARGO) build -p canopy --bin canopy
	$(CARGO) test --workspace --doc -q
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  $(CARGO) test --workspace --no-fail-fast --lib --bins --tests; \
	fi

test: deps-test fmt-check clippy unit-tests fuzz-short

# Coverage-guided fuzzing of every decoder (frames and messages, ops, invites, URLs,
# datagrams and audio, .canopy files) with AFL++ through cargo-afl, on the stable
# toolchain. The binary is a debug build: overflow checks stay on. Corpora are in
# fuzz/corpus; findings in target/fuzz. Fails if any target crashed.
FUZZ_SECONDS ?= 600
FUZZ_SHORT_SECONDS ?= 10

fuzz-build: toolchain
	@command -v cargo-afl >/dev/null || $(CARGO) install --locked cargo-afl
	$(CARGO) afl build -p canopy-fuzz --features afl --bin canopy-fuzz

fuzz: fuzz-build
	fuzz/run.sh $(FUZZ_SECONDS)

fuzz-short: fuzz-build
	fuzz/run.sh $(FUZZ_SHORT_SECONDS)

bench: deps-test
	$(CARGO) bench -p canopy-axon
	$(CARGO) bench -p canopy-canvas
	$(CARGO) bench -p canopy-protocol
	$(CARGO) bench -p canopy-node
	$(CARGO) bench -p canopy-relay
	$(CARGO) bench -p canopy-audio
	$(CARGO) build --release -p canopy --bin canopy
	@if [ -n "$$DISPLAY" ]; then ./target/release/canopy bench desktop; \
	else xvfb-run -a -s "-screen 0 1280x800x24" ./target/release/canopy bench desktop; fi

# The component map in docs/ARCHITECTURE.md: a headless host with audio and four
# children on 127.0.0.1, drawn from `canopy introspect --dot` (graphviz).
architecture-graph: deps-test
	$(CARGO) build -p canopy --bin canopy
	docs/node-graph.sh target/debug/canopy docs/node-graph.svg
