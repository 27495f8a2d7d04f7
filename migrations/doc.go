// Package migrations owns the gate's PostgreSQL schema: numbered, embedded
// .up.sql/.down.sql files applied with golang-migrate before the gate serves.
//
// Every migration has a down twin, and the set round-trips (up, down, up) in
// tests. A database whose schema is newer than the binary is refused rather
// than used: an older binary must never write into a schema it does not know.
//
// Every serving gate holds the serving lock (an advisory lock) shared for as
// long as it runs; reverting takes it exclusively, so `migrate down` can see
// the gates that serve a database and refuse, and no gate starts mid-revert.
package migrations
