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
package storage
