/*-------------------------------------------------------------------------
 *
 * admin_internal.h
 *		Declarations shared by the files of the administrative capture
 *		only: capture_admin.c (the hook, dispatch and outcomes), and the
 *		event builders admin_roles.c, admin_connections.c and
 *		admin_render.c.  The rest of the extension sees capture_admin.h.
 *
 * Every function here runs inside capture_statement (capture_admin.c), in
 * its per-command memory context, before the command itself runs.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_ADMIN_INTERNAL_H
#define AUDIT_LOG_ADMIN_INTERNAL_H

#include "nodes/parsenodes.h"

#include "al_json.h"
#include "audit_log.h"

/* capture_admin.c: the events of the command being built */
extern AuditEvent *al_admin_event(AuditCategory category, const char *event_type,
								  const char *object, AlJson *js);
extern void al_admin_event_done(AuditEvent *ev, AlJson *js);
extern const char *al_admin_acting_user(void);

/* admin_render.c: parse-tree pieces as text and as JSON */
extern char *al_admin_defelem_text(DefElem *def);
extern void al_admin_json_option(AlJson *js, const char *name, const char *val);
extern void al_admin_json_options(AlJson *js, List *options);
extern const char *al_admin_rolespec_name(RoleSpec *spec);
extern List *al_admin_rolespec_names(List *specs);
extern void al_admin_json_rolespecs(AlJson *js, const char *key, List *specs);
extern void al_admin_json_names(AlJson *js, const char *key, List *names);
extern char *al_admin_object_text(Node *node);
extern const char *al_admin_objtype_text(ObjectType objtype, bool plural);
extern void al_admin_json_privileges(AlJson *js, List *privileges);
extern char *al_admin_join_names(List *names);
extern char *al_admin_setstmt_value(VariableSetStmt *set);

/* admin_roles.c: roles, memberships, passwords and privileges */
extern void al_admin_create_role(CreateRoleStmt *stmt);
extern void al_admin_alter_role(AlterRoleStmt *stmt);
extern void al_admin_alter_role_set(AlterRoleSetStmt *stmt);
extern void al_admin_drop_role(DropRoleStmt *stmt);
extern void al_admin_rename_role(RenameStmt *stmt);
extern void al_admin_grant_role(GrantRoleStmt *stmt);
extern void al_admin_grant(GrantStmt *stmt);
extern void al_admin_owned(const char *event_type, List *roles,
						   RoleSpec *new_owner, DropBehavior behavior);
extern void al_admin_default_privileges(AlterDefaultPrivilegesStmt *stmt);
extern void al_admin_guard_grant_role(GrantRoleStmt *stmt);
extern void al_admin_alter_owner(AlterOwnerStmt *stmt);
extern void al_admin_alter_table_owner(AlterTableStmt *stmt);
extern bool al_admin_alter_table_changes_owner(AlterTableStmt *stmt);

/* admin_connections.c: servers, user mappings, wrappers, subscriptions */
extern bool al_admin_is_connection_type(ObjectType type);
extern void al_admin_create_server(CreateForeignServerStmt *stmt);
extern void al_admin_alter_server(AlterForeignServerStmt *stmt);
extern void al_admin_drop_connection(DropStmt *stmt);
extern void al_admin_user_mapping(const char *event_type, RoleSpec *userspec,
								  const char *servername, List *options,
								  bool skip_if_exists, bool skip_if_missing);
extern void al_admin_fdw(const char *event_type, const char *fdwname,
						 List *func_options, List *options);
extern void al_admin_create_subscription(CreateSubscriptionStmt *stmt);
extern void al_admin_alter_subscription(AlterSubscriptionStmt *stmt);
extern void al_admin_drop_subscription(DropSubscriptionStmt *stmt);
extern void al_admin_connection_rename_owner(ObjectType type, const char *name,
											 const char *newname,
											 RoleSpec *newowner);

#endif							/* AUDIT_LOG_ADMIN_INTERNAL_H */
