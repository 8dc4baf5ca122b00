/*-------------------------------------------------------------------------
 *
 * writer_jsonb.c
 *		The writer's conversion of a queued event's entry_data (JSON text)
 *		into jsonb, without jsonb_in's general parser where it can.
 *
 * jsonb_in runs the server's JSON parser with callbacks that push each
 * token into a tree (pushJsonbValue), sort each object's keys, and then
 * serialise the tree.  In the writer that was a third of the instructions
 * per event (bench/RESULTS.md, "instructions per operation").  The text is
 * ours: al_json.c wrote it in the capturing backend.  So this file reads
 * it with a small recursive-descent reader that builds the same tree
 * directly, sorts each object's keys as jsonb orders them (shorter first,
 * then bytewise), and hands the tree to JsonbValueToJsonb, the function
 * jsonb_in itself ends with.
 *
 * The reader only takes what it can convert exactly as jsonb_in would:
 * RFC 8259 JSON whose strings use no \u escape, hold no control character
 * and (beyond ASCII) are valid in the database encoding, with no object
 * holding the same key twice, and an object or array at the top.  Anything
 * else, well formed or not, goes to jsonb_in unchanged, which converts it
 * or raises the error it always raised.  Numbers go through numeric_in,
 * as jsonb_in sends them.
 *
 * al_writer_jsonb_compare() is for the tests only: it is in the library
 * but not in the extension's SQL.  A test creates it as a C function of
 * its own and compares both conversions of any text, byte for byte.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "writer.h"

/* far beyond what al_json.c writes; deeper or longer goes to jsonb_in */
#define AL_JB_MAX_DEPTH		64
#define AL_JB_MAX_ITEMS		65536

typedef struct AlJbReader
{
	const char *p;
	const char *end;
} AlJbReader;

static bool read_value(AlJbReader *r, JsonbValue *v, int depth);

static inline void
skip_ws(AlJbReader *r)
{
	while (r->p < r->end &&
		   (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

/*
 * A string at r->p (its opening quote): its bytes in *val (into the text
 * when it has no escape, else a copy) and *len.
 */
static bool
read_string(AlJbReader *r, char **val, int *len)
{
	const char *s = r->p + 1;
	const char *q;
	bool		high = false;
	StringInfoData buf;

	for (q = s; q < r->end; q++)
	{
		unsigned char c = (unsigned char) *q;

		if (c == '"' || c == '\\' || c < 0x20)
			break;
		high |= (c & 0x80) != 0;
	}
	if (q >= r->end || (unsigned char) *q < 0x20)
		return false;
	if (*q == '"')
	{
		*val = (char *) s;
		*len = (int) (q - s);
	}
	else
	{
		initStringInfo(&buf);
		appendBinaryStringInfo(&buf, s, (int) (q - s));
		for (;;)
		{
			unsigned char c;

			if (q >= r->end)
				return false;
			c = (unsigned char) *q;
			if (c == '"')
				break;
			if (c < 0x20)
				return false;
			if (c != '\\')
			{
				high |= (c & 0x80) != 0;
				appendStringInfoChar(&buf, (char) c);
				q++;
				continue;
			}
			if (++q >= r->end)
				return false;
			switch (*q)
			{
				case '"':
				case '\\':
				case '/':
					appendStringInfoChar(&buf, *q);
					break;
				case 'b':
					appendStringInfoChar(&buf, '\b');
					break;
				case 'f':
					appendStringInfoChar(&buf, '\f');
					break;
				case 'n':
					appendStringInfoChar(&buf, '\n');
					break;
				case 'r':
					appendStringInfoChar(&buf, '\r');
					break;
				case 't':
					appendStringInfoChar(&buf, '\t');
					break;
				default:		/* \u (its code points) and anything else */
					return false;
			}
			q++;
		}
		*val = buf.data;
		*len = buf.len;
	}
	if (*len > JENTRY_OFFLENMASK)
		return false;
	if (high && !pg_verifymbstr(*val, *len, true))
		return false;
	r->p = q + 1;
	return true;
}

/* A number by JSON's grammar, converted by numeric_in as jsonb_in does. */
static bool
read_number(AlJbReader *r, JsonbValue *v)
{
	const char *s = r->p;
	const char *q = s;
	char		small[64];
	char	   *token;

	if (q < r->end && *q == '-')
		q++;
	if (q >= r->end || !isdigit((unsigned char) *q))
		return false;
	if (*q == '0')
		q++;
	else
		while (q < r->end && isdigit((unsigned char) *q))
			q++;
	if (q < r->end && *q == '.')
	{
		q++;
		if (q >= r->end || !isdigit((unsigned char) *q))
			return false;
		while (q < r->end && isdigit((unsigned char) *q))
			q++;
	}
	if (q < r->end && (*q == 'e' || *q == 'E'))
	{
		q++;
		if (q < r->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= r->end || !isdigit((unsigned char) *q))
			return false;
		while (q < r->end && isdigit((unsigned char) *q))
			q++;
	}
	/* "01", "1x", "1true": not a number token that ends here */
	if (q < r->end && (isalnum((unsigned char) *q) || *q == '_' || *q == '.' ||
					   (unsigned char) *q >= 0x80))
		return false;
	if (q - s < (ptrdiff_t) sizeof(small))
		token = small;
	else
		token = palloc(q - s + 1);
	memcpy(token, s, q - s);
	token[q - s] = '\0';
	v->type = jbvNumeric;
	v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
														 CStringGetDatum(token),
														 ObjectIdGetDatum(InvalidOid),
														 Int32GetDatum(-1)));
	r->p = q;
	return true;
}

static bool
read_literal(AlJbReader *r, const char *word, size_t n)
{
	if ((size_t) (r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return false;
	r->p += n;
	/* "truex", "null1": the word does not end there */
	if (r->p < r->end && (isalnum((unsigned char) *r->p) || *r->p == '_' ||
						  (unsigned char) *r->p >= 0x80))
		return false;
	return true;
}

/* jsonb's order of keys: the shorter first, then bytewise. */
static inline int
key_cmp(const JsonbValue *a, const JsonbValue *b)
{
	if (a->val.string.len != b->val.string.len)
		return a->val.string.len > b->val.string.len ? 1 : -1;
	return memcmp(a->val.string.val, b->val.string.val, a->val.string.len);
}

/* Sort an object's pairs by key; false when a key is there twice. */
static bool
sort_pairs(JsonbPair *pairs, int n)
{
	int			i;

	for (i = 1; i < n; i++)
	{
		JsonbPair	x = pairs[i];
		int			j = i - 1;
		int			c = 0;

		while (j >= 0 && (c = key_cmp(&pairs[j].key, &x.key)) > 0)
		{
			pairs[j + 1] = pairs[j];
			j--;
		}
		if (j >= 0 && c == 0)
			return false;		/* jsonb_in keeps the last: let it */
		pairs[j + 1] = x;
	}
	return true;
}

/*
 * Past the opening bracket of a container closed by close: true when it is
 * empty (its closing bracket taken too).
 */
static bool
open_container(AlJbReader *r, char close)
{
	r->p++;
	skip_ws(r);
	if (r->p < r->end && *r->p == close)
	{
		r->p++;
		return true;
	}
	return false;
}

/*
 * After a member or element: 1 when a comma says another follows, 0 when
 * the closing bracket ends the container (taken), -1 when neither is there.
 */
static int
next_item(AlJbReader *r, char close)
{
	skip_ws(r);
	if (r->p < r->end && (*r->p == ',' || *r->p == close))
		return *r->p++ == ',' ? 1 : 0;
	return -1;
}

/* Room for one more of n items of size bytes in *items (cap of them). */
static bool
make_room(void **items, int n, int *cap, Size size)
{
	if (n >= AL_JB_MAX_ITEMS)
		return false;
	if (n == *cap)
	{
		*cap *= 2;
		*items = repalloc(*items, size * *cap);
	}
	return true;
}

static bool
read_object(AlJbReader *r, JsonbValue *v, int depth)
{
	int			n = 0;
	int			cap = 8;
	JsonbPair  *pairs = palloc(sizeof(JsonbPair) * cap);
	int			more = open_container(r, '}') ? 0 : 1;

	while (more == 1)
	{
		JsonbPair  *pair;

		if (!make_room((void **) &pairs, n, &cap, sizeof(JsonbPair)))
			return false;
		pair = &pairs[n];
		skip_ws(r);
		if (r->p >= r->end || *r->p != '"')
			return false;
		pair->key.type = jbvString;
		if (!read_string(r, &pair->key.val.string.val, &pair->key.val.string.len))
			return false;
		skip_ws(r);
		if (r->p >= r->end || *r->p != ':')
			return false;
		r->p++;
		skip_ws(r);
		if (!read_value(r, &pair->value, depth + 1))
			return false;
		pair->order = n++;
		if ((more = next_item(r, '}')) < 0)
			return false;
	}
	if (!sort_pairs(pairs, n))
		return false;
	v->type = jbvObject;
	v->val.object.nPairs = n;
	v->val.object.pairs = pairs;
	return true;
}

static bool
read_array(AlJbReader *r, JsonbValue *v, int depth)
{
	int			n = 0;
	int			cap = 8;
	JsonbValue *elems = palloc(sizeof(JsonbValue) * cap);
	int			more = open_container(r, ']') ? 0 : 1;

	while (more == 1)
	{
		if (!make_room((void **) &elems, n, &cap, sizeof(JsonbValue)))
			return false;
		skip_ws(r);
		if (!read_value(r, &elems[n++], depth + 1))
			return false;
		if ((more = next_item(r, ']')) < 0)
			return false;
	}
	v->type = jbvArray;
	v->val.array.nElems = n;
	v->val.array.elems = elems;
	v->val.array.rawScalar = false;
	return true;
}

static bool
read_value(AlJbReader *r, JsonbValue *v, int depth)
{
	if (depth > AL_JB_MAX_DEPTH || r->p >= r->end)
		return false;
	switch (*r->p)
	{
		case '{':
			return read_object(r, v, depth);
		case '[':
			return read_array(r, v, depth);
		case '"':
			v->type = jbvString;
			return read_string(r, &v->val.string.val, &v->val.string.len);
		case 't':
			v->type = jbvBool;
			v->val.boolean = true;
			return read_literal(r, "true", 4);
		case 'f':
			v->type = jbvBool;
			v->val.boolean = false;
			return read_literal(r, "false", 5);
		case 'n':
			v->type = jbvNull;
			return read_literal(r, "null", 4);
		default:
			return read_number(r, v);
	}
}

/*
 * The tree of json (len bytes), or false when it is not all of the kind
 * read here.  Allocates in the current memory context whatever it returns.
 */
static bool
al_jsonb_tree(const char *json, size_t len, JsonbValue *root)
{
	AlJbReader	r;

	r.p = json;
	r.end = json + len;
	skip_ws(&r);
	if (r.p >= r.end || (*r.p != '{' && *r.p != '['))
		return false;
	if (!read_value(&r, root, 1))
		return false;
	skip_ws(&r);
	return r.p == r.end;
}

Datum
al_writer_jsonb(const char *json)
{
	JsonbValue	root;

	if (al_jsonb_tree(json, strlen(json), &root))
		return PointerGetDatum(JsonbValueToJsonb(&root));
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

/*
 * For the tests: al_writer_jsonb_compare(text) returns 1 when the reader
 * took the text and built the very bytes jsonb_in builds, 0 when it left
 * the text to jsonb_in (then jsonb_in's error, if any, is raised), and -1
 * when both converted it but to different bytes: a bug.
 */
PG_FUNCTION_INFO_V1(al_writer_jsonb_compare);

Datum
al_writer_jsonb_compare(PG_FUNCTION_ARGS)
{
	char	   *json = text_to_cstring(PG_GETARG_TEXT_PP(0));
	JsonbValue	root;
	Jsonb	   *ours;
	Jsonb	   *theirs;

	if (!al_jsonb_tree(json, strlen(json), &root))
	{
		(void) DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
		PG_RETURN_INT32(0);
	}
	ours = JsonbValueToJsonb(&root);
	theirs = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	PG_RETURN_INT32(VARSIZE(ours) == VARSIZE(theirs) &&
					memcmp(ours, theirs, VARSIZE(ours)) == 0 ? 1 : -1);
}
