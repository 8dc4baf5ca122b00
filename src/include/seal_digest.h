/*-------------------------------------------------------------------------
 *
 * seal_digest.h
 *		The digest files of the seals (seal_digest.c): one JSON file per
 *		seal under audit_log.export_directory/digests, signed with Ed25519
 *		when audit_log.signing_key_file is set.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_SEAL_DIGEST_H
#define AUDIT_LOG_SEAL_DIGEST_H

#include "utils/guc.h"

/* seal_digest.c: audit_log.signing_key_file, defined in define_settings() */
extern char *al_signing_key_file;
extern bool al_check_signing_key_file(char **newval, void **extra, GucSource source);

#endif							/* AUDIT_LOG_SEAL_DIGEST_H */
