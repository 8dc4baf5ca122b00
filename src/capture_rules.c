/*-------------------------------------------------------------------------
 *
 * capture_rules.c
 *		Capture rules: rows of audit_log.capture_rules that skip or keep
 *		captured events, applied in the capturing process before an event is
 *		queued, from a copy of the table in shared memory.
 *
 * The table is read only where a transaction is: at the commit of a change
 * (the statement trigger audit_log._capture_rules_changed marks the
 * transaction; at PRE_COMMIT this file reads the table with the latest
 * snapshot, at COMMIT it installs that set; an abort installs nothing), and
 * by the writer at its start (after a server restart).  Until the writer
 * has loaded the table, every event is kept.  Only the rules of the
 * database named by audit_log.database apply: a change elsewhere installs
 * nothing.  Under a 1.0 schema there is no table and nothing is skipped.
 * A hot standby has no trigger to run: its writer loads the (replicated)
 * table at its start, and the standby follows later changes from its next
 * restart on.
 *
 * Locking rules and invariants:
 *
 * - Installers (a committing backend, the writer) hold the LWLock
 *   "audit_log capture rules" exclusively; they make seq odd, rewrite the
 *   rules, and make it even again, with write barriers in between.
 * - The capture (al_capture_rules_skip, explain_capture, the stats view)
 *   never takes a lock: it reads seq (even), matches the rules in place,
 *   and retries if seq changed meanwhile (a torn read is harmless: every
 *   string is compared within its fixed-size array).  If an installer
 *   keeps seq odd for too long, the event is kept.
 * - The changes of the table are serialised by a SHARE UPDATE EXCLUSIVE
 *   lock on it, taken before each changing statement and by the writer's
 *   load, and held until commit, which installs before the lock goes: so
 *   the last commit installs a set that includes every earlier one.
 * - FAILURE events, AUDIT_LOG events, events that are not captured by the
 *   server (origin other than SERVER) and intents are always kept, whatever
 *   shared memory holds (the table refuses such rules; this is defence in
 *   depth).
 * - The skip counters are atomics next to each rule; an install keeps the
 *   counter (and its "since") of a rule whose name and definition did not
 *   change.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit_log.h"
#include "capture_rules.h"
#include "version.h"

PG_FUNCTION_INFO_V1(audit_log_capture_rules_changed);
PG_FUNCTION_INFO_V1(audit_log_capture_rules_reload);
PG_FUNCTION_INFO_V1(audit_log_capture_rule_stats);
PG_FUNCTION_INFO_V1(audit_log_explain_capture);

/* Which match columns a rule names (bits of AlCaptureRule.match). */
#define AL_M_CATEGORY	0x01
#define AL_M_TYPE		0x02
#define AL_M_STATUS		0x04
#define AL_M_USER		0x08
#define AL_M_DATABASE	0x10
#define AL_M_APP		0x20
#define AL_M_ADDR		0x40

/* How often a reader retries while an install is under way. */
#define AL_RULES_MAX_TRIES 10000

typedef struct AlCaptureRule
{
	char		name[64];
	int32		position;
	bool		skip;
	uint8		match;			/* AL_M_* */
	uint8		category;		/* AuditCategory */
	bool		success;		/* event_status = SUCCESS */
	uint8		addr_family;	/* AF_INET or AF_INET6 */
	uint8		addr_bits;		/* prefix length */
	uint8		addr[16];
	char		event_type[AL_TYPE_LEN];
	char		user_name[AL_NAME_LEN];
	char		database_name[AL_NAME_LEN];
	char		application_name[AL_NAME_LEN];
} AlCaptureRule;

typedef struct AlCaptureRuleSlot
{
	AlCaptureRule rule;
	pg_atomic_uint64 skipped;
	TimestampTz since;
} AlCaptureRuleSlot;

typedef struct AlCaptureRules
{
	LWLock	   *lock;			/* installers only */
	pg_atomic_uint32 seq;		/* odd while an install is under way */
	bool		loaded;			/* the table has been read since start */
	int			nrules;
	AlCaptureRuleSlot slots[AL_MAX_CAPTURE_RULES];
} AlCaptureRules;

/* Why an event is kept or skipped (explain_capture's reason). */
typedef enum AlDecision
{
	AL_DECIDE_RULE,				/* a rule decides */
	AL_DECIDE_NO_RULE,			/* no rule matches: keep */
	AL_DECIDE_FAILURE,			/* FAILURE: never skipped */
	AL_DECIDE_AUDIT_LOG,		/* AUDIT_LOG: never skipped */
	AL_DECIDE_NOT_CAPTURED,		/* not a server-captured event */
	AL_DECIDE_NOT_LOADED,		/* rules not loaded yet: keep */
	AL_DECIDE_BUSY				/* an install took too long: keep */
} AlDecision;

static AlCaptureRules *al_rules = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * This transaction changed the rules (in audit_log.database), and the set
 * read at PRE_COMMIT, to install at COMMIT.
 */
static bool al_rules_dirty = false;
static bool al_rules_staged = false;
static int	al_staged_n = 0;
static AlCaptureRule *al_staged = NULL;

static void
al_rules_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(AlCaptureRules)));
	RequestNamedLWLockTranche("audit_log capture rules", 1);
}

static void
al_rules_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	al_rules = ShmemInitStruct("audit_log capture rules", sizeof(AlCaptureRules), &found);
	if (!found)
	{
		int			i;

		memset(al_rules, 0, sizeof(AlCaptureRules));
		al_rules->lock = &(GetNamedLWLockTranche("audit_log capture rules"))->lock;
		pg_atomic_init_u32(&al_rules->seq, 0);
		for (i = 0; i < AL_MAX_CAPTURE_RULES; i++)
			pg_atomic_init_u64(&al_rules->slots[i].skipped, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Install the shared-memory request and startup hooks.  Called from
 * _PG_init when preloaded.
 */
void
al_capture_rules_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = al_rules_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = al_rules_shmem_startup;
}

/* ---------------------------------------------------------------------
 * The matcher
 * ---------------------------------------------------------------------
 */

/* An event's client address, parsed once (family 0: none). */
typedef struct AlEventAddr
{
	bool		parsed;
	int			family;
	uint8		addr[16];
} AlEventAddr;

static void
al_parse_addr(const char *text, AlEventAddr *a)
{
	a->parsed = true;
	a->family = 0;
	if (text[0] == '\0')
		return;
	if (inet_pton(AF_INET, text, a->addr) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, text, a->addr) == 1)
		a->family = AF_INET6;
}

static bool
al_addr_in(const AlCaptureRule *r, const AlEventAddr *a)
{
	int			bits = r->addr_bits;
	int			nbytes;

	if (a->family == 0 || a->family != r->addr_family)
		return false;
	if (bits > (a->family == AF_INET ? 32 : 128))
		return false;
	nbytes = bits / 8;
	if (memcmp(r->addr, a->addr, nbytes) != 0)
		return false;
	if (bits % 8 != 0)
	{
		uint8		mask = (uint8) (0xff << (8 - bits % 8));

		if ((r->addr[nbytes] & mask) != (a->addr[nbytes] & mask))
			return false;
	}
	return true;
}

static bool
al_rule_matches(const AlCaptureRule *r, const AuditEvent *ev, AlEventAddr *a)
{
	uint8		m = r->match;

	if ((m & AL_M_CATEGORY) && r->category != ev->category)
		return false;
	if ((m & AL_M_STATUS) && r->success != ev->success)
		return false;
	if ((m & AL_M_TYPE) && strncmp(r->event_type, ev->event_type, AL_TYPE_LEN) != 0)
		return false;
	if ((m & AL_M_USER) && strncmp(r->user_name, ev->user_name, AL_NAME_LEN) != 0)
		return false;
	if ((m & AL_M_DATABASE) && strncmp(r->database_name, ev->database_name, AL_NAME_LEN) != 0)
		return false;
	if ((m & AL_M_APP) && strncmp(r->application_name, ev->application_name, AL_NAME_LEN) != 0)
		return false;
	if (m & AL_M_ADDR)
	{
		if (!a->parsed)
			al_parse_addr(ev->client_addr, a);
		if (!al_addr_in(r, a))
			return false;
	}
	return true;
}

/*
 * The one decision, for the capture and for explain_capture alike.  On
 * AL_DECIDE_RULE, *index and *rule are the deciding rule (a consistent
 * copy) and *seq the generation it was read in.
 */
static AlDecision
al_decide(const AuditEvent *ev, int *index, AlCaptureRule *rule, uint32 *seq)
{
	AlEventAddr addr;
	int			tries;

	if (!ev->success)
		return AL_DECIDE_FAILURE;
	if (ev->category == AL_CAT_AUDIT_LOG)
		return AL_DECIDE_AUDIT_LOG;
	if (ev->origin != AL_ORIGIN_SERVER || ev->intent != AL_INTENT_NONE)
		return AL_DECIDE_NOT_CAPTURED;
	if (al_rules == NULL || !al_rules->loaded)
		return AL_DECIDE_NOT_LOADED;

	addr.parsed = false;
	for (tries = 0; tries < AL_RULES_MAX_TRIES; tries++)
	{
		uint32		s1 = pg_atomic_read_u32(&al_rules->seq);
		int			n;
		int			i;
		int			found = -1;

		if (s1 & 1)
		{
			pg_spin_delay();
			continue;
		}
		pg_read_barrier();
		n = Min(Max(al_rules->nrules, 0), AL_MAX_CAPTURE_RULES);
		for (i = 0; i < n; i++)
		{
			if (al_rule_matches(&al_rules->slots[i].rule, ev, &addr))
			{
				found = i;
				if (rule != NULL)
					memcpy(rule, &al_rules->slots[i].rule, sizeof(AlCaptureRule));
				break;
			}
		}
		pg_read_barrier();
		if (pg_atomic_read_u32(&al_rules->seq) != s1)
			continue;
		if (found < 0)
			return AL_DECIDE_NO_RULE;
		*index = found;
		*seq = s1;
		return AL_DECIDE_RULE;
	}
	return AL_DECIDE_BUSY;
}

/*
 * The hot path; see capture_rules.h.
 */
bool
al_capture_rules_skip(const AuditEvent *ev)
{
	AlCaptureRule rule;
	int			index;
	uint32		seq;

	if (al_rules == NULL)
		return false;
	if (al_decide(ev, &index, &rule, &seq) != AL_DECIDE_RULE || !rule.skip)
		return false;
	/* a final, defensive look at what may never be skipped */
	if (!ev->success || ev->category == AL_CAT_AUDIT_LOG)
		return false;
	pg_atomic_fetch_add_u64(&al_rules->slots[index].skipped, 1);
	return true;
}

/* ---------------------------------------------------------------------
 * Reading the table and installing a set
 * ---------------------------------------------------------------------
 */

static int
al_category_index(const char *name)
{
	int			i;

	for (i = 0; i < AL_NUM_CATEGORIES; i++)
		if (strcmp(name, al_category_names[i]) == 0)
			return i;
	return -1;
}

static void
al_copy_col(SPITupleTable *tt, int row, int col, char *dst, size_t len,
			uint8 *match, uint8 bit)
{
	char	   *v = SPI_getvalue(tt->vals[row], tt->tupdesc, col);

	dst[0] = '\0';
	if (v == NULL)
		return;
	strlcpy(dst, v, len);
	*match |= bit;
}

/*
 * Read audit_log.capture_rules (in the current transaction, with the
 * latest snapshot, so that a commit after a concurrent one's sees it) into
 * al_staged.  Returns the number of rules in the table (which may be more
 * than fit).
 */
static int
al_read_rules(void)
{
	SPIPlanPtr	plan;
	int			rc;
	int			total;
	int			i;
	Snapshot	snap;

	if (al_staged == NULL)
		al_staged = MemoryContextAllocZero(TopMemoryContext,
										   sizeof(AlCaptureRule) * AL_MAX_CAPTURE_RULES);

	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare("SELECT name, position, action, event_category::text,"
					   " event_type, event_status::text, user_name, database_name,"
					   " application_name, pg_catalog.family(client_addr),"
					   " pg_catalog.masklen(client_addr), pg_catalog.host(client_addr)"
					   " FROM audit_log.capture_rules"
					   " ORDER BY position, name COLLATE \"C\"", 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	snap = RegisterSnapshot(GetLatestSnapshot());
	rc = SPI_execute_snapshot(plan, NULL, NULL, snap, InvalidSnapshot, true, false, 0);
	UnregisterSnapshot(snap);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read audit_log.capture_rules: %s", SPI_result_code_string(rc));

	total = (int) SPI_processed;
	al_staged_n = Min(total, AL_MAX_CAPTURE_RULES);
	for (i = 0; i < al_staged_n; i++)
	{
		SPITupleTable *tt = SPI_tuptable;
		AlCaptureRule *r = &al_staged[i];
		char	   *v;
		bool		isnull;

		memset(r, 0, sizeof(AlCaptureRule));
		strlcpy(r->name, SPI_getvalue(tt->vals[i], tt->tupdesc, 1), sizeof(r->name));
		r->position = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		r->skip = strcmp(SPI_getvalue(tt->vals[i], tt->tupdesc, 3), "skip") == 0;
		v = SPI_getvalue(tt->vals[i], tt->tupdesc, 4);
		if (v != NULL)
		{
			int			c = al_category_index(v);

			r->category = (uint8) Max(c, 0);
			r->match |= AL_M_CATEGORY;
		}
		al_copy_col(tt, i, 5, r->event_type, sizeof(r->event_type), &r->match, AL_M_TYPE);
		v = SPI_getvalue(tt->vals[i], tt->tupdesc, 6);
		if (v != NULL)
		{
			r->success = strcmp(v, "SUCCESS") == 0;
			r->match |= AL_M_STATUS;
		}
		al_copy_col(tt, i, 7, r->user_name, sizeof(r->user_name), &r->match, AL_M_USER);
		al_copy_col(tt, i, 8, r->database_name, sizeof(r->database_name), &r->match, AL_M_DATABASE);
		al_copy_col(tt, i, 9, r->application_name, sizeof(r->application_name), &r->match, AL_M_APP);
		v = SPI_getvalue(tt->vals[i], tt->tupdesc, 12);
		if (v != NULL)
		{
			int			fam = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 10, &isnull));

			r->addr_family = (fam == 4) ? AF_INET : AF_INET6;
			r->addr_bits = (uint8) DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 11, &isnull));
			if (inet_pton(r->addr_family, v, r->addr) != 1)
				elog(ERROR, "could not parse capture rule address \"%s\"", v);
			r->match |= AL_M_ADDR;
		}

		/* what the table refuses is never installed either */
		if (r->skip && (!(r->match & AL_M_STATUS) || !r->success ||
						!(r->match & AL_M_CATEGORY) || r->category == AL_CAT_AUDIT_LOG))
			r->skip = false;
	}
	SPI_finish();
	PopActiveSnapshot();
	return total;
}

/* Is this rule's definition the same as that one's (counters aside)? */
static bool
al_same_rule(const AlCaptureRule *a, const AlCaptureRule *b)
{
	return memcmp(a, b, sizeof(AlCaptureRule)) == 0;
}

/*
 * Install al_staged in shared memory.  Never raises an error (runs at
 * COMMIT); allocates nothing.
 */
static void
al_install_staged(void)
{
	static uint64 old_skipped[AL_MAX_CAPTURE_RULES];
	static TimestampTz old_since[AL_MAX_CAPTURE_RULES];
	static AlCaptureRule old_rules[AL_MAX_CAPTURE_RULES];
	int			old_n;
	int			i;
	int			j;
	TimestampTz now = GetCurrentTimestamp();

	if (al_rules == NULL)
		return;
	LWLockAcquire(al_rules->lock, LW_EXCLUSIVE);
	old_n = al_rules->nrules;
	for (i = 0; i < old_n; i++)
	{
		memcpy(&old_rules[i], &al_rules->slots[i].rule, sizeof(AlCaptureRule));
		old_skipped[i] = pg_atomic_read_u64(&al_rules->slots[i].skipped);
		old_since[i] = al_rules->slots[i].since;
	}

	pg_atomic_fetch_add_u32(&al_rules->seq, 1);	/* odd: install under way */
	pg_write_barrier();
	for (i = 0; i < al_staged_n; i++)
	{
		AlCaptureRuleSlot *slot = &al_rules->slots[i];
		uint64		skipped = 0;
		TimestampTz since = now;

		for (j = 0; j < old_n; j++)
		{
			if (al_same_rule(&old_rules[j], &al_staged[i]))
			{
				skipped = old_skipped[j];
				since = old_since[j];
				break;
			}
		}
		memcpy(&slot->rule, &al_staged[i], sizeof(AlCaptureRule));
		pg_atomic_write_u64(&slot->skipped, skipped);
		slot->since = since;
	}
	al_rules->nrules = al_staged_n;
	al_rules->loaded = true;
	pg_write_barrier();
	pg_atomic_fetch_add_u32(&al_rules->seq, 1);	/* even: done */
	LWLockRelease(al_rules->lock);
}

/* Is this session's database the one whose rules apply? */
static bool
al_in_rules_database(void)
{
	char	   *db = get_database_name(MyDatabaseId);

	return db != NULL && al_database != NULL && strcmp(db, al_database) == 0;
}

/*
 * Trigger audit_log._capture_rules_changed, before each statement that
 * changes the rules: serialise the changes, and mark this transaction so
 * that its commit installs the new set.
 */
Datum
audit_log_capture_rules_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "audit_log_capture_rules_changed: not called as a trigger");
	LockRelationOid(RelationGetRelid(trigdata->tg_relation), ShareUpdateExclusiveLock);
	if (al_preloaded && al_in_rules_database())
		al_rules_dirty = true;
	return PointerGetDatum(NULL);
}

/*
 * audit_log._capture_rules_reload(): mark this transaction so that its
 * commit installs the table's rules; the update script calls it, so that a
 * CREATE EXTENSION after a DROP installs the (empty) new table's set.
 */
Datum
audit_log_capture_rules_reload(PG_FUNCTION_ARGS)
{
	if (al_preloaded && al_in_rules_database())
		al_rules_dirty = true;
	PG_RETURN_VOID();
}

/*
 * Part of the extension's one transaction callback (audit_log.c).  Only
 * PRE_COMMIT and PRE_PREPARE may fail (and then abort the transaction);
 * COMMIT and ABORT never raise an error.
 */
void
al_capture_rules_xact(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (al_rules_dirty)
			{
				int			total = al_read_rules();

				if (total > AL_MAX_CAPTURE_RULES)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("too many capture rules: %d", total),
							 errdetail("At most %d capture rules can be in force.", AL_MAX_CAPTURE_RULES)));
				al_rules_staged = true;
			}
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (al_rules_dirty)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed audit_log.capture_rules")));
			break;
		case XACT_EVENT_COMMIT:
			if (al_rules_staged)
				al_install_staged();
			al_rules_dirty = al_rules_staged = false;
			break;
		case XACT_EVENT_ABORT:
			al_rules_dirty = al_rules_staged = false;
			break;
		default:
			break;
	}
}

/*
 * The writer's load at its start (inside a transaction): the table's rules,
 * or none under a 1.0 schema or without the extension.  From then on the
 * rules apply.
 */
void
al_capture_rules_load(void)
{
	Oid			nsp;
	Oid			relid = InvalidOid;
	int			total = 0;

	if (al_rules == NULL)
		return;
	al_staged_n = 0;
	if (al_staged == NULL)
		al_staged = MemoryContextAllocZero(TopMemoryContext,
										   sizeof(AlCaptureRule) * AL_MAX_CAPTURE_RULES);
	if (OidIsValid(get_extension_oid("audit_log", true)) &&
		al_installed_version_num() >= 101 &&
		OidIsValid(nsp = get_namespace_oid("audit_log", true)))
		relid = get_relname_relid("capture_rules", nsp);
	if (OidIsValid(relid))
	{
		/* a standby changes nothing: it can (and need) not take the lock */
		if (!RecoveryInProgress())
			LockRelationOid(relid, ShareUpdateExclusiveLock);
		total = al_read_rules();
		if (total > AL_MAX_CAPTURE_RULES)
			ereport(WARNING,
					(errmsg("audit_log: only the first %d of %d capture rules apply", AL_MAX_CAPTURE_RULES, total)));
	}
	al_install_staged();
}

/* ---------------------------------------------------------------------
 * SQL: the stats view and explain_capture
 * ---------------------------------------------------------------------
 */

/*
 * audit_log._capture_rule_stats(): the rules in shared memory with their
 * skip counts (a consistent copy).
 */
Datum
audit_log_capture_rule_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AlCaptureRuleSlot *copy;
	int			n = 0;
	int			i;
	int			tries;

	al_require_preload("audit_log.capture_rule_stats");
	InitMaterializedSRF(fcinfo, 0);
	copy = palloc(sizeof(AlCaptureRuleSlot) * AL_MAX_CAPTURE_RULES);
	for (tries = 0; tries < AL_RULES_MAX_TRIES; tries++)
	{
		uint32		s1 = pg_atomic_read_u32(&al_rules->seq);

		if (s1 & 1)
		{
			pg_usleep(100L);
			continue;
		}
		pg_read_barrier();
		n = Min(Max(al_rules->nrules, 0), AL_MAX_CAPTURE_RULES);
		memcpy(copy, al_rules->slots, sizeof(AlCaptureRuleSlot) * n);
		pg_read_barrier();
		if (pg_atomic_read_u32(&al_rules->seq) == s1)
			break;
		n = 0;
	}

	for (i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = CStringGetTextDatum(copy[i].rule.name);
		values[1] = Int32GetDatum(copy[i].rule.position);
		values[2] = CStringGetTextDatum(copy[i].rule.skip ? "skip" : "keep");
		values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&copy[i].skipped));
		values[4] = TimestampTzGetDatum(copy[i].since);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* A text argument into an event field (NULL: empty). */
static void
al_arg_text(FunctionCallInfo fcinfo, int arg, char *dst, size_t len)
{
	dst[0] = '\0';
	if (!PG_ARGISNULL(arg))
		al_strlcpy_clip(dst, text_to_cstring(PG_GETARG_TEXT_PP(arg)), len);
}

/*
 * audit_log.explain_capture(category, event_type, status, user_name,
 * database_name, application_name, client_addr): which rule decides such
 * an event and whether it is captured, by the capture's own matcher.
 */
Datum
audit_log_explain_capture(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AuditEvent *ev;
	AlCaptureRule rule;
	int			index = -1;
	uint32		seq;
	AlDecision d;
	Datum		values[5];
	bool		nulls[5] = {true, true, true, false, false};
	const char *reason = NULL;
	bool		captured = true;

	al_require_preload("audit_log.explain_capture");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event_category and event_status must not be null")));
	InitMaterializedSRF(fcinfo, 0);

	ev = palloc0(sizeof(AuditEvent));
	{
		char	   *cat = DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(0)));
		char	   *st = DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(2)));
		int			c = al_category_index(cat);

		if (c < 0)
			elog(ERROR, "unknown event category \"%s\"", cat);
		ev->category = (uint8) c;
		ev->success = strcmp(st, "SUCCESS") == 0;
	}
	al_arg_text(fcinfo, 1, ev->event_type, sizeof(ev->event_type));
	al_arg_text(fcinfo, 3, ev->user_name, sizeof(ev->user_name));
	al_arg_text(fcinfo, 4, ev->database_name, sizeof(ev->database_name));
	al_arg_text(fcinfo, 5, ev->application_name, sizeof(ev->application_name));
	if (!PG_ARGISNULL(6))
	{
		char	   *host = text_to_cstring(DatumGetTextPP(DirectFunctionCall1(network_host,
																			  PG_GETARG_DATUM(6))));

		strlcpy(ev->client_addr, host, sizeof(ev->client_addr));
	}
	ev->origin = AL_ORIGIN_SERVER;
	ev->intent = AL_INTENT_NONE;

	d = al_decide(ev, &index, &rule, &seq);
	switch (d)
	{
		case AL_DECIDE_RULE:
			values[0] = CStringGetTextDatum(rule.name);
			values[1] = Int32GetDatum(rule.position);
			values[2] = CStringGetTextDatum(rule.skip ? "skip" : "keep");
			nulls[0] = nulls[1] = nulls[2] = false;
			captured = !rule.skip;
			reason = rule.skip ? "skipped by this rule, the first that matches" :
				"kept by this rule, the first that matches";
			break;
		case AL_DECIDE_NO_RULE:
			reason = "no rule matches: kept";
			break;
		case AL_DECIDE_FAILURE:
			reason = "FAILURE events are never skipped";
			break;
		case AL_DECIDE_AUDIT_LOG:
			reason = "AUDIT_LOG events are never skipped";
			break;
		case AL_DECIDE_NOT_CAPTURED:
			reason = "not a captured event: kept";
			break;
		case AL_DECIDE_NOT_LOADED:
			reason = "the rules are not loaded yet (the writer loads them at its start): kept";
			break;
		case AL_DECIDE_BUSY:
			reason = "the rules were being changed: kept";
			break;
	}
	values[3] = BoolGetDatum(captured);
	values[4] = CStringGetTextDatum(reason);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
