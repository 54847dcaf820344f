// Package static holds the board's browser files: vendored, version-pinned htmx
// and SortableJS (see THIRD_PARTY.md), app.js, app.css, chat.css and the icon. They
// are embedded in the binary and served under content-hashed URLs, so a browser
// may cache each one for a year and still never runs a stale copy after a deploy.
package static
