/*-------------------------------------------------------------------------
 *
 * redact.h
 *		The one redaction policy of the extension: which option values and
 *		which parts of a connection string may be recorded.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_REDACT_H
#define AUDIT_LOG_REDACT_H

/* What replaces a secret value in entry_data. */
#define AL_REDACTED "[redacted]"

/* One keyword given a value in a connection string. */
typedef struct AlConninfoItem
{
	char	   *key;			/* libpq's keyword */
	char	   *value;
	bool		shown;			/* false: a secret, or not known to be none */
} AlConninfoItem;

/* redact.c */
extern bool al_redact_option_hidden(const char *name, const char *value);
extern int	al_redact_conninfo_parse(const char *conninfo, AlConninfoItem **items);
extern char *al_redact_conninfo_text(const char *conninfo);

#endif							/* AUDIT_LOG_REDACT_H */
