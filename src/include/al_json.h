/*-------------------------------------------------------------------------
 *
 * al_json.h
 *		The one JSON writer of the extension: builds one JSON object into a
 *		buffer the caller owns, never allocating and never raising an error.
 *
 * Every member (or array element) is written whole or not at all, and room
 * is always kept to close what is open, so the buffer always ends up
 * holding a well-formed object; what did not fit is left out and noted in
 * the overflow flag, which lets a caller retry with smaller limits or write
 * a stub instead.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_AL_JSON_H
#define AUDIT_LOG_AL_JSON_H

/* Deepest nesting of objects and arrays, the outer object included. */
#define AL_JSON_MAX_DEPTH 8

/* The state of one object being written; fields are private to al_json.c. */
typedef struct AlJson
{
	char	   *buf;			/* the caller's buffer */
	size_t		size;			/* its size, the final NUL included */
	size_t		len;			/* bytes written so far */
	size_t		reserve;		/* closing brackets kept room for */
	bool		overflow;		/* something was left out for lack of room */
	bool		cut;			/* the member being written does not fit */
	bool		compact;		/* "," and ":" rather than ", " and ": " */
	bool		pg_escape;		/* \b and \f short too, as PostgreSQL's json */
	int			max_items;		/* array elements kept, then "... N more" */
	int			max_str;		/* bytes of a string value kept, then "..." */
	int			depth;			/* open containers inside the outer object */
	int			dead;			/* containers left out, still open */
	bool		first[AL_JSON_MAX_DEPTH];
	int			items[AL_JSON_MAX_DEPTH];
	int			skipped[AL_JSON_MAX_DEPTH];
} AlJson;

/* al_json.c */
extern void al_json_init(AlJson *js, char *buf, size_t size, bool compact);
extern void al_json_set_limits(AlJson *js, int max_items, int max_str);
extern void al_json_init_pg(AlJson *js, char *buf, size_t size, bool compact);
extern void al_json_int64(AlJson *js, const char *key, int64 val);
extern void al_json_str(AlJson *js, const char *key, const char *val);
extern void al_json_bool(AlJson *js, const char *key, bool val);
extern void al_json_int(AlJson *js, const char *key, int val);
extern void al_json_null(AlJson *js, const char *key);
extern void al_json_raw(AlJson *js, const char *key, const char *json);
extern void al_json_obj_begin(AlJson *js, const char *key);
extern void al_json_obj_end(AlJson *js);
extern void al_json_arr_begin(AlJson *js, const char *key);
extern void al_json_arr_str(AlJson *js, const char *val);
extern void al_json_arr_end(AlJson *js);
extern bool al_json_finish(AlJson *js);

#endif							/* AUDIT_LOG_AL_JSON_H */
