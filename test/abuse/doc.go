// Package abuse is the attacker's suite of the gopherops binary, run by
// `make test`: each test starts the real binary with the production pod's
// memory settings (GOMAXPROCS=1, GOMEMLIMIT=460MiB) on a real PostgreSQL and
// attacks it over real HTTP from several loopback source addresses — memory
// exhaustion through avatars, remote lock-out and password guessing, hostile
// text and numbers, a database outage, HTTP semantics — asserting what the
// service guarantees (issue 14): bounded memory, no lock-out of the owner by
// someone else, exact throttling, no 5xx for bad input, 503 while the
// database is away.
package abuse
