// Package migrations holds the SQL migrations of the enrichment schema,
// embedded so that enrichctl and the tests can run them without files on disk.
//
// Every migration has an Up and a Down section (goose format); the Down
// removes exactly what the Up added.
package migrations

import "embed"

// FS holds the *.sql migration files.
//
//go:embed *.sql
var FS embed.FS
