/*-------------------------------------------------------------------------
 *
 * fleet.h
 *		The transaction end of audit_log.add_source() (fleet.c): a
 *		replication slot made on a source by an add_source that rolls back
 *		is dropped again.  And the lag of each source, for the built-in
 *		alert audit_log:collector_lag (alerts.c).
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_FLEET_H
#define AUDIT_LOG_FLEET_H

#include "access/xact.h"
#include "utils/timestamp.h"

/* How long since a collector last heard from one of its sources. */
typedef struct AlSourceLag
{
	char		name[NAMEDATALEN];
	int64		lag_ms;
	bool		streaming;		/* its subscription's worker is running */
} AlSourceLag;

/* fleet.c: called by the extension's transaction callbacks (audit_log.c) */
extern void al_fleet_xact(XactEvent event);
extern void al_fleet_subxact(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid);

/*
 * fleet.c: each source of this collector and its lag (SPI connected,
 * snapshot set); returns how many were written to out (at most max).
 */
extern int	al_fleet_source_lags(AlSourceLag *out, int max, TimestampTz now);

#endif							/* AUDIT_LOG_FLEET_H */
