/*-------------------------------------------------------------------------
 *
 * export_compress.c
 *		gzip (zlib) and zstd (libzstd) compression of an export while it is
 *		written.
 *
 * The export writer (export_file.c) fills its buffer with COPY's output;
 * when the run is compressed, each full buffer goes through the compressor
 * here instead of straight to the file, and the compressor hands its output
 * back to export_writer_write_out(), which hashes (SHA-256 of the file as
 * written, so of the compressed bytes) and writes it.  Nothing holds more
 * than one buffer of input and one of output.
 *
 * zlib allocates through palloc (in the run's memory context); the zstd
 * context is malloc'd by libzstd and freed by export_compress_end(), also
 * on error (export_compress_abort(), called from the export's error path).
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zlib.h>
#include <zstd.h>

#include "export.h"

/* Size of the compressor's output buffer. */
#define COMPRESS_OUT_SIZE	(256 * 1024)

/*
 * zstd level 1: the fastest of the standard levels; audit rows repeat so
 * much that it still makes files about ten times smaller (bench/RESULTS.md)
 * while keeping the export near the speed of an uncompressed one.
 */
#define EXPORT_ZSTD_LEVEL	1

typedef struct ExportCompressor
{
	ExportCompression kind;
	z_stream	zs;
	bool		zs_open;
	ZSTD_CCtx  *zc;
	char	   *out;
} ExportCompressor;

/* The compressor of the run in progress, for the error path. */
static ExportCompressor *current = NULL;

static voidpf
zalloc_palloc(voidpf opaque, uInt items, uInt size)
{
	return palloc_extended((Size) items * size, MCXT_ALLOC_NO_OOM);
}

static void
zfree_palloc(voidpf opaque, voidpf address)
{
	if (address != NULL)
		pfree(address);
}

/*
 * Start compressing the writer's output.
 */
void
export_compress_begin(ExportWriter *w, ExportCompression kind)
{
	ExportCompressor *c;

	w->compressor = NULL;
	if (kind == EXPORT_COMPRESSION_NONE)
		return;

	c = palloc0(sizeof(ExportCompressor));
	c->kind = kind;
	c->out = palloc(COMPRESS_OUT_SIZE);
	if (kind == EXPORT_COMPRESSION_GZIP)
	{
		c->zs.zalloc = zalloc_palloc;
		c->zs.zfree = zfree_palloc;
		c->zs.opaque = Z_NULL;
		/* windowBits 15 + 16: a gzip header and trailer around deflate */
		if (deflateInit2(&c->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
						 Z_DEFAULT_STRATEGY) != Z_OK)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not initialize gzip compression")));
		c->zs_open = true;
	}
	else
	{
		c->zc = ZSTD_createCCtx();
		if (c->zc == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not initialize zstd compression")));
		current = c;
		if (ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_compressionLevel,
												EXPORT_ZSTD_LEVEL)) ||
			ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_checksumFlag, 1)))
			elog(ERROR, "could not set zstd parameters");
	}
	current = c;
	w->compressor = c;
}

/*
 * Compress data (the writer's buffer); with finish, end the stream too.
 */
void
export_compress_data(ExportWriter *w, const char *data, size_t len, bool finish)
{
	ExportCompressor *c = w->compressor;

	if (c->kind == EXPORT_COMPRESSION_GZIP)
	{
		int			rc;

		c->zs.next_in = (Bytef *) data;
		c->zs.avail_in = (uInt) len;
		do
		{
			c->zs.next_out = (Bytef *) c->out;
			c->zs.avail_out = COMPRESS_OUT_SIZE;
			rc = deflate(&c->zs, finish ? Z_FINISH : Z_NO_FLUSH);
			if (rc == Z_STREAM_ERROR)
				elog(ERROR, "gzip compression failed");
			export_writer_write_out(w, c->out, COMPRESS_OUT_SIZE - c->zs.avail_out);
		} while (c->zs.avail_out == 0 || (finish && rc != Z_STREAM_END));
	}
	else
	{
		ZSTD_inBuffer in = {data, len, 0};
		size_t		left;

		do
		{
			ZSTD_outBuffer out = {c->out, COMPRESS_OUT_SIZE, 0};

			left = ZSTD_compressStream2(c->zc, &out, &in,
										finish ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(left))
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("zstd compression failed: %s", ZSTD_getErrorName(left))));
			export_writer_write_out(w, c->out, out.pos);
		} while (finish ? left != 0 : in.pos < in.size);
	}
}

/*
 * Free the compressor after the stream was finished.
 */
void
export_compress_end(ExportWriter *w)
{
	if (w->compressor == NULL)
		return;
	export_compress_abort();
	w->compressor = NULL;
}

/*
 * Free the compressor of the run in progress, if any; used on error, must
 * not fail.
 */
void
export_compress_abort(void)
{
	ExportCompressor *c = current;

	current = NULL;
	if (c == NULL)
		return;
	if (c->zs_open)
	{
		(void) deflateEnd(&c->zs);
		c->zs_open = false;
	}
	if (c->zc != NULL)
	{
		ZSTD_freeCCtx(c->zc);
		c->zc = NULL;
	}
}
