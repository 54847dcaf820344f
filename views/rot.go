package views

import (
	"strconv"
	"time"

	"github.com/crmteam/crm/store"
)

// Rot is how long a card's lead has been in its stage, and whether that is
// past the stage's rotting threshold (store.Stage.RotDays).
type Rot struct {
	Days  int
	Stale bool
	// Limit is the stage's threshold in days (0: the stage never rots).
	Limit int
}

// RotOf is the rot of l on d's board at d.Now.
func (d BoardData) RotOf(l store.Lead) Rot {
	r := Rot{Days: max(0, int(d.Now.Sub(l.StageEnteredAt)/(24*time.Hour)))}
	for _, c := range d.Board.Columns {
		if c.Stage.Name == l.Status && c.Stage.RotDays != nil {
			r.Limit = *c.Stage.RotDays
			r.Stale = r.Days > r.Limit
		}
	}
	return r
}

// Text is the days in stage as the card shows it.
func (r Rot) Text() string {
	if r.Days == 0 {
		return "new in stage"
	}
	return strconv.Itoa(r.Days) + " d in stage"
}

// Title explains the mark.
func (r Rot) Title() string {
	days := pluralWord(r.Days, "day", "days")
	s := "In this stage for " + strconv.Itoa(r.Days) + " " + days
	if r.Stale {
		s += ", longer than its " + strconv.Itoa(r.Limit) + " " + pluralWord(r.Limit, "day", "days") + ": going stale"
	}
	return s
}
