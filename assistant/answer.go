package assistant

import (
	"strings"
	"unicode"

	"github.com/crmteam/crm/store"
)

// How a message answers a question the assistant asked (a delete waiting for
// its yes, a write the person did not clearly ask for): a clear yes, a no, or
// neither (then it is a new command, and what waited is cancelled).

// yesWords make a message a yes by themselves ("yes", "confirm").
var yesWords = words("yes y yep yeah yup yea ya yas confirm confirmed absolutely definitely affirmative correct")

// yesPhrases make a message a yes too: "go ahead", "do it", "sure, delete him".
var yesPhrases = []string{"go ahead", "do it", "proceed", "delete", "remove", "erase", "confirm", "please do", "make it so", "yes please", "do that", "apply"}

// yesFiller are the words a yes may carry besides the pending lead's own name:
// "yes, delete him please", "sure, go ahead and do it". Any other word ("yes but
// not Bob", "yes, delete Grace") makes the message something else.
var yesFiller = words("please pls plz sure ok okay yes yeah yep y confirm confirmed delete remove erase it him her them that this one lead deal contact the go ahead do and just i am im i'm sure thanks thank you now proceed that's thats right correct absolutely definitely really indeed of course please do make so apply change update move set those these both all what asked")

// noWords make a message a no: "no", "cancel", "keep it", "don't".
var noWords = words("no n nope nah cancel stop don't dont abort never nevermind keep wait hold not negative")

// affirmWords lean towards yes; a model that repeats a delete after a message
// with one of them (and no no) is taken as confirming it.
var affirmWords = words("yes yeah yep yup sure ok okay confirm confirmed go ahead do proceed please absolutely definitely correct right delete remove")

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

func normalizeAnswer(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(".,!?;:\"“”()-—–", r) {
			return ' '
		}
		if r == '’' {
			return '\''
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// answerWords are the words of an answer, with emoji and other symbols dropped.
func answerWords(s string) []string {
	var out []string
	for _, w := range strings.Fields(normalizeAnswer(s)) {
		keep := strings.Map(func(r rune) rune {
			if r == '\'' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127 && unicode.IsLetter(r) {
				return r
			}
			return -1
		}, w)
		if keep != "" {
			out = append(out, keep)
		}
	}
	return out
}

// confirms says whether message is a clear yes to a question about the lead
// labelled label ("" when none): a yes word or phrase, and nothing else but
// filler and the lead's own name ("yes, delete Bob Martin").
func confirms(message, label string) bool {
	ws := answerWords(message)
	if len(ws) == 0 || len(ws) > 12 {
		return false
	}
	own := map[string]bool{}
	for _, w := range store.SplitWords(label) {
		own[w] = true
	}
	norm := " " + strings.Join(ws, " ") + " "
	strong := false
	for _, w := range ws {
		if yesWords[w] {
			strong = true
		}
		if noWords[w] {
			return false
		}
	}
	for _, p := range yesPhrases {
		if strings.Contains(norm, " "+p+" ") {
			strong = true
		}
	}
	if !strong {
		return false
	}
	for _, w := range ws {
		if yesFiller[w] || own[w] || ownParts(w, own) {
			continue
		}
		return false
	}
	return true
}

// ownParts says whether every part of w ("o'brien") is a word of the lead's.
func ownParts(w string, own map[string]bool) bool {
	parts := store.SplitWords(w)
	for _, p := range parts {
		if !own[p] {
			return false
		}
	}
	return len(parts) > 0
}

func isYes(s string) bool { return confirms(s, "") }

// isNo says whether a message is a plain no: "no", "cancel", "no thanks, keep it".
func isNo(s string) bool {
	ws := answerWords(s)
	if len(ws) == 0 || len(ws) > 8 || !noWords[ws[0]] && !(len(ws) > 1 && ws[0] == "do" && ws[1] == "not") {
		return false
	}
	for _, w := range ws {
		if !noWords[w] && !noFiller[w] {
			return false
		}
	}
	return true
}

var noFiller = words("thanks thank you please it delete remove do that keep mind the lead one him her them i changed my mind actually sorry")

// affirms says whether a message leans towards yes without being a clear one:
// an affirming word and no negation.
func affirms(s string) bool {
	yes := false
	for _, w := range answerWords(s) {
		if noWords[w] {
			return false
		}
		if affirmWords[w] {
			yes = true
		}
	}
	return yes
}
