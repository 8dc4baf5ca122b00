/*-------------------------------------------------------------------------
 *
 * seal.c
 *		Tamper evidence: the SHA-256 hash of one UTC day of audit_log.events
 *		in a canonical serialization, and the check that keeps log_event()
 *		out of sealed days.
 *
 * audit_log._seal_day_hash(day) reads the rows of [day 00:00 UTC, next day
 * 00:00 UTC) in (event_id, request_time) order through an SPI cursor and
 * feeds their serialization (described in doc/seal.md, and below) to one
 * SHA-256 context.  The SQL side (src/sql/60_seal.sql) chains that hash with
 * the previous seal's digest (seal), stores it in audit_log.seals, and
 * recomputes it (verify).  Nothing in the serialization depends on OIDs,
 * the session's settings or the physical layout of the rows, so a dump
 * restored into another database gives the same hash.
 *
 * audit_log._seal_day_hash_split(day) (1.1) hashes the same rows, but keeps
 * a fleet collector's late arrivals (audit_log.late_arrivals) apart in a
 * second hash, which the day's addendum seals; audit_log._seal_remove()
 * takes seal rows out past the append-only trigger for reseal() alone.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "audit_log.h"
#include "seal.h"
#include "version.h"

PG_FUNCTION_INFO_V1(audit_log_seal_day_hash);
PG_FUNCTION_INFO_V1(audit_log_seal_delay);
PG_FUNCTION_INFO_V1(audit_log_seal_day_hash_split);
PG_FUNCTION_INFO_V1(audit_log_seal_remove);

/*
 * Columns hashed: format version 1, the 17 columns of 1.0; version 2 (days
 * sealed under 1.1 and later), the same and origin.
 */
#define SEAL_NCOLS_V1 17
#define SEAL_NCOLS 18

/* Rows fetched from the cursor at a time. */
#define SEAL_BATCH 5000

/* Serialized bytes collected before they are handed to SHA-256. */
#define SEAL_FLUSH_BYTES (64 * 1024)

/* How each column is serialized. */
typedef enum SealKind
{
	SK_UUID,					/* 16 bytes */
	SK_TIMESTAMP,				/* int64 big-endian, microseconds since
								 * 2000-01-01 00:00:00 UTC */
	SK_ENUM,					/* the label, UTF-8 */
	SK_TEXT,					/* the bytes of the text (database encoding) */
	SK_INET,					/* the text form, as inet_out prints it */
	SK_INT4,					/* int32 big-endian */
	SK_JSONB					/* the normalized text form, as jsonb_out */
} SealKind;

static const SealKind seal_kinds[SEAL_NCOLS] = {
	SK_UUID,					/* event_id */
	SK_TIMESTAMP,				/* request_time */
	SK_TIMESTAMP,				/* logged_time */
	SK_ENUM,					/* event_category */
	SK_TEXT,					/* event_type */
	SK_ENUM,					/* event_status */
	SK_TEXT,					/* event_status_reason_code */
	SK_TEXT,					/* user_name */
	SK_TEXT,					/* user_email */
	SK_TEXT,					/* object_name */
	SK_INET,					/* client_addr */
	SK_TEXT,					/* application_name */
	SK_TEXT,					/* database_name */
	SK_INT4,					/* backend_pid */
	SK_TEXT,					/* session_id */
	SK_TEXT,					/* source_node */
	SK_JSONB,					/* entry_data */
	SK_ENUM						/* origin (version 2) */
};

/*
 * The columns are named rather than "*" so that the serialization of a
 * format version stays the same if the table ever gains a column.
 */
static const char *const seal_query_v1 =
"SELECT event_id, request_time, logged_time, event_category, event_type,"
" event_status, event_status_reason_code, user_name, user_email, object_name,"
" client_addr, application_name, database_name, backend_pid, session_id,"
" source_node, entry_data"
" FROM audit_log.events"
" WHERE request_time >= $1 AND request_time < $2"
" ORDER BY event_id, request_time";

static const char *const seal_query_v2 =
"SELECT event_id, request_time, logged_time, event_category, event_type,"
" event_status, event_status_reason_code, user_name, user_email, object_name,"
" client_addr, application_name, database_name, backend_pid, session_id,"
" source_node, entry_data, origin"
" FROM audit_log.events"
" WHERE request_time >= $1 AND request_time < $2"
" ORDER BY event_id, request_time";

/* A few enum labels, looked up once per call (there are only 9 of them). */
#define SEAL_ENUM_CACHE 16

typedef struct SealState
{
	pg_cryptohash_ctx *ctx;
	StringInfoData buf;
	MemoryContext cxt;			/* where the enum labels live */
	int			ncols;			/* 17 (format 1) or 18 (format 2) */
	int			nenums;
	Oid			enum_oids[SEAL_ENUM_CACHE];
	char	   *enum_labels[SEAL_ENUM_CACHE];
} SealState;

/*
 * Hand the collected bytes to SHA-256.
 */
static void
seal_flush(SealState *st)
{
	if (st->buf.len == 0)
		return;
	if (pg_cryptohash_update(st->ctx, (const uint8 *) st->buf.data, st->buf.len) < 0)
		elog(ERROR, "could not update SHA-256 context: %s", pg_cryptohash_error(st->ctx));
	resetStringInfo(&st->buf);
}

static inline void
put_int32(StringInfo buf, int32 v)
{
	uint32		n = pg_hton32((uint32) v);

	appendBinaryStringInfo(buf, (const char *) &n, 4);
}

/* A field: its length (int32 big-endian), then its bytes. */
static inline void
put_field(StringInfo buf, const void *data, int len)
{
	put_int32(buf, len);
	appendBinaryStringInfo(buf, data, len);
}

/*
 * The label of an enum value, from the small per-call cache.  Labels, not
 * OIDs: OIDs differ in a restored database.
 */
static const char *
enum_label(SealState *st, Datum value)
{
	Oid			oid = DatumGetObjectId(value);
	char	   *label;
	int			i;

	for (i = 0; i < st->nenums; i++)
		if (st->enum_oids[i] == oid)
			return st->enum_labels[i];
	label = DatumGetCString(DirectFunctionCall1(enum_out, value));
	if (st->nenums < SEAL_ENUM_CACHE)
	{
		st->enum_oids[st->nenums] = oid;
		st->enum_labels[st->nenums] = MemoryContextStrdup(st->cxt, label);
		st->nenums++;
	}
	return label;
}

/*
 * Serialize one row: int16 number of fields (17 in format 1, 18 in format
 * 2), then each field as int32 length and bytes, length -1 (and no bytes)
 * for NULL.  An empty string is length 0, so it never looks like NULL.
 */
static void
seal_row(SealState *st, Datum *values, bool *isnull)
{
	StringInfo	buf = &st->buf;
	uint16		nfields = pg_hton16((uint16) st->ncols);
	int			i;

	appendBinaryStringInfo(buf, (const char *) &nfields, 2);
	for (i = 0; i < st->ncols; i++)
	{
		Datum		v = values[i];

		if (isnull[i])
		{
			put_int32(buf, -1);
			continue;
		}
		switch (seal_kinds[i])
		{
			case SK_UUID:
				put_field(buf, DatumGetUUIDP(v)->data, UUID_LEN);
				break;
			case SK_TIMESTAMP:
				{
					uint64		t = pg_hton64((uint64) DatumGetTimestampTz(v));

					put_field(buf, &t, 8);
				}
				break;
			case SK_INT4:
				{
					uint32		n = pg_hton32((uint32) DatumGetInt32(v));

					put_field(buf, &n, 4);
				}
				break;
			case SK_ENUM:
				{
					const char *label = enum_label(st, v);

					put_field(buf, label, strlen(label));
				}
				break;
			case SK_TEXT:
				{
					text	   *t = DatumGetTextPP(v);

					put_field(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				}
				break;
			case SK_INET:
				{
					char	   *s = DatumGetCString(DirectFunctionCall1(inet_out, v));

					put_field(buf, s, strlen(s));
				}
				break;
			case SK_JSONB:
				{
					Jsonb	   *jb = DatumGetJsonbP(v);
					char	   *s = JsonbToCString(NULL, &jb->root, VARSIZE(jb));

					put_field(buf, s, strlen(s));
				}
				break;
		}
	}
	if (buf->len >= SEAL_FLUSH_BYTES)
		seal_flush(st);
}

/* Start a SHA-256 serialization state. */
static void
seal_state_init(SealState *st)
{
	memset(st, 0, sizeof(*st));
	initStringInfo(&st->buf);
	st->cxt = CurrentMemoryContext;
	st->ctx = pg_cryptohash_create(PG_SHA256);
	if (st->ctx == NULL || pg_cryptohash_init(st->ctx) < 0)
		elog(ERROR, "could not initialize SHA-256 context");
}

/* Finish a state: the hash goes to digest. */
static void
seal_state_final(SealState *st, uint8 *digest)
{
	seal_flush(st);
	if (pg_cryptohash_final(st->ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not finish SHA-256 hash: %s", pg_cryptohash_error(st->ctx));
	pg_cryptohash_free(st->ctx);
	pfree(st->buf.data);
}

/* bsearch comparator of uuids */
static int
uuid_cmp_bytes(const void *a, const void *b)
{
	return memcmp(a, b, UUID_LEN);
}

/*
 * Hash the rows of one UTC day in serialization format 1 or 2.  Must be
 * called inside an SPI connection.  Returns the number of rows; the hash
 * goes to digest.
 *
 * With late (nlate sorted event_ids, the day's late arrivals on a fleet
 * collector), the rows whose event_id is among them are hashed apart, into
 * late_digest, and counted in *late_rows instead: the day's seal covers the
 * rows that were there when it was sealed, its addendum the late ones.
 * Both keep the (event_id, request_time) order.
 */
static uint64
seal_hash_day_split(DateADT day, int format, uint8 *digest, const pg_uuid_t *late,
					int nlate, uint8 *late_digest, uint64 *late_rows)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[2];
	SealState	st;
	SealState	lst;
	Portal		portal;
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	Datum		values[SEAL_NCOLS];
	bool		isnull[SEAL_NCOLS];
	uint64		rows = 0;

	/* A date and a UTC timestamp share their epoch, 2000-01-01. */
	args[0] = TimestampTzGetDatum((TimestampTz) day * USECS_PER_DAY);
	args[1] = TimestampTzGetDatum((TimestampTz) (day + 1) * USECS_PER_DAY);

	seal_state_init(&st);
	st.ncols = (format >= 2) ? SEAL_NCOLS : SEAL_NCOLS_V1;
	if (late_digest != NULL)
	{
		seal_state_init(&lst);
		lst.ncols = st.ncols;
	}
	if (late_rows != NULL)
		*late_rows = 0;

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "audit_log seal rows",
								   ALLOCSET_DEFAULT_SIZES);

	/*
	 * CURSOR_OPT_FAST_PLAN favours the walk along the primary key index (in
	 * event_id order already) over a scan and a sort of the whole day.
	 */
	portal = SPI_cursor_open_with_args(NULL, format >= 2 ? seal_query_v2 : seal_query_v1, 2, argtypes, args,
									   NULL, true,
									   CURSOR_OPT_NO_SCROLL | CURSOR_OPT_FAST_PLAN);
	if (portal == NULL)
		elog(ERROR, "could not open cursor over the day's events: %s",
			 SPI_result_code_string(SPI_result));

	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, SEAL_BATCH);
		if (SPI_processed == 0)
			break;
		if (SPI_tuptable->tupdesc->natts != st.ncols)
			elog(ERROR, "unexpected number of columns in audit_log.events");

		oldcxt = MemoryContextSwitchTo(rowcxt);
		for (i = 0; i < SPI_processed; i++)
		{
			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
							  values, isnull);
			if (nlate > 0 && !isnull[0] &&
				bsearch(DatumGetUUIDP(values[0])->data, late, nlate,
						sizeof(pg_uuid_t), uuid_cmp_bytes) != NULL)
			{
				seal_row(&lst, values, isnull);
				(*late_rows)++;
			}
			else
			{
				seal_row(&st, values, isnull);
				rows++;
			}
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);

		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);

	seal_state_final(&st, digest);
	if (late_digest != NULL)
		seal_state_final(&lst, late_digest);
	MemoryContextDelete(rowcxt);

	return rows;
}

static uint64
seal_hash_day(DateADT day, int format, uint8 *digest)
{
	return seal_hash_day_split(day, format, digest, NULL, 0, NULL, NULL);
}

/* Lower-case hex of a SHA-256 digest into hex (65 bytes). */
static void
digest_hex(const uint8 *digest, char *hex)
{
	int			i;

	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

/*
 * The day argument of _seal_day_hash and _seal_day_hash_split (not null,
 * finite), and their row type.
 */
static DateADT
day_hash_arg(FunctionCallInfo fcinfo, TupleDesc *tupdesc)
{
	DateADT		day;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("day must not be null")));
	day = PG_GETARG_DATEADT(0);
	if (DATE_NOT_FINITE(day))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("day must be a finite date")));
	if (get_call_result_type(fcinfo, NULL, tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	return day;
}

/*
 * The serialization format of a day: that of its seal when it has one
 * (audit_log.seals.format_version, 1.1), otherwise the one a seal made now
 * gets (the column's default: 2).  Under a 1.0 schema, always 1.  Inside
 * an SPI connection.
 */
static int
seal_format_of_day(DateADT day)
{
	Oid			argtypes[1] = {DATEOID};
	Datum		args[1];
	int			rc;
	int			format = 2;

	if (al_installed_version_num() < 101)
		return 1;
	args[0] = DateADTGetDatum(day);
	rc = SPI_execute_with_args("SELECT s.format_version FROM audit_log.seals s WHERE s.day = $1",
							   1, argtypes, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the seal of a day: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			format = DatumGetInt32(d);
	}
	if (format < 1 || format > 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("unknown seal format version %d", format),
				 errdetail("This library knows the serialization formats 1 and 2.")));
	return format;
}

/*
 * audit_log._seal_day_hash(day date, OUT rows bigint, OUT day_hash text)
 *
 * The number of rows of a UTC day and the hex SHA-256 of their canonical
 * serialization, in the format of the day's seal (new seals: format 2).
 * Internal: seal() and verify() chain it; not granted.
 */
Datum
audit_log_seal_day_hash(PG_FUNCTION_ARGS)
{
	DateADT		day;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	uint64		rows;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	day = day_hash_arg(fcinfo, &tupdesc);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rows = seal_hash_day(day, seal_format_of_day(day), digest);
	SPI_finish();

	digest_hex(digest, hex);
	values[0] = Int64GetDatum((int64) rows);
	values[1] = CStringGetTextDatum(hex);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * audit_log._seal_day_hash_split(day date, OUT rows bigint, OUT day_hash text,
 *     OUT late_rows bigint, OUT late_hash text)
 *
 * Like _seal_day_hash, but the day's late arrivals (audit_log.late_arrivals:
 * rows a fleet source sent after the collector sealed the day) are hashed
 * apart: rows and day_hash are those of the other rows, which the day's
 * seal covers; late_rows and late_hash those of the late arrivals, which
 * the day's addendum covers.  Uses a 1.1 table: called by 1.1 SQL only.
 * Internal; not granted.
 */
Datum
audit_log_seal_day_hash_split(PG_FUNCTION_ARGS)
{
	DateADT		day;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	uint8		late_digest[PG_SHA256_DIGEST_LENGTH];
	char		hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	char		late_hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	uint64		rows;
	uint64		late_rows = 0;
	pg_uuid_t  *late = NULL;
	int			nlate = 0;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[2];
	int			rc;
	uint64		i;

	day = day_hash_arg(fcinfo, &tupdesc);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* the day's late arrivals, sorted by the uuid's bytes for bsearch */
	args[0] = TimestampTzGetDatum((TimestampTz) day * USECS_PER_DAY);
	args[1] = TimestampTzGetDatum((TimestampTz) (day + 1) * USECS_PER_DAY);
	rc = SPI_execute_with_args("SELECT event_id FROM audit_log.late_arrivals"
							   " WHERE request_time >= $1 AND request_time < $2"
							   " ORDER BY event_id",
							   2, argtypes, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read audit_log.late_arrivals: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
	{
		late = palloc(sizeof(pg_uuid_t) * SPI_processed);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		v = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				memcpy(&late[nlate++], DatumGetUUIDP(v), sizeof(pg_uuid_t));
		}
		qsort(late, nlate, sizeof(pg_uuid_t), uuid_cmp_bytes);
	}
	SPI_freetuptable(SPI_tuptable);

	rows = seal_hash_day_split(day, seal_format_of_day(day), digest, late, nlate,
							   late_digest, &late_rows);
	SPI_finish();

	digest_hex(digest, hex);
	digest_hex(late_digest, late_hex);
	values[0] = Int64GetDatum((int64) rows);
	values[1] = CStringGetTextDatum(hex);
	values[2] = Int64GetDatum((int64) late_rows);
	values[3] = CStringGetTextDatum(late_hex);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * audit_log._seal_remove(from_day date) RETURNS bigint
 *
 * Removes the seal rows of from_day and every later day, past the
 * append-only trigger, for reseal() (which writes them again at once, in
 * the same transaction, and records why).  Internal; not granted.
 */
Datum
audit_log_seal_remove(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {DATEOID};
	Datum		args[1];
	uint64		removed = 0;

	args[0] = PG_GETARG_DATUM(0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	al_internal_dml_depth++;
	PG_TRY();
	{
		int			rc = SPI_execute_with_args("DELETE FROM audit_log.seals WHERE day >= $1",
											   1, argtypes, args, NULL, false, 0);

		if (rc != SPI_OK_DELETE)
			elog(ERROR, "could not remove seals: %s", SPI_result_code_string(rc));
		removed = SPI_processed;
	}
	PG_FINALLY();
	{
		al_internal_dml_depth--;
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_INT64((int64) removed);
}

/*
 * audit_log._seal_delay() RETURNS integer: audit_log.seal_delay in minutes
 * (-1: the maintenance job does not seal).  Calling it also loads the
 * library, so the setting is defined even in a session that never loaded it.
 */
Datum
audit_log_seal_delay(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(al_seal_delay_min);
}

/* The UTC day of a timestamp: timestamps and dates share their epoch. */
static DateADT
utc_day(TimestampTz ts)
{
	DateADT		day = (DateADT) (ts / USECS_PER_DAY);

	if (ts < 0 && ts % USECS_PER_DAY != 0)
		day--;
	return day;
}

/*
 * Refuse an event for a sealed UTC day.  Called by log_event() inside its
 * SPI connection, after its row is inserted: the insert holds the day's
 * partition lock, which seal() needs in SHARE mode, so either a seal of the
 * day committed before (and the latest snapshot used here sees it) or it
 * will wait for this transaction and include the row.  The ERROR undoes the
 * insert.
 *
 * A day can only be sealed once it is over, so an event of the current UTC
 * day (the common case) needs no look-up at all.
 */
void
al_refuse_sealed_day(TimestampTz request_time)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {DATEOID};
	Datum		args[1];
	DateADT		day = utc_day(request_time);
	int			rc;

	if (day >= utc_day(GetCurrentTimestamp()))
		return;

	if (plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT pg_catalog.to_char(s.sealed_at AT TIME ZONE 'UTC',"
									" 'YYYY-MM-DD HH24:MI:SS') || ' UTC'"
									" FROM audit_log.seals s WHERE s.day = $1",
									1, argtypes);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		plan = p;
	}

	args[0] = DateADTGetDatum(day);
	rc = SPI_execute_snapshot(plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot,
							  true, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read audit_log.seals: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		char	   *sealed_at = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		int			y,
					m,
					dd;
		char		daystr[16];

		j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
		snprintf(daystr, sizeof(daystr), "%04d-%02d-%02d", y, m, dd);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot log an event for %s: that UTC day is sealed", daystr),
				 errdetail("The day was sealed at %s; an event added to it now would make audit_log.verify() report the day as changed.",
						   sealed_at ? sealed_at : "an unknown time"),
				 errhint("Log backfilled events before their day is sealed (audit_log.seal_delay after the day ends), or give a request_time in a day that is not sealed.")));
	}
}
