# audit_log: PGXS build.
#
# The install script audit_log--1.0.sql is assembled from the fragments in
# src/sql/ (one per feature, applied in name order), so that each feature
# keeps its SQL beside its C.  Tests are found by their folders: sql/ for
# pg_regress, specs/ for isolation, t/ for TAP, test/ for pgTAP.

MODULE_big = audit_log
OBJS = \
	src/admin_connections.o \
	src/admin_render.o \
	src/admin_roles.o \
	src/al_json.o \
	src/audit_log.o \
	src/capture_admin.o \
	src/capture_auth.o \
	src/capture_sql.o \
	src/countif.o \
	src/day.o \
	src/event.o \
	src/export.o \
	src/fleet.o \
	src/log_event.o \
	src/queue.o \
	src/redact.o \
	src/retention.o \
	src/seal.o \
	src/settings_watch.o \
	src/writer.o

EXTENSION = audit_log
DATA_built = audit_log--1.0.sql
SQL_FRAGMENTS = $(sort $(wildcard src/sql/*.sql))

PG_CPPFLAGS = -I$(srcdir)/src/include -I$(libpq_srcdir)
# libpq: fleet.c connects to source servers (add_source, drop_source)
SHLIB_LINK_INTERNAL = $(libpq)
# -Wextra, less the three checks that PostgreSQL's own server headers fail
# (lib/ilist.h, storage/bufpage.h, fmgr.h) and that hook signatures imply
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

REGRESS = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --temp-instance=tmp_check_regress --temp-config=$(srcdir)/test/regress.conf
ISOLATION = $(sort $(basename $(notdir $(wildcard specs/*.spec))))
ISOLATION_OPTS = --temp-instance=tmp_check_iso --temp-config=$(srcdir)/test/regress.conf
TAP_TESTS = 1

EXTRA_CLEAN = tmp_check_regress tmp_check_iso tmp_check output_iso results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

audit_log--1.0.sql: $(SQL_FRAGMENTS)
	cat $^ > $@
