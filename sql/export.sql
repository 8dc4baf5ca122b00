\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- The record of export runs: its columns, and who may read it.
SELECT column_name, data_type
  FROM information_schema.columns
 WHERE table_schema = 'audit_log' AND table_name = 'export_runs'
 ORDER BY ordinal_position;
SELECT has_table_privilege('audit_log_reader', 'audit_log.export_runs', 'SELECT') AS reader_select,
       has_table_privilege('audit_log_reader', 'audit_log.export_runs', 'INSERT') AS reader_insert,
       has_function_privilege('audit_log_writer', 'audit_log.export_csv(text, timestamptz, timestamptz, text, boolean)', 'EXECUTE') AS writer_exports,
       has_function_privilege('audit_log_reader', 'audit_log.schedule_export(text, text, text, text, interval, text, text, boolean)', 'EXECUTE') AS reader_schedules,
       has_function_privilege('audit_log_admin', 'audit_log.schedule_export(text, text, text, text, interval, text, text, boolean)', 'EXECUTE') AS admin_schedules;

-- error: audit_log.export_directory is empty in this cluster, exports are off
SELECT * FROM audit_log.export_csv('regress_off', '2026-01-01 00:00+00', '2026-01-02 00:00+00');
-- the failure is recorded although its statement failed
SELECT status, source, directory, file IS NULL AS no_file, rows, error,
       from_time, to_time, finished_at >= started_at AS ordered
  FROM audit_log.export_runs WHERE directory = 'regress_off';
SELECT event_category, event_type, event_status, event_status_reason_code,
       entry_data->>'source' AS source, entry_data->>'from' AS "from",
       entry_data->>'to' AS "to", entry_data->'file' AS file
  FROM audit_log.events
 WHERE event_type = 'EXPORT' AND entry_data->>'directory' = 'regress_off';

-- even inside a transaction that is rolled back
BEGIN;
SELECT * FROM audit_log.export_csv('regress_rolled_back', '2026-01-01 00:00+00', '2026-01-02 00:00+00');
ROLLBACK;
SELECT count(*) AS recorded FROM audit_log.export_runs
 WHERE directory = 'regress_rolled_back' AND status = 'FAILURE';

-- error: bad arguments (each recorded)
SELECT * FROM audit_log.export_csv('regress_args', '2026-01-02 00:00+00', '2026-01-01 00:00+00');
SELECT * FROM audit_log.export_csv('regress_args', '2026-01-01 00:00+00', '2026-01-01 00:00+00');
SELECT * FROM audit_log.export_csv('regress_args', '2026-01-01 00:00+00', '2026-01-02 00:00+00', 'pg_authid');
SELECT * FROM audit_log.export_csv('regress_args', NULL, '2026-01-02 00:00+00');
SELECT * FROM audit_log.export_csv('regress_args', '-infinity', '2026-01-02 00:00+00');
SELECT * FROM audit_log.export_csv(NULL, '2026-01-01 00:00+00', '2026-01-02 00:00+00');
SELECT error FROM audit_log.export_runs WHERE directory = 'regress_args' ORDER BY run_id;

-- error: a reader may not export; the attempt is recorded under its name
CREATE ROLE regress_export_reader IN ROLE audit_log_reader;
CREATE ROLE regress_export_nobody;
SET ROLE regress_export_reader;
SELECT * FROM audit_log.export_csv('regress_reader', '2026-01-01 00:00+00', '2026-01-02 00:00+00');
-- but it may read the record of runs
SELECT status, error FROM audit_log.export_runs WHERE directory = 'regress_reader';
RESET ROLE;
SELECT user_name, event_status, event_status_reason_code FROM audit_log.events
 WHERE event_type = 'EXPORT' AND entry_data->>'directory' = 'regress_reader';
-- error: a role without any audit_log role does not even reach the function
SET ROLE regress_export_nobody;
SELECT * FROM audit_log.export_csv('regress_nobody', '2026-01-01 00:00+00', '2026-01-02 00:00+00');
RESET ROLE;

-- Period boundaries of scheduled exports, in UTC.
SELECT p, ts, audit_log._export_period_floor(ts, p) AS floor,
       audit_log._export_period_floor(ts, p) + p AS next
  FROM (VALUES ('1 day'::interval, '2026-03-29 01:30:00'::timestamp),
               ('1 day', '2026-03-29 00:00:00'),
               ('1 hour', '2026-03-29 01:30:00'),
               ('15 minutes', '2026-03-29 01:44:59.999999'),
               ('7 days', '2026-03-29 01:30:00'),
               ('1 month', '2026-02-28 23:59:59'),
               ('3 months', '2026-08-15 12:00:00'),
               ('1 year', '2026-08-15 12:00:00')) AS v(p, ts)
 ORDER BY p, ts;
-- error: periods that cannot be aligned
SELECT audit_log._export_check_period('30 seconds');
SELECT audit_log._export_check_period('1 month 1 day');
SELECT audit_log._export_check_period('5 months');
SELECT audit_log._export_check_period('-1 day');
SELECT audit_log._export_check_period('6 months'), audit_log._export_check_period('2 years'),
       audit_log._export_check_period('90 minutes');

-- Scheduling with pg_cron.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
RESET client_min_messages;
-- error: bad job name, source, period, cron expression
SELECT audit_log.schedule_export('regress daily', '7 1 * * *', 'daily');
SELECT audit_log.schedule_export('regress_daily', '7 1 * * *', 'daily', 'bogus');
SELECT audit_log.schedule_export('regress_daily', '7 1 * * *', 'daily', 'events', '10 seconds');
SELECT audit_log.schedule_export('regress_daily', 'not a schedule', 'daily');
SELECT count(*) AS no_job FROM cron.job WHERE jobname = 'audit_log_export_regress_daily';

SELECT audit_log.schedule_export('regress_daily', '7 1 * * *', 'daily') AS jobid \gset
SELECT jobname, schedule, command FROM cron.job WHERE jobid = :jobid;
-- scheduling again under the same name changes the same job
SELECT audit_log.schedule_export('regress_daily', '9 2 * * *', 'hourly', 'events', '1 hour') = :jobid AS same_job;
SELECT jobname, schedule, command FROM cron.job WHERE jobname LIKE 'audit_log_export_regress%';
SELECT entry_data->>'action' AS action, entry_data->>'cron' AS cron, object_name
  FROM audit_log.events
 WHERE event_type = 'SCHEDULE_CHANGE' AND object_name = 'audit_log_export_regress_daily'
 ORDER BY request_time, entry_data->>'cron';
-- error: only audit_log_admin schedules
SET ROLE regress_export_reader;
SELECT audit_log.schedule_export('regress_reader', '7 1 * * *', 'daily');
RESET ROLE;
SELECT audit_log.unschedule_export('regress_daily') AS removed,
       audit_log.unschedule_export('regress_daily') AS removed_again;
SELECT count(*) AS jobs_left FROM cron.job WHERE jobname LIKE 'audit_log_export_regress%';

DROP ROLE regress_export_reader;
DROP ROLE regress_export_nobody;
