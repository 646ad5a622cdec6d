// Package service is the acceptance suite of the gopherops binary, run by
// `make test`: it builds the real binary, gives it a throwaway PostgreSQL and
// an S3-protocol endpoint on loopback, provisions it with `migrate up` and
// `admin create` as an operator would, starts `serve`, and walks the journeys
// of package journey over real HTTP. It also proves the process lifecycle:
// no request is lost to SIGTERM, and readiness follows the database without a
// restart.
package service
