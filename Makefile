# demotion-guard
#
#   make            build ./demotion-guard (and the test client)
#   make check      unit tests, then integration tests against real PostgreSQL 15
#   make check-matrix  the core integration tests on PostgreSQL 10 to 18 (PG_VERSIONS)
#   make check-repeat  the same N times (N=5), idle and under CPU load (LOAD=both|no|yes),
#                   after one make demo (DEMO=yes|no): finds the tests that flake
#   make demo       the problem and the guard, end to end, on a throw-away server
#   make soak       CYCLES (200) fast stops of a primary with a standby under the
#                   guard, with faults injected at random; a table, exit 1 on a
#                   wrong kill, moved slot, lost audit line, missed deadline or
#                   hanging stop (as root; tests/soak/soak.pl, SOAK.md)
#   make demo-test  make demo, whole and interrupted, leaves nothing running
#   make deps       install the Debian packages all of this needs (as root)
#   make check-patroni4   the Patroni 4.0.7 / PostgreSQL 17 tests in a cached
#                   Debian trixie root (as root; tests/patroni4/run.sh)
#   make layout     each file's lines and includes; fails if libpq, libmicrohttpd or libcurl gain
#                   a second user, a policy*.c file does I/O, a function runs past 60 lines
#                   or a .c file past 650 (over 600, the goal, is reported)
#   make coverage   line coverage per file of the unit and TAP tests together (lcov)
#   make fuzz       every libFuzzer target under ASan/UBSan, FUZZ_SECONDS each
#                   (default 60), after replaying its seeds and crashers (FUZZING.md)
#   make valgrind   one full cycle under valgrind memcheck (tests/tap/041_valgrind.pl)
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DESTDIR ?=
CC ?= cc
# The majors of make check-matrix (tests/matrix/versions.sh has their builds).
PG_VERSIONS ?= 10 11 12 13 14 15 16 17 18

# A release tarball's VERSION file first (make dist writes it), else git.
VERSION := $(shell cat VERSION 2>/dev/null || git describe --tags --always --dirty 2>/dev/null || echo unknown)

# Display fields (slot names, titles) are cut to fit on purpose, so gcc's
# guess that an snprintf "may be truncated" is not an error here; paths are
# checked for truncation where they are built.
WARN = -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wvla \
       -Wno-format-truncation
ifeq ($(CI),true)
WARN += -Werror
endif
# WITH_SYSTEMD=1 (the default when pkg-config finds libsystemd): sd_notify, and a
# unit with Type=notify; WITH_SYSTEMD=0: neither (Type=simple).
WITH_SYSTEMD ?= $(shell pkg-config --exists libsystemd 2>/dev/null && echo 1 || echo 0)
PKGS = libpq jansson libmicrohttpd gnutls libcurl $(if $(filter 1,$(WITH_SYSTEMD)),libsystemd)
# Deferred (=, not :=): on a fresh machine "make deps" installs pkg-config
# and the -dev packages before the first compile needs their flags.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(PKG_CFLAGS) -DDG_VERSION='"$(VERSION)"' \
             $(if $(filter 1,$(WITH_SYSTEMD)),-DDG_WITH_SYSTEMD) $(CPPFLAGS) $(CFLAGS)

MODULES = config config_source log clock audit walsender pgsql proc pidfile policy policy_risk render api listen tls conns handover http \
          token transport client_render client check watch hook version notify session observe settings \
          terminate command
OBJS = $(MODULES:%=%.o) guard.o main.o
# The unit tests: one a module.  Each module is compiled once into
# UNIT_OBJ/libdg.a and every test links against it, taking the modules it
# uses; make unit-asan builds into tests/unit/asan, apart.
UNIT_OBJ ?= tests/unit/obj
UNIT_BIN ?= tests/unit
UNIT_LIB = $(UNIT_OBJ)/libdg.a
UNIT_TESTS = $(MODULES:%=$(UNIT_BIN)/test_%)
CONSUMER = tests/tools/logical-consumer

.PHONY: fuzz fuzz-build valgrind soak timeline-check demo-test check-patroni4 docs-check rules-check all check check-matrix check-repeat unit unit-asan tap demo deps install clean format format-check bench bench-http bench-majors bench-slow coverage layout

all: demotion-guard $(CONSUMER)

demotion-guard: $(OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $(OBJS) $(PKG_LIBS) -lpthread $(LDFLAGS)

%.o: %.c $(wildcard *.h)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(CONSUMER): tests/tools/logical_consumer.c
	$(CC) $(ALL_CFLAGS) -o $@ $< $(PKG_LIBS) $(LDFLAGS)

$(UNIT_OBJ)/%.o: %.c $(wildcard *.h)
	@mkdir -p $(UNIT_OBJ)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(UNIT_OBJ)/notify.o: .with-systemd

# Holds the VERSION the objects were built with; rewritten only when it
# changes (a new commit), so that version.o and test_version never disagree.
.version: FORCE
	@echo "$(VERSION)" | cmp -s - $@ || echo "$(VERSION)" > $@

version.o $(UNIT_OBJ)/version.o $(UNIT_BIN)/test_version: .version

$(UNIT_LIB): $(MODULES:%=$(UNIT_OBJ)/%.o)
	rm -f $@
	$(AR) rcs $@ $^

$(UNIT_BIN)/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) $(UNIT_LIB)
	@mkdir -p $(UNIT_BIN)
	$(CC) $(ALL_CFLAGS) -I. -o $@ $< $(UNIT_LIB) $(PKG_LIBS) -lcmocka -lpthread $(LDFLAGS)

unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do ./$$t || exit 1; done

# The same unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
unit-asan:
	$(MAKE) unit UNIT_OBJ=tests/unit/asan/obj UNIT_BIN=tests/unit/asan \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"

tap: all
	./tests/run-tap

check: deps all unit docs-check timeline-check k8s-check layout tap demo-test

layout:
	./tests/layout.sh

# The core TAP files on every major of PG_VERSIONS, with upstream builds
# downloaded once into a cache outside the clone (DG_PG_CACHE).
check-matrix: all
	PG_VERSIONS="$(PG_VERSIONS)" ./tests/matrix/check-matrix

# tests/check-repeat.sh: every check of "make check", N times in a row.
N ?= 5
LOAD ?= both
DEMO ?= yes
check-repeat: deps all
	N=$(N) LOAD=$(LOAD) DEMO=$(DEMO) ./tests/check-repeat.sh

# demo/timeline (the README's timeline of the demo) on a fixed audit log.
timeline-check:
	./tests/check-timeline.sh

docs-check: demotion-guard rules-check
	./tests/check-docs.sh
	./tests/check-yaml.sh

# The Prometheus alerting rules: valid, and each alert fires and does not fire
# on test series (promtool is in the "prometheus" package, see tests/deps.sh).
rules-check:
	promtool check rules packaging/prometheus/demotion-guard.rules.yml
	cd packaging/prometheus && promtool test rules demotion-guard.rules.test.yml

demo: deps all
	./demo/demo.sh

CYCLES ?= 200
soak: all
	CYCLES=$(CYCLES) ./tests/soak/soak.pl

demo-test: all
	./tests/demo-test.sh

deps:
	@./tests/deps.sh

# tests/coverage.sh: a --coverage build in a scratch copy, unit + TAP tests, lcov.
coverage: deps
	./tests/coverage.sh

check-patroni4:
	./tests/patroni4/run.sh

bench: all
	./bench/bench.sh

# One stale client's stop on every PostgreSQL major against its own baseline
# (PG_VERSIONS, RUNS; upstream builds as for check-matrix).
bench-majors: all
	./bench/bench-majors.sh

# The HTTP API under wrk beside prometheus-postgres-exporter (apt-get install
# wrk prometheus-postgres-exporter).
bench-http: all
	./bench/bench-http.sh

# /health and the before-stop hook under a slow-client attack, HTTP and mTLS
# (OLD=path/to/another/demotion-guard adds its rows).
bench-slow: all
	./bench/bench-slow.sh $(OLD)

# libFuzzer targets (fuzz/*.c, FUZZING.md) with Debian's clang: the modules
# built once with coverage and sanitizers into fuzz/build, one binary a target.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = duration config_file config_args client_args pidfile proc_stat proc_title lsn \
               http_arm http_disarm http_kill http_callback http_auth hook_cluster token listen \
               url dsn
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_WARN = $(filter-out -Wformat=2 -Wno-format-truncation,$(WARN))
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE $(FUZZ_WARN) $(PKG_CFLAGS) -DDG_VERSION='"$(VERSION)"' -g -O1 $(FUZZ_SAN)
FUZZ_OBJS = $(MODULES:%=fuzz/build/obj/%.o)
FUZZ_BINS = $(FUZZ_TARGETS:%=fuzz/build/%)
.SECONDARY: $(FUZZ_OBJS)

fuzz/build/obj/%.o: %.c $(wildcard *.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

fuzz/build/%: fuzz/%.c fuzz/fuzz.h fuzz/http_body.h $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -I. -o $@ $< $(FUZZ_OBJS) $(PKG_LIBS) -lpthread

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./fuzz/run.sh $(FUZZ_TARGETS)

# One full cycle of the guard under valgrind memcheck against a real
# PostgreSQL 15 (0 errors, 0 bytes definitely or indirectly lost).
valgrind: all
	./tests/run-tap tests/tap/041_valgrind.pl

format:
	clang-format -i *.c *.h tests/unit/*.c tests/tools/*.c fuzz/*.c fuzz/*.h

format-check:
	clang-format --dry-run --Werror *.c *.h tests/unit/*.c tests/tools/*.c fuzz/*.c fuzz/*.h

clean:
	rm -f demotion-guard *.o $(CONSUMER) $(UNIT_TESTS)
	rm -rf tmp_check tests/tap/tmp_check fuzz/build tests/unit/obj tests/unit/asan

# install, dist, deb, deb-test, docker-check
include packaging/packaging.mk
