/*-------------------------------------------------------------------------
 *
 * standby_ship.h
 *		A hot standby's writer sends its events to the primary
 *		(standby_ship.c).
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_STANDBY_SHIP_H
#define AUDIT_LOG_STANDBY_SHIP_H

#include "audit_log.h"

/* standby_ship.c: the writer's side, in recovery only */
extern int	al_standby_ship(AuditEvent *batch, int max);
extern void al_standby_disconnect(void);

#endif							/* AUDIT_LOG_STANDBY_SHIP_H */
