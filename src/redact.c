/*-------------------------------------------------------------------------
 *
 * redact.c
 *		The one redaction policy of the extension, used by the
 *		administrative capture (admin_render.c, admin_roles.c,
 *		admin_connections.c) for options, settings and subscription
 *		connection strings, and by add_source (fleet.c) for the connection
 *		string of its events.
 *
 * The policy.  A value is recorded only when nothing says it may be a
 * secret: an option or setting is hidden when its name looks like a secret
 * (password, token, key, ...), when it holds a whole connection string, or
 * when its value looks like one with a password in it.  A connection string
 * is parsed by libpq's own PQconninfoParse (the backend links libpq, see
 * the Makefile), so that its keywords are those libpq will use; a keyword
 * is shown only when it is on a list of keywords known to carry no secret,
 * libpq does not mark it as a password (dispchar "*"), and its value does
 * not look like a secret.  Every other keyword is left out (its name may be
 * recorded).  A string libpq cannot parse is recorded as unparsable, none
 * of it kept: a parse error says nothing reliable about where a password
 * starts or ends.  Deliberately broad: a harmless value that is hidden
 * costs little, a password that is shown cannot be taken back.
 *
 * The libpq result lives in malloc'd memory: it is copied into palloc'd
 * memory and freed before anything else is done.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "libpq-fe.h"

#include "redact.h"

/* How a word of a list is matched against a name. */
typedef enum WordMatch
{
	MATCH_EXACT,				/* the name is the word */
	MATCH_EXACT_CI,				/* the same, case ignored */
	MATCH_CONTAINS_CI			/* the name contains the word, case ignored */
} WordMatch;

/* Case-insensitive substring test. */
static bool
contains_ci(const char *haystack, const char *needle)
{
	size_t		n = strlen(needle);

	for (; *haystack; haystack++)
	{
		if (pg_strncasecmp(haystack, needle, n) == 0)
			return true;
	}
	return false;
}

/* Does a name (NULL: none) match one of n words? */
static bool
matches_any(const char *name, const char *const *words, int n, WordMatch how)
{
	int			i;

	if (name == NULL)
		return false;
	for (i = 0; i < n; i++)
	{
		if ((how == MATCH_EXACT && strcmp(name, words[i]) == 0) ||
			(how == MATCH_EXACT_CI && pg_strcasecmp(name, words[i]) == 0) ||
			(how == MATCH_CONTAINS_CI && contains_ci(name, words[i])))
			return true;
	}
	return false;
}

/* Does an option, setting or keyword of this name look like a secret? */
static bool
secret_name(const char *name)
{
	static const char *const words[] = {
		"pass", "pwd", "secret", "token", "key", "credential", "auth"
	};

	return matches_any(name, words, lengthof(words), MATCH_CONTAINS_CI);
}

/*
 * Does a value look like it carries a secret even though its name does not
 * say so: a connection string with a password, or a URI with a password in
 * its user info (scheme://user:password@host)?
 */
static bool
secret_value(const char *val)
{
	static const char *const words[] = {"password", "passwd", "secret"};
	const char *p;

	if (val == NULL)
		return false;
	if (matches_any(val, words, lengthof(words), MATCH_CONTAINS_CI))
		return true;
	p = strstr(val, "://");
	if (p != NULL)
	{
		const char *end = p + 3;
		const char *colon = NULL;

		for (; *end && *end != '/' && *end != '?' && *end != '#'; end++)
		{
			if (*end == ':' && colon == NULL)
				colon = end;
			if (*end == '@' && colon != NULL)
				return true;
		}
	}
	return false;
}

/* Does an option of this name hold a whole connection string? */
static bool
conninfo_name(const char *name)
{
	static const char *const names[] = {
		"conninfo", "dsn", "connstr", "connection_string"
	};

	return matches_any(name, names, lengthof(names), MATCH_EXACT_CI);
}

/*
 * Must the value of an option (of a server, user mapping, wrapper or
 * subscription) or of a role setting be replaced by AL_REDACTED?
 */
bool
al_redact_option_hidden(const char *name, const char *value)
{
	return secret_name(name) || conninfo_name(name) || secret_value(value);
}

/* Connection-string keywords known to carry no secret. */
static bool
conninfo_key_harmless(const char *key)
{
	static const char *const keys[] = {
		"host", "hostaddr", "port", "dbname", "user", "application_name",
		"fallback_application_name", "sslmode", "connect_timeout",
		"target_session_attrs", "gssencmode", "channel_binding",
		"client_encoding", "replication", "krbsrvname", "requirepeer",
		"keepalives", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "tcp_user_timeout", "sslcompression",
		"ssl_min_protocol_version", "ssl_max_protocol_version"
	};

	return matches_any(key, keys, lengthof(keys), MATCH_EXACT);
}

/*
 * Parse a connection string (key=value pairs or a postgresql:// URI) with
 * libpq.  Returns the number of keywords given a value, and in *items
 * (palloc'd, in libpq's order of keywords) each with the policy's verdict;
 * or -1 when libpq cannot parse the string (libpq's message is not kept:
 * it may quote part of the string).
 */
int
al_redact_conninfo_parse(const char *conninfo, AlConninfoItem **items)
{
	PQconninfoOption *opts;
	PQconninfoOption *opt;
	char	   *err = NULL;
	int			n = 0;

	*items = NULL;
	opts = PQconninfoParse(conninfo, &err);
	if (opts == NULL)
	{
		if (err != NULL)
			PQfreemem(err);
		return -1;
	}
	for (opt = opts; opt->keyword != NULL; opt++)
		n++;
	*items = palloc(sizeof(AlConninfoItem) * Max(n, 1));
	n = 0;
	for (opt = opts; opt->keyword != NULL; opt++)
	{
		AlConninfoItem *item = &(*items)[n];

		if (opt->val == NULL)
			continue;
		item->key = pstrdup(opt->keyword);
		item->value = pstrdup(opt->val);
		item->shown = conninfo_key_harmless(opt->keyword) &&
			!(opt->dispchar != NULL && opt->dispchar[0] == '*') &&
			!secret_name(opt->keyword) && !secret_value(opt->val);
		n++;
	}
	PQconninfoFree(opts);
	return n;
}

/*
 * The shown keywords of a connection string with a non-empty value, as
 * key='value' pairs (the form libpq reads back), or NULL when the string
 * does not parse.
 */
char *
al_redact_conninfo_text(const char *conninfo)
{
	AlConninfoItem *items;
	StringInfoData buf;
	int			n;
	int			i;

	n = al_redact_conninfo_parse(conninfo, &items);
	if (n < 0)
		return NULL;
	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		const char *p;

		if (!items[i].shown || items[i].value[0] == '\0')
			continue;
		if (buf.len > 0)
			appendStringInfoChar(&buf, ' ');
		appendStringInfo(&buf, "%s='", items[i].key);
		for (p = items[i].value; *p; p++)
		{
			if (*p == '\'' || *p == '\\')
				appendStringInfoChar(&buf, '\\');
			appendStringInfoChar(&buf, *p);
		}
		appendStringInfoChar(&buf, '\'');
	}
	return buf.data;
}
