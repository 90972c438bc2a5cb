# The two commands of the README:
#   make demo   - install what is missing, build, run the main job
#   make test   - install what is missing, build, run the C and Python tests
#
# Everything is installed by these targets: Debian/Ubuntu packages through apt
# (as root, or with sudo), a virtual environment in .venv, and an editable
# build of pydpdk in build/.  DPDK=disabled builds without DPDK.

PYTHON      ?= python3
DPDK        ?= auto
VENV        ?= .venv
BUILD_DIR   ?= build/dpdk-$(DPDK)
# dpdk brings dpdk-testpmd, dpdk-telemetry.py, dpdk-dumpcap and dpdk-pdump
# (tests and benches); tshark brings editcap and mergecap.
APT_PACKAGES = build-essential pkg-config python3-dev python3-venv \
               dpdk dpdk-dev libdpdk-dev libpcap-dev libisal-dev \
               tcpdump iproute2 nftables ethtool iperf3 tshark \
               libssl-dev libipsec-mb-dev
PY_BUILD_DEPS = "meson-python>=0.18" "meson>=1.1" "Cython>=3.0" ninja "numpy>=1.23"
PY_TEST_DEPS  = "pytest>=7" "hypothesis>=6" matplotlib "mypy>=1.18" cryptography
ifeq ($(DPDK),disabled)
APT_PACKAGES := $(filter-out dpdk dpdk-dev libdpdk-dev,$(APT_PACKAGES))
endif

VPY   = $(VENV)/bin/python
# (-t: the build has the C tests, -Dtests=true)
STAMP = $(VENV)/.pydpdk-$(DPDK)-t.stamp

.PHONY: all demo test test-this-build deps venv build lint docs bench fuzz fuzz-secure asan clean

all: build

demo: build
	$(VENV)/bin/pydpdk demo

# With DPDK built in, the same suite then runs again on a build without DPDK
# (its own venv and build dir), so both configurations stay tested.
test: test-this-build
	@if [ "$(DPDK)" = auto ] && $(VPY) -c "import sys, pydpdk; \
	    sys.exit(not pydpdk.BUILD_INFO['dpdk'])"; then \
	  echo "== the same tests on a build without DPDK (-Ddpdk=disabled) =="; \
	  $(MAKE) --no-print-directory test-this-build DPDK=disabled VENV=$(VENV)-nodpdk; \
	fi

test-this-build: build
	$(VENV)/bin/meson test -C $(BUILD_DIR) --print-errorlogs
	$(VPY) -m pytest

# Install the system packages that are missing (nothing when all are there).
# Optional ones that apt does not offer (DPDK, ISA-L on some releases) are
# skipped with a note: the build then goes without them (-Ddpdk=auto finds
# no DPDK and pydpdk uses its native AF_PACKET/pcap backends).
OPTIONAL_PACKAGES = dpdk dpdk-dev libdpdk-dev libisal-dev libipsec-mb-dev
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null; then \
	    echo "no apt-get here: install the equivalents of$$missing yourself"; exit 0; \
	  fi; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq || exit 1; \
	  wanted=""; for p in $$missing; do \
	    case " $(OPTIONAL_PACKAGES) " in \
	      *" $$p "*) if ! apt-cache show $$p >/dev/null 2>&1; then \
	          echo "note: apt offers no $$p; building without it"; continue; fi;; \
	    esac; \
	    wanted="$$wanted $$p"; \
	  done; \
	  if [ -n "$$wanted" ]; then \
	    echo "installing system packages:$$wanted"; \
	    printf '%s\n' "wireshark-common wireshark-common/install-setuid boolean false" \
	      "iperf3 iperf3/start_daemon boolean false" | \
	      $$SUDO debconf-set-selections 2>/dev/null || true; \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$wanted; \
	  fi; \
	fi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip

venv: deps $(VENV)/bin/python
	@$(VPY) -c "import mesonpy, Cython, numpy, pytest, hypothesis, matplotlib, mypy, cryptography" 2>/dev/null || \
	  $(VPY) -m pip install -q $(PY_BUILD_DEPS) $(PY_TEST_DEPS)

# Editable install: later imports rebuild what changed.  The stamp remembers
# which configuration the venv's pydpdk points at.
build: venv
	@if [ ! -f $(STAMP) ] || [ ! -d $(BUILD_DIR) ]; then \
	  rm -f $(VENV)/.pydpdk-*.stamp; \
	  if [ -d $(BUILD_DIR) ]; then $(VENV)/bin/meson setup --reconfigure $(BUILD_DIR) >/dev/null; fi; \
	  $(VPY) -m pip install -q --no-build-isolation --no-deps --editable . \
	    -Cbuild-dir=$(BUILD_DIR) -Csetup-args=-Ddpdk=$(DPDK) -Csetup-args=-Dtests=true \
	    && touch $(STAMP); \
	else \
	  $(VENV)/bin/meson compile -C $(BUILD_DIR) >/dev/null; \
	fi

lint: venv
	@$(VPY) -c "import ruff, cython_lint, mypy" 2>/dev/null || \
	  $(VPY) -m pip install -q ruff cython-lint "mypy>=1.18"
	$(VENV)/bin/ruff check pydpdk tests bench examples docs
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/cython-lint pydpdk
	$(VENV)/bin/mypy pydpdk examples
	$(VENV)/bin/mypy --strict examples
	$(VPY) -m mypy.stubtest --ignore-disjoint-bases --allowlist stubtest-allowlist.txt \
	  $$($(VPY) -c "import pydpdk; pydpdk.BUILD_INFO['dpdk'] or print( \
	    '--allowlist stubtest-allowlist-nodpdk.txt --ignore-unused-allowlist')") pydpdk

# The API reference from the docstrings (Sphinx autodoc + numpydoc, MyST for
# the Markdown pages), warnings as errors: build/docs/html/index.html.
PY_DOC_DEPS = "sphinx>=7" "numpydoc>=1.6" "myst-parser>=2"
docs: build
	@$(VPY) -c "import sphinx, numpydoc, myst_parser" 2>/dev/null || $(VPY) -m pip install -q $(PY_DOC_DEPS)
	$(VPY) -m sphinx -W --keep-going -n -q -b html docs build/docs/html

bench: build
	$(VPY) bench/forward.py

# Long deterministic fuzz run of the FEC wire decoder (ASan/UBSan build);
# FUZZ_ITERATIONS counts packets (10^7 take ~20 s); fails if a path is never reached.
FUZZ_ITERATIONS ?= 10000000
FUZZ_SEED       ?= 1
fuzz: build
	$(BUILD_DIR)/native/fec/fuzz_fec_decoder $(FUZZ_ITERATIONS) $(FUZZ_SEED) --check-paths

# Fuzz the secure envelope's open path (ASan/UBSan build): a short run, then
# a long one of FUZZ_SECURE_PACKETS packets (>= 10^7).
FUZZ_SECURE_PACKETS ?= 10000000
fuzz-secure: build
	$(BUILD_DIR)/native/secure/fuzz_secure_open 200000 $(FUZZ_SEED)
	$(BUILD_DIR)/native/secure/fuzz_secure_open $(FUZZ_SECURE_PACKETS) $(FUZZ_SEED)

# The lifecycle tests and a representative part of the suite with the
# extensions built under AddressSanitizer (own venv and build dir, libasan
# preloaded into CPython, leak checks off: CPython keeps memory at exit).
# native/buf poisons freed buffers; the planted use-after-free must be caught.
# Built with -Dhandle_debug=true: a test module that leaves a pool, port,
# codec or pipeline alive fails, naming where it was created.
# Suites that run external tools (tshark, editcap, tcpdump) are left out: they
# would inherit LD_PRELOAD and hang at exit.
ASAN_VENV  ?= $(VENV)-asan
ASAN_BUILD ?= build/asan-$(DPDK)
ASAN_TESTS ?= tests/test_lifecycle.py tests/test_lifecycle_stateful.py tests/test_burst.py \
              tests/test_burst_properties.py tests/test_pipeline.py tests/test_fec.py \
              tests/test_port_contract.py tests/test_pipeline_dpdk.py
ASAN_TIMEOUT ?= 1200
asan: deps
	@test -x $(ASAN_VENV)/bin/python || $(PYTHON) -m venv $(ASAN_VENV)
	@$(ASAN_VENV)/bin/python -c "import mesonpy, Cython, numpy, pytest, hypothesis" 2>/dev/null || \
	  $(ASAN_VENV)/bin/python -m pip install -q $(PY_BUILD_DEPS) "pytest>=7" "hypothesis>=6"
	@test -d $(ASAN_BUILD) || $(ASAN_VENV)/bin/python -m pip install -q --no-build-isolation \
	  --no-deps --editable . -Cbuild-dir=$(ASAN_BUILD) -Csetup-args=-Ddpdk=$(DPDK) \
	  -Csetup-args=-Db_sanitize=address -Csetup-args=-Db_lundef=false \
	  -Csetup-args=-Dhandle_debug=true
	$(ASAN_VENV)/bin/meson compile -C $(ASAN_BUILD) >/dev/null
	PYDPDK_ASAN=1 LD_PRELOAD=$$(gcc -print-file-name=libasan.so) \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 \
	  timeout $(ASAN_TIMEOUT) $(ASAN_VENV)/bin/python -m pytest -q -p no:cacheprovider $(ASAN_TESTS)

clean:
	rm -rf build $(VENV) $(VENV)-nodpdk $(VENV)-asan
