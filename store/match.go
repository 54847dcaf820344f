package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/google/uuid"

	"github.com/crmteam/crm/queries"
)

// LeadMatch is a lead found for what a person typed, with how well it matches:
// 1 for an exact name or email, about 0.9 for whole words of the name or company,
// less for typos, prefixes and trigram likeness.
type LeadMatch struct {
	Lead  Lead
	Score float64
}

// Match score levels, so callers can reason about them.
const (
	// ScoreExact is an exact name or email (ignoring case and spacing).
	ScoreExact = 1.0
	// ScoreWords is every word typed being a whole word of the lead's name,
	// company or email name.
	ScoreWords = 0.9
	// ScoreWeak is the least score MatchLeads returns.
	ScoreWeak = 0.35
	// AmbiguityMargin is how close two scores must be for the leads to match
	// "about equally": one whole word against a prefix of it, in a query of up to
	// two words, is just more than this apart.
	AmbiguityMargin = 0.05
)

// matchCandidates bounds the rows each lookup reads, so matching costs the same
// at 100 or 100,000 leads.
const matchCandidates = 20

// MatchLeads returns up to limit leads that best match query, best first:
// forgiving of case, partial words, small typos, and a company or email given
// instead of the name. It gathers candidates with trigram indexes (the whole text,
// then each word) and, when none is close, with an edit-distance scan for typos
// trigrams miss; then it ranks them (see scoreLead). It never reads more than a
// few dozen rows per lookup.
func (s *Store) MatchLeads(ctx context.Context, query string, limit int) ([]LeadMatch, error) {
	text := normalizeQuery(query)
	if text == "" {
		return []LeadMatch{}, nil
	}
	words := queryWords(text)
	cands := map[uuid.UUID]*LeadMatch{}
	add := func(l queries.Lead, trigram float64) {
		lead := leadFromRow(l, 0) // positions are counted for the leads returned
		sc := max(scoreLead(text, words, lead), trigram*0.75)
		if c, ok := cands[lead.ID]; ok {
			c.Score = max(c.Score, sc)
			return
		}
		cands[lead.ID] = &LeadMatch{Lead: lead, Score: sc}
	}
	lookups := []string{text}
	if len(words) > 1 {
		for _, w := range words[:min(len(words), 4)] {
			if len([]rune(w)) >= 2 {
				lookups = append(lookups, w)
			}
		}
	}
	for i, l := range lookups {
		rows, err := s.q.SearchLeadsFuzzy(ctx, queries.SearchLeadsFuzzyParams{Query: l, Pattern: likePattern(l), RowLimit: matchCandidates})
		if err != nil {
			return nil, translate(fmt.Errorf("match leads: %w", err))
		}
		for _, r := range rows {
			// A single word's likeness says little about the whole text ("jane"
			// is all of Jane Doe but half of "jane smith"): those candidates are
			// ranked by scoreLead alone.
			trigram := float64(r.Score)
			if i > 0 {
				trigram = 0
			}
			add(r.Lead, trigram)
		}
	}
	if typo := typoWords(words); best(cands) < 0.7 && len(typo) > 0 {
		rows, err := s.q.SearchLeadsTypo(ctx, queries.SearchLeadsTypoParams{Words: typo, RowLimit: matchCandidates})
		if err != nil {
			return nil, translate(fmt.Errorf("match leads with typos: %w", err))
		}
		for _, r := range rows {
			add(r.Lead, 0)
		}
	}
	out := make([]LeadMatch, 0, len(cands))
	for _, c := range cands {
		if c.Score >= ScoreWeak {
			out = append(out, *c)
		}
	}
	slices.SortFunc(out, func(a, b LeadMatch) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(strings.ToLower(a.Lead.Name), strings.ToLower(b.Lead.Name)); c != 0 {
			return c
		}
		return cmp.Compare(a.Lead.ID.String(), b.Lead.ID.String())
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(out))
	for i, m := range out {
		ids[i] = m.Lead.ID
	}
	positions, err := s.q.LeadPositions(ctx, ids)
	if err != nil {
		return nil, translate(fmt.Errorf("positions of matched leads: %w", err))
	}
	for _, p := range positions {
		for i := range out {
			if out[i].Lead.ID == p.ID {
				out[i].Lead.CardOrder = int(p.Position)
			}
		}
	}
	leads := make([]*Lead, len(out))
	for i := range out {
		leads[i] = &out[i].Lead
	}
	if err := fillOwners(ctx, s.q, leads...); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// maxTypoWord is the longest word the typo scan compares. PostgreSQL's
// levenshtein refuses arguments of more than 255 characters, and a word that long
// is no name anybody mistyped.
const maxTypoWord = 100

// typoWords are the words worth the typo scan: long enough to have a typo
// (SearchLeadsTypo skips shorter ones too) and short enough for levenshtein.
func typoWords(words []string) []string {
	var out []string
	for _, w := range words {
		if n := len([]rune(w)); n >= 3 && n <= maxTypoWord {
			out = append(out, w)
		}
	}
	return out
}

func best(cands map[uuid.UUID]*LeadMatch) float64 {
	b := 0.0
	for _, c := range cands {
		b = max(b, c.Score)
	}
	return b
}

// normalizeQuery lowercases, drops surrounding quotes and punctuation, and
// collapses white space.
func normalizeQuery(q string) string {
	q = strings.ToLower(strings.Join(strings.Fields(q), " "))
	return strings.TrimFunc(q, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(`"'“”‘’.,;:!?()[]`, r)
	})
}

// stopWords are left out of word matching ("jane from example" is jane at Example
// Corp), unless nothing else is left.
var stopWords = map[string]bool{
	"the": true, "a": true, "an": true, "from": true, "at": true, "of": true, "with": true,
	"and": true, "lead": true, "deal": true, "mr": true, "mrs": true, "ms": true, "dr": true,
}

// queryWords splits q into words the way lead fields are split (see fieldWords),
// without stop words.
func queryWords(q string) []string {
	all := SplitWords(q)
	var words []string
	for _, w := range all {
		if !stopWords[w] {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return all
	}
	return words
}

// SplitWords lowercases s and splits it into words of letters and digits, the
// way MatchLeads splits names.
func SplitWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// scoreLead ranks one lead against what was typed: an exact name or email is
// ScoreExact; an exact company or email name a little less (several leads may
// share a company); every typed word matching a word of the name, company or
// email name (whole, as a prefix, or within a typo) scores up to ScoreWords.
func scoreLead(text string, words []string, l Lead) float64 {
	name, company, email := normalizeQuery(l.Name), normalizeQuery(l.Company), strings.ToLower(l.Email)
	local, _, _ := strings.Cut(email, "@")
	switch {
	case text == name || (email != "" && text == email):
		return ScoreExact
	case text == company && company != "" || text == local && local != "":
		return 0.95
	}
	var fieldWords []string
	fieldWords = append(fieldWords, SplitWords(l.Name)...)
	fieldWords = append(fieldWords, SplitWords(l.Company)...)
	fieldWords = append(fieldWords, SplitWords(local)...)
	if len(words) == 0 {
		return 0
	}
	sum := 0.0
	for _, w := range words {
		bw := 0.0
		for _, f := range fieldWords {
			bw = max(bw, WordSimilarity(w, f))
		}
		if bw == 0 {
			return 0
		}
		sum += bw
	}
	return ScoreWords * sum / float64(len(words))
}

// WordSimilarity compares a typed word with a word of a name, the way MatchLeads
// does (the assistant matches stage names with it too): 1 when equal, 0.85 for a
// prefix of at least three letters, 0.8 for one typo (a swap of two neighbours
// counts as one) in a word of four letters or more, 0.7 for two typos in a word
// of seven or more.
func WordSimilarity(typed, word string) float64 {
	if typed == word {
		return 1
	}
	tr, wr := []rune(typed), []rune(word)
	if len(tr) >= 3 && strings.HasPrefix(word, typed) {
		return 0.85
	}
	if len(tr) < 4 || len(wr) < 3 {
		return 0
	}
	switch d := editDistance(tr, wr); {
	case d == 1:
		return 0.8
	case d == 2 && len(tr) >= 7:
		return 0.7
	}
	return 0
}

// editDistance is the optimal-string-alignment distance: insertions, deletions,
// substitutions and swaps of neighbours each count one.
func editDistance(a, b []rune) int {
	if len(a) == 0 {
		return len(b)
	}
	if len(b) == 0 {
		return len(a)
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
