# packaging.mk - included by the Makefile: install, the release tarball, the
# Debian package and the checks of the packaging.
#
#   make install        PREFIX=/usr/local DESTDIR= BINDIR= MANDIR= SYSCONFDIR= UNITDIR=
#   make dist           demotion-guard-<version>.tar.gz, with a VERSION file
#   make deb            demotion-guard_<debian version>_<arch>.deb (dpkg-buildpackage)
#   make deb-test       make deb, then install it, run it against a throw-away
#                       server, purge it (as root)
#   make docker-check   the Dockerfile's packages exist in Debian and its build works
#   make container-test the Dockerfile built with podman and run beside a real
#                       PostgreSQL 15 (as root; storage and base image cached in
#                       /var/cache/demotion-guard/container)
#   make k8s-check      packaging/kubernetes/ against the Kubernetes schemas of the
#                       npm package kubernetes-models (cached in /var/cache/demotion-guard/npm)
#   make systemd-test   make deb, then boot a debootstrapped bookworm with the
#                       unit enabled under systemd-nspawn (as root; downloads)
#
# make deb also tests make dist: it builds the tarball in an empty directory
# outside the tree and runs make unit there (dh_auto_test).

MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR ?= $(PREFIX)/lib/systemd/system
CONFDIR = $(SYSCONFDIR)/demotion-guard
SD_TYPE = $(if $(filter 1,$(WITH_SYSTEMD)),notify,simple)

DEB_VERSION = $(shell ./packaging/version.sh --debian)-1
DEB_ARCH = $(shell dpkg --print-architecture 2>/dev/null)
DEB_FILE = demotion-guard_$(DEB_VERSION)_$(DEB_ARCH).deb

.PHONY: install dist deb deb-test docker-check container-test k8s-check systemd-test clean-packaging FORCE

# Holds the WITH_SYSTEMD the objects were built with; rewritten only when it
# changes, so that notify.o, the binary and the installed unit always agree.
.with-systemd: FORCE
	@echo "$(WITH_SYSTEMD)" | cmp -s - $@ || echo "$(WITH_SYSTEMD)" > $@

notify.o $(UNIT_TESTS): .with-systemd

# The configuration is not overwritten when it exists (it is the admin's).
install: demotion-guard .with-systemd
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(CONFDIR) \
	    $(DESTDIR)$(UNITDIR)
	install -m 0755 demotion-guard $(DESTDIR)$(BINDIR)/demotion-guard
	install -m 0644 doc/demotion-guard.8 $(DESTDIR)$(MANDIR)/man8/demotion-guard.8
	[ -e $(DESTDIR)$(CONFDIR)/demotion-guard.conf ] || \
	    install -m 0644 packaging/demotion-guard.conf $(DESTDIR)$(CONFDIR)/demotion-guard.conf
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@CONFDIR@|$(CONFDIR)|g' -e 's|@TYPE@|$(SD_TYPE)|g' \
	    packaging/systemd/demotion-guard.service.in > $(DESTDIR)$(UNITDIR)/demotion-guard.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/demotion-guard.service

dist:
	./packaging/dist.sh

deb: dist
	./packaging/make-deb.sh demotion-guard-$(VERSION).tar.gz

deb-test: deb
	./tests/packaging/deb-test.sh $(DEB_FILE)

docker-check:
	./tests/packaging/docker-check.sh

container-test: demotion-guard $(CONSUMER)
	./tests/container/container-test.sh

k8s-check:
	./tests/packaging/k8s-check.sh

systemd-test: deb
	./tests/packaging/systemd-test.sh $(DEB_FILE)

clean: clean-packaging
clean-packaging:
	rm -f .with-systemd .version demotion-guard-*.tar.gz demotion-guard_*.deb
