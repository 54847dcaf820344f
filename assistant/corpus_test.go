package assistant

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// The parser corpus: phrasings with the commands they must give, run without a
// database against testdata/leads.tsv. corpus_build.txt is what the parser was
// built against; corpus_heldout.txt was written before the parser and scored
// blind once (its header has the numbers); both now guard against regressions.
//
// Format: blocks separated by blank lines; each block is a conversation of
// "> message" lines, each followed by "= expected". Expected is the canonical
// form of the commands (see canonical), several joined by "; ".

var corpusStages = []store.Stage{
	{Name: "Interest", Position: 1, Kind: "open"}, {Name: "Meeting booked", Position: 2, Kind: "open"},
	{Name: "Proposal sent", Position: 3, Kind: "open"}, {Name: "Negotiation", Position: 4, Kind: "open"},
	{Name: "Closed won", Position: 5, Kind: "won"}, {Name: "Closed lost", Position: 6, Kind: "lost"},
}

// corpusUsers are the accounts of the corpus's team: two Sams, so that "Sam"
// is ambiguous.
var corpusUsers = []store.User{
	{Name: "Ann Lee", Email: "ann@example.com", Active: true}, {Name: "Marco Bianchi", Email: "marco@example.com", Active: true},
	{Name: "Sam Taylor", Email: "sam.taylor@example.com", Active: true}, {Name: "Sam Ruiz", Email: "sruiz@example.com", Active: true},
}

func corpusLeads(t *testing.T) []store.Lead {
	t.Helper()
	f, err := os.Open("testdata/leads.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []store.Lead
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.Split(line, "\t")
		if len(p) != 7 {
			t.Fatalf("leads.tsv: %q has %d fields, want 7", line, len(p))
		}
		v, err := parseAmount(p[4])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, store.Lead{ID: uuid.NewSHA1(uuid.Nil, []byte(p[0])), Name: p[0], Company: p[1], Email: p[2],
			Phone: p[3], Value: v, Status: p[5], Source: p[6]})
	}
	return out
}

type corpusCase struct {
	says, want []string
	line       int
}

func readCorpus(t *testing.T, path string) []corpusCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusCase
	var cur corpusCase
	sc := bufio.NewScanner(f)
	n := 0
	flush := func() {
		if len(cur.says) > 0 {
			if len(cur.says) != len(cur.want) {
				t.Fatalf("%s:%d: %d messages, %d expectations", path, cur.line, len(cur.says), len(cur.want))
			}
			out = append(out, cur)
		}
		cur = corpusCase{}
	}
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "> "):
			if cur.line == 0 {
				cur.line = n
			}
			cur.says = append(cur.says, line[2:])
		case strings.HasPrefix(line, "= "):
			cur.want = append(cur.want, line[2:])
		default:
			t.Fatalf("%s:%d: %q is not a message, an expectation or blank", path, n, line)
		}
	}
	flush()
	return out
}

// canonical writes commands as the corpus does:
//
//	move Jane Doe, Bob Martin -> Closed won
//	move ?Jane Doe|Jane Smith -> Closed lost   (an ambiguous reference)
//	set Bob Martin phone="+1 555 0999"         (value: the amount in dollars)
//	create name="Omar Haddad" company="Vandelay" value=40000
//	ask Bob Martin phone | find "osaka" | list Negotiation | stats Interest
func canonical(cmds []command) string {
	parts := make([]string, len(cmds))
	for i, c := range cmds {
		var b strings.Builder
		b.WriteString(c.intent)
		var refs []string
		for _, r := range c.refs {
			switch {
			case len(r.leads) == 1:
				refs = append(refs, r.leads[0].Name)
			case len(r.leads) > 1:
				names := make([]string, len(r.leads))
				for j, l := range r.leads {
					names[j] = l.Name
				}
				slices.Sort(names)
				refs = append(refs, "?"+strings.Join(names, "|"))
			default:
				refs = append(refs, "?")
			}
		}
		if len(refs) > 0 && (needsLead(c.intent) || c.intent == intentChoose) {
			b.WriteString(" " + strings.Join(refs, ", "))
		}
		switch c.intent {
		case intentMove:
			if c.stage != nil {
				b.WriteString(" -> " + c.stage.Name)
			} else {
				b.WriteString(" -> ?" + c.stageText)
			}
			if c.reason != "" {
				fmt.Fprintf(&b, " reason=%q", c.reason)
			}
			if c.value != "" {
				if m, err := parseAmount(c.value); err == nil {
					fmt.Fprintf(&b, " value=%s", strings.TrimSuffix(m.String(), ".00"))
				} else {
					fmt.Fprintf(&b, " value=%q", c.value)
				}
			}
		case intentList, intentStats:
			if c.stage != nil {
				b.WriteString(" " + c.stage.Name)
			}
			if c.query != "" {
				fmt.Fprintf(&b, " source=%q", c.query)
			}
		case intentOwned:
			fmt.Fprintf(&b, " %q", c.query)
		case intentAdded:
			b.WriteString(" " + c.text)
		case intentSet:
			v := c.value
			if c.field == "value" {
				if m, err := parseAmount(v); err == nil {
					v = strings.TrimSuffix(m.String(), ".00")
					fmt.Fprintf(&b, " value=%s", v)
					break
				}
			}
			fmt.Fprintf(&b, " %s=%q", c.field, v)
		case intentAsk:
			b.WriteString(" " + askName(c.field))
		case intentNote:
			fmt.Fprintf(&b, " text=%q", c.text)
		case intentFind:
			fmt.Fprintf(&b, " %q", c.query)
		case intentCreate:
			a := c.args
			for _, f := range [][2]string{{"name", a.Name}, {"company", a.Company}, {"email", a.Email}, {"phone", a.Phone}} {
				if f[1] != "" {
					fmt.Fprintf(&b, " %s=%q", f[0], f[1])
				}
			}
			if a.Value != nil {
				if m, err := parseAmount(a.Value.text); err == nil {
					fmt.Fprintf(&b, " value=%s", strings.TrimSuffix(m.String(), ".00"))
				} else {
					fmt.Fprintf(&b, " value=%q", a.Value.text)
				}
			}
			for _, f := range [][2]string{{"source", a.Source}, {"stage", a.Status}, {"notes", a.Notes}} {
				if f[1] != "" {
					fmt.Fprintf(&b, " %s=%q", f[0], f[1])
				}
			}
		}
		parts[i] = b.String()
	}
	return strings.Join(parts, "; ")
}

func askName(f string) string {
	if f == "status" {
		return "stage"
	}
	return f
}

// runCorpus plays each conversation through the parser, carrying the context
// as the offline assistant does, and returns the failures.
func runCorpus(t *testing.T, path string) (total int, failures []string) {
	leads := corpusLeads(t)
	for _, cc := range readCorpus(t, path) {
		w := &world{stages: corpusStages, leads: leads, users: corpusUsers}
		for i, say := range cc.says {
			total++
			cmds := parseMessage(say, w)
			got := canonical(cmds)
			if got != cc.want[i] {
				failures = append(failures, fmt.Sprintf("%s:%d: %q\n\tgot  %s\n\twant %s", path, cc.line, say, got, cc.want[i]))
			}
			next := &world{stages: corpusStages, leads: leads, users: corpusUsers}
			advance(next, w, cmds)
			w = next
		}
	}
	return total, failures
}

// advance sets the context of the next message from the commands of this one,
// as offline.respond does from what the turn did.
func advance(next, prev *world, cmds []command) {
	for _, c := range cmds {
		for _, r := range c.refs {
			if len(r.leads) == 1 {
				next.focus = r.leads
				next.focusField = c.field
			}
			if len(r.leads) > 1 {
				next.choice = r.leads
			}
		}
		if c.intent == intentCreate && c.args.Name != "" {
			next.focus = []store.Lead{{ID: uuid.New(), Name: c.args.Name, Company: c.args.Company}}
		}
		if c.intent == intentChoose {
			next.focus = c.refs[0].leads
		}
	}
}

func TestCorpus(t *testing.T) {
	files := []string{"testdata/corpus_build.txt", "testdata/corpus_heldout.txt"}
	for _, f := range files {
		total, failures := runCorpus(t, f)
		score := float64(total-len(failures)) / float64(total) * 100
		t.Logf("%s: %d of %d right (%.1f%%)", f, total-len(failures), total, score)
		for _, fl := range failures {
			t.Log(fl)
		}
		if score < 95 {
			t.Errorf("%s: got %.1f%% right, want at least 95%%", f, score)
		}
	}
}
