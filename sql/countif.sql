-- countif: the aggregate audit_log.countif(boolean [, boolean ...])
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- truth table, one condition: only true counts; NULL counts as false
SELECT audit_log.countif(c) AS n FROM (VALUES (true), (false), (NULL::boolean)) v(c);

-- every arity from 1 to 8, every position: a row with all conditions true
-- counts, a row with one condition false or NULL (at any position) does not.
-- countif must agree with count(*) FILTER over all 3^k combinations for k <= 4
-- and over the "one odd position" rows for k up to 8.
CREATE TEMP TABLE tv(v boolean);
INSERT INTO tv VALUES (true), (false), (NULL);
SELECT
  (SELECT audit_log.countif(a.v) = count(*) FILTER (WHERE a.v IS TRUE) FROM tv a) AS k1,
  (SELECT audit_log.countif(a.v, b.v) = count(*) FILTER (WHERE a.v AND b.v) FROM tv a, tv b) AS k2,
  (SELECT audit_log.countif(a.v, b.v, c.v) = count(*) FILTER (WHERE a.v AND b.v AND c.v) FROM tv a, tv b, tv c) AS k3,
  (SELECT audit_log.countif(a.v, b.v, c.v, d.v) = count(*) FILTER (WHERE a.v AND b.v AND c.v AND d.v) FROM tv a, tv b, tv c, tv d) AS k4;
-- the 3^k tables: how many rows, and how many counted (exactly one row each)
SELECT count(*) AS rows, audit_log.countif(a.v, b.v, c.v, d.v) AS counted FROM tv a, tv b, tv c, tv d;

-- k = 5..8: all true counts once; putting false or NULL at any single position
-- removes that row (pos = 0 is the all-true row)
CREATE TEMP TABLE odd AS
SELECT pos, bad FROM generate_series(0, 8) pos, (VALUES (false), (NULL::boolean)) b(bad);
CREATE FUNCTION pg_temp.cond(pos int, at int, bad boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN pos = at THEN bad ELSE true END $$;
SELECT
  audit_log.countif(pg_temp.cond(pos, 1, bad), pg_temp.cond(pos, 2, bad), pg_temp.cond(pos, 3, bad), pg_temp.cond(pos, 4, bad), pg_temp.cond(pos, 5, bad)) FILTER (WHERE pos <= 5) AS k5,
  audit_log.countif(pg_temp.cond(pos, 1, bad), pg_temp.cond(pos, 2, bad), pg_temp.cond(pos, 3, bad), pg_temp.cond(pos, 4, bad), pg_temp.cond(pos, 5, bad), pg_temp.cond(pos, 6, bad)) FILTER (WHERE pos <= 6) AS k6,
  audit_log.countif(pg_temp.cond(pos, 1, bad), pg_temp.cond(pos, 2, bad), pg_temp.cond(pos, 3, bad), pg_temp.cond(pos, 4, bad), pg_temp.cond(pos, 5, bad), pg_temp.cond(pos, 6, bad), pg_temp.cond(pos, 7, bad)) FILTER (WHERE pos <= 7) AS k7,
  audit_log.countif(pg_temp.cond(pos, 1, bad), pg_temp.cond(pos, 2, bad), pg_temp.cond(pos, 3, bad), pg_temp.cond(pos, 4, bad), pg_temp.cond(pos, 5, bad), pg_temp.cond(pos, 6, bad), pg_temp.cond(pos, 7, bad), pg_temp.cond(pos, 8, bad)) AS k8,
  count(*) AS rows
FROM odd;
-- each of those is 2: the all-true row appears twice (bad = false and bad = NULL at pos 0)

-- empty input: 0, not NULL; also with GROUP BY () and a whole-table aggregate
SELECT audit_log.countif(true) AS empty_one, audit_log.countif(true, true, true) AS empty_three,
       audit_log.countif(true) IS NULL AS is_null
FROM tv WHERE false;

-- GROUP BY
CREATE TEMP TABLE ev(g text, ok boolean, login boolean);
INSERT INTO ev SELECT CASE WHEN i % 3 = 0 THEN 'a' WHEN i % 3 = 1 THEN 'b' ELSE 'c' END,
                      CASE WHEN i % 5 = 0 THEN NULL ELSE i % 2 = 0 END, i % 4 <> 0
FROM generate_series(1, 1000) i;
SELECT g, audit_log.countif(ok) AS ok, audit_log.countif(ok, login) AS ok_login,
       count(*) FILTER (WHERE ok AND login) AS native
FROM ev GROUP BY g ORDER BY g COLLATE "C";

-- FILTER on the aggregate itself
SELECT audit_log.countif(login) FILTER (WHERE g = 'a') AS a_logins,
       count(*) FILTER (WHERE login AND g = 'a') AS native
FROM ev;

-- window use: running and moving frames agree with count(*) FILTER
SELECT bool_and(w_countif = w_native) AS moving_frames_agree, count(*) AS rows
FROM (
  SELECT audit_log.countif(ok, login) OVER (ORDER BY i ROWS 6 PRECEDING) AS w_countif,
         count(*) FILTER (WHERE ok AND login) OVER (ORDER BY i ROWS 6 PRECEDING) AS w_native
  FROM (SELECT row_number() OVER () AS i, ok, login FROM ev) s
) w;
SELECT i, ok, audit_log.countif(ok) OVER (ORDER BY i ROWS 2 PRECEDING) AS last3
FROM (VALUES (1, true), (2, NULL), (3, true), (4, true), (5, false), (6, true)) v(i, ok) ORDER BY i;
-- a frame that shrinks from the front (the inverse function removes rows)
SELECT i, audit_log.countif(ok) OVER (ORDER BY i ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS rest
FROM (VALUES (1, true), (2, NULL), (3, true), (4, false), (5, true)) v(i, ok) ORDER BY i;

-- parallel aggregation: combine function, partial aggregates in the plan
CREATE TABLE regress_countif_big AS
SELECT i, i % 3 = 0 AS a, i % 7 = 0 AS b FROM generate_series(1, 100000) i;
ANALYZE regress_countif_big;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT audit_log.countif(a, b) FROM regress_countif_big;
SELECT audit_log.countif(a, b) AS parallel_result, count(*) FILTER (WHERE a AND b) AS native FROM regress_countif_big;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
DROP TABLE regress_countif_big;

-- the plan-time rewrite: a plain countif is planned as count(*) FILTER, the
-- aggregate's own FILTER first; DISTINCT, a volatile argument and window
-- calls keep the C transition function
-- The aggregates of a plan, as EXPLAIN VERBOSE names them: the aggregate
-- nodes and the output lines that hold an aggregate.  The rest of the plan
-- (sorts, the names of init plans and windows) differs between majors.
CREATE FUNCTION pg_temp.aggs_planned(q text) RETURNS SETOF text
LANGUAGE plpgsql AS $f$
DECLARE
	l text;
BEGIN
	FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
		l := regexp_replace(btrim(l), '^->\s+', '');
		IF l ~ '^(Finalize |Partial )?(Aggregate|WindowAgg|Gather)' THEN
			RETURN NEXT l;
		ELSIF l ~ '^Output: ' AND l ~ '(audit_log\.countif\(|count\(\*\))' THEN
			RETURN NEXT regexp_replace(l, ' OVER .*$', ' OVER (...)');
		END IF;
	END LOOP;
END
$f$;
CREATE TABLE regress_countif_nulls AS
SELECT i, CASE WHEN i % 11 = 0 THEN NULL ELSE i % 3 = 0 END AS a,
       CASE WHEN i % 13 = 0 THEN NULL ELSE i % 2 = 0 END AS b,
       i % 5 <> 0 AS c, CASE WHEN i % 17 = 0 THEN NULL ELSE i % 7 <> 0 END AS d
FROM generate_series(1, 60000) i;
ANALYZE regress_countif_nulls;
-- a volatile function that is parallel safe and inlined (to plain $1) after the
-- rewrite was refused: the C path in a parallel plan
CREATE FUNCTION public.regress_countif_v(boolean) RETURNS boolean
LANGUAGE sql VOLATILE PARALLEL SAFE AS 'SELECT $1';
SET max_parallel_workers_per_gather = 0;
SELECT pg_temp.aggs_planned($q$SELECT audit_log.countif(a) FROM regress_countif_nulls$q$);
SELECT pg_temp.aggs_planned($q$SELECT audit_log.countif(a, b, c, d) FILTER (WHERE i > 10) FROM regress_countif_nulls$q$);
SELECT pg_temp.aggs_planned($q$SELECT audit_log.countif(DISTINCT a) FROM regress_countif_nulls$q$);
SELECT pg_temp.aggs_planned($q$SELECT audit_log.countif(a, public.regress_countif_v(b)) FROM regress_countif_nulls$q$);
SELECT pg_temp.aggs_planned($q$SELECT audit_log.countif(a) OVER () FROM regress_countif_nulls LIMIT 1$q$);
-- inside a subquery and a CTE too
SELECT pg_temp.aggs_planned($q$WITH w AS (SELECT audit_log.countif(a) AS n FROM regress_countif_nulls)
SELECT (SELECT audit_log.countif(b) FROM regress_countif_nulls) AS m, n FROM w$q$);
-- NULLs, serial: the rewritten form, the C path (strict: NULL rows skipped) and
-- FILTER agree for 1, 2 and 4 conditions, with and without the aggregate's FILTER
SELECT audit_log.countif(a) = count(*) FILTER (WHERE a) AS k1,
       audit_log.countif(a, public.regress_countif_v(true)) = count(*) FILTER (WHERE a) AS k1_c,
       audit_log.countif(a, b) = count(*) FILTER (WHERE a AND b) AS k2,
       audit_log.countif(a, public.regress_countif_v(b)) = count(*) FILTER (WHERE a AND b) AS k2_c,
       audit_log.countif(a, b, c, d) = count(*) FILTER (WHERE a AND b AND c AND d) AS k4,
       audit_log.countif(a, b, c, public.regress_countif_v(d)) = count(*) FILTER (WHERE a AND b AND c AND d) AS k4_c,
       audit_log.countif(a, b) FILTER (WHERE d) = count(*) FILTER (WHERE a AND b AND d) AS k2_filter,
       audit_log.countif(DISTINCT a) AS distinct_a,
       audit_log.countif(a, b, c, d) AS n4
FROM regress_countif_nulls;
-- the same in forced parallel plans, both paths
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT pg_temp.aggs_planned($q$SELECT audit_log.countif(a, b) FROM regress_countif_nulls$q$);
SELECT pg_temp.aggs_planned($q$SELECT audit_log.countif(a, public.regress_countif_v(b)) FROM regress_countif_nulls$q$);
SELECT audit_log.countif(a) = count(*) FILTER (WHERE a) AS k1,
       audit_log.countif(a, b) = count(*) FILTER (WHERE a AND b) AS k2,
       audit_log.countif(a, b, c, d) = count(*) FILTER (WHERE a AND b AND c AND d) AS k4,
       audit_log.countif(a, b, c, d) AS n4
FROM regress_countif_nulls;
SELECT audit_log.countif(public.regress_countif_v(a)) AS k1_c,
       audit_log.countif(a, public.regress_countif_v(b)) AS k2_c,
       audit_log.countif(a, b, c, public.regress_countif_v(d)) AS k4_c,
       count(*) FILTER (WHERE a) AS k1, count(*) FILTER (WHERE a AND b) AS k2,
       count(*) FILTER (WHERE a AND b AND c AND d) AS k4
FROM regress_countif_nulls;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
-- the transition functions are strict (1.1), forward and inverse alike
SELECT count(*) AS functions, bool_and(proisstrict) AS strict
FROM pg_proc WHERE proname IN ('_countif_trans', '_countif_inv') AND pronamespace = 'audit_log'::regnamespace;
DROP FUNCTION public.regress_countif_v(boolean);
DROP TABLE regress_countif_nulls;

-- the aggregates are marked parallel safe and have a combine and inverse function
SELECT count(*) AS aggregates,
       bool_and(p.proparallel = 's') AS parallel_safe,
       bool_and(a.aggcombinefn <> 0) AS combine,
       bool_and(a.aggminvtransfn <> 0) AS inverse
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
WHERE p.proname = 'countif' AND p.pronamespace = 'audit_log'::regnamespace;

-- error: not a boolean
SELECT audit_log.countif(1);
-- error: text is not boolean either
SELECT audit_log.countif('yes'::text);
-- error: an unknown literal that is no boolean
SELECT audit_log.countif('maybe');
-- error: nine conditions are more than it takes
SELECT audit_log.countif(true, true, true, true, true, true, true, true, true);
-- error: no condition at all
SELECT audit_log.countif();

-- readers may use it, PUBLIC may not
CREATE ROLE regress_countif_reader IN ROLE audit_log_reader;
CREATE ROLE regress_countif_nobody;
SET ROLE regress_countif_reader;
SELECT audit_log.countif(x) AS reader_can FROM (VALUES (true)) v(x);
RESET ROLE;
SET ROLE regress_countif_nobody;
-- error: permission denied
SELECT audit_log.countif(x) FROM (VALUES (true)) v(x);
RESET ROLE;
DROP ROLE regress_countif_reader, regress_countif_nobody;
