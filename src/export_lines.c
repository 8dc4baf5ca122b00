/*-------------------------------------------------------------------------
 *
 * export_lines.c
 *		The JSON-lines formats of audit_log.export() (jsonl, OCSF, ECS),
 *		made in C row by row from the tuples of the export's query, with
 *		the one JSON builder (al_json.c), and written through the export's
 *		streaming writer (compression, SHA-256, temporary file: export.c
 *		and export_file.c).
 *
 * The query (the ordered SELECT of the CSV export) runs in a portal whose
 * tuples go straight to a DestReceiver here, as COPY's do: no tuple is
 * copied or kept, no file is held in memory.  Each line is built into one
 * buffer (made bigger and the line built again when a row does not fit),
 * converted to UTF-8 when the database is not, and appended to the writer
 * with its newline.
 *
 * The bytes are those the SQL of 1.1's first build gave, which t/041
 * checks:
 *   - jsonl is row_to_json(row)::text: the columns in table order, compact
 *     (",", ":"), numbers and booleans bare, timestamps in ISO 8601 with a
 *     T, json and jsonb values as their text, everything else as the JSON
 *     string of its text.  A column of a type this file does not format
 *     (an array, a composite, a type with a cast to json) makes the export
 *     fall back to row_to_json() in SQL (export_format_query).
 *   - ocsf and ecs are jsonb text: ", " and ": ", the members of every
 *     object in jsonb's order (shorter keys first, then bytewise: the order
 *     in which they are written below), null members left out, except that
 *     entry_data is always there.  The mappings are documented in
 *     doc/export.md; keep the table there and the functions here in step.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "tcop/dest.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/formatting.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/timestamp.h"

#include "al_json.h"
#include "export.h"
#include "version.h"

/* How a jsonl column is written (the categories of row_to_json). */
typedef enum LineKind
{
	LINE_STRING,				/* the JSON string of its text */
	LINE_NUMBER,				/* bare, unless NaN or Infinity */
	LINE_BOOL,
	LINE_DATETIME,				/* date, timestamp, timestamptz */
	LINE_JSON,					/* its text as it is */
	LINE_JSONB,
	LINE_UNSUPPORTED			/* array, composite, cast to json */
} LineKind;

typedef struct LineCol
{
	char	   *name;
	Oid			typid;			/* the base type */
	LineKind	kind;
	FmgrInfo	out;
} LineCol;

/* The columns of audit_log.events the OCSF and ECS lines read. */
enum
{
	C_EVENT_ID,
	C_REQUEST_TIME,
	C_LOGGED_TIME,
	C_EVENT_CATEGORY,
	C_EVENT_TYPE,
	C_EVENT_STATUS,
	C_REASON,
	C_USER_NAME,
	C_USER_EMAIL,
	C_OBJECT_NAME,
	C_CLIENT_ADDR,
	C_APPLICATION_NAME,
	C_DATABASE_NAME,
	C_BACKEND_PID,
	C_SESSION_ID,
	C_SOURCE_NODE,
	C_ENTRY_DATA,
	C_COUNT
};

static const char *const event_columns[C_COUNT] = {
	"event_id", "request_time", "logged_time", "event_category", "event_type",
	"event_status", "event_status_reason_code", "user_name", "user_email",
	"object_name", "client_addr", "application_name", "database_name",
	"backend_pid", "session_id", "source_node", "entry_data"
};

/* ECS's event.action of the last event types seen (lower() is costly). */
#define ACTION_CACHE 32
/* labels of the enum values seen */
#define LABEL_CACHE 64

typedef struct LinesDest
{
	DestReceiver pub;
	ExportWriter *w;
	ExportFormat format;
	MemoryContext cxt;			/* the run's: columns, buffer, cache */
	MemoryContext rowcxt;		/* reset after each row */
	int			natts;
	LineCol    *cols;
	int			ix[C_COUNT];	/* attribute numbers (0-based) of the columns */
	char	   *buf;
	size_t		size;
	uint64		rows;
	bool		utf8;			/* the database encoding is UTF-8 */
	int			nactions;
	char	   *action_type[ACTION_CACHE];
	char	   *action[ACTION_CACHE];
	bool		is_enum[C_COUNT];	/* the column is of an enum type */
	int			nlabels;
	Oid			label_oid[LABEL_CACHE];
	char	   *label[LABEL_CACHE];
} LinesDest;

/*
 * The category row_to_json gives a column of this type (json_categorize_type
 * of PostgreSQL 15 to 18).
 */
static LineKind
line_kind(Oid typid)
{
	Oid			castfunc;

	switch (typid)
	{
		case BOOLOID:
			return LINE_BOOL;
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return LINE_NUMBER;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return LINE_DATETIME;
		case JSONOID:
			return LINE_JSON;
		case JSONBOID:
			return LINE_JSONB;
	}
	if (OidIsValid(get_element_type(typid)) || typid == ANYARRAYOID ||
		typid == ANYCOMPATIBLEARRAYOID || typid == RECORDARRAYOID ||
		type_is_rowtype(typid))
		return LINE_UNSUPPORTED;
	if (typid >= FirstNormalObjectId &&
		find_coercion_pathway(JSONOID, typid, COERCION_EXPLICIT, &castfunc) == COERCION_PATH_FUNC &&
		OidIsValid(castfunc))
		return LINE_UNSUPPORTED;
	return LINE_STRING;
}

/* The columns of a result, with how each is written. */
static LineCol *
line_columns(TupleDesc desc)
{
	LineCol    *cols = palloc0(sizeof(LineCol) * Max(desc->natts, 1));
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			outfunc;
		bool		varlena;

		cols[i].name = pstrdup(NameStr(att->attname));
		cols[i].typid = getBaseType(att->atttypid);
		cols[i].kind = line_kind(cols[i].typid);
		getTypeOutputInfo(att->atttypid, &outfunc, &varlena);
		fmgr_info(outfunc, &cols[i].out);
	}
	return cols;
}

/* Can this file write every column of the result as row_to_json would? */
static bool
lines_supported(TupleDesc desc)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		if (TupleDescAttr(desc, i)->attisdropped)
			return false;
		if (line_kind(getBaseType(TupleDescAttr(desc, i)->atttypid)) == LINE_UNSUPPORTED)
			return false;
	}
	return true;
}

/* Bare number text that JSON cannot hold as a number. */
static bool
not_a_json_number(const char *s)
{
	if (*s == '-')
		s++;
	return strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0;
}

/* A date or timestamp as row_to_json and to_jsonb write it (no quotes). */
static char *
datetime_text(Datum d, Oid typid)
{
	return JsonEncodeDateTime(NULL, d, typid, NULL);
}

/* jsonb's text (entry_data, a jsonb column). */
static char *
jsonb_text(Datum d)
{
	Jsonb	   *jb = DatumGetJsonbP(d);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/*
 * floor(date_part('epoch', ts) * 1000)::int8, computed as PostgreSQL
 * computes it (in float8), so that the milliseconds are the same.
 */
static int64
epoch_ms(TimestampTz ts)
{
	Timestamp	epoch = SetEpochTimestamp();
	float8		e;
	float8		ms;

	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("bigint out of range")));
	if (ts < (PG_INT64_MAX + epoch))
		e = (ts - epoch) / 1000000.0;
	else
		e = ((float8) ts - epoch) / 1000000.0;
	ms = floor(e * 1000.0);
	if (isnan(ms) || !FLOAT8_FITS_IN_INT64(ms))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("bigint out of range")));
	return (int64) rint(ms);
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A string member, left out when null (jsonb_strip_nulls). */
static void
opt_str(AlJson *js, const char *key, const char *val)
{
	if (val != NULL)
		al_json_str(js, key, val);
}

/* ---- jsonl ---- */

static void
build_jsonl(LinesDest *dest, TupleTableSlot *slot, AlJson *js)
{
	int			i;

	for (i = 0; i < dest->natts; i++)
	{
		LineCol    *col = &dest->cols[i];
		Datum		d = slot->tts_values[i];
		char	   *s;

		if (slot->tts_isnull[i])
		{
			al_json_null(js, col->name);
			continue;
		}
		switch (col->kind)
		{
			case LINE_BOOL:
				al_json_bool(js, col->name, DatumGetBool(d));
				break;
			case LINE_NUMBER:
				s = OutputFunctionCall(&col->out, d);
				if (not_a_json_number(s))
					al_json_str(js, col->name, s);
				else
					al_json_raw(js, col->name, s);
				break;
			case LINE_DATETIME:
				al_json_str(js, col->name, datetime_text(d, col->typid));
				break;
			case LINE_JSON:
				al_json_raw(js, col->name, OutputFunctionCall(&col->out, d));
				break;
			case LINE_JSONB:
				al_json_raw(js, col->name, jsonb_text(d));
				break;
			case LINE_STRING:
			case LINE_UNSUPPORTED:
				if (col->typid == TEXTOID)
					s = TextDatumGetCString(d);
				else
					s = OutputFunctionCall(&col->out, d);
				al_json_str(js, col->name, s);
				break;
		}
	}
}

/*
 * event.action: lower(replace(event_type, '_', '-')) in the database's
 * collation, as the SQL did; remembered for the last event types seen.
 */
static const char *
ecs_action(LinesDest *dest, const char *type)
{
	MemoryContext old;
	char	   *dashed;
	char	   *action;
	char	   *p;
	int			i;

	for (i = 0; i < dest->nactions; i++)
		if (strcmp(dest->action_type[i], type) == 0)
			return dest->action[i];
	old = MemoryContextSwitchTo(dest->cxt);
	dashed = pstrdup(type);
	for (p = dashed; *p; p++)
		if (*p == '_')
			*p = '-';
	action = str_tolower(dashed, strlen(dashed), DEFAULT_COLLATION_OID);
	pfree(dashed);
	if (dest->nactions < ACTION_CACHE)
	{
		dest->action_type[dest->nactions] = pstrdup(type);
		dest->action[dest->nactions] = action;
		dest->nactions++;
	}
	MemoryContextSwitchTo(old);
	return action;
}

/* ---- the values of an events row ---- */

/* The text of column c of the row (NULL: null). */
static char *
event_col(LinesDest *dest, TupleTableSlot *slot, int c)
{
	int			i = dest->ix[c];

	if (slot->tts_isnull[i])
		return NULL;
	if (dest->cols[i].typid == TEXTOID)
		return TextDatumGetCString(slot->tts_values[i]);
	return OutputFunctionCall(&dest->cols[i].out, slot->tts_values[i]);
}

/*
 * The label of an enum column (event_category, event_status), remembered
 * by OID: enum_out looks it up in the catalog each time.
 */
static const char *
enum_label(LinesDest *dest, TupleTableSlot *slot, int c)
{
	int			i = dest->ix[c];
	Oid			oid;
	int			k;
	MemoryContext old;
	char	   *label;

	if (slot->tts_isnull[i])
		return NULL;
	if (!dest->is_enum[c])
		return event_col(dest, slot, c);
	oid = DatumGetObjectId(slot->tts_values[i]);
	for (k = 0; k < dest->nlabels; k++)
		if (dest->label_oid[k] == oid)
			return dest->label[k];
	label = OutputFunctionCall(&dest->cols[i].out, slot->tts_values[i]);
	if (dest->nlabels < LABEL_CACHE)
	{
		old = MemoryContextSwitchTo(dest->cxt);
		dest->label_oid[dest->nlabels] = oid;
		dest->label[dest->nlabels] = pstrdup(label);
		dest->nlabels++;
		MemoryContextSwitchTo(old);
	}
	return label;
}

/* An events row as the OCSF and ECS builders read it. */
static void
event_text(LinesDest *dest, TupleTableSlot *slot, AlEventText *ev)
{
	Datum		rt = slot->tts_values[dest->ix[C_REQUEST_TIME]];
	Datum		lt = slot->tts_values[dest->ix[C_LOGGED_TIME]];
	int			ed = dest->ix[C_ENTRY_DATA];
	int			ca = dest->ix[C_CLIENT_ADDR];

	memset(ev, 0, sizeof(AlEventText));
	ev->event_id = event_col(dest, slot, C_EVENT_ID);
	/* request_time and logged_time are NOT NULL; OCSF has them in ms, ECS as text */
	if (dest->format == EXPORT_FORMAT_ECS)
	{
		ev->request_time = datetime_text(rt, TIMESTAMPTZOID);
		ev->logged_time = datetime_text(lt, TIMESTAMPTZOID);
	}
	else
	{
		ev->request_ms = epoch_ms(DatumGetTimestampTz(rt));
		ev->logged_ms = epoch_ms(DatumGetTimestampTz(lt));
		ev->logged_time = "";	/* known */
	}
	ev->category = enum_label(dest, slot, C_EVENT_CATEGORY);
	ev->type = event_col(dest, slot, C_EVENT_TYPE);
	ev->success = strcmp(enum_label(dest, slot, C_EVENT_STATUS), "SUCCESS") == 0;
	ev->reason = event_col(dest, slot, C_REASON);
	ev->user_name = event_col(dest, slot, C_USER_NAME);
	ev->user_email = event_col(dest, slot, C_USER_EMAIL);
	ev->object_name = event_col(dest, slot, C_OBJECT_NAME);
	ev->client_addr = event_col(dest, slot, C_CLIENT_ADDR);
	if (!slot->tts_isnull[ca])
	{
		/*
		 * host(): the address without its mask.  inet's text is the whole
		 * address, and "/bits" unless it is a host's.
		 */
		char	   *ip = pstrdup(ev->client_addr);

		ip[strcspn(ip, "/")] = '\0';
		ev->client_ip = ip;
	}
	ev->application_name = event_col(dest, slot, C_APPLICATION_NAME);
	ev->database_name = event_col(dest, slot, C_DATABASE_NAME);
	ev->backend_pid = event_col(dest, slot, C_BACKEND_PID);
	ev->session_id = event_col(dest, slot, C_SESSION_ID);
	ev->source_node = event_col(dest, slot, C_SOURCE_NODE);
	ev->entry_data = slot->tts_isnull[ed] ? NULL : jsonb_text(slot->tts_values[ed]);
	{
		/* "<category> <type>" */
		size_t		clen = strlen(ev->category);
		size_t		tlen = strlen(ev->type);
		char	   *m = palloc(clen + tlen + 2);

		memcpy(m, ev->category, clen);
		m[clen] = ' ';
		memcpy(m + clen + 1, ev->type, tlen + 1);
		ev->message = m;
	}
	if (dest->format == EXPORT_FORMAT_ECS)
		ev->action = ecs_action(dest, ev->type);
}

/* ---- OCSF ---- */

/* class_uid * 100 + activity_id of an event (doc/export.md, "OCSF"). */
static int
ocsf_type_uid(const char *cat, const char *type)
{
	static const struct
	{
		const char *cat;
		const char *type;
		int			tu;
	}			map[] = {
		{"ACCESS_SIGMA", "LOGIN", 300201},
		{"ACCESS_SIGMA", "LOGOUT", 300202},
		{"ACCESS_SIGMA", "PASSWORD_CHANGE", 300103},
		{"USER_ACCOUNTS", "CREATE_USER", 300101},
		{"USER_ACCOUNTS", "DROP_USER", 300106},
		{"ACCOUNT_TYPES", "GRANT_PRIVILEGE", 300501},
		{"ACCOUNT_TYPES", "REVOKE_PRIVILEGE", 300502},
		{"ACCOUNT_TYPES", "DROP_OWNED", 300502},
		{"TEAMS", "CREATE_TEAM", 300606},
		{"TEAMS", "DROP_TEAM", 300605},
		{"TEAMS", "GRANT_MEMBERSHIP", 300603},
		{"TEAMS", "REVOKE_MEMBERSHIP", 300604},
		{"EXPORTS", "EXPORT", 100101},
	};
	int			i;

	for (i = 0; i < lengthof(map); i++)
		if (strcmp(cat, map[i].cat) == 0 && strcmp(type, map[i].type) == 0)
			return map[i].tu;
	if (strcmp(cat, "CONNECTIONS") == 0)
	{
		if (starts_with(type, "CREATE_") || starts_with(type, "ADD_"))
			return 300401;
		if (starts_with(type, "ALTER_"))
			return 300403;
		if (starts_with(type, "DROP_"))
			return 300404;
		return 300499;
	}
	if (strcmp(cat, "ACCESS_SIGMA") == 0)
		return 300299;
	if (strcmp(cat, "USER_ACCOUNTS") == 0)
		return 300199;
	if (strcmp(cat, "ACCOUNT_TYPES") == 0)
		return 300599;
	if (strcmp(cat, "TEAMS") == 0)
		return 300699;
	if (strcmp(cat, "EXPORTS") == 0)
		return 100199;
	return 99;
}

static const char *
ocsf_class_name(int tu)
{
	switch (tu / 100)
	{
		case 3002:
			return "Authentication";
		case 3001:
			return "Account Change";
		case 3005:
			return "User Access Management";
		case 3006:
			return "Group Management";
		case 3004:
			return "Entity Management";
		case 1001:
			return "File System Activity";
	}
	return "Base Event";
}

static const char *
ocsf_category_name(int tu)
{
	switch (tu / 100000)
	{
		case 3:
			return "Identity & Access Management";
		case 1:
			return "System Activity";
	}
	return "Uncategorized";
}

static const char *
ocsf_activity_name(int tu)
{
	if (tu % 100 == 99)
		return "Other";
	switch (tu)
	{
		case 300201:
			return "Logon";
		case 300202:
			return "Logoff";
		case 300101:
		case 300606:
		case 300401:
		case 100101:
			return "Create";
		case 300103:
			return "Password Change";
		case 300106:
		case 300605:
		case 300404:
			return "Delete";
		case 300501:
			return "Assign Privileges";
		case 300502:
			return "Revoke Privileges";
		case 300603:
			return "Add User";
		case 300604:
			return "Remove User";
		case 300403:
			return "Update";
	}
	return "Other";
}

/*
 * One OCSF event, allocating nothing (the server-log line is made with it
 * too, see queue.c).  Members in jsonb's order: time, user, actor, group,
 * status, message, metadata, severity, type_uid, unmapped, class_uid,
 * status_id, class_name, activity_id, severity_id, status_code,
 * category_uid, src_endpoint, activity_name, category_name, status_detail.
 */
void
al_event_ocsf(AlJson *js, const AlEventText *ev)
{
	bool		ok = ev->success;
	int			tu = ocsf_type_uid(ev->category, ev->type);

	al_json_int64(js, "time", ev->request_ms);
	al_json_obj_begin(js, "user");
	if (tu / 100 == 3001 && strcmp(ev->type, "PASSWORD_CHANGE") != 0)
		opt_str(js, "name", ev->object_name);
	else
	{
		opt_str(js, "name", ev->user_name);
		opt_str(js, "email_addr", ev->user_email);
	}
	al_json_obj_end(js);
	al_json_obj_begin(js, "actor");
	al_json_obj_begin(js, "user");
	opt_str(js, "name", ev->user_name);
	al_json_obj_end(js);
	al_json_obj_begin(js, "session");
	opt_str(js, "uid", ev->session_id);
	al_json_obj_end(js);
	opt_str(js, "app_name", ev->application_name);
	al_json_obj_end(js);
	if (tu / 100 == 3006)
	{
		al_json_obj_begin(js, "group");
		opt_str(js, "name", ev->object_name);
		al_json_obj_end(js);
	}
	al_json_str(js, "status", ok ? "Success" : "Failure");
	al_json_str(js, "message", ev->message);
	al_json_obj_begin(js, "metadata");
	al_json_str(js, "uid", ev->event_id);
	al_json_obj_begin(js, "product");
	al_json_str(js, "name", "audit_log");
	al_json_str(js, "version", AL_LIBRARY_VERSION);
	al_json_str(js, "vendor_name", "audit_log");
	al_json_obj_end(js);
	al_json_str(js, "version", "1.1.0");
	al_json_str(js, "log_name", "audit_log.events");
	if (ev->logged_time != NULL)
		al_json_int64(js, "logged_time", ev->logged_ms);
	al_json_obj_end(js);
	al_json_str(js, "severity", ok ? "Informational" : "Low");
	al_json_int(js, "type_uid", tu);
	al_json_obj_begin(js, "unmapped");
	al_json_raw(js, "entry_data", ev->entry_data ? ev->entry_data : "null");
	al_json_str(js, "event_type", ev->type);
	if (ev->backend_pid != NULL)
		al_json_raw(js, "backend_pid", ev->backend_pid);
	opt_str(js, "client_addr", ev->client_addr);
	opt_str(js, "object_name", ev->object_name);
	opt_str(js, "source_node", ev->source_node);
	opt_str(js, "database_name", ev->database_name);
	al_json_str(js, "event_category", ev->category);
	al_json_obj_end(js);
	al_json_int(js, "class_uid", tu / 100);
	al_json_int(js, "status_id", ok ? 1 : 2);
	al_json_str(js, "class_name", ocsf_class_name(tu));
	al_json_int(js, "activity_id", tu % 100);
	al_json_int(js, "severity_id", ok ? 1 : 2);
	opt_str(js, "status_code", ev->reason);
	al_json_int(js, "category_uid", tu / 100000);
	if (ev->client_ip != NULL)
	{
		al_json_obj_begin(js, "src_endpoint");
		al_json_str(js, "ip", ev->client_ip);
		al_json_obj_end(js);
	}
	al_json_str(js, "activity_name", ocsf_activity_name(tu));
	al_json_str(js, "category_name", ocsf_category_name(tu));
	opt_str(js, "status_detail", ev->reason);
}

/* ---- ECS ---- */

/* The verb of event.type: creation, deletion, change or info. */
static const char *
ecs_verb(const char *type)
{
	if (starts_with(type, "CREATE_") || starts_with(type, "ADD_"))
		return "creation";
	if (starts_with(type, "DROP_") || strcmp(type, "EXTENSION_DROPPED") == 0)
		return "deletion";
	if (starts_with(type, "ALTER_") || starts_with(type, "RENAME_") ||
		strstr(type, "CHANGE") != NULL || starts_with(type, "GRANT_") ||
		starts_with(type, "REVOKE_") || starts_with(type, "REASSIGN_"))
		return "change";
	return "info";
}

static const char *
ecs_category(const char *cat, const char *type)
{
	if (strcmp(cat, "ACCESS_SIGMA") == 0)
		return strcmp(type, "PASSWORD_CHANGE") == 0 ? "iam" : "authentication";
	if (strcmp(cat, "USER_ACCOUNTS") == 0 || strcmp(cat, "TEAMS") == 0 ||
		strcmp(cat, "ACCOUNT_TYPES") == 0)
		return "iam";
	if (strcmp(cat, "EXPORTS") == 0)
		return "file";
	return "configuration";
}

static void
ecs_type(AlJson *js, const char *cat, const char *type)
{
	al_json_arr_begin(js, "type");
	if (strcmp(cat, "ACCESS_SIGMA") == 0)
	{
		if (strcmp(type, "LOGIN") == 0)
			al_json_arr_str(js, "start");
		else if (strcmp(type, "LOGOUT") == 0)
			al_json_arr_str(js, "end");
		else if (strcmp(type, "PASSWORD_CHANGE") == 0)
		{
			al_json_arr_str(js, "user");
			al_json_arr_str(js, "change");
		}
		else
			al_json_arr_str(js, "info");
	}
	else if (strcmp(cat, "USER_ACCOUNTS") == 0)
	{
		al_json_arr_str(js, "user");
		al_json_arr_str(js, ecs_verb(type));
	}
	else if (strcmp(cat, "TEAMS") == 0)
	{
		al_json_arr_str(js, "group");
		al_json_arr_str(js, ecs_verb(type));
	}
	else if (strcmp(cat, "ACCOUNT_TYPES") == 0)
	{
		al_json_arr_str(js, "admin");
		al_json_arr_str(js, ecs_verb(type));
	}
	else if (strcmp(cat, "EXPORTS") == 0)
		al_json_arr_str(js, "creation");
	else
		al_json_arr_str(js, ecs_verb(type));
	al_json_arr_end(js);
}

/*
 * One ECS document, allocating nothing (also the server-log line, see
 * queue.c).  Members in jsonb's order: ecs, host, user, event, source,
 * process, service, audit_log, @timestamp.
 */
void
al_event_ecs(AlJson *js, const AlEventText *ev)
{
	al_json_obj_begin(js, "ecs");
	al_json_str(js, "version", "8.11.0");
	al_json_obj_end(js);
	if (ev->source_node != NULL)
	{
		al_json_obj_begin(js, "host");
		al_json_str(js, "name", ev->source_node);
		al_json_obj_end(js);
	}
	al_json_obj_begin(js, "user");
	opt_str(js, "name", ev->user_name);
	opt_str(js, "email", ev->user_email);
	al_json_obj_end(js);
	al_json_obj_begin(js, "event");
	al_json_str(js, "id", ev->event_id);
	al_json_str(js, "kind", "event");
	ecs_type(js, ev->category, ev->type);
	al_json_str(js, "action", ev->action);
	al_json_str(js, "module", "audit_log");
	opt_str(js, "reason", ev->reason);
	opt_str(js, "created", ev->logged_time);
	al_json_str(js, "dataset", "audit_log.events");
	al_json_str(js, "outcome", ev->success ? "success" : "failure");
	al_json_arr_begin(js, "category");
	al_json_arr_str(js, ecs_category(ev->category, ev->type));
	al_json_arr_end(js);
	al_json_str(js, "provider", "postgresql");
	al_json_obj_end(js);
	if (ev->client_ip != NULL)
	{
		al_json_obj_begin(js, "source");
		al_json_str(js, "ip", ev->client_ip);
		al_json_obj_end(js);
	}
	al_json_obj_begin(js, "process");
	if (ev->backend_pid != NULL)
		al_json_raw(js, "pid", ev->backend_pid);
	al_json_obj_end(js);
	al_json_obj_begin(js, "service");
	al_json_obj_begin(js, "node");
	opt_str(js, "name", ev->source_node);
	al_json_obj_end(js);
	al_json_str(js, "type", "postgresql");
	al_json_obj_end(js);
	al_json_obj_begin(js, "audit_log");
	al_json_raw(js, "entry_data", ev->entry_data ? ev->entry_data : "null");
	al_json_str(js, "event_type", ev->type);
	opt_str(js, "session_id", ev->session_id);
	opt_str(js, "client_addr", ev->client_addr);
	opt_str(js, "object_name", ev->object_name);
	opt_str(js, "database_name", ev->database_name);
	al_json_str(js, "event_category", ev->category);
	opt_str(js, "application_name", ev->application_name);
	al_json_obj_end(js);
	al_json_str(js, "@timestamp", ev->request_time);
}

/*
 * ECS's event.action without allocating: event_type with "_" as "-", in
 * ASCII lower case (the server-log line; the export uses the database's
 * lower(), ecs_action).
 */
void
al_event_action_ascii(const char *type, char *buf, size_t len)
{
	size_t		i;

	for (i = 0; type[i] != '\0' && i + 1 < len; i++)
		buf[i] = type[i] == '_' ? '-' : pg_ascii_tolower((unsigned char) type[i]);
	if (len > 0)
		buf[i] = '\0';
}

/* ---- the receiver ---- */

static void
lines_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	LinesDest  *dest = (LinesDest *) self;
	MemoryContext old = MemoryContextSwitchTo(dest->cxt);
	int			c;

	dest->natts = typeinfo->natts;
	dest->cols = line_columns(typeinfo);
	if (dest->format != EXPORT_FORMAT_JSONL)
	{
		for (c = 0; c < C_COUNT; c++)
		{
			int			i;

			dest->ix[c] = -1;
			for (i = 0; i < dest->natts; i++)
				if (strcmp(dest->cols[i].name, event_columns[c]) == 0)
					dest->ix[c] = i;
			if (dest->ix[c] < 0)
				elog(ERROR, "column \"%s\" of audit_log.events is missing", event_columns[c]);
			dest->is_enum[c] = type_is_enum(dest->cols[dest->ix[c]].typid);
		}
	}
	dest->size = 16 * 1024;
	dest->buf = palloc(dest->size);
	MemoryContextSwitchTo(old);
}

static bool
lines_receive(TupleTableSlot *slot, DestReceiver *self)
{
	LinesDest  *dest = (LinesDest *) self;
	MemoryContext old;
	AlJson		js;
	AlEventText ev;
	char	   *line;
	size_t		len;

	slot_getallattrs(slot);
	old = MemoryContextSwitchTo(dest->rowcxt);
	for (;;)
	{
		al_json_init_pg(&js, dest->buf, dest->size, dest->format == EXPORT_FORMAT_JSONL);
		switch (dest->format)
		{
			case EXPORT_FORMAT_JSONL:
				build_jsonl(dest, slot, &js);
				break;
			case EXPORT_FORMAT_OCSF:
			case EXPORT_FORMAT_ECS:
				event_text(dest, slot, &ev);
				if (dest->format == EXPORT_FORMAT_OCSF)
					al_event_ocsf(&js, &ev);
				else
					al_event_ecs(&js, &ev);
				break;
			case EXPORT_FORMAT_CSV:
				elog(ERROR, "CSV is written by COPY");
		}
		if (al_json_finish(&js))
			break;
		/* did not fit: a bigger buffer, and the line again */
		if (dest->size >= MaxAllocSize / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("an exported line would be longer than %zu bytes", dest->size)));
		pfree(dest->buf);
		dest->size *= 2;
		dest->buf = MemoryContextAlloc(dest->cxt, dest->size);
		MemoryContextReset(dest->rowcxt);
	}
	/* the line's NUL becomes its newline */
	len = js.len;
	dest->buf[len++] = '\n';
	line = dest->utf8 ? dest->buf : pg_server_to_any(dest->buf, (int) len, PG_UTF8);
	export_writer_append(dest->w, line, line == dest->buf ? len : strlen(line));
	MemoryContextSwitchTo(old);
	MemoryContextReset(dest->rowcxt);
	dest->rows++;
	return true;
}

static void
lines_shutdown(DestReceiver *self)
{
}

static void
lines_destroy(DestReceiver *self)
{
}

/*
 * Run the query (one SELECT, its rows in order) and write one line of the
 * format per row.  Returns the number of rows, or -1 (nothing written) when
 * a jsonl column is of a type this file does not write, for the caller to
 * write the export in SQL instead.
 */
int64
export_lines_to_writer(const char *sql, ExportWriter *w, ExportFormat format)
{
	LinesDest	dest;
	SPIPlanPtr	plan;
	Portal		portal;

	memset(&dest, 0, sizeof(dest));
	dest.pub.receiveSlot = lines_receive;
	dest.pub.rStartup = lines_startup;
	dest.pub.rShutdown = lines_shutdown;
	dest.pub.rDestroy = lines_destroy;
	dest.pub.mydest = DestNone;
	dest.w = w;
	dest.format = format;
	dest.utf8 = GetDatabaseEncoding() == PG_UTF8;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(sql, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not prepare the export query: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	if (format == EXPORT_FORMAT_JSONL && !lines_supported(portal->tupDesc))
	{
		SPI_cursor_close(portal);
		SPI_finish();
		return -1;
	}
	dest.cxt = AllocSetContextCreate(CurrentMemoryContext, "audit_log export lines",
									 ALLOCSET_DEFAULT_SIZES);
	dest.rowcxt = AllocSetContextCreate(dest.cxt, "audit_log export line",
										ALLOCSET_DEFAULT_SIZES);
	(void) PortalRunFetch(portal, FETCH_FORWARD, FETCH_ALL, &dest.pub);
	SPI_cursor_close(portal);
	SPI_finish();
	return (int64) dest.rows;
}
