/*-------------------------------------------------------------------------
 *
 * intents.h
 *		The intents of administrative events (intents.c), written by the
 *		background writer (writer.c) before the commands' transactions
 *		commit, and resolved by those transactions' status.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_INTENTS_H
#define AUDIT_LOG_INTENTS_H

#include "audit_log.h"

/* intents.c: the writer's side; every function runs in the writer only */
extern void al_intents_start(MemoryContext cxt, int batch_max);
extern bool al_intents_write(AuditEvent *batch, int *n);
extern void al_intents_delete_finals(const AuditEvent *evs, int n);
extern void al_intents_resolve(void);

#endif							/* AUDIT_LOG_INTENTS_H */
