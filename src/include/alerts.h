/*-------------------------------------------------------------------------
 *
 * alerts.h
 *		Threshold alerts evaluated by the background writer (alerts.c).
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_ALERTS_H
#define AUDIT_LOG_ALERTS_H

#include "audit_log.h"

/* Most enabled rules of audit_log.alert_rules the writer evaluates. */
#define AL_ALERT_MAX_RULES		32

/* Most group keys one rule keeps a window for. */
#define AL_ALERT_MAX_GROUPS		1024

/* Most window entries (an event's time and id) kept over all rules. */
#define AL_ALERT_MAX_SLOTS		262144

/* How often the writer rereads audit_log.alert_rules, in ms. */
#define AL_ALERT_RELOAD_MS		1000

/* audit_log.alert_command (audit_log.c) */
extern char *al_alert_command;

/* audit_log.alert_collector_lag, in seconds; 0: off (audit_log.c) */
extern int	al_alert_collector_lag_s;

/* After a batch of n events was committed: count them, fire what crossed. */
extern void al_alerts_batch(const AuditEvent *evs, int n);

/* Each turn of the writer's loop: follow-ups whose window ended. */
extern void al_alerts_tick(void);

#endif							/* AUDIT_LOG_ALERTS_H */
