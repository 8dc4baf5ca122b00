/*-------------------------------------------------------------------------
 *
 * seal.h
 *		The part of the seals (seal.c) that log_event() uses.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_SEAL_H
#define AUDIT_LOG_SEAL_H

#include "datatype/timestamp.h"

/*
 * seal.c: ERROR if request_time's UTC day is sealed; call inside an SPI
 * connection, after the event is inserted.
 */
extern void al_refuse_sealed_day(TimestampTz request_time);

#endif							/* AUDIT_LOG_SEAL_H */
