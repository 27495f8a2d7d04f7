// Package storage is the gate's PostgreSQL layer: record types, the sentinel
// errors ErrNotFound and ErrConflict, and one file per aggregate (users,
// roles, clients, tokens, keys, permissions, audit).
//
// SQL sits beside the code that scans it; there is no ORM. Methods take a
// Querier so the same code runs on the pool or inside a transaction. Storage
// never knows HTTP: callers turn its errors into responses. Single-use things
// are consumed with one conditional UPDATE ... RETURNING, never read-then-write.
//
// An administrative change takes the Actor who makes it and writes its audit
// record in the same transaction; package admin is the caller that decides
// who that is.
//
// Every change an in-memory cache depends on is announced in its transaction
// with Notify and a typed ChangeKind. Each replica runs one Feed: a dedicated
// LISTEN connection that hands changes to its subscribers (the verifier's
// revocation set, the policy loader), reconnects with backoff and tells every
// subscriber to reload on each (re)connection; Stale lets a subscriber fail
// closed while the feed is down.
package storage
