// Package migrations embeds the versioned SQL schema of GopherOps so the binary can
// migrate a database without files on disk.
package migrations

import "embed"

// FS holds every NNNNNN_name.up.sql / .down.sql file of the schema.
//
//go:embed *.sql
var FS embed.FS
