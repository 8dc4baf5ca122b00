-- t/schema_snapshot.sql: every object of the extension audit_log, one
-- line each, sorted, so that two databases can be compared line by line
-- (t/015_update.pl: 1.0 plus ALTER EXTENSION UPDATE against a fresh
-- install).  Objects are the extension's members and what hangs off them:
-- columns, constraints, indexes, triggers, policies, grants, comments, the
-- config-dump registrations, and the pg_cron jobs the extension schedules.
-- Partitions made later by maintain() are not members and are left out.
\pset tuples_only on
\pset format unaligned
\pset footer off
SET client_min_messages = warning;

WITH ext AS (
	SELECT e.oid, e.extconfig, e.extcondition
	FROM pg_catalog.pg_extension e WHERE e.extname = 'audit_log'
),
member AS (
	SELECT d.classid, d.objid
	FROM pg_catalog.pg_depend d, ext
	WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
	  AND d.refobjid = ext.oid AND d.deptype = 'e'
),
rel AS (
	SELECT c.oid, c.relname, c.relkind, c.relacl, c.reloptions, c.relpersistence
	FROM pg_catalog.pg_class c JOIN member m
	  ON m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND m.objid = c.oid
),
fn AS (
	SELECT p.*
	FROM pg_catalog.pg_proc p JOIN member m
	  ON m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND m.objid = p.oid
),
typ AS (
	SELECT t.*
	FROM pg_catalog.pg_type t JOIN member m
	  ON m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND m.objid = t.oid
),
line AS (
	-- relations
	SELECT pg_catalog.format('relation %s kind=%s persistence=%s acl=%s options=%s partkey=%s comment=%s',
			r.oid::pg_catalog.regclass, r.relkind, r.relpersistence,
			(SELECT pg_catalog.array_agg(a ORDER BY a::text COLLATE "C") FROM pg_catalog.unnest(r.relacl) a),
			r.reloptions, pg_catalog.pg_get_partkeydef(r.oid),
			pg_catalog.obj_description(r.oid, 'pg_class')) AS l
	FROM rel r
	UNION ALL
	-- columns
	SELECT pg_catalog.format('column %s.%s #%s %s notnull=%s default=%s identity=%s generated=%s collation=%s acl=%s comment=%s',
			r.oid::pg_catalog.regclass, a.attname, a.attnum,
			pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
			pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
			a.attcollation::pg_catalog.regcollation, a.attacl,
			pg_catalog.col_description(r.oid, a.attnum))
	FROM rel r
	JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
	LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
	UNION ALL
	-- views
	SELECT pg_catalog.format('view %s %s', r.oid::pg_catalog.regclass,
			pg_catalog.pg_get_viewdef(r.oid))
	FROM rel r WHERE r.relkind IN ('v', 'm')
	UNION ALL
	-- sequences
	SELECT pg_catalog.format('sequence %s %s %s %s %s %s %s', s.seqrelid::pg_catalog.regclass,
			s.seqtypid::pg_catalog.regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcycle)
	FROM pg_catalog.pg_sequence s JOIN rel r ON r.oid = s.seqrelid
	UNION ALL
	-- constraints
	SELECT pg_catalog.format('constraint %s %s %s deferrable=%s', co.conrelid::pg_catalog.regclass,
			co.conname, pg_catalog.pg_get_constraintdef(co.oid), co.condeferrable)
	FROM pg_catalog.pg_constraint co JOIN rel r ON r.oid = co.conrelid
	UNION ALL
	-- indexes
	SELECT pg_catalog.format('index %s', pg_catalog.pg_get_indexdef(i.indexrelid))
	FROM pg_catalog.pg_index i JOIN rel r ON r.oid = i.indrelid
	UNION ALL
	-- triggers
	SELECT pg_catalog.format('trigger %s enabled=%s', pg_catalog.pg_get_triggerdef(tg.oid), tg.tgenabled)
	FROM pg_catalog.pg_trigger tg JOIN rel r ON r.oid = tg.tgrelid
	WHERE NOT tg.tgisinternal
	UNION ALL
	-- row security policies
	SELECT pg_catalog.format('policy %s %s %s %s %s %s', po.polrelid::pg_catalog.regclass, po.polname,
			po.polcmd, po.polroles::pg_catalog.regrole[],
			pg_catalog.pg_get_expr(po.polqual, po.polrelid),
			pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid))
	FROM pg_catalog.pg_policy po JOIN rel r ON r.oid = po.polrelid
	UNION ALL
	-- functions, procedures and aggregates, with their whole definition
	SELECT pg_catalog.format('function %s kind=%s returns=%s volatile=%s parallel=%s strict=%s secdef=%s leakproof=%s cost=%s rows=%s config=%s acl=%s comment=%s body=%s',
			f.oid::pg_catalog.regprocedure, f.prokind, pg_catalog.pg_get_function_result(f.oid),
			f.provolatile, f.proparallel, f.proisstrict, f.prosecdef, f.proleakproof,
			f.procost, f.prorows, f.proconfig,
			(SELECT pg_catalog.array_agg(a ORDER BY a::text COLLATE "C") FROM pg_catalog.unnest(f.proacl) a),
			pg_catalog.obj_description(f.oid, 'pg_proc'),
			pg_catalog.md5(f.prosrc || coalesce(f.probin, '')))
	FROM fn f
	UNION ALL
	SELECT pg_catalog.format('aggregate %s sfunc=%s stype=%s init=%s combine=%s msfunc=%s minvfunc=%s mstype=%s minit=%s final=%s',
			ag.aggfnoid::pg_catalog.regprocedure, ag.aggtransfn::pg_catalog.regprocedure,
			ag.aggtranstype::pg_catalog.regtype, ag.agginitval, ag.aggcombinefn, ag.aggmtransfn,
			ag.aggminvtransfn, ag.aggmtranstype::pg_catalog.regtype, ag.aggminitval, ag.aggfinalfn)
	FROM pg_catalog.pg_aggregate ag JOIN fn f ON f.oid = ag.aggfnoid
	UNION ALL
	-- types: enums with their labels in order, composites, domains
	SELECT pg_catalog.format('type %s typtype=%s labels=%s acl=%s comment=%s', t.oid::pg_catalog.regtype, t.typtype,
			(SELECT pg_catalog.array_agg(en.enumlabel ORDER BY en.enumsortorder)
			 FROM pg_catalog.pg_enum en WHERE en.enumtypid = t.oid),
			t.typacl, pg_catalog.obj_description(t.oid, 'pg_type'))
	FROM typ t
	UNION ALL
	-- event triggers, schemas and any other member, by its identity
	SELECT pg_catalog.format('member %s', pg_catalog.pg_describe_object(m.classid, m.objid, 0))
	FROM member m
	UNION ALL
	SELECT pg_catalog.format('schema %s acl=%s comment=%s', n.nspname,
			(SELECT pg_catalog.array_agg(a ORDER BY a::text COLLATE "C") FROM pg_catalog.unnest(n.nspacl) a),
			pg_catalog.obj_description(n.oid, 'pg_namespace'))
	FROM pg_catalog.pg_namespace n WHERE n.nspname = 'audit_log'
	UNION ALL
	-- tables whose rows pg_dump keeps (pg_extension_config_dump)
	SELECT pg_catalog.format('config_dump %s %s', c.rel::pg_catalog.regclass, c.cond)
	FROM ext, unnest(ext.extconfig, ext.extcondition) AS c(rel, cond)
	UNION ALL
	-- default privileges set inside the schema
	SELECT pg_catalog.format('default_acl %s %s %s', da.defaclrole::pg_catalog.regrole,
			da.defaclobjtype, da.defaclacl)
	FROM pg_catalog.pg_default_acl da
	JOIN pg_catalog.pg_namespace n ON n.oid = da.defaclnamespace AND n.nspname = 'audit_log'
)
SELECT l FROM line ORDER BY l COLLATE "C";

-- pg_cron jobs scheduled by the extension in this database
SELECT pg_catalog.to_regclass('cron.job') IS NOT NULL AS have_cron \gset
\if :have_cron
SELECT pg_catalog.format('cron_job %s %s %s %s', j.jobname, j.schedule, j.command, j.active)
FROM cron.job j
WHERE j.database = pg_catalog.current_database()
ORDER BY j.jobname COLLATE "C";
\endif
