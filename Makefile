# Thin wrapper over meson/ninja. `make run` and `make check` are the two
# commands the README promises work on a fresh Debian 12 machine (as root).
BUILDDIR ?= build
ASAN_BUILDDIR ?= build-asan
PREFIX ?= /usr/local
CNI_CONF_DIR ?= /etc/cni/net.d
OCID_FLAGS ?=

.PHONY: all build deps test-deps run check check-asan unit integration asan cni-default install clean bench bench-pod bench-ctr

all: build

deps:
	scripts/install-deps.sh run

test-deps:
	scripts/install-deps.sh test

$(BUILDDIR)/build.ninja:
	meson setup $(BUILDDIR)

build: $(BUILDDIR)/build.ninja
	ninja -C $(BUILDDIR)

$(ASAN_BUILDDIR)/build.ninja:
	meson setup $(ASAN_BUILDDIR) -Db_sanitize=address,undefined -Db_lundef=false

asan: $(ASAN_BUILDDIR)/build.ninja
	ninja -C $(ASAN_BUILDDIR)

# Installs a default CNI network only when none is configured.
cni-default:
	@if ! ls $(CNI_CONF_DIR)/*.conf $(CNI_CONF_DIR)/*.conflist $(CNI_CONF_DIR)/*.json >/dev/null 2>&1; then \
		mkdir -p $(CNI_CONF_DIR) && \
		install -m 0644 contrib/cni/10-ocid-bridge.conflist $(CNI_CONF_DIR)/ && \
		echo "installed $(CNI_CONF_DIR)/10-ocid-bridge.conflist"; \
	fi

run: deps build cni-default
	exec $(BUILDDIR)/src/daemon/ocid $(OCID_FLAGS)

unit: build
	meson test -C $(BUILDDIR) --print-errorlogs

integration: build
	OCID_BUILDDIR=$(abspath $(BUILDDIR)) bats --timing tests/integration

# Same suites against the ASan+UBSan build.
check-asan: asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(ASAN_BUILDDIR) --print-errorlogs
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		OCID_BUILDDIR=$(abspath $(ASAN_BUILDDIR)) OCID_SANITIZED=1 bats --timing tests/integration

check: test-deps
	$(MAKE) build asan
	BUILDDIR=$(BUILDDIR) ASAN_BUILDDIR=$(ASAN_BUILDDIR) scripts/check.sh

bench: build
	$(BUILDDIR)/bench/bench-version --ocid $(BUILDDIR)/src/daemon/ocid

# Pod sandbox lifecycle latency and RSS (root; real CNI plugins).
bench-pod: build
	$(BUILDDIR)/bench/bench-pod --ocid $(BUILDDIR)/src/daemon/ocid

# Container lifecycle against conmon + runc alone (root; docs/benchmarks.md).
bench-ctr: build
	bench/bench-ctr.sh -b $(BUILDDIR)

install: build
	meson install -C $(BUILDDIR) --destdir "$(DESTDIR)"

clean:
	rm -rf $(BUILDDIR) $(ASAN_BUILDDIR)
