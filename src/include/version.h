/*-------------------------------------------------------------------------
 *
 * version.h
 *		The version of the audit_log library, and the check that the
 *		installed extension (its SQL objects) is at the same version.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_VERSION_H
#define AUDIT_LOG_VERSION_H

/*
 * The extension version this library was built for: default_version of
 * audit_log.control.  A library newer than the installed extension keeps
 * working with the older SQL objects until ALTER EXTENSION audit_log UPDATE.
 */
#define AL_LIBRARY_VERSION "1.1"

/* version.c */
extern char *al_installed_version(void);
extern int	al_installed_version_num(void);
extern void al_warn_if_update_pending(void);

#endif							/* AUDIT_LOG_VERSION_H */
