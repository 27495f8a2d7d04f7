// Package admin owns every administrative operation of the gate: users,
// roles, clients, personal access tokens, sessions, signing keys and edits
// of the permission table. The command line calls it today and the admin
// pages will; neither touches storage for a change of its own.
//
// Every operation takes the Actor asking for it (the command line, or a
// signed-in user of the pages with the address they came from), checks that
// the actor may administer, and runs in one storage transaction together
// with its audit record, which names the actor. `user add --roles` creates
// the user and grants the roles in that one transaction.
//
// Errors are values with a small set of codes (EInvalid, EConflict,
// ENotFound, EForbidden, EInternal). ErrorCode and ErrorMessage read them;
// an error that is not an *Error is internal and shows only "internal
// error". Each surface maps the codes once: the command line to an exit
// status, the pages to a re-rendered form.
//
// admin depends on storage, on idp for the formats of secrets, tokens and
// keys (idp's protocol code never imports admin), and on authz/authzstore
// for the permission table. Only cmd (and the web pages) import admin.
package admin
