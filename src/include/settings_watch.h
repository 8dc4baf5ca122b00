/*-------------------------------------------------------------------------
 *
 * settings_watch.h
 *		Settings-change detection (settings_watch.c), run by the
 *		background writer (writer.c).
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_SETTINGS_WATCH_H
#define AUDIT_LOG_SETTINGS_WATCH_H

/* settings_watch.c: called by the writer at its start and after a reload */
extern void al_settings_watch_start(MemoryContext cxt);
extern void al_settings_watch_reloaded(bool captured_before);

#endif							/* AUDIT_LOG_SETTINGS_WATCH_H */
