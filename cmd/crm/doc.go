// Command crm is the self-hosted sales-pipeline CRM: one binary that serves the
// board, the JSON API and the assistant, and runs its background jobs.
//
//	crm serve       HTTP server (and the job worker unless WORKER=false)
//	crm worker      the job worker alone
//	crm migrate     apply database migrations
//	crm seed-demo   add a dozen demo leads
//	crm version     print the version
package main
