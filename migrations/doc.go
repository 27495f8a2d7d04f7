// Package migrations owns the gate's PostgreSQL schema: numbered, embedded
// .up.sql/.down.sql files applied with golang-migrate before the gate serves.
//
// Every migration has a down twin, and the set round-trips (up, down, up) in
// tests. A database whose schema is newer than the binary is refused rather
// than used: an older binary must never write into a schema it does not know.
package migrations
