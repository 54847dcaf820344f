// Package handlers holds every inbound adapter of the CRM: the HTML pages and htmx
// fragments of the board, the JSON API, health checks, and the background-job
// handlers. routes.go lists every HTTP route in one place. Handlers parse and
// validate input, make one store call, and respond; errors are returned and turned
// into responses in one place (errors.go).
package handlers
