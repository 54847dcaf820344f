// Package views renders the board's HTML with templ: the full pages, the htmx
// fragments (columns, cards, the lead form, messages) and the DOM ids that tie
// them together. Views render what they are given; they never query. ids.go is
// the one place DOM ids come from, used both for id= and for hx-target.
package views
