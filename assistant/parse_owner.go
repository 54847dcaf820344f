package assistant

import (
	"strings"

	"github.com/crmteam/crm/store"
)

// Owners: "give Jane to Ann", "assign Bob to me", "make Ann the owner of the
// Acme deal" change a lead's owner (a change of its owner field, run by
// update_lead_data); "what does Ann own?", "Ann's deals", "my leads" list a
// user's leads. The parser finds who is meant as typed; the executor resolves
// it against the accounts (store ListUsers), so an unknown or ambiguous name
// gets a question back and changes nothing.

// auxiliaries are the verbs around a question's subject: "what does Zed own?".
var auxiliaries = words("does do did has have had currently still")

// meWords stand for the person writing.
var meWords = words("me myself i mine my")

// ownedNouns are what a list of someone's leads is called: "Ann's deals".
var ownedNouns = words("deals deal leads lead pipeline accounts book clients customers portfolio opportunities contacts prospects")

// recogniseUsers finds the accounts a clause names in the words nothing else
// took: a full name, a first or last name, an email.
func (c *clause) recogniseUsers() {
	if len(c.w.users) == 0 {
		return
	}
	for size := 3; size >= 1; size-- {
		for i := 0; i+size <= len(c.toks); i++ {
			if !c.free(i, i+size) {
				continue
			}
			if size == 1 && c.toks[i].kind == tokEmail {
				for _, u := range c.w.users {
					if strings.EqualFold(u.Email, c.toks[i].text) {
						c.claim(item{from: i, to: i + 1, user: c.toks[i].text})
						break
					}
				}
				continue
			}
			ws, ok := c.words(i, i+size)
			if !ok || noise[c.toks[i].norm] || lexiconWord(c.toks[i].norm) {
				continue
			}
			if len(matchUsers(c.w.users, ws)) > 0 {
				c.claim(item{from: i, to: i + size, user: c.text[c.toks[i].start:c.toks[i+size-1].end]})
			}
		}
	}
}

// matchUsers returns the accounts text names: by email, full name, first or
// last name (forgiving one typo in a longer name), best matches only.
func matchUsers(users []store.User, text string) []store.User {
	text = strings.TrimSpace(text)
	typed := foldWords(text)
	if len(typed) == 0 {
		return nil
	}
	best := 0.0
	var out []store.User
	for _, u := range users {
		sc := 0.0
		switch {
		case strings.EqualFold(u.Email, text):
			sc = 1
		default:
			if local, _, _ := strings.Cut(strings.ToLower(u.Email), "@"); local == strings.Join(typed, "") {
				sc = 0.9
			}
			name := foldWords(u.Name)
			if len(typed) <= len(name) {
				sum := 0.0
				j := 0
				for _, w := range typed {
					got := 0.0
					for ; j < len(name); j++ {
						if s := store.WordSimilarity(w, name[j]); s >= 0.8 {
							got = s
							j++
							break
						}
					}
					if got == 0 {
						sum = 0
						break
					}
					sum += got
				}
				s := sum / float64(len(typed))
				if len(typed) < len(name) {
					s *= 0.95
				}
				sc = max(sc, s)
			}
		}
		switch {
		case sc < 0.75:
		case sc > best+0.04:
			best, out = sc, []store.User{u}
		case sc >= best-0.04:
			out = append(out, u)
		}
	}
	return out
}

// ownerTarget is who a change of owner gives the lead to, as typed ("me" for
// the person writing), and the tokens [from, to) it spans; "" when the clause
// names no one.
func (c *clause) ownerTarget() (string, int, int) {
	// "give Jane to Ann", "reassign Jane Doe to ann@example.com"
	for i := len(c.toks) - 2; i >= 0; i-- {
		t := c.toks[i]
		if t.kind == tokWord && (t.norm == "to" || t.norm == "over") && !c.inLead(i) && !c.inIntent(i) {
			from := i + 1
			if from < len(c.toks) && c.toks[from].norm == "to" {
				from++
			}
			if r := c.span(from, len(c.toks)); r != "" {
				return c.userText(r), from, len(c.toks)
			}
		}
	}
	// "make Ann the owner of ...", "give me Jane"
	for _, it := range c.items {
		if it.user != "" {
			return it.user, it.from, it.to
		}
	}
	for i, t := range c.toks {
		if t.kind == tokWord && (t.norm == "me" || t.norm == "myself") {
			return "me", i, i + 1
		}
	}
	for i, t := range c.toks {
		if t.kind == tokWord && t.norm == "owner" && i > 0 {
			j := i - 1
			for j >= 0 && c.toks[j].kind == tokWord && (c.toks[j].norm == "the" || c.toks[j].norm == "new") {
				j--
			}
			k := j
			for k >= 0 && c.toks[k].kind != tokPunct && !c.inItem(k) {
				k--
			}
			if k < j {
				return c.userText(c.span(k+1, j+1)), k + 1, j + 1
			}
		}
	}
	return "", 0, 0
}

// userText is "me" for the words that stand for the person writing.
func (c *clause) userText(s string) string {
	if ws := foldWords(s); len(ws) == 1 && meWords[ws[0]] {
		return "me"
	}
	return s
}

// clearOwnerPhrases give a lead to nobody: "unassign Bob", "remove the owner
// of Jane", "Kenji should have no owner".
var clearOwnerPhrases = words("unassign un-assign deassign")

// clearsOwner says whether the clause takes a lead's owner away rather than
// giving it to someone.
func (c *clause) clearsOwner() bool {
	for _, it := range c.items {
		if it.intents[intentOwner] == 0 {
			continue
		}
		if clearOwnerPhrases[it.phrase] || strings.Contains(it.phrase, "owner") || strings.HasPrefix(it.phrase, "no ") || strings.HasPrefix(it.phrase, "nobody") {
			return true
		}
	}
	return false
}

// inIntent says whether token i is part of a verb phrase: the "to" of "I want
// Ann to own Jane", the "over" of "Marco takes over Jane" name no one.
func (c *clause) inIntent(i int) bool {
	for _, it := range c.items {
		if len(it.intents) > 0 && i >= it.from && i < it.to {
			return true
		}
	}
	return false
}

func (c *clause) inItem(i int) bool {
	for _, it := range c.items {
		if i >= it.from && i < it.to {
			return true
		}
	}
	return false
}

// ownedQuery is whose leads a clause asks for ("Ann's deals", "what does Ann
// own?", "my leads"), as typed or "me"; "" when it asks for none.
func (c *clause) ownedQuery(s signals, ask string) string {
	for i, it := range c.items {
		if it.user == "" {
			continue
		}
		// "Ann's deals", "deals owned by Ann", "what does Ann own?"
		next := it.to
		if next < len(c.toks) && c.toks[next].kind == tokPoss {
			next++
		}
		if next < len(c.toks) && ownedNouns[c.toks[next].norm] || ask == "owner" {
			return it.user
		}
		_ = i
	}
	for i, t := range c.toks {
		if t.kind != tokWord || !meWords[t.norm] {
			continue
		}
		// "my deals", "what do I own?"
		if t.norm == "my" && i+1 < len(c.toks) && ownedNouns[c.toks[i+1].norm] && len(s.leads) == 0 {
			return "me"
		}
		if t.norm == "i" && ask == "owner" && len(s.leads) == 0 {
			return "me"
		}
	}
	if ask == "owner" && len(s.leads) == 0 && len(s.rest) > 0 {
		// "what does Zed own?": someone no account is called.
		var ws []string
		for _, i := range s.rest {
			if !auxiliaries[c.toks[i].norm] {
				ws = append(ws, c.toks[i].text)
			}
		}
		return strings.Join(ws, " ")
	}
	return ""
}
