// Package assistant is the chat assistant: it answers one chat message per job by
// running tools (search_leads, update_lead_status, update_lead_data, create_lead,
// delete_lead, pipeline_summary) against the store.
//
// Two responders drive the same tool executor: an LLM reached through an
// OpenAI-compatible API (go-openai) when an API key is configured, and a built-in
// parser of plain phrasing otherwise. Either way a turn's changes are planned
// first and written, with the reply, in one transaction at the end (so a turn that
// fails changes nothing, and a retried job changes nothing twice); deletes only
// ask for confirmation, and run when the person's next message is an explicit yes.
package assistant
