package handlers

import (
	"net/http"

	"github.com/crmteam/crm/views"
)

// The live board's server side: live.js follows GET /events/ (events.go) and,
// for another person's change, asks for the columns it touched here, so cards
// are always rendered by the server's templates.

// maxLiveStages bounds the columns one request re-renders.
const maxLiveStages = 20

// handleBoardColumns answers GET /board/columns?stage=A&stage=B (with the
// search and the shown counts app.js adds): those columns and the summary, out
// of band. Names that are not stages are ignored. A browser asking directly is
// sent to the board.
func (s *Server) handleBoardColumns(w http.ResponseWriter, r *http.Request) error {
	if !isHTMX(r) {
		http.Redirect(w, r, views.BoardPath, http.StatusSeeOther)
		return nil
	}
	bp := requestBoardLenient(r)
	stages := r.Form["stage"]
	if len(stages) > maxLiveStages {
		return badRequest("too many stages")
	}
	d, err := s.readBoard(r.Context(), bp, shownParam(r))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.LiveColumns(d, stages))
}

// eventsSince is the event stream's position for a full page, read before the
// board so that the stream, started from it, misses nothing the page does not
// show (0 for htmx fragments, which do not start a stream).
func (s *Server) eventsSince(r *http.Request) (int64, error) {
	if isHTMX(r) {
		return 0, nil
	}
	return s.Store.LastEventID(r.Context())
}
