/*-------------------------------------------------------------------------
 *
 * capture_utility.h
 *		Capture of administrative commands (roles, attributes, privileges,
 *		teams, connections) through ProcessUtility_hook.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_CAPTURE_UTILITY_H
#define AUDIT_LOG_CAPTURE_UTILITY_H

/* Install the utility hook and the transaction callbacks; from _PG_init. */
extern void al_capture_utility_init(void);

#endif							/* AUDIT_LOG_CAPTURE_UTILITY_H */
