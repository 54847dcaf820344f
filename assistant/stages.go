package assistant

import (
	"strings"

	"github.com/crmteam/crm/store"
)

// stageSynonyms are ways people name a stage by its kind rather than its name, so
// they keep working when a stage is renamed.
var stageSynonyms = map[string]string{
	"won": "won", "win": "won", "closed won": "won", "closed win": "won", "close won": "won",
	"close win": "won", "closedwon": "won", "signed": "won", "deal won": "won", "success": "won",
	"closed-won": "won", "winner": "won", "closed and won": "won",
	"lost": "lost", "lose": "lost", "loss": "lost", "closed lost": "lost", "closed lose": "lost",
	"close lost": "lost", "closedlost": "lost", "closed-lost": "lost", "dead": "lost", "rejected": "lost",
	"declined": "lost", "deal lost": "lost", "closed loss": "lost",
}

// stageFiller are words people put around a stage name ("the proposal stage").
var stageFiller = map[string]bool{"the": true, "stage": true, "column": true, "status": true, "phase": true, "step": true, "list": true}

// stageMatch is the outcome of matching what a person called a stage.
type stageMatch struct {
	stage store.Stage
	// candidates are the stages that matched about equally, when more than one did.
	candidates []store.Stage
	ok         bool
}

// matchStage finds the stage a person means: the exact name (any case), a synonym
// of a stage's kind ("won", "closed win", "lost"), or the words of a name, each
// forgiving of prefixes and small typos ("meeting" is Meeting booked, "negotiating"
// is Negotiation). When several stages match about equally ("closed") it returns
// them as candidates; when none does, ok is false and candidates is empty.
func matchStage(stages []store.Stage, text string) stageMatch {
	words := store.SplitWords(text)
	kept := words[:0:0]
	for _, w := range words {
		if !stageFiller[w] {
			kept = append(kept, w)
		}
	}
	if len(kept) == 0 {
		return stageMatch{}
	}
	norm := strings.Join(kept, " ")
	for _, st := range stages {
		if strings.Join(store.SplitWords(st.Name), " ") == norm {
			return stageMatch{stage: st, ok: true}
		}
	}
	if kind, ok := stageSynonyms[norm]; ok {
		var of []store.Stage
		for _, st := range stages {
			if st.Kind == kind {
				of = append(of, st)
			}
		}
		if len(of) == 1 {
			return stageMatch{stage: of[0], ok: true}
		}
		if len(of) > 1 {
			return stageMatch{candidates: of}
		}
	}
	scores := make([]float64, len(stages))
	top := 0.0
	for i, st := range stages {
		scores[i] = stageScore(kept, store.SplitWords(st.Name))
		top = max(top, scores[i])
	}
	if top == 0 {
		return stageMatch{}
	}
	var best []store.Stage
	for i, st := range stages {
		if scores[i] > 0 && scores[i] >= top-store.AmbiguityMargin {
			best = append(best, st)
		}
	}
	if len(best) == 1 {
		return stageMatch{stage: best[0], ok: true}
	}
	return stageMatch{candidates: best}
}

// stageScore is how well typed words match a stage's words: 0 unless every typed
// word matches one of them.
func stageScore(typed, stageWords []string) float64 {
	sum := 0.0
	for _, w := range typed {
		bw := 0.0
		for _, s := range stageWords {
			bw = max(bw, store.WordSimilarity(w, s))
			// "interested" for Interest: the stage's word begins what was typed.
			if len([]rune(s)) >= 5 && strings.HasPrefix(w, s) {
				bw = max(bw, 0.85)
			}
		}
		if bw == 0 {
			return 0
		}
		sum += bw
	}
	return sum / float64(len(typed))
}

func stageNameList(stages []store.Stage) string {
	names := make([]string, len(stages))
	for i, st := range stages {
		names[i] = st.Name
	}
	return joinAnd(names)
}
