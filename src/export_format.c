/*-------------------------------------------------------------------------
 *
 * export_format.c
 *		The formats and compressions of audit_log.export(): their names,
 *		the file name endings, which combinations exist, and the queries
 *		that make one JSON line per row (jsonl, OCSF, ECS).
 *
 * The JSON lines are made in SQL (row_to_json, jsonb_build_object) and go
 * through the same COPY-to-writer path as CSV (export_file.c): COPY in CSV
 * mode with a delimiter and a quote character that the text of a JSON
 * value never holds unescaped (0x01 and 0x02: JSON escapes every control
 * character) and no header, so that each row comes out as its one value
 * followed by a newline, exactly; rows stream, no file is held in memory.
 *
 * The OCSF and ECS mappings are documented in doc/export.md; keep the
 * table there and the CASE expressions here in step.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "export.h"
#include "version.h"

/*
 * The format named by the caller, or an error (22023).
 */
ExportFormat
export_parse_format(const char *name)
{
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("export format must not be null")));
	else
	{
		if (strcmp(name, "csv") == 0)
			return EXPORT_FORMAT_CSV;
		if (strcmp(name, "jsonl") == 0)
			return EXPORT_FORMAT_JSONL;
		if (strcmp(name, "ocsf") == 0)
			return EXPORT_FORMAT_OCSF;
		if (strcmp(name, "ecs") == 0)
			return EXPORT_FORMAT_ECS;
		if (strcmp(name, "html") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("export format \"html\" is not available"),
					 errdetail("The HTML report (source 'report', format 'html') is not part of this build."),
					 errhint("Use 'csv', 'jsonl', 'ocsf' or 'ecs'.")));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid export format \"%s\"", name ? name : "(null)"),
			 errhint("Use 'csv', 'jsonl', 'ocsf' or 'ecs'.")));
	return EXPORT_FORMAT_CSV;	/* keep the compiler quiet */
}

/*
 * The compression named by the caller, or an error (22023).
 */
ExportCompression
export_parse_compression(const char *name)
{
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("export compression must not be null")));
	else
	{
		if (strcmp(name, "none") == 0)
			return EXPORT_COMPRESSION_NONE;
		if (strcmp(name, "gzip") == 0)
			return EXPORT_COMPRESSION_GZIP;
		if (strcmp(name, "zstd") == 0)
			return EXPORT_COMPRESSION_ZSTD;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid export compression \"%s\"", name ? name : "(null)"),
			 errhint("Use 'none', 'gzip' or 'zstd'.")));
	return EXPORT_COMPRESSION_NONE; /* keep the compiler quiet */
}

/*
 * Refuse a format that the source has no mapping for: OCSF and ECS
 * describe events, not the daily counts of daily_login_activity.
 */
void
export_check_combination(const char *source, ExportFormat format)
{
	if ((format == EXPORT_FORMAT_OCSF || format == EXPORT_FORMAT_ECS) &&
		strcmp(source, "events") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("export format \"%s\" is not available for source \"%s\"",
						format == EXPORT_FORMAT_OCSF ? "ocsf" : "ecs", source),
				 errdetail("OCSF and ECS describe events; source \"%s\" holds no events.", source),
				 errhint("Use format 'csv' or 'jsonl' for this source, or source 'events'.")));
}

/*
 * The end of a file name: format, then compression.
 */
const char *
export_file_suffix(ExportFormat format, ExportCompression compression)
{
	static const char *const formats[] = {".csv", ".jsonl", ".ocsf.jsonl", ".ecs.jsonl"};
	static const char *const compressions[] = {"", ".gz", ".zst"};

	return psprintf("%s%s", formats[format], compressions[compression]);
}

/*
 * OCSF: the type_uid (class_uid * 100 + activity_id) of an event of row x,
 * first by category and type, then by category alone (activity 99, Other).
 */
#define OCSF_TYPE_UID \
"CASE x.event_category::pg_catalog.text || '/' || x.event_type" \
" WHEN 'ACCESS_SIGMA/LOGIN' THEN 300201" \
" WHEN 'ACCESS_SIGMA/LOGOUT' THEN 300202" \
" WHEN 'ACCESS_SIGMA/PASSWORD_CHANGE' THEN 300103" \
" WHEN 'USER_ACCOUNTS/CREATE_USER' THEN 300101" \
" WHEN 'USER_ACCOUNTS/DROP_USER' THEN 300106" \
" WHEN 'ACCOUNT_TYPES/GRANT_PRIVILEGE' THEN 300501" \
" WHEN 'ACCOUNT_TYPES/REVOKE_PRIVILEGE' THEN 300502" \
" WHEN 'ACCOUNT_TYPES/DROP_OWNED' THEN 300502" \
" WHEN 'TEAMS/CREATE_TEAM' THEN 300606" \
" WHEN 'TEAMS/DROP_TEAM' THEN 300605" \
" WHEN 'TEAMS/GRANT_MEMBERSHIP' THEN 300603" \
" WHEN 'TEAMS/REVOKE_MEMBERSHIP' THEN 300604" \
" WHEN 'EXPORTS/EXPORT' THEN 100101" \
" ELSE CASE" \
"  WHEN x.event_category = 'CONNECTIONS' THEN 300400 + CASE" \
"   WHEN x.event_type LIKE 'CREATE\\_%' OR x.event_type LIKE 'ADD\\_%' THEN 1" \
"   WHEN x.event_type LIKE 'ALTER\\_%' THEN 3" \
"   WHEN x.event_type LIKE 'DROP\\_%' THEN 4 ELSE 99 END" \
"  ELSE CASE x.event_category" \
"   WHEN 'ACCESS_SIGMA' THEN 300299 WHEN 'USER_ACCOUNTS' THEN 300199" \
"   WHEN 'ACCOUNT_TYPES' THEN 300599 WHEN 'TEAMS' THEN 300699" \
"   WHEN 'EXPORTS' THEN 100199 ELSE 99 END END END"

/* OCSF: names of the classes and activities above, from m.tu. */
#define OCSF_CLASS_NAME \
"CASE m.tu / 100 WHEN 3002 THEN 'Authentication' WHEN 3001 THEN 'Account Change'" \
" WHEN 3005 THEN 'User Access Management' WHEN 3006 THEN 'Group Management'" \
" WHEN 3004 THEN 'Entity Management' WHEN 1001 THEN 'File System Activity'" \
" ELSE 'Base Event' END"

#define OCSF_CATEGORY_NAME \
"CASE m.tu / 100000 WHEN 3 THEN 'Identity & Access Management' WHEN 1 THEN 'System Activity'" \
" ELSE 'Uncategorized' END"

#define OCSF_ACTIVITY_NAME \
"CASE WHEN m.tu % 100 = 99 THEN 'Other' ELSE CASE m.tu" \
" WHEN 300201 THEN 'Logon' WHEN 300202 THEN 'Logoff'" \
" WHEN 300101 THEN 'Create' WHEN 300103 THEN 'Password Change' WHEN 300106 THEN 'Delete'" \
" WHEN 300501 THEN 'Assign Privileges' WHEN 300502 THEN 'Revoke Privileges'" \
" WHEN 300603 THEN 'Add User' WHEN 300604 THEN 'Remove User'" \
" WHEN 300605 THEN 'Delete' WHEN 300606 THEN 'Create'" \
" WHEN 300401 THEN 'Create' WHEN 300403 THEN 'Update' WHEN 300404 THEN 'Delete'" \
" WHEN 100101 THEN 'Create' ELSE 'Other' END END"

/* Epoch milliseconds of a timestamptz. */
#define EPOCH_MS(col) \
"pg_catalog.floor(pg_catalog.date_part('epoch', " col ") * 1000)::pg_catalog.int8"

/*
 * OCSF line of row x.  Base fields: class, category, activity, type_uid,
 * severity, status, time, metadata; then actor, user, src_endpoint; the
 * rest (entry_data whole) under unmapped.  Null members are left out,
 * entry_data is kept as it is.
 */
static const char *const ocsf_line =
"(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object("
" 'class_uid', m.tu / 100, 'class_name', " OCSF_CLASS_NAME ","
" 'category_uid', m.tu / 100000, 'category_name', " OCSF_CATEGORY_NAME ","
" 'activity_id', m.tu % 100, 'activity_name', " OCSF_ACTIVITY_NAME ","
" 'type_uid', m.tu,"
" 'severity_id', CASE WHEN x.event_status = 'SUCCESS' THEN 1 ELSE 2 END,"
" 'severity', CASE WHEN x.event_status = 'SUCCESS' THEN 'Informational' ELSE 'Low' END,"
" 'status_id', CASE WHEN x.event_status = 'SUCCESS' THEN 1 ELSE 2 END,"
" 'status', CASE WHEN x.event_status = 'SUCCESS' THEN 'Success' ELSE 'Failure' END,"
" 'status_code', x.event_status_reason_code,"
" 'status_detail', x.event_status_reason_code,"
" 'time', " EPOCH_MS("x.request_time") ","
" 'message', x.event_category::pg_catalog.text || ' ' || x.event_type,"
" 'metadata', pg_catalog.jsonb_build_object('version', '1.1.0', 'uid', x.event_id,"
"  'log_name', 'audit_log.events', 'logged_time', " EPOCH_MS("x.logged_time") ","
"  'product', pg_catalog.jsonb_build_object('name', 'audit_log', 'vendor_name', 'audit_log',"
"   'version', '" AL_LIBRARY_VERSION "')),"
" 'actor', pg_catalog.jsonb_build_object('user', pg_catalog.jsonb_build_object('name', x.user_name),"
"  'app_name', x.application_name, 'session', pg_catalog.jsonb_build_object('uid', x.session_id)),"
" 'user', CASE WHEN m.tu / 100 = 3001 AND x.event_type <> 'PASSWORD_CHANGE'"
"  THEN pg_catalog.jsonb_build_object('name', x.object_name)"
"  ELSE pg_catalog.jsonb_build_object('name', x.user_name, 'email_addr', x.user_email) END,"
" 'group', CASE WHEN m.tu / 100 = 3006 THEN pg_catalog.jsonb_build_object('name', x.object_name) END,"
" 'src_endpoint', CASE WHEN x.client_addr IS NOT NULL"
"  THEN pg_catalog.jsonb_build_object('ip', pg_catalog.host(x.client_addr)) END"
")) || pg_catalog.jsonb_build_object('unmapped',"
" pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object("
"  'event_category', x.event_category, 'event_type', x.event_type,"
"  'object_name', x.object_name, 'database_name', x.database_name,"
"  'backend_pid', x.backend_pid, 'source_node', x.source_node,"
"  'client_addr', x.client_addr))"
" || pg_catalog.jsonb_build_object('entry_data', x.entry_data)))::pg_catalog.text";

/* ECS: event.type of row x (with event.category below). */
#define ECS_VERB \
"CASE WHEN x.event_type LIKE 'CREATE\\_%' OR x.event_type LIKE 'ADD\\_%' THEN 'creation'" \
" WHEN x.event_type LIKE 'DROP\\_%' OR x.event_type = 'EXTENSION_DROPPED' THEN 'deletion'" \
" WHEN x.event_type LIKE 'ALTER\\_%' OR x.event_type LIKE 'RENAME\\_%'" \
"  OR x.event_type LIKE '%CHANGE%' OR x.event_type LIKE 'GRANT\\_%'" \
"  OR x.event_type LIKE 'REVOKE\\_%' OR x.event_type LIKE 'REASSIGN\\_%' THEN 'change'" \
" ELSE 'info' END"

#define ECS_CATEGORY \
"CASE WHEN x.event_category = 'ACCESS_SIGMA' AND x.event_type = 'PASSWORD_CHANGE' THEN 'iam'" \
" WHEN x.event_category = 'ACCESS_SIGMA' THEN 'authentication'" \
" WHEN x.event_category IN ('USER_ACCOUNTS', 'TEAMS', 'ACCOUNT_TYPES') THEN 'iam'" \
" WHEN x.event_category = 'EXPORTS' THEN 'file'" \
" ELSE 'configuration' END"

#define ECS_TYPE \
"CASE WHEN x.event_category = 'ACCESS_SIGMA' AND x.event_type = 'LOGIN'" \
"  THEN pg_catalog.jsonb_build_array('start')" \
" WHEN x.event_category = 'ACCESS_SIGMA' AND x.event_type = 'LOGOUT'" \
"  THEN pg_catalog.jsonb_build_array('end')" \
" WHEN x.event_category = 'ACCESS_SIGMA' AND x.event_type = 'PASSWORD_CHANGE'" \
"  THEN pg_catalog.jsonb_build_array('user', 'change')" \
" WHEN x.event_category = 'ACCESS_SIGMA' THEN pg_catalog.jsonb_build_array('info')" \
" WHEN x.event_category = 'USER_ACCOUNTS' THEN pg_catalog.jsonb_build_array('user', " ECS_VERB ")" \
" WHEN x.event_category = 'TEAMS' THEN pg_catalog.jsonb_build_array('group', " ECS_VERB ")" \
" WHEN x.event_category = 'ACCOUNT_TYPES' THEN pg_catalog.jsonb_build_array('admin', " ECS_VERB ")" \
" WHEN x.event_category = 'EXPORTS' THEN pg_catalog.jsonb_build_array('creation')" \
" ELSE pg_catalog.jsonb_build_array(" ECS_VERB ") END"

/*
 * ECS line of row x: ECS fields nested as ECS documents are, null members
 * left out; what ECS has no field for under audit_log.*, entry_data whole.
 */
static const char *const ecs_line =
"(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object("
" '@timestamp', x.request_time,"
" 'ecs', pg_catalog.jsonb_build_object('version', '8.11.0'),"
" 'event', pg_catalog.jsonb_build_object('kind', 'event',"
"  'category', pg_catalog.jsonb_build_array(" ECS_CATEGORY "),"
"  'type', " ECS_TYPE ","
"  'action', pg_catalog.lower(pg_catalog.replace(x.event_type, '_', '-')),"
"  'outcome', CASE WHEN x.event_status = 'SUCCESS' THEN 'success' ELSE 'failure' END,"
"  'reason', x.event_status_reason_code,"
"  'id', x.event_id, 'created', x.logged_time,"
"  'module', 'audit_log', 'dataset', 'audit_log.events', 'provider', 'postgresql'),"
" 'user', pg_catalog.jsonb_build_object('name', x.user_name, 'email', x.user_email),"
" 'source', CASE WHEN x.client_addr IS NOT NULL"
"  THEN pg_catalog.jsonb_build_object('ip', pg_catalog.host(x.client_addr)) END,"
" 'host', CASE WHEN x.source_node IS NOT NULL"
"  THEN pg_catalog.jsonb_build_object('name', x.source_node) END,"
" 'service', pg_catalog.jsonb_build_object('type', 'postgresql',"
"  'node', pg_catalog.jsonb_build_object('name', x.source_node)),"
" 'process', pg_catalog.jsonb_build_object('pid', x.backend_pid)"
")) || pg_catalog.jsonb_build_object('audit_log',"
" pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object("
"  'event_category', x.event_category, 'event_type', x.event_type,"
"  'object_name', x.object_name, 'database_name', x.database_name,"
"  'application_name', x.application_name, 'session_id', x.session_id,"
"  'client_addr', x.client_addr))"
" || pg_catalog.jsonb_build_object('entry_data', x.entry_data)))::pg_catalog.text";

/*
 * The query of a JSON-lines export: one text column, one line per row of
 * base_sql (the query of the CSV export, ordered), in its order.  The
 * ordered subquery is not flattened (it has ORDER BY), and nothing above
 * it reorders.
 */
char *
export_format_query(ExportFormat format, const char *base_sql)
{
	switch (format)
	{
		case EXPORT_FORMAT_CSV:
			return pstrdup(base_sql);
		case EXPORT_FORMAT_JSONL:
			return psprintf("SELECT pg_catalog.row_to_json(x)::pg_catalog.text FROM (%s) x",
							base_sql);
		case EXPORT_FORMAT_OCSF:
			return psprintf("SELECT %s FROM (%s) x"
							" CROSS JOIN LATERAL (SELECT %s AS tu OFFSET 0) m",
							ocsf_line, base_sql, OCSF_TYPE_UID);
		case EXPORT_FORMAT_ECS:
			return psprintf("SELECT %s FROM (%s) x", ecs_line, base_sql);
	}
	return NULL;
}
