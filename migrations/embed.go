// Package migrations holds the database schema as golang-migrate files
// (NNNNNN_name.up.sql and .down.sql pairs), embedded in the binary.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
