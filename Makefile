# Makefile for the crm extension (PGXS).
#
#   make            build crm.so and the install script
#   make install    install into the PostgreSQL of pg_config (or DESTDIR)
#   make demo       command 1 of README.md: a running server with crm and demo data
#   make test       command 2 of README.md: every test, ends with "N passed, N failed"
#   make bench      the pgbench benchmarks under test/bench (not part of make test)

EXTENSION   = crm
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" crm.control)

MODULE_big  = crm
OBJS        = src/crm.o \
              src/contactkey.o \
              src/normalize.o \
              src/intake.o \
              src/intake_match.o \
              src/intake_mime.o \
              src/intake_text.o \
              src/requisites.o \
              src/deal_requisites.o \
              src/deal.o \
              src/deal_words.o \
              src/deal_print.o \
              src/gs1.o \
              src/barcode.o \
              src/allocate.o \
              src/order.o \
              src/http.o \
              src/imap_parse.o \
              src/json.o \
              src/json_link.o \
              src/integration.o \
              src/miko.o \
              src/mailbox.o \
              src/mailchimp.o \
              src/export.o \
              src/export_name.o \
              src/migration.o \
              src/migration_csv.o

# The install script of the current version is the concatenation of each
# concern's SQL (beside its C file), in this order.  SQL_RELEASED are the files
# the last released version was made of; SQL_NEW are the files added since,
# whose content is also the body of the upgrade script (src/upgrade/README.md).
SQL_RELEASED = src/crm.sql \
              src/normalize.sql \
              src/org.sql \
              src/party.sql \
              src/catalog.sql \
              src/task.sql \
              src/job.sql \
              src/intake.sql \
              src/deal.sql \
              src/document.sql \
              src/deal_print.sql \
              src/deal_control.sql \
              src/barcode.sql \
              src/stock.sql \
              src/fulfilment.sql \
              src/integration.sql \
              src/miko.sql \
              src/mailbox.sql \
              src/mailchimp.sql \
              src/segment.sql \
              src/export.sql \
              src/migration.sql \
              src/migration_settlement.sql \
              src/odbc.sql \
              src/migration_stock.sql
SQL_NEW     =
SQL_SOURCES = $(SQL_RELEASED) $(SQL_NEW)

# The last released version, frozen as src/upgrade/crm--$(PREVVERSION).sql, and
# the hand-written changes to its objects, src/upgrade/$(PREVVERSION)--$(EXTVERSION).sql.
PREVVERSION = 1.1

DATA        = $(wildcard src/upgrade/crm--*.sql)
DATA_built  = crm--$(EXTVERSION).sql
ifneq ($(PREVVERSION),)
DATA_built += crm--$(PREVVERSION)--$(EXTVERSION).sql
endif
EXTRA_CLEAN = $(DATA_built)

PG_CONFIG  ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src
# the version, for the User-Agent crm sends (src/http.c)
PG_CPPFLAGS += -DCRM_VERSION='"$(EXTVERSION)"'
PG_CFLAGS   = -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter
# libcurl dynamically; jansson statically with its symbols hidden, because the
# server exports json_object() too (see README, "Building").
# libhpdf (print forms) dynamically: it exports no symbol the server exports.
SHLIB_LINK  = -lcurl -lhpdf -Wl,-Bstatic -ljansson -Wl,-Bdynamic -Wl,--exclude-libs,libjansson.a
# libxlsxwriter dynamically: it exports no symbol the server also exports
# (test/integration/export_symbols.sh checks)
SHLIB_LINK += -lxlsxwriter
# GMime 3 (and glib) for the intake's MIME parsing, dynamically: they export
# no symbol the server also exports (test/integration/intake_symbols.sh).
# Their headers are system headers, so that -Werror judges only our code.
GMIME_CFLAGS := $(patsubst -I%,-isystem %,$(shell pkg-config --cflags gmime-3.0))
PG_CPPFLAGS += $(GMIME_CFLAGS)
SHLIB_LINK  += $(shell pkg-config --libs gmime-3.0)

# pg_regress scripts: every sql/*.sql, each with expected/<name>.out; each
# script leaves the database as it found it (run by test/run.sh)
REGRESS     = $(sort $(notdir $(basename $(wildcard sql/*.sql))))

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: a changed header rebuilds every object
# (a struct that grew in one object and not in another corrupts memory)
$(OBJS): $(wildcard src/*.h)

crm--$(EXTVERSION).sql: $(SQL_SOURCES) crm.control
	cat $(SQL_SOURCES) > $@

ifneq ($(PREVVERSION),)
crm--$(PREVVERSION)--$(EXTVERSION).sql: src/upgrade/$(PREVVERSION)--$(EXTVERSION).sql $(SQL_NEW)
	cat $^ > $@
endif

.PHONY: deps demo test bench freeze print-%

deps:
	./docker/install-deps.sh

demo:
	./docker/install-deps.sh
	$(MAKE) all
	$(MAKE) install
	./demo/run.sh

test:
	./docker/install-deps.sh
	$(MAKE) all
ifdef CRM_PGROOT
	./test/devroot.sh "$(CRM_PGROOT)"
	$(MAKE) install DESTDIR="$(CRM_PGROOT)"
else
	$(MAKE) install
endif
	./test/run.sh

bench:
	./test/bench/run.sh

print-%:
	@echo '$($*)'

# Freezes the current version as released: its install script (and its
# upgrade script from the previous release) are copied under src/upgrade/.
# Then bump default_version, set PREVVERSION to the frozen version, move
# SQL_NEW into SQL_RELEASED and start src/upgrade/<old>--<new>.sql.
freeze: $(DATA_built)
	cp crm--$(EXTVERSION).sql src/upgrade/
ifneq ($(PREVVERSION),)
	cp crm--$(PREVVERSION)--$(EXTVERSION).sql src/upgrade/
endif
