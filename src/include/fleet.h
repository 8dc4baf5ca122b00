/*-------------------------------------------------------------------------
 *
 * fleet.h
 *		The transaction end of audit_log.add_source() (fleet.c): a
 *		replication slot made on a source by an add_source that rolls back
 *		is dropped again.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_FLEET_H
#define AUDIT_LOG_FLEET_H

#include "access/xact.h"

/* fleet.c: called by the extension's transaction callbacks (audit_log.c) */
extern void al_fleet_xact(XactEvent event);
extern void al_fleet_subxact(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid);

#endif							/* AUDIT_LOG_FLEET_H */
