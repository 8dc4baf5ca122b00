-- writer_jsonb: the writer's own reader of entry_data (src/writer_jsonb.c)
-- builds the very jsonb that jsonb_in builds, byte for byte, or leaves the
-- text to jsonb_in, whose result or error is then the writer's
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;
-- the comparison is in the library for the tests, not in the extension
CREATE FUNCTION pg_temp.jb_compare(text) RETURNS int
	AS 'audit_log', 'al_writer_jsonb_compare' LANGUAGE C STRICT;
CREATE FUNCTION pg_temp.jb(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RETURN pg_temp.jb_compare(t)::text;
EXCEPTION WHEN OTHERS THEN
	RETURN 'error ' || SQLSTATE;
END
$$;

-- 1: read here, the same bytes as jsonb_in's; 0: left to jsonb_in; never -1
SELECT t, pg_temp.jb(t) FROM (VALUES
	('{}'), ('[]'), ('{"a":1}'), (' {"a" : [ ] , "b":{ } } '),
	(E'\t{\n"b" :\r[1, 2.5, -0, -0.0, 0.10, 1e3, 1E-3, -2.5e+2, 12345678901234567890123.5],"a":null}\n'),
	('{"aa":1,"b":2,"ab":3,"a":4,"":5,"ba":6}'),
	('{"s":"plain","e":"q\"b\\s\/n\nt\tr\rb\bf\f"}'),
	('{"u":"é ü 日本 😀","é":"key beyond ASCII"}'),
	('{"nested":{"x":{"y":[{"z":[[],{}]}]}},"t":true,"f":false}'),
	('[1,"two",{"three":3},[null,true,false]]'),
	('{"u":"\u00e9"}'), ('{"pair":"\ud83d\ude00"}'), ('{"a":1,"a":2}'),
	('{"x":{"k":1,"k":2}}'), ('"top"'), ('42'), ('true'), ('null'))
	AS v(t) ORDER BY 2, 1 COLLATE "C";

-- what jsonb_in refuses is refused with its error, the same SQLSTATE
SELECT t, pg_temp.jb(t) FROM (VALUES
	('{"a":01}'), ('{"a":1,}'), ('{,}'), ('[1 2]'), ('{"a" 1}'), ('{"a":tru}'),
	('{"a":truex}'), ('{"a":1.}'), ('{"a":.5}'), ('{"a":1e}'), ('{"a":-}'),
	('{"a":+1}'), ('{"a":"open'), ('{"a":1'), ('{"a":1}}'), ('{"a":1} x'),
	('{"a":"\x"}'), ('{"a":"\u0000"}'), ('{"a":1e1000000}'), (''), ('   '),
	('{"a":"tab' || E'\t' || 'inside"}'), ('{"a":"nl' || E'\n' || 'inside"}'))
	AS v(t) ORDER BY 1 COLLATE "C";

-- every entry_data in the table, as jsonb prints it: each read here and
-- the same, or (a control character printed as \u00XX) left to jsonb_in
SELECT audit_log.register_event_type('AUDIT_LOG', 'REGRESS_JB', 'writer_jsonb test event');
SELECT count(audit_log.log_event('AUDIT_LOG', 'REGRESS_JB', entry_data => d)) AS logged
FROM (VALUES (jsonb_build_object('q', 'a"b', 'c', E'\x01\x1f\\', 'n', '[1, 2.50, -3e-7]'::jsonb)),
	(jsonb_build_object('ctl', E'x\by\fz\nw\rv\t', 'deep', jsonb_build_array(jsonb_build_object('k', 'v')))))
	AS v(d);
SELECT r, count(*) > 0 AS some_rows
FROM (SELECT pg_temp.jb_compare(entry_data::text) AS r FROM audit_log.events) e
GROUP BY r ORDER BY r;

-- 3,000 generated objects, their keys in a random order (unique keys of
-- 1 to 10 characters), every kind of value: none differs
SELECT count(*) AS docs, min(r) AS worst, max(r) AS best
FROM (SELECT pg_temp.jb_compare('{' || string_agg(to_json(k)::text || ':' || v, ',' ORDER BY random()) || '}') AS r
	  FROM (SELECT g, 'k' || i || '_' || substr(md5(g::text || '.' || i::text), 1, (g + i) % 8) AS k,
				   CASE (g * 7 + i) % 8
					   WHEN 0 THEN ((random() - 0.5) * 1e6)::numeric(14, 4)::text
					   WHEN 1 THEN to_json(md5(random()::text))::text
					   WHEN 2 THEN 'true'
					   WHEN 3 THEN 'null'
					   WHEN 4 THEN '[' || i || ',"' || i || '",{"z":' || g || ',"a":false}]'
					   WHEN 5 THEN to_json('é' || chr(9) || '"' || g)::text
					   WHEN 6 THEN '-' || i || 'e-' || (g % 30)
					   ELSE '{}'
				   END AS v
			FROM generate_series(1, 3000) g, generate_series(1, 1 + g % 12) i) pairs
	  GROUP BY g) docs;

-- 9,000 mutants of well-formed documents (a character replaced, deleted
-- or inserted, from an alphabet of JSON's own characters): whether read
-- here, left to jsonb_in or refused by it, none ever differs
SELECT setseed(0.2026) IS NULL AS seeded;
SELECT count(*) AS mutants, count(*) FILTER (WHERE r = '-1') AS differ,
	count(*) FILTER (WHERE r = '1') > 0 AS some_read_here,
	count(*) FILTER (WHERE r = '0') > 0 AS some_left_to_jsonb_in,
	count(*) FILTER (WHERE r LIKE 'error%') > 0 AS some_refused
FROM (SELECT pg_temp.jb(CASE g % 3
			WHEN 0 THEN overlay(d PLACING substr(a, 1 + (random() * (length(a) - 1))::int, 1)
						FROM 1 + (random() * (length(d) - 1))::int FOR 1)
			WHEN 1 THEN overlay(d PLACING '' FROM 1 + (random() * (length(d) - 1))::int
						FOR 1 + (random() * 2)::int)
			ELSE overlay(d PLACING substr(a, 1 + (random() * (length(a) - 1))::int, 1)
						FROM 1 + (random() * length(d))::int FOR 0)
		END) AS r
	  FROM (VALUES
			('{"a":[1,2.5,-3e-2,true,false,null],"bb":{"c":"x\"y\\z\n","":{}},"é":"ü"}'),
			('[{"k1":1,"k2":[[]],"k10":"v"},"s",0,-0.5E+3,"\/\t"]'),
			('{"user":"regress_x","attributes":{"login":true,"superuser":false},"n":12}')) AS v(d),
		   (VALUES ('{}[]":,\ntfalsenu0123456789-+.eE é\/')) AS alphabet(a),
		   generate_series(1, 3000) g) m;

DELETE FROM audit_log.event_types WHERE event_type = 'REGRESS_JB';
