\echo Use "CREATE EXTENSION audit_log" to load this file. \quit

-- audit_log--1.0.sql is assembled by the Makefile from the fragments in
-- src/sql/, one per feature, in name order.

/*
 * 00_schema: roles, types, the events table and its partitions, event types,
 * log_event.  The schema audit_log itself is created by CREATE EXTENSION
 * (schema = audit_log in the control file).
 */

-- The three roles are cluster-wide and may survive a DROP EXTENSION, so they
-- are created only when missing.
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'audit_log_reader') THEN
		CREATE ROLE audit_log_reader NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'audit_log_writer') THEN
		CREATE ROLE audit_log_writer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'audit_log_admin') THEN
		CREATE ROLE audit_log_admin NOLOGIN;
	END IF;
	IF NOT pg_catalog.pg_has_role('audit_log_admin', 'audit_log_reader', 'MEMBER') THEN
		GRANT audit_log_reader TO audit_log_admin;
	END IF;
END
$roles$;

REVOKE ALL ON SCHEMA audit_log FROM PUBLIC;
GRANT USAGE ON SCHEMA audit_log TO audit_log_reader, audit_log_writer, audit_log_admin;

CREATE TYPE audit_log.event_category AS ENUM (
	'ACCESS_SIGMA', 'USER_ACCOUNTS', 'ACCOUNT_TYPES', 'TEAMS', 'CONNECTIONS',
	'EXPORTS', 'AUDIT_LOG'
);

CREATE TYPE audit_log.event_status AS ENUM ('SUCCESS', 'FAILURE');

/*
 * Known event types.  Built-in rows (builtin = true) come with the extension;
 * applications add their own with register_event_type(), and only those are
 * dumped by pg_dump (the built-in ones come back with CREATE EXTENSION).
 */
CREATE TABLE audit_log.event_types (
	event_category audit_log.event_category NOT NULL,
	event_type text NOT NULL,
	description text NOT NULL,
	builtin boolean NOT NULL DEFAULT false,
	PRIMARY KEY (event_category, event_type),
	CONSTRAINT event_type_format
		CHECK (event_type ~ '^[A-Z][A-Z0-9_]{0,62}$')
);

SELECT pg_catalog.pg_extension_config_dump('audit_log.event_types', 'WHERE NOT builtin');

INSERT INTO audit_log.event_types (event_category, event_type, description, builtin) VALUES
	('ACCESS_SIGMA', 'LOGIN', 'A connection attempt: SUCCESS once the session is established, FAILURE with the reason it was refused', true),
	('ACCESS_SIGMA', 'LOGOUT', 'A session ended; entry_data.duration_s holds its length', true),
	('ACCESS_SIGMA', 'PASSWORD_CHANGE', 'A role''s password was set, changed or removed (the password itself is never recorded)', true),
	('USER_ACCOUNTS', 'CREATE_USER', 'A login role was created', true),
	('USER_ACCOUNTS', 'ALTER_USER', 'A login role''s settings or validity were changed', true),
	('USER_ACCOUNTS', 'DROP_USER', 'A login role was dropped', true),
	('USER_ACCOUNTS', 'RENAME_USER', 'A login role was renamed', true),
	('ACCOUNT_TYPES', 'CHANGE_ROLE_ATTRIBUTES', 'A role''s attributes (SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS, LOGIN, ...) were changed; entry_data holds them before and after', true),
	('ACCOUNT_TYPES', 'GRANT_PRIVILEGE', 'Privileges on objects were granted', true),
	('ACCOUNT_TYPES', 'REVOKE_PRIVILEGE', 'Privileges on objects were revoked', true),
	('ACCOUNT_TYPES', 'ALTER_DEFAULT_PRIVILEGES', 'Default privileges for future objects were changed', true),
	('ACCOUNT_TYPES', 'DROP_OWNED', 'DROP OWNED: the objects roles owned in a database were dropped and their privileges there revoked', true),
	('ACCOUNT_TYPES', 'REASSIGN_OWNED', 'REASSIGN OWNED: the objects roles owned in a database were given to another role', true),
	('TEAMS', 'CREATE_TEAM', 'A group (NOLOGIN) role was created', true),
	('TEAMS', 'ALTER_TEAM', 'A group role''s settings were changed', true),
	('TEAMS', 'DROP_TEAM', 'A group role was dropped', true),
	('TEAMS', 'RENAME_TEAM', 'A group role was renamed', true),
	('TEAMS', 'GRANT_MEMBERSHIP', 'A role was made a member of another role', true),
	('TEAMS', 'REVOKE_MEMBERSHIP', 'A role''s membership in another role was removed', true),
	('CONNECTIONS', 'CREATE_SERVER', 'A foreign server was created', true),
	('CONNECTIONS', 'ALTER_SERVER', 'A foreign server was changed', true),
	('CONNECTIONS', 'DROP_SERVER', 'A foreign server was dropped', true),
	('CONNECTIONS', 'CREATE_USER_MAPPING', 'A user mapping was created (its password option is never recorded)', true),
	('CONNECTIONS', 'ALTER_USER_MAPPING', 'A user mapping was changed (its password option is never recorded)', true),
	('CONNECTIONS', 'DROP_USER_MAPPING', 'A user mapping was dropped', true),
	('CONNECTIONS', 'CREATE_FOREIGN_DATA_WRAPPER', 'A foreign-data wrapper was created', true),
	('CONNECTIONS', 'ALTER_FOREIGN_DATA_WRAPPER', 'A foreign-data wrapper was changed', true),
	('CONNECTIONS', 'DROP_FOREIGN_DATA_WRAPPER', 'A foreign-data wrapper was dropped', true),
	('CONNECTIONS', 'CREATE_SUBSCRIPTION', 'A subscription was created (the connection string''s password is never recorded)', true),
	('CONNECTIONS', 'ALTER_SUBSCRIPTION', 'A subscription was changed', true),
	('CONNECTIONS', 'DROP_SUBSCRIPTION', 'A subscription was dropped', true),
	('CONNECTIONS', 'ADD_SOURCE', 'A source server was added to this collector', true),
	('CONNECTIONS', 'DROP_SOURCE', 'A source server was removed from this collector', true),
	('EXPORTS', 'EXPORT', 'An export run wrote a CSV file (or failed to)', true),
	('AUDIT_LOG', 'RETENTION', 'The retention job dropped expired days (or found none)', true),
	('AUDIT_LOG', 'SETTINGS_CHANGE', 'An audit_log setting was changed', true),
	('AUDIT_LOG', 'SCHEDULE_CHANGE', 'An audit_log pg_cron job was created, changed or removed', true),
	('AUDIT_LOG', 'SEAL', 'A day was sealed with its chained digest', true),
	('AUDIT_LOG', 'VERIFY', 'Sealed days were verified', true);

/*
 * The events.  Partitioned by UTC day (see maintain()); the default
 * partition catches any row whose day has no partition yet, so an insert
 * never fails for lack of one.
 *
 * Keys and indexes are made on each partition, not on this parent: the
 * parent belongs to the extension and exists before pg_restore attaches the
 * dumped partitions, and an index on it would be cloned onto each partition
 * at ATTACH and then clash with the partition's own dumped index.  Each
 * partition's primary key on event_id lets the background writer retry a
 * batch (INSERT ... ON CONFLICT DO NOTHING) without writing an event twice.
 */
CREATE TABLE audit_log.events (
	event_id uuid NOT NULL,
	request_time timestamptz NOT NULL,
	logged_time timestamptz NOT NULL,
	event_category audit_log.event_category NOT NULL,
	event_type text NOT NULL,
	event_status audit_log.event_status NOT NULL,
	event_status_reason_code text,
	user_name text,
	user_email text,
	object_name text,
	client_addr inet,
	application_name text,
	database_name text,
	backend_pid int,
	session_id text,
	source_node text,
	entry_data jsonb NOT NULL DEFAULT '{}',
	CONSTRAINT events_entry_data_object CHECK (pg_catalog.jsonb_typeof(entry_data) = 'object')
) PARTITION BY RANGE (request_time);

CREATE TABLE audit_log.events_default PARTITION OF audit_log.events
	(CONSTRAINT events_default_pkey PRIMARY KEY (event_id)) DEFAULT;
CREATE INDEX events_default_request_time_idx ON audit_log.events_default (request_time);

SELECT pg_catalog.pg_extension_config_dump('audit_log.events_default', '');

GRANT SELECT ON audit_log.events, audit_log.event_types TO audit_log_reader;
