# audit_log: PGXS build.
#
# Versions: audit_log--1.0.sql is the released 1.0 install script and is
# frozen (t/015_update.pl checks its sha256 against test/frozen.sha256).
# Every later SQL change goes into an update script, audit_log--1.0--1.1.sql
# for 1.1; CREATE EXTENSION of the default version runs 1.0 and then the
# update scripts, so a fresh install and an updated one are made by the same
# statements.  Tests are found by their folders: sql/ for pg_regress, specs/
# for isolation, t/ for TAP, test/ for pgTAP.

MODULE_big = audit_log
OBJS = \
	src/admin_connections.o \
	src/admin_render.o \
	src/admin_roles.o \
	src/al_json.o \
	src/alerts.o \
	src/alerts_health.o \
	src/audit_log.o \
	src/capture_admin.o \
	src/capture_auth.o \
	src/capture_rules.o \
	src/capture_sql.o \
	src/capture_trail.o \
	src/countif.o \
	src/day.o \
	src/event.o \
	src/event_line.o \
	src/export.o \
	src/export_compress.o \
	src/export_file.o \
	src/export_format.o \
	src/export_lines.o \
	src/export_record.o \
	src/extension_drop.o \
	src/fleet.o \
	src/intents.o \
	src/log_event.o \
	src/partition_attach.o \
	src/queue.o \
	src/queue_file.o \
	src/redact.o \
	src/retention.o \
	src/seal.o \
	src/seal_digest.o \
	src/settings_watch.o \
	src/standby_ship.o \
	src/version.o \
	src/writer.o \
	src/writer_bulk.o \
	src/writer_jsonb.o \
	src/writer_prepared.o \
	src/writer_step_aside.o

EXTENSION = audit_log
DATA = \
	audit_log--1.0.sql \
	audit_log--1.0--1.1.sql

PG_CPPFLAGS = -I$(srcdir)/src/include -I$(libpq_srcdir)
# libpq: fleet.c connects to source servers (add_source, drop_source)
SHLIB_LINK_INTERNAL = $(libpq)
# libcrypto: seal_digest.c signs the digest files with Ed25519 (PostgreSQL
# itself is built --with-openssl)
SHLIB_LINK += -lcrypto
# zlib and libzstd: compressed exports (export_compress.c)
SHLIB_LINK += -lz -lzstd
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

# make prove_installcheck: the TAP tests alone (t/, PROVE_TESTS to choose),
# against the installed server.  PGXS defines the recipe only as a macro,
# which its installcheck runs after pg_regress and isolation.
.PHONY: prove_installcheck
prove_installcheck:
	$(prove_installcheck)
