package views

// Paths of CSV import (handlers/imports.go): the JSON API under ImportsPath,
// the page at ImportPath.
const (
	ImportsPath = "/imports"
	ImportPath  = "/import"
)
