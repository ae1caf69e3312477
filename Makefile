# smime-acme: one GNU make file for both programs, their tests and docs.
#
#   make            build smime-acme and smime-acme-milter into $(B)/
#   make check      build, then run every test suite (tests/run.sh)
#   make check SAN=1  the same under AddressSanitizer + UBSan (build/san/)
#   make demo       bring up the mail world and certify an address end to end
#   make fuzz FUZZ_SECONDS=60  every libFuzzer harness (tests/fuzz/, clang)
#   make lint lint-man format format-check install clean bench
#
# Sources are found by directory, one static library per layer:
#   common/*.c      libcommon   both programs (no library but GnuTLS, and
#                               that only in digest.c: hash, HMAC, random;
#                               and libpq, only in spool_pg.c)
#   dkim/*.c        libdkimv    the libopendkim wrapper
#   acme/pki/*.c    libpki      keys, CSR, certificates, PKCS#12 (GnuTLS)
#   acme/proto/*.c  libproto    the RFC 8555 client: http, json, jws, acme,
#                               acct, order (uses pki, never app)
#   acme/app/*.c    libapp      the requester: cli, flows, batch, store,
#                               responders (app/main.c is its entry point)
#   milter/*.c      libmilt     the milter (milter/main.c is its entry point;
#                               uses pki for cert_emails, the e-mail SAN
#                               reader of its S/MIME check)
# The link lines below list each layer above the ones it may use, and
# `make lint` refuses an #include that points up (doc/design.md §4).
# tests/unit/test_*.c are cmocka programs linked against all libraries and
# libtest.a (tests/lib/*.c: certificates made at test time), which the
# interop test and the benchmarks link too.

VERSION   = 0.1.0
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
SBINDIR  ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DESTDIR  ?=

CC       ?= cc
PKGS      = gnutls libcurl jansson milter opendkim libseccomp libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
       -Wmissing-prototypes -Wpointer-arith -Wsign-compare -Wvla \
       -Wwrite-strings
ifneq ($(CI),)
WERROR ?= 1
endif
ifeq ($(WERROR),1)
WARN += -Werror
endif

ifeq ($(SAN),1)
B       ?= build/san
OPT      = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
           -fno-omit-frame-pointer
LDSAN    = -fsanitize=address,undefined
else ifeq ($(FUZZ),1)
# libFuzzer builds (make fuzz-build): every library with coverage and the
# sanitizers, harnesses linked with -fsanitize=fuzzer (tests/fuzz/).
CC       = clang
B       ?= build/fuzz
OPT      = -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
           -fno-sanitize-recover=all -fno-omit-frame-pointer
# clang's -Wformat=2 also flags log.c's vsnprintf of its checked format
WARN    += -Wno-format-nonliteral
LDSAN    = -fsanitize=address,undefined
else ifeq ($(SAN),thread)
B       ?= build/tsan
OPT      = -O1 -g -fsanitize=thread
LDSAN    = -fsanitize=thread
else
B       ?= build
OPT      = -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
LDSAN    =
endif

CPPFLAGS += -D_DEFAULT_SOURCE -DVERSION='"$(VERSION)"' -I. $(PKG_CFLAGS)
CFLAGS   += -std=c11 $(OPT) $(WARN) -MMD -MP
LDFLAGS  += $(LDSAN)

ifeq ($(V),1)
Q =
else
Q = @
endif

COMMON_SRC := $(wildcard common/*.c)
DKIM_SRC   := $(wildcard dkim/*.c)
PKI_SRC    := $(wildcard acme/pki/*.c)
PROTO_SRC  := $(wildcard acme/proto/*.c)
APP_SRC    := $(filter-out acme/app/main.c,$(wildcard acme/app/*.c))
MILT_SRC   := $(filter-out milter/main.c,$(wildcard milter/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
TLIB_SRC   := $(wildcard tests/lib/*.c)
TPROG_SRC  := $(wildcard tests/interop/*.c tests/bench/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBCOMMON := $(B)/libcommon.a
LIBDKIM   := $(B)/libdkimv.a
LIBPKI    := $(B)/libpki.a
LIBPROTO  := $(B)/libproto.a
LIBAPP    := $(B)/libapp.a
LIBMILT   := $(B)/libmilt.a
LIBTEST   := $(B)/libtest.a
ALLLIBS   := $(LIBMILT) $(LIBAPP) $(LIBPROTO) $(LIBPKI) $(LIBDKIM) $(LIBCOMMON)

REQUESTER := $(B)/smime-acme
MILTER    := $(B)/smime-acme-milter
UNIT_BIN  := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
TPROG_BIN := $(patsubst %.c,$(B)/%,$(TPROG_SRC))
FUZZ_BIN  := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))

# The dkimv harness links tests/fuzz/build-opendkim.sh's ASan/UBSan
# libopendkim when it has been built, the system library otherwise.
FUZZ_ODKIM   := build/fuzz/opendkim/lib/libopendkim.a
FUZZ_ODKIM_A := $(wildcard $(FUZZ_ODKIM))

.PHONY: all check check-unit tests demo lint lint-man format \
        format-check install uninstall deb clean bench fuzz fuzz-build \
        fuzz-bins fuzz-opendkim
all: $(REQUESTER) $(MILTER)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

define mklib
$(1): $(call obj,$(2))
	@mkdir -p $$(dir $$@)
	$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(eval $(call mklib,$(LIBCOMMON),$(COMMON_SRC)))
$(eval $(call mklib,$(LIBDKIM),$(DKIM_SRC)))
$(eval $(call mklib,$(LIBPKI),$(PKI_SRC)))
$(eval $(call mklib,$(LIBPROTO),$(PROTO_SRC)))
$(eval $(call mklib,$(LIBAPP),$(APP_SRC)))
$(eval $(call mklib,$(LIBMILT),$(MILT_SRC)))
$(eval $(call mklib,$(LIBTEST),$(TLIB_SRC)))

$(REQUESTER): $(call obj,acme/app/main.c) $(LIBAPP) $(LIBPROTO) $(LIBPKI) \
              $(LIBDKIM) $(LIBCOMMON)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(MILTER): $(call obj,milter/main.c) $(LIBMILT) $(LIBPKI) $(LIBDKIM) \
           $(LIBCOMMON)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/tests/%: $(call obj,tests/unit/%.c) $(LIBTEST) $(ALLLIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBTEST) $(ALLLIBS) $(PKG_LIBS) $(CMOCKA_LIBS)

$(B)/tests/interop/%: $(call obj,tests/interop/%.c) $(LIBTEST) $(ALLLIBS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBTEST) $(ALLLIBS) $(PKG_LIBS)

$(B)/tests/bench/%: $(call obj,tests/bench/%.c) $(LIBTEST) $(ALLLIBS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBTEST) $(ALLLIBS) $(PKG_LIBS)

tests: all $(UNIT_BIN) $(TPROG_BIN)

# Fuzzing (tests/fuzz/README.md).  fuzz-build builds every harness into
# build/fuzz/fuzz/; fuzz runs each for FUZZ_SECONDS over a copy of its
# corpus and fails if one crashes; fuzz-opendkim builds the sanitized
# libopendkim once (cached in build/fuzz/opendkim).
FUZZ_SECONDS ?= 60
fuzz-build:
	$(Q)$(MAKE) --no-print-directory FUZZ=1 fuzz-bins

fuzz: fuzz-build
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(HARNESSES)

fuzz-opendkim:
	$(Q)tests/fuzz/build-opendkim.sh

fuzz-bins: $(FUZZ_BIN)
.SECONDARY: $(call obj,$(FUZZ_SRC))

$(B)/fuzz/fuzz_%: $(call obj,tests/fuzz/fuzz_%.c) $(ALLLIBS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(ALLLIBS) $(PKG_LIBS)

$(B)/obj/tests/fuzz/fuzz_dkimv.o: CPPFLAGS += \
    $(if $(FUZZ_ODKIM_A),-DFUZZ_SANITIZED_OPENDKIM='"$(FUZZ_ODKIM)"')
# A stamp per choice, so that switching library rebuilds the harness.
FUZZ_ODKIM_STAMP := $(B)/fuzz/.opendkim-$(if $(FUZZ_ODKIM_A),sanitized,system)
$(FUZZ_ODKIM_STAMP):
	@mkdir -p $(dir $@)
	$(Q)rm -f $(B)/fuzz/.opendkim-* && touch $@
$(B)/obj/tests/fuzz/fuzz_dkimv.o $(B)/fuzz/fuzz_dkimv: $(FUZZ_ODKIM_STAMP) \
    $(FUZZ_ODKIM_A)
$(B)/fuzz/fuzz_dkimv: PKG_LIBS := $(if $(FUZZ_ODKIM_A),$(FUZZ_ODKIM_A) \
    $(filter-out -lopendkim,$(PKG_LIBS)) -lssl -lcrypto -lbsd -lresolv,$(PKG_LIBS))

# Every suite: unit (cmocka), milter (miltertest), interop (Pebble),
# ca and e2e (the mail world).  SUITES="unit milter" runs a subset.
check: tests
	$(Q)B=$(B) SAN=$(SAN) tests/run.sh $(SUITES)

check-unit: tests
	$(Q)B=$(B) SAN=$(SAN) tests/run.sh unit

demo: all
	$(Q)B=$(B) tests/e2e/demo.sh

bench: all $(TPROG_BIN)
	$(Q)B=$(B) tests/bench/run.sh

lint: lint-man
	$(Q)! grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|system|popen)[[:space:]]*\(' \
	    $(SRC_DIRS:=/*.[ch]) \
	    || { echo "lint: banned function (doc/style.md)"; exit 1; }
	$(Q)! grep -nE '#include "acme/app/' acme/proto/*.[ch] acme/pki/*.[ch] \
	    || { echo "lint: the protocol and PKI layers never include app/"; exit 1; }
	$(Q)! grep -nE '#include "acme/proto/' acme/pki/*.[ch] \
	    || { echo "lint: the PKI layer never includes proto/"; exit 1; }
	$(Q)! grep -nE '#include "(acme|milter)/' common/*.[ch] dkim/*.[ch] \
	    || { echo "lint: common/ and dkim/ include neither program"; exit 1; }
	$(Q)python3 tests/lint/style.py $(FMT_SRC) \
	    || { echo "lint: doc/style.md (braces, failure tests, citations)"; exit 1; }
	$(Q)! grep -lE '#include <gnutls/' $(SRC_DIRS:=/*.[ch]) \
	    | grep -vE '^(acme/pki/.*|milter/smime\.c|common/digest\.c)$$' \
	    || { echo "lint: GnuTLS only in acme/pki/, milter/smime.c and common/digest.c"; exit 1; }

lint-man:
	$(Q)for m in acme/*.1 milter/*.8 conf/*.5 doc/*.7; do \
	    [ -f "$$m" ] || continue; \
	    mandoc -Tlint -W warning "$$m" || exit 1; \
	done

SRC_DIRS = common dkim acme/pki acme/proto acme/app milter
FMT_SRC = $(wildcard $(SRC_DIRS:=/*.[ch]) \
          tests/unit/*.[ch] tests/lib/*.[ch] tests/interop/*.[ch] \
          tests/fuzz/*.[ch])
format:
	$(Q)clang-format -i $(FMT_SRC)

format-check:
	$(Q)clang-format --dry-run --Werror $(FMT_SRC)

# Installed files (smime-acme-deploy(7) lists owners and modes; the users,
# groups and directories come from the sysusers.d and tmpfiles.d files,
# applied by `systemd-sysusers` and `systemd-tmpfiles --create`, or by the
# Debian package's maintainer scripts).
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DOCDIR      ?= $(PREFIX)/share/doc/smime-acme
UNITS_IN    := $(wildcard contrib/systemd/*.in)
UNITS_GEN   := $(patsubst contrib/systemd/%.in,$(B)/systemd/%,$(UNITS_IN))
MAN_PAGES   := $(wildcard acme/*.1 conf/*.5 doc/*.7 milter/*.8)
INSTALLED    = $(BINDIR)/smime-acme $(SBINDIR)/smime-acme-milter \
               $(foreach m,$(MAN_PAGES),$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
               $(foreach u,$(UNITS_GEN) contrib/systemd/smime-acme-renew.timer,$(UNITDIR)/$(notdir $(u))) \
               $(SYSUSERSDIR)/smime-acme.conf $(TMPFILESDIR)/smime-acme.conf \
               $(SYSCONFDIR)/smime-acme.conf.sample \
               $(DOCDIR)/smime-acme.mc $(DOCDIR)/main.cf.snippet

$(B)/systemd/%: contrib/systemd/%.in Makefile
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
	    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< >$@

# The configuration file itself is installed only where none exists yet
# (an administrator's file is never overwritten); the sample always is.
install: all $(UNITS_GEN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(DOCDIR)
	install -m 755 $(REQUESTER) $(DESTDIR)$(BINDIR)/smime-acme
	install -m 755 $(MILTER) $(DESTDIR)$(SBINDIR)/smime-acme-milter
	for m in $(MAN_PAGES); do \
	    s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; \
	done
	install -m 644 $(UNITS_GEN) contrib/systemd/smime-acme-renew.timer \
	    $(DESTDIR)$(UNITDIR)/
	install -m 644 contrib/systemd/smime-acme.sysusers \
	    $(DESTDIR)$(SYSUSERSDIR)/smime-acme.conf
	install -m 644 contrib/systemd/smime-acme.tmpfiles \
	    $(DESTDIR)$(TMPFILESDIR)/smime-acme.conf
	install -m 644 conf/smime-acme.conf.sample \
	    $(DESTDIR)$(SYSCONFDIR)/smime-acme.conf.sample
	[ -e $(DESTDIR)$(SYSCONFDIR)/smime-acme.conf ] || install -m 644 \
	    conf/smime-acme.conf.sample $(DESTDIR)$(SYSCONFDIR)/smime-acme.conf
	install -m 644 contrib/sendmail/smime-acme.mc \
	    contrib/postfix/main.cf.snippet $(DESTDIR)$(DOCDIR)/

# Removes what install put there, except the configuration file an
# administrator may have edited, and never the spool or any key.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null

# A Debian binary package from this tree (contrib/debian/), built with
# dpkg-buildpackage in $(B)/deb and checked with lintian.
deb:
	$(Q)B=$(B) contrib/debian/build.sh

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
