/*-------------------------------------------------------------------------
 *
 * al_json.c
 *		The one JSON writer of the extension.  It writes one JSON object into
 *		a fixed-size buffer the caller owns: the entry_data of an event built
 *		by the administrative capture (capture_admin.c and admin_*.c), by
 *		the settings watch (settings_watch.c) and by add_source (fleet.c),
 *		and the server-log line of an event (queue.c).
 *
 * It never allocates and never raises an error, so it is usable inside
 * emit_log_hook and under the queue's re-entry guard.  Every member, or
 * array element, is written whole or not at all: a member that does not
 * fit is taken back and the overflow flag set.  Room is always kept for the
 * brackets that close the open containers, so that al_json_finish always
 * leaves a well-formed object.  The limits (al_json_set_limits) cut long
 * arrays to their first elements and a "... N more" marker, and long
 * strings to their first bytes (at a character boundary) and "...", so that
 * a caller can retry a build that overflowed with smaller limits.
 *
 * Strings are escaped as JSON requires: quote, backslash, \n, \r and \t by
 * their short forms, every other byte below 0x20 as \u00XX; other bytes,
 * multibyte characters included, are copied as they are.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "al_json.h"

static void js_put(AlJson *js, const char *s, size_t n);

/*
 * Start an object in buf; compact chooses "," and ":" as separators (the
 * server-log line) rather than ", " and ": " (entry_data).  A buffer of
 * fewer than 3 bytes cannot hold even "{}": nothing is written to it.
 */
void
al_json_init(AlJson *js, char *buf, size_t size, bool compact)
{
	memset(js, 0, sizeof(AlJson));
	js->buf = buf;
	js->size = size;
	js->compact = compact;
	js->max_items = INT_MAX;
	js->max_str = INT_MAX;
	js->first[0] = true;
	if (size < 3)
	{
		js->overflow = true;
		if (size > 0)
			buf[0] = '\0';
		return;
	}
	js->reserve = 1;			/* the final '}' */
	buf[0] = '{';
	buf[1] = '\0';
	js->len = 1;
}

/*
 * The same, escaping strings exactly as PostgreSQL's json and jsonb output
 * does (escape_json: \b and \f by their short forms too), for the lines of
 * the JSON exports, which must be byte for byte what row_to_json() and
 * jsonb's text would give (export_lines.c).
 */
void
al_json_init_pg(AlJson *js, char *buf, size_t size, bool compact)
{
	al_json_init(js, buf, size, compact);
	js->pg_escape = true;
}

/* Keep at most max_items elements of an array and max_str bytes of a string. */
void
al_json_set_limits(AlJson *js, int max_items, int max_str)
{
	js->max_items = max_items;
	js->max_str = max_str;
}

/*
 * Append n bytes to the member being written, unless they would leave no
 * room for the closing brackets; then the member is cut (js_end takes it
 * back).
 */
static void
js_put(AlJson *js, const char *s, size_t n)
{
	if (js->cut)
		return;
	if (js->len + n + js->reserve >= js->size)
	{
		js->cut = true;
		return;
	}
	memcpy(js->buf + js->len, s, n);
	js->len += n;
	js->buf[js->len] = '\0';
}

/*
 * The bytes a JSON string cannot hold as they are: quote, backslash and
 * every byte below 0x20.
 */
static const bool js_special[256] = {
	[0x00] = true, [0x01] = true, [0x02] = true, [0x03] = true,
	[0x04] = true, [0x05] = true, [0x06] = true, [0x07] = true,
	[0x08] = true, [0x09] = true, [0x0a] = true, [0x0b] = true,
	[0x0c] = true, [0x0d] = true, [0x0e] = true, [0x0f] = true,
	[0x10] = true, [0x11] = true, [0x12] = true, [0x13] = true,
	[0x14] = true, [0x15] = true, [0x16] = true, [0x17] = true,
	[0x18] = true, [0x19] = true, [0x1a] = true, [0x1b] = true,
	[0x1c] = true, [0x1d] = true, [0x1e] = true, [0x1f] = true,
	['"'] = true, ['\\'] = true
};

/*
 * Append the escaped form of the first n bytes of s (no quotes): the runs
 * of ordinary bytes are found with a table and copied whole (the exports
 * write millions of strings, nearly all without a byte to escape).
 */
static void
js_escape(AlJson *js, const char *s, size_t n)
{
	size_t		run = 0;
	size_t		i = 0;

	for (;;)
	{
		unsigned char c;
		char		esc[8];
		const char *piece;

		while (i < n && !js_special[(unsigned char) s[i]])
			i++;
		if (i >= n)
			break;
		c = (unsigned char) s[i];
		switch (c)
		{
			case '"':
				piece = "\\\"";
				break;
			case '\\':
				piece = "\\\\";
				break;
			case '\n':
				piece = "\\n";
				break;
			case '\r':
				piece = "\\r";
				break;
			case '\t':
				piece = "\\t";
				break;
			case '\b':
				piece = js->pg_escape ? "\\b" : "\\u0008";
				break;
			case '\f':
				piece = js->pg_escape ? "\\f" : "\\u000c";
				break;
			default:
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				piece = esc;
				break;
		}
		js_put(js, s + run, i - run);
		js_put(js, piece, strlen(piece));
		i++;
		run = i;
	}
	js_put(js, s + run, n - run);
}

/* A string value (or key), quoted; values beyond max_str bytes clipped. */
static void
js_string(AlJson *js, const char *s, bool clip)
{
	size_t		len = strlen(s);

	js_put(js, "\"", 1);
	if (clip && len > (size_t) js->max_str)
	{
		js_escape(js, s, pg_mbcliplen(s, len, js->max_str));
		js_put(js, "...", 3);
	}
	else
		js_escape(js, s, len);
	js_put(js, "\"", 1);
}

/*
 * Begin a member (key given) or an array element (key NULL): separator and
 * key.  False when nothing is to be written (inside a container that was
 * left out).
 */
static bool
js_begin(AlJson *js, const char *key, size_t *mark)
{
	if (js->dead > 0 || js->size < 3)
		return false;
	*mark = js->len;
	js->cut = false;
	if (!js->first[js->depth])
		js_put(js, js->compact ? "," : ", ", js->compact ? 1 : 2);
	if (key != NULL)
	{
		size_t		klen = strlen(key);
		size_t		seplen = js->compact ? 1 : 2;
		size_t		i;

		for (i = 0; i < klen && !js_special[(unsigned char) key[i]]; i++)
			;
		/* the usual key (nothing to escape, room for it): in one go */
		if (i == klen && !js->cut && js->len + klen + 2 + seplen + js->reserve < js->size)
		{
			char	   *p = js->buf + js->len;

			*p++ = '"';
			memcpy(p, key, klen);
			p += klen;
			*p++ = '"';
			memcpy(p, js->compact ? ":" : ": ", seplen);
			p += seplen;
			*p = '\0';
			js->len = p - js->buf;
		}
		else
		{
			js_string(js, key, false);
			js_put(js, js->compact ? ":" : ": ", seplen);
		}
	}
	return true;
}

/* End a member: keep it, or take it back whole when it did not fit. */
static bool
js_end(AlJson *js, size_t mark)
{
	if (js->cut)
	{
		js->cut = false;
		js->len = mark;
		js->buf[mark] = '\0';
		js->overflow = true;
		return false;
	}
	js->first[js->depth] = false;
	return true;
}

/* A member (element: key NULL) whose value is the text given, already JSON. */
void
al_json_raw(AlJson *js, const char *key, const char *json)
{
	size_t		mark;

	if (!js_begin(js, key, &mark))
		return;
	js_put(js, json, strlen(json));
	(void) js_end(js, mark);
}

/* A string member (an array element when key is NULL); NULL gives null. */
void
al_json_str(AlJson *js, const char *key, const char *val)
{
	size_t		mark;

	if (!js_begin(js, key, &mark))
		return;
	if (val == NULL)
		js_put(js, "null", 4);
	else
		js_string(js, val, true);
	(void) js_end(js, mark);
}

void
al_json_bool(AlJson *js, const char *key, bool val)
{
	al_json_raw(js, key, val ? "true" : "false");
}

void
al_json_int(AlJson *js, const char *key, int val)
{
	char		num[MAXINT8LEN + 1];

	(void) pg_ltoa((int32) val, num);
	al_json_raw(js, key, num);
}

void
al_json_int64(AlJson *js, const char *key, int64 val)
{
	char		num[MAXINT8LEN + 1];

	(void) pg_lltoa(val, num);
	al_json_raw(js, key, num);
}

void
al_json_null(AlJson *js, const char *key)
{
	al_json_raw(js, key, "null");
}

/*
 * Open an object or array member.  One that does not fit (or would nest
 * too deep) is left out with everything written into it.
 */
static void
js_open(AlJson *js, const char *key, const char *bracket)
{
	size_t		mark;

	if (js->dead > 0 || js->depth + 1 >= AL_JSON_MAX_DEPTH)
	{
		js->overflow = true;
		js->dead++;
		return;
	}
	if (!js_begin(js, key, &mark))
		return;
	js->reserve++;				/* its own closing bracket */
	js_put(js, bracket, 1);
	if (!js_end(js, mark))
	{
		js->reserve--;
		js->dead++;
		return;
	}
	js->depth++;
	js->first[js->depth] = true;
	js->items[js->depth] = 0;
	js->skipped[js->depth] = 0;
}

/* Close the innermost container; there is always room for its bracket. */
static void
js_close(AlJson *js, char bracket)
{
	if (js->dead > 0)
	{
		js->dead--;
		return;
	}
	if (js->depth == 0 || js->size < 3)
		return;
	js->reserve--;
	js->buf[js->len++] = bracket;
	js->buf[js->len] = '\0';
	js->depth--;
}

void
al_json_obj_begin(AlJson *js, const char *key)
{
	js_open(js, key, "{");
}

void
al_json_obj_end(AlJson *js)
{
	js_close(js, '}');
}

void
al_json_arr_begin(AlJson *js, const char *key)
{
	js_open(js, key, "[");
}

/* An array element, unless max_items are already there (then counted). */
void
al_json_arr_str(AlJson *js, const char *val)
{
	if (js->dead > 0)
		return;
	if (js->items[js->depth] >= js->max_items)
	{
		js->skipped[js->depth]++;
		return;
	}
	js->items[js->depth]++;
	al_json_str(js, NULL, val);
}

/* Close an array, after a "... N more" element for those not kept. */
void
al_json_arr_end(AlJson *js)
{
	if (js->dead == 0 && js->skipped[js->depth] > 0)
	{
		char		more[32];

		snprintf(more, sizeof(more), "\"... %d more\"", js->skipped[js->depth]);
		js->skipped[js->depth] = 0;
		al_json_raw(js, NULL, more);
	}
	js_close(js, ']');
}

/*
 * Close the object.  True when everything fitted; false when something
 * was left out (the buffer still holds a well-formed object).
 */
bool
al_json_finish(AlJson *js)
{
	if (js->size < 3)
		return false;
	if (js->depth != 0 || js->dead != 0)
	{
		/* unbalanced begin and end: a caller's bug; drop the contents */
		js->overflow = true;
		js->len = 1;
	}
	js->buf[js->len++] = '}';
	js->buf[js->len] = '\0';
	return !js->overflow;
}
