/*-------------------------------------------------------------------------
 *
 * export_format.c
 *		The formats and compressions of audit_log.export(): their names,
 *		the file name endings, which combinations exist, and the SQL
 *		form of jsonl that export_lines.c falls back to.
 *
 * The JSON lines (jsonl, OCSF, ECS) are made in C, row by row
 * (export_lines.c).  The SQL jsonl goes through the same COPY-to-writer
 * path as CSV (export_file.c): COPY in CSV mode with a delimiter and a
 * quote character that the text of a JSON value never holds unescaped
 * (0x01 and 0x02: JSON escapes every control character) and no header, so
 * that each row comes out as its one value followed by a newline, exactly.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "export.h"

/*
 * The format named by the caller, or an error (22023).  Format "html" (the
 * report) never comes here: do_export() takes it, with source 'report',
 * before the formats of the row exports are read, and refuses it with any
 * other source.
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
 * The query of an export in SQL: base_sql itself for CSV; for jsonl, one
 * text column, row_to_json() of each row of base_sql in its order (the
 * ordered subquery is not flattened: it has ORDER BY).  The JSON lines are
 * made in C (export_lines.c); this jsonl query is what is left for a
 * source with a column that export_lines.c does not format.
 */
char *
export_format_query(ExportFormat format, const char *base_sql)
{
	if (format == EXPORT_FORMAT_JSONL)
		return psprintf("SELECT pg_catalog.row_to_json(x)::pg_catalog.text FROM (%s) x",
						base_sql);
	return pstrdup(base_sql);
}
