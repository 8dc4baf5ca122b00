/*-------------------------------------------------------------------------
 *
 * seal_digest.c
 *		Seals anchored outside the database: each new seal is also written
 *		as a digest file under audit_log.export_directory/digests, signed
 *		with Ed25519 when audit_log.signing_key_file is set, and handed to
 *		audit_log.export_command, so that a copy the database's superuser
 *		cannot rewrite exists elsewhere; and the reading side of
 *		audit_log.verify_digests().
 *
 * Files, for a seal of day D with digest X (doc/seal.md gives the format):
 *   audit_log_digest_<YYYYMMDD>_<first 16 hex digits of X>.json
 *   the same name with .sig: the raw 64-byte Ed25519 signature of the .json
 *   file's bytes (what `openssl pkeyutl -verify -rawin -sigfile` reads)
 *   the same name with .pub.pem: the public key that verifies it
 * A file is never overwritten: the name holds the digest, so sealing the
 * same rows again names the file already there (kept as it is), and a day
 * sealed again with other rows gets a second file beside the first, which
 * verify_digests() then reports.
 *
 * The files are written with export_file.c's helpers (temporary name,
 * fsync, rename, fsync of the directory), inside the sealing transaction:
 * a seal whose transaction rolls back leaves its file behind, and
 * verify_digests() says so ("no seal row").
 *
 * The private key is read at each signing (a seal a day: no cache, so a
 * reload that changes the setting takes effect at once) and must lie
 * outside the data directory, so that a base backup or a replica never
 * carries it.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "al_json.h"
#include "audit_log.h"
#include "export.h"
#include "seal_digest.h"

PG_FUNCTION_INFO_V1(audit_log_digest_write);
PG_FUNCTION_INFO_V1(audit_log_digest_read);

/* audit_log.signing_key_file (define_settings() in audit_log.c) */
char	   *al_signing_key_file = NULL;

/* Subdirectory of audit_log.export_directory that holds the digest files. */
#define DIGEST_SUBDIR "digests"

/* The longest digest file read back (they are well under 1 kB). */
#define DIGEST_MAX_FILE 65536

#define ED25519_SIG_LEN 64

/*
 * Is path (absolute) inside the data directory?  Symbolic links are
 * followed for whatever part of the path exists.
 */
static bool
path_inside_datadir(const char *path)
{
	char	   *data_m;
	char	   *p_m;
	char		probe[MAXPGPATH];
	bool		inside;
	size_t		len;

	if (DataDir == NULL)
		return false;
	data_m = realpath(DataDir, NULL);
	if (data_m == NULL)
		return false;

	/* the file itself, or failing that its directory */
	strlcpy(probe, path, sizeof(probe));
	p_m = realpath(probe, NULL);
	if (p_m == NULL)
	{
		get_parent_directory(probe);
		p_m = realpath(probe, NULL);
	}
	if (p_m == NULL)
		p_m = strdup(path);
	if (p_m == NULL)
	{
		free(data_m);
		return false;
	}
	len = strlen(data_m);
	inside = strncmp(p_m, data_m, len) == 0 && (p_m[len] == '\0' || p_m[len] == '/');
	free(data_m);
	free(p_m);
	return inside;
}

/*
 * Check hook of audit_log.signing_key_file: empty (no signing), or an
 * absolute path outside the data directory.
 */
bool
al_check_signing_key_file(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!is_absolute_path(*newval))
	{
		GUC_check_errdetail("The signing key file must be an absolute path.");
		return false;
	}
	if (path_inside_datadir(*newval))
	{
		GUC_check_errdetail("The signing key file must lie outside the data directory, which base backups and replicas copy.");
		return false;
	}
	return true;
}

/* The last OpenSSL error, for a message. */
static const char *
ssl_error(void)
{
	unsigned long e = ERR_get_error();
	static char buf[256];

	if (e == 0)
		return "no further detail";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/*
 * Load the Ed25519 private key of audit_log.signing_key_file, or NULL when
 * the setting is empty.
 */
static EVP_PKEY *
load_signing_key(void)
{
	BIO		   *bio;
	EVP_PKEY   *pkey;

	if (al_signing_key_file == NULL || al_signing_key_file[0] == '\0')
		return NULL;
	if (path_inside_datadir(al_signing_key_file))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("audit_log.signing_key_file \"%s\" is inside the data directory",
						al_signing_key_file),
				 errhint("Keep the key outside the data directory, which base backups and replicas copy.")));
	bio = BIO_new_file(al_signing_key_file, "r");
	if (bio == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open audit_log.signing_key_file \"%s\": %s",
						al_signing_key_file, ssl_error())));
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not read a private key from audit_log.signing_key_file \"%s\": %s",
						al_signing_key_file, ssl_error()),
				 errhint("Give an Ed25519 private key in PEM, e.g. made by: openssl genpkey -algorithm ed25519 -out key.pem")));
	if (EVP_PKEY_id(pkey) != EVP_PKEY_ED25519)
	{
		EVP_PKEY_free(pkey);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("audit_log.signing_key_file \"%s\" is not an Ed25519 key",
						al_signing_key_file),
				 errhint("Make one with: openssl genpkey -algorithm ed25519 -out key.pem")));
	}
	return pkey;
}

/* The public half of a key, in PEM (palloc'd). */
static char *
public_pem(EVP_PKEY *pkey)
{
	BIO		   *bio = BIO_new(BIO_s_mem());
	char	   *data;
	long		len;
	char	   *result;

	if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1)
	{
		if (bio)
			BIO_free(bio);
		elog(ERROR, "could not write the public key: %s", ssl_error());
	}
	len = BIO_get_mem_data(bio, &data);
	result = pnstrdup(data, len);
	BIO_free(bio);
	return result;
}

/* Sign bytes with Ed25519: 64 bytes into sig. */
static void
sign_bytes(EVP_PKEY *pkey, const char *data, size_t len, unsigned char *sig)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t		siglen = ED25519_SIG_LEN;
	bool		ok;

	if (ctx == NULL)
		elog(ERROR, "could not create a signing context");
	/* Ed25519 hashes internally: no message digest (NULL md) */
	ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
		EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *) data, len) == 1 &&
		siglen == ED25519_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		elog(ERROR, "could not sign the digest file: %s", ssl_error());
}

/* Does sig verify data with pkey? */
static bool
verify_bytes(EVP_PKEY *pkey, const char *data, size_t len,
			 const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool		ok;

	if (ctx == NULL)
		elog(ERROR, "could not create a verification context");
	ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
		EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *) data, len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* A timestamp as ISO 8601 in UTC, as in the events' JSON. */
static char *
iso_utc(TimestampTz ts)
{
	char		buf[MAXDATELEN + 1];
	int			tz = 0;

	JsonEncodeDateTime(buf, TimestampTzGetDatum(ts), TIMESTAMPTZOID, &tz);
	return pstrdup(buf);
}

/*
 * Write one file of a digest (durably, under a temporary name first) and
 * hand it to audit_log.export_command.
 */
static void
write_one(const char *dir, const char *name, const char *data, size_t len)
{
	char		tmp[MAXPGPATH];
	char		final[MAXPGPATH];
	char	   *failure;

	snprintf(final, sizeof(final), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.%d.tmp", dir, name, MyProcPid);
	(void) unlink(tmp);			/* left by a crash of an earlier backend */
	export_write_small_file_len(tmp, final, data, len);

	if (al_export_command != NULL && al_export_command[0] != '\0')
	{
		failure = export_run_command(final);
		if (failure != NULL)
			ereport(WARNING,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("audit_log.export_command failed for digest file \"%s\"", final),
					 errdetail("%s", failure),
					 errhint("The digest file stays in the export directory; copy it by hand.")));
	}
}

/*
 * audit_log._digest_write(day date, rows bigint, digest text,
 *     previous_digest text, sealed_at timestamptz, format_version integer,
 *     kind text, reason text, replaces text) RETURNS text
 *
 * Writes the digest file of a seal (and its signature and public key) and
 * returns its path; NULL when audit_log.export_directory is empty.  A file
 * already there for the same day and digest is kept as it is.  Internal:
 * called by seal() and reseal(); not granted.
 */
Datum
audit_log_digest_write(PG_FUNCTION_ARGS)
{
	DateADT		day;
	int64		rows;
	char	   *digest;
	char	   *previous;
	TimestampTz sealed_at;
	int32		format_version;
	char	   *kind;
	char	   *reason = PG_ARGISNULL(7) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(7));
	char	   *replaces = PG_ARGISNULL(8) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(8));
	char	   *root;
	char	   *dir;
	char		base[64];
	char		name[MAXPGPATH];
	char		path[MAXPGPATH];
	char		daystr[16];
	char		num[32];
	int			y,
				m,
				d;
	struct stat st;
	EVP_PKEY   *pkey;
	AlJson		js;
	char	   *buf;
	size_t		bufsize;
	int			i;

	for (i = 0; i <= 6; i++)
		if (PG_ARGISNULL(i))
			elog(ERROR, "audit_log._digest_write: argument %d is null", i + 1);

	if (al_export_directory == NULL || al_export_directory[0] == '\0')
		PG_RETURN_NULL();

	day = PG_GETARG_DATEADT(0);
	rows = PG_GETARG_INT64(1);
	digest = text_to_cstring(PG_GETARG_TEXT_PP(2));
	previous = text_to_cstring(PG_GETARG_TEXT_PP(3));
	sealed_at = PG_GETARG_TIMESTAMPTZ(4);
	format_version = PG_GETARG_INT32(5);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(6));

	if (strlen(digest) != 64 || strspn(digest, "0123456789abcdef") != 64)
		elog(ERROR, "audit_log._digest_write: digest is not 64 hex digits");

	/* the digests directory, made on first use, and confined */
	root = export_resolve_directory(al_export_directory);
	snprintf(path, sizeof(path), "%s/%s", root, DIGEST_SUBDIR);
	if (stat(path, &st) != 0)
	{
		if (MakePGDirectory(path) != 0 && errno != EEXIST)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create directory \"%s\": %m", path)));
	}
	dir = export_resolve_directory(path);

	j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	snprintf(daystr, sizeof(daystr), "%04d-%02d-%02d", y, m, d);
	snprintf(base, sizeof(base), "audit_log_digest_%04d%02d%02d_%.16s", y, m, d, digest);
	snprintf(name, sizeof(name), "%s.json", base);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) == 0)
		PG_RETURN_TEXT_P(cstring_to_text(path));

	/* the content, one line of JSON and a newline */
	bufsize = 1024 + (reason ? strlen(reason) * 6 : 0) + (replaces ? strlen(replaces) : 0);
	buf = palloc(bufsize);
	al_json_init(&js, buf, bufsize, false);
	al_json_str(&js, "format", "audit_log digest");
	al_json_int(&js, "format_version", format_version);
	al_json_str(&js, "kind", kind);
	al_json_str(&js, "day", daystr);
	snprintf(num, sizeof(num), INT64_FORMAT, rows);
	al_json_raw(&js, "rows", num);
	al_json_str(&js, "digest", digest);
	al_json_str(&js, "previous_digest", previous);
	al_json_str(&js, "sealed_at", iso_utc(sealed_at));
	al_json_str(&js, "source_node", al_source_node());
	if (reason)
		al_json_str(&js, "reason", reason);
	if (replaces)
		al_json_str(&js, "replaces", replaces);
	if (!al_json_finish(&js))
		elog(ERROR, "digest file content does not fit its buffer");
	strlcat(buf, "\n", bufsize);

	pkey = load_signing_key();
	if (pkey != NULL)
	{
		unsigned char sig[ED25519_SIG_LEN];
		char	   *pub;
		char		signame[MAXPGPATH];
		char		pubname[MAXPGPATH];

		/* (an error here leaves the key to the end of the process: rare) */
		sign_bytes(pkey, buf, strlen(buf), sig);
		pub = public_pem(pkey);
		EVP_PKEY_free(pkey);
		snprintf(signame, sizeof(signame), "%s.sig", base);
		snprintf(pubname, sizeof(pubname), "%s.pub.pem", base);
		/* signature and key first: a .json seen has its .sig beside it */
		write_one(dir, pubname, pub, strlen(pub));
		write_one(dir, signame, (const char *) sig, ED25519_SIG_LEN);
	}
	write_one(dir, name, buf, strlen(buf));

	PG_RETURN_TEXT_P(cstring_to_text(path));
}

/*
 * Read a whole small file; NULL when it does not exist.
 */
static StringInfo
read_small_file(const char *path)
{
	FILE	   *fh = AllocateFile(path, PG_BINARY_R);
	StringInfo	s;
	char		buf[4096];
	size_t		n;

	if (fh == NULL)
	{
		if (errno == ENOENT)
			return NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	}
	s = makeStringInfo();
	while ((n = fread(buf, 1, sizeof(buf), fh)) > 0)
	{
		if (s->len + n > DIGEST_MAX_FILE)
			break;
		appendBinaryStringInfo(s, buf, n);
	}
	if (ferror(fh))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	FreeFile(fh);
	return s;
}

/* A public key from PEM text; NULL when it cannot be read. */
static EVP_PKEY *
pubkey_from_pem(StringInfo pem)
{
	BIO		   *bio = BIO_new_mem_buf(pem->data, pem->len);
	EVP_PKEY   *pkey;

	if (bio == NULL)
		return NULL;
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	return pkey;
}

/*
 * audit_log._digest_read(directory text, OUT file text, OUT content text,
 *     OUT signature text, OUT detail text) RETURNS SETOF record
 *
 * Every digest file (audit_log_digest_*.json) of a directory inside
 * audit_log.export_directory, with its content (NULL when not valid text)
 * and the state of its signature:
 *   ok        the .sig verifies the file with the key (see below)
 *   bad       it does not
 *   unsigned  no .sig beside the file
 *   no key    a .sig, but no key to check it with
 * The key is the public half of audit_log.signing_key_file when it is set
 * (then a published .pub.pem that differs from it is noted in detail),
 * otherwise the .pub.pem beside the file.  Internal: verify_digests() reads
 * it; not granted.
 */
Datum
audit_log_digest_read(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *dir;
	DIR		   *dh;
	struct dirent *de;
	EVP_PKEY   *own = NULL;
	char	   *own_pem = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("directory must not be null")));
	dir = export_resolve_directory(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	InitMaterializedSRF(fcinfo, 0);

	own = load_signing_key();
	if (own != NULL)
		own_pem = public_pem(own);

	PG_TRY();
	{
		dh = AllocateDir(dir);
		while ((de = ReadDir(dh, dir)) != NULL)
		{
			size_t		len = strlen(de->d_name);
			char		path[MAXPGPATH];
			char		base[MAXPGPATH];
			StringInfo	content;
			StringInfo	sig;
			StringInfo	pub;
			Datum		values[4];
			bool		nulls[4] = {false, false, false, true};
			const char *state;
			char	   *detail = NULL;

			if (strncmp(de->d_name, "audit_log_digest_", 17) != 0 ||
				len < 5 || strcmp(de->d_name + len - 5, ".json") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			snprintf(base, sizeof(base), "%s/%.*s", dir, (int) (len - 5), de->d_name);
			content = read_small_file(path);
			if (content == NULL)
				continue;		/* removed meanwhile */

			sig = read_small_file(psprintf("%s.sig", base));
			pub = read_small_file(psprintf("%s.pub.pem", base));
			if (sig == NULL)
				state = "unsigned";
			else
			{
				EVP_PKEY   *key = own;
				EVP_PKEY   *published = NULL;

				if (pub != NULL)
					published = pubkey_from_pem(pub);
				if (key == NULL)
					key = published;
				else if (pub != NULL &&
						 (pub->len != strlen(own_pem) || memcmp(pub->data, own_pem, pub->len) != 0))
					detail = "the published .pub.pem is not the public key of audit_log.signing_key_file";
				if (key == NULL)
					state = "no key";
				else if (verify_bytes(key, content->data, content->len,
									  (const unsigned char *) sig->data, sig->len))
					state = "ok";
				else
					state = "bad";
				if (published != NULL)
					EVP_PKEY_free(published);
			}

			values[0] = CStringGetTextDatum(path);
			if (memchr(content->data, '\0', content->len) == NULL &&
				pg_verifymbstr(content->data, content->len, true))
				values[1] = CStringGetTextDatum(content->data);
			else
				nulls[1] = true;
			values[2] = CStringGetTextDatum(state);
			if (detail != NULL)
			{
				values[3] = CStringGetTextDatum(detail);
				nulls[3] = false;
			}
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		FreeDir(dh);
	}
	PG_FINALLY();
	{
		if (own != NULL)
			EVP_PKEY_free(own);
	}
	PG_END_TRY();

	return (Datum) 0;
}
