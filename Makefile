# smime-acme: one GNU make file for both programs, their tests and docs.
#
#   make            build smime-acme and smime-acme-milter into $(B)/
#   make check      build, then run every test suite (tests/run.sh)
#   make check SAN=1  the same under AddressSanitizer + UBSan (build/san/)
#   make demo       bring up the mail world and certify an address end to end
#   make lint lint-man format format-check install clean bench
#
# Sources are found by directory, one static library per layer:
#   common/*.c      libcommon   both programs (no library but GnuTLS, and
#                               that only in digest.c: hash, HMAC, random)
#   dkim/*.c        libdkimv    the libopendkim wrapper
#   acme/pki/*.c    libpki      keys, CSR, certificates, PKCS#12 (GnuTLS)
#   acme/proto/*.c  libproto    the RFC 8555 client: http, json, jws, acme,
#                               acct, order (uses pki, never app)
#   acme/app/*.c    libapp      the requester: cli, flows, batch, store,
#                               responders (app/main.c is its entry point)
#   milter/*.c      libmilt     the milter (milter/main.c is its entry point)
# The link lines below list each layer above the ones it may use, and
# `make lint` refuses an #include that points up (doc/layout.md).
# tests/unit/test_*.c are cmocka programs linked against all libraries.

VERSION   = 0.1.0
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
SBINDIR  ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DESTDIR  ?=

CC       ?= cc
PKGS      = gnutls libcurl jansson milter opendkim
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

.PHONY: all check check-unit tests demo lint lint-man format \
        format-check install clean bench
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

$(MILTER): $(call obj,milter/main.c) $(LIBMILT) $(LIBDKIM) $(LIBCOMMON)
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
	$(Q)! grep -lE '#include <gnutls/' $(SRC_DIRS:=/*.[ch]) \
	    | grep -vE '^(acme/pki/.*|milter/smime\.c|common/digest\.c)$$' \
	    || { echo "lint: GnuTLS only in acme/pki/, milter/smime.c and common/digest.c"; exit 1; }

lint-man:
	$(Q)for m in acme/*.1 milter/*.8 conf/*.5; do \
	    [ -f "$$m" ] || continue; \
	    mandoc -Tlint -W warning "$$m" || exit 1; \
	done

SRC_DIRS = common dkim acme/pki acme/proto acme/app milter
FMT_SRC = $(wildcard $(SRC_DIRS:=/*.[ch]) \
          tests/unit/*.[ch] tests/lib/*.[ch] tests/interop/*.[ch])
format:
	$(Q)clang-format -i $(FMT_SRC)

format-check:
	$(Q)clang-format --dry-run --Werror $(FMT_SRC)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)
	install -m 755 $(REQUESTER) $(DESTDIR)$(BINDIR)/smime-acme
	install -m 755 $(MILTER) $(DESTDIR)$(SBINDIR)/smime-acme-milter
	for m in acme/*.1; do [ -f $$m ] && install -m 644 $$m $(DESTDIR)$(MANDIR)/man1/; done; true
	for m in conf/*.5; do [ -f $$m ] && install -m 644 $$m $(DESTDIR)$(MANDIR)/man5/; done; true
	for m in milter/*.8; do [ -f $$m ] && install -m 644 $$m $(DESTDIR)$(MANDIR)/man8/; done; true
	[ -f conf/smime-acme.conf.sample ] && install -m 644 \
	    conf/smime-acme.conf.sample $(DESTDIR)$(SYSCONFDIR)/smime-acme.conf.sample; true

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
