// Package authzstore keeps authz's permission table in PostgreSQL: it maps authz.Table
// to and from storage's plain records, guards every write with authz.Compile (a table
// that does not compile is never stored), seeds authz.DefaultTable on first start, and
// runs the Loader that keeps every replica's compiled policy current.
//
// The package arrows stay as they are drawn in ARCHITECTURE.md: storage knows nothing of authz (it stores
// strings), authz does no I/O, and this package joins the two. It is used by cmd (the
// CLI and serve's wiring) and may be used by web; the proxy only sees the authz.Holder.
//
// The loader subscribes to the replica's storage.Feed and reloads the whole table on
// every storage.ChangePolicy and after every reconnect, since notifications sent while
// the feed was disconnected are lost. A table in the database that does not compile
// leaves the previous policy in place and is logged as an error.
package authzstore
