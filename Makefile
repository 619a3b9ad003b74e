# libdaemon3143 — build, test, install (GNU conventions).
#
#   make                 build the shared and static library (cargo build --release)
#   make check           run every test suite, then print one summary line
#                        (DEBIAN=1: also build, install and purge the .debs)
#   make install         install into $(DESTDIR)$(PREFIX) (does not rebuild)
#   make uninstall       remove exactly what install installed
#   make header          regenerate include/daemon3143.h with cbindgen
#   make run             run the C example
#   make bench           benchmarks, written to docs/benchmarks.md
#   make clean

.SUFFIXES:

CARGO   ?= cargo
INSTALL ?= install
OBJCOPY ?= objcopy
SED     ?= sed
LN_S    ?= ln -sf

PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR     ?= $(LIBDIR)/cmake/daemon3143
MANDIR       ?= $(PREFIX)/share/man
BINDIR       ?= $(PREFIX)/bin
DESTDIR      ?=

# The crate version (first `version = "..."` line of Cargo.toml, [package]).
VERSION := $(shell $(SED) -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
# The ABI number of the SONAME: ABI_VERSION in build.rs.
ABI     := $(shell $(SED) -n 's/^const ABI_VERSION: *u32 *= *\([0-9]*\);.*/\1/p' build.rs)
NAME    := libdaemon3143

RELEASE := target/release
SO      := $(RELEASE)/$(NAME).so
STATIC  := $(RELEASE)/$(NAME).a
TOOL    := $(RELEASE)/daemon3143
HEADER  := include/daemon3143.h
HPP     := bindings/cpp/daemon3143.hpp
PCIN    := pkgconfig/daemon3143.pc.in
MANPAGES := $(wildcard man/*.[1-8])

.PHONY: all build header check install uninstall run clean

all: build

build:
	$(CARGO) build --release

# Built only when missing: `make && make install` must not run cargo again
# (as root, in a packaging step) once the artifacts exist. (A pattern rule
# with two targets: one cargo run makes both.)
$(RELEASE)/lib%.so $(RELEASE)/lib%.a:
	$(CARGO) build --release

$(TOOL):
	$(CARGO) build --release

header:
	D3143_BLESS=1 $(CARGO) test --test header

# The one test command of the project: tests/check.sh runs every suite (each
# one even when an earlier one failed) and ends with one summary line.
# Tools it needs: cc, c++, pkg-config, readelf/nm, valgrind (optional), flock(1),
# go, python3 (+ venv/pip), cmake, meson/ninja, groff/man-db; a missing
# optional tool is a SKIP line, not a failure (.ci/run installs them all with
# apt-get). `make check` installs nothing into the system: the Debian package
# test (which installs and purges the built .debs, as root) runs only with
# `make check DEBIAN=1`.
DEBIAN ?=
check: build
	@DEBIAN="$(DEBIAN)" MAKE="$(MAKE)" sh tests/check.sh

install: $(SO) $(STATIC) $(TOOL) $(HEADER) $(HPP) $(PCIN) cmake/gen-config.sh
	$(INSTALL) -d '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(INCLUDEDIR)' '$(DESTDIR)$(PKGCONFIGDIR)' '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(CMAKEDIR)'
	$(INSTALL) -m 0755 $(TOOL) '$(DESTDIR)$(BINDIR)/daemon3143'
	$(INSTALL) -m 0755 $(SO) '$(DESTDIR)$(LIBDIR)/$(NAME).so.$(VERSION)'
	$(LN_S) $(NAME).so.$(VERSION) '$(DESTDIR)$(LIBDIR)/$(NAME).so.$(ABI)'
	$(LN_S) $(NAME).so.$(ABI) '$(DESTDIR)$(LIBDIR)/$(NAME).so'
	# The LLVM bitcode rustc embeds in every object (.llvmbc, .llvmcmd) is
	# dropped: nm then lists the d3143_ symbols even where binutils has an
	# LLVM plugin, and the archive shrinks by about 40%.
	$(OBJCOPY) --remove-section=.llvmbc --remove-section=.llvmcmd $(STATIC) '$(DESTDIR)$(LIBDIR)/$(NAME).a'
	chmod 0644 '$(DESTDIR)$(LIBDIR)/$(NAME).a'
	$(INSTALL) -m 0644 $(HEADER) '$(DESTDIR)$(INCLUDEDIR)/daemon3143.h'
	$(INSTALL) -m 0644 $(HPP) '$(DESTDIR)$(INCLUDEDIR)/daemon3143.hpp'
	$(SED) -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
		$(PCIN) > '$(DESTDIR)$(PKGCONFIGDIR)/daemon3143.pc.tmp'
	chmod 0644 '$(DESTDIR)$(PKGCONFIGDIR)/daemon3143.pc.tmp'
	mv -f '$(DESTDIR)$(PKGCONFIGDIR)/daemon3143.pc.tmp' '$(DESTDIR)$(PKGCONFIGDIR)/daemon3143.pc'
	sh cmake/gen-config.sh '$(DESTDIR)$(CMAKEDIR)' '$(PREFIX)' '$(LIBDIR)' '$(INCLUDEDIR)' '$(CMAKEDIR)' '$(VERSION)' '$(ABI)'
	chmod 0644 '$(DESTDIR)$(CMAKEDIR)/daemon3143Config.cmake' '$(DESTDIR)$(CMAKEDIR)/daemon3143ConfigVersion.cmake'
	@for m in $(MANPAGES); do \
		s=$${m##*.}; \
		echo "$(INSTALL) -m 0644 $$m '$(DESTDIR)$(MANDIR)/man$$s/'"; \
		$(INSTALL) -d '$(DESTDIR)$(MANDIR)/man'$$s && \
		$(INSTALL) -m 0644 $$m '$(DESTDIR)$(MANDIR)/man'$$s/ || exit 1; \
	done

uninstall:
	rm -f '$(DESTDIR)$(LIBDIR)/$(NAME).so.$(VERSION)' \
		'$(DESTDIR)$(LIBDIR)/$(NAME).so.$(ABI)' \
		'$(DESTDIR)$(LIBDIR)/$(NAME).so' \
		'$(DESTDIR)$(LIBDIR)/$(NAME).a' \
		'$(DESTDIR)$(INCLUDEDIR)/daemon3143.h' \
		'$(DESTDIR)$(INCLUDEDIR)/daemon3143.hpp' \
		'$(DESTDIR)$(PKGCONFIGDIR)/daemon3143.pc' \
		'$(DESTDIR)$(CMAKEDIR)/daemon3143Config.cmake' \
		'$(DESTDIR)$(CMAKEDIR)/daemon3143ConfigVersion.cmake' \
		'$(DESTDIR)$(BINDIR)/daemon3143'
	@for m in $(MANPAGES); do \
		s=$${m##*.}; b=$${m##*/}; \
		echo "rm -f '$(DESTDIR)$(MANDIR)/man$$s/$$b'"; \
		rm -f '$(DESTDIR)$(MANDIR)/man'$$s/$$b; \
	done

run:
	sh examples-c/run-example.sh

# Benchmarks against other daemonizers (not part of check): writes
# docs/benchmarks.md and docs/benchmarks-latency.png.
.PHONY: bench
bench:
	sh bench/run.sh

clean:
	$(CARGO) clean
	@if [ -f examples-c/Makefile ]; then $(MAKE) -C examples-c clean; fi
