package assistant

import (
	"slices"
	"sort"
	"strings"

	"github.com/crmteam/crm/store"
)

// The lexicon: the words people use for what the assistant does, for lead
// fields and for stages. The offline parser reads messages with it, the
// executor reads the field names a model sends with it (fieldAliases), and the
// tool schemas describe the fields with it: one table, so the parser and the
// model cannot disagree on what "cell" or "worth" means.

// fieldWord is a lead field and the words people use for it.
type fieldWord struct {
	field string
	// words are what people type, several words as one ("phone number").
	words []string
}

// fieldExtras are words the offline parser reads as a field besides the
// field table's (its names, labels and words come first): typos and phrases
// of conversation ("works at", "found us on").
var fieldExtras = map[string][]string{
	"name":    {"full_name"},
	"company": {"company_name", "org", "works at", "works for", "work for", "work at", "working at", "working for", "business name"},
	"email":   {"email_address", "e mail", "emial", "emal"},
	"phone":   {"phone_number", "number", "cell phone", "mobile number", "phone no", "digits"},
	"value":   {"value", "deal_value", "deal_size", "deal", "size", "budget", "valu"},
	"notes":   {"comment"},
	"source": {"lead_source", "came in through", "came through", "came in via", "came via", "came in from", "found us through",
		"found us via", "found us on", "found us at", "found us from", "heard about us on", "heard about us from",
		"heard about us through", "heard about us at", "heard of us on", "heard of us through", "heard of us from"},
	"status": {"status", "stage", "column", "phase", "step"},
	"owner":  {"deal owner"},
}

// notFieldWords are words of the field table the parser reads otherwise:
// "business" ("not doing business with X" is a loss), "details" (a lead's
// whole card); the table's words that are noise or pronouns here ("contact")
// are left out too. The extras above are the parser's own, kept as they are.
var notFieldWords = words("business details description")

// fieldWords lists the fields people name in messages: the table's settable
// fields, with its words and the parser's extras.
var fieldWords = func() []fieldWord {
	var out []fieldWord
	for _, f := range store.LeadFields() {
		if !f.Settable() {
			continue
		}
		fw := fieldWord{field: f.Name}
		for _, w := range f.Words {
			if !notFieldWords[w] && !noise[w] && !pronounWords[w] {
				fw.words = append(fw.words, w)
			}
		}
		for _, w := range slices.Concat([]string{f.Name, strings.ToLower(f.Label)}, fieldExtras[f.Name]) {
			if !slices.Contains(fw.words, w) {
				fw.words = append(fw.words, w)
			}
		}
		out = append(out, fw)
	}
	return out
}()

// fieldAliases maps every word for a field (as the model or a person writes it,
// spaces or underscores) to the field.
var fieldAliases = func() map[string]string {
	m := map[string]string{}
	for _, f := range fieldWords {
		for _, w := range f.words {
			m[w] = f.field
			m[strings.ReplaceAll(w, " ", "_")] = f.field
		}
	}
	return m
}()

// Intents of a message.
const (
	intentMove    = "move"
	intentNext    = "next"
	intentSet     = "set"
	intentCreate  = "create"
	intentDelete  = "delete"
	intentNote    = "note"
	intentAsk     = "ask"
	intentFind    = "find"
	intentList    = "list"
	intentStats   = "stats"
	intentSummary = "summary"
	intentBiggest = "biggest"
	intentSources = "sources"
	intentRecent  = "recent"
	intentAdded   = "added"
	intentOwner   = "owner"
	intentOwned   = "owned"
	intentHelp    = "help"
	intentYes     = "yes"
	intentNo      = "no"
	intentChoose  = "choose"
	intentUnknown = "unknown"
)

// verbs are the words (and phrases) that point at an intent, with how strongly.
var verbs = map[string]map[string]float64{
	intentMove: {
		"move": 3, "put": 2.5, "drag": 3, "shift": 3, "transfer": 3, "mark": 2.5, "place": 2.5, "push": 2,
		"switch": 2, "send": 1, "bring": 1.5, "take": 1, "moved": 2.5, "set": 1, "change": 1, "update": 1,
		"make": 1, "go": 1, "goes": 1, "flip": 2, "bump": 1.5, "drop": 1, "throw": 1.5, "stick": 1.5,
	},
	intentNext: {"advance": 4, "promote": 4, "progress": 3, "next stage": 5, "next step": 4, "forward": 2, "move forward": 4, "move on": 3, "step up": 3},
	intentSet: {
		"set": 2.5, "change": 2.5, "update": 2.5, "edit": 2.5, "fix": 2, "correct": 2, "make": 1.5, "bump": 2,
		"raise": 2, "lower": 2, "increase": 2, "reduce": 2, "adjust": 2, "replace": 2, "new": 1, "now": 0.5, "modify": 2.5, "rename": 4,
	},
	intentCreate: {
		"add": 3, "create": 4, "new lead": 5, "new contact": 5, "new deal": 4, "new": 2, "insert": 3, "register": 3,
		"enter": 2, "record": 1, "save": 1.5, "log": 1, "just met": 2, "crate": 3, "creat": 3, "ad": 1, "new prospect": 5,
	},
	intentDelete: {
		"delete": 5, "remove": 4.5, "trash": 5, "erase": 5, "get rid of": 5, "bin": 4, "scrap": 4, "purge": 5,
		"kill": 3, "delet": 5, "delte": 5, "remvoe": 4.5, "wipe": 4, "discard": 4, "drop": 2, "deleet": 5,
	},
	intentNote: {"note": 3, "add a note": 6, "add note": 6, "note on": 5, "note for": 5, "note to": 5, "comment": 2, "jot": 3, "log a note": 6},
	intentAsk: {
		"what": 2, "whats": 2, "what's": 2, "which": 2, "where": 2, "when": 2, "why": 2, "who": 1.5, "whose": 1.5, "how": 1,
		"how much": 2.5, "how big": 2.5, "tell me": 1.5, "give me": 1, "do we have": 1, "any": 1, "is": 0.5, "?": 1.5, "show": 0.5,
	},
	intentFind: {
		"find": 4, "search": 4, "look up": 4, "lookup": 4, "look for": 4, "show": 2, "show me": 2.5, "pull up": 4,
		"locate": 4, "open": 2, "display": 2, "search for": 4, "who is": 1.5, "who's": 1.5, "check": 1.5, "see": 1, "get": 1,
	},
	intentList:  {"list": 3, "who's in": 4, "who is in": 4, "whos in": 4, "show": 1.5, "what's in": 2, "whats in": 2, "everything in": 3, "leads in": 3, "deals in": 3, "all in": 2},
	intentStats: {"how many": 4, "count": 3, "number of": 3, "total": 2.5, "worth": 2, "value": 2, "sum": 2.5, "how much": 2},
	intentSummary: {
		"summary": 5, "summarize": 5, "summarise": 5, "overview": 5, "pipeline": 2, "stats": 4, "statistics": 4,
		"report": 3, "how are we doing": 5, "how's the pipeline": 5, "dashboard": 4, "in total": 2, "overall": 2, "sum up": 5, "breakdown": 4,
	},
	intentBiggest: {"biggest": 5, "largest": 5, "top": 3, "best": 2, "most valuable": 5, "highest": 4, "whales": 4, "big deals": 4},
	intentSources: {"by source": 6, "sources": 5, "per source": 6, "come from": 2, "came from": 2, "channels": 4, "lead sources": 6, "where do our leads": 5, "where do leads": 5},
	intentRecent:  {"recently": 2, "lately": 2, "recent changes": 5, "what changed": 3, "what's changed": 3, "history": 3, "changes": 2, "what happened": 3, "activity": 3},
	intentOwner: {
		"assign": 4, "reassign": 5, "re-assign": 5, "give": 3, "hand": 2.5, "hand over": 4, "hand off": 4, "pass": 2,
		"pass on": 3, "take over": 3, "transfer": 2, "assign to": 4, "put in charge": 4,
		// Someone named as the new owner before the lead: "Ann should own the
		// Acme deal", "put Marco in charge of Jane", "Ann takes over Bob".
		"should own": 5, "will own": 5, "shall own": 5, "can own": 4, "to own": 4, "gets to own": 5, "owns now": 4,
		"takes over": 4, "taking over": 4, "in charge": 3, "responsible for": 3, "look after": 2.5, "looks after": 2.5,
		// Nobody owns it after: "unassign Bob", "remove the owner of Bob".
		"unassign": 5, "un-assign": 5, "deassign": 5, "remove the owner": 5, "remove owner": 5, "clear the owner": 5,
		"clear owner": 5, "no owner": 4, "no one owns": 4, "nobody owns": 4, "without an owner": 4, "without owner": 4,
	},
	intentHelp: {"hi": 3, "hello": 3, "hey": 3, "help": 5, "what can you do": 6, "what do you do": 6, "commands": 4, "how does this work": 6, "how do i use": 6, "what can i say": 6, "what can i ask": 6, "menu": 3},
}

// events are outcomes said as events, each a stage (a kind "won" or "lost", or
// a stage name for the stage matcher): "we lost Bob", "sent the proposal to
// Jane", "booked a meeting with Bob". They make a move.
var events = map[string]string{
	"signed": "won", "signed the contract": "won", "signed the deal": "won", "won": "won", "closed": "won", "closed the deal": "won",
	"closed won": "won", "said yes": "won", "is a go": "won", "bought": "won", "converted": "won", "purchased": "won", "we won": "won",
	"accepted the offer": "won", "accepted": "won", "came on board": "won", "is on board": "won", "is in": "", "deal done": "won", "got the deal": "won",
	"lost": "lost", "went cold": "lost", "gone cold": "lost", "went dark": "lost", "gone dark": "lost", "said no": "lost", "passed": "lost",
	"declined": "lost", "ghosted": "lost", "ghosted us": "lost", "dropped out": "lost", "churned": "lost", "to a competitor": "lost",
	"chose a competitor": "lost", "went with a competitor": "lost", "went with someone else": "lost", "went elsewhere": "lost", "picked a competitor": "lost", "not interested": "lost", "no longer interested": "lost", "backed out": "lost",
	"walked away": "lost", "fell through": "lost", "is dead": "lost", "died": "lost", "killed the deal": "lost", "kill the deal": "lost", "not doing business": "lost", "no longer doing business": "lost", "stopped doing business": "lost", "rejected": "lost", "turned us down": "lost",
	"booked a meeting": "Meeting booked", "meeting booked": "Meeting booked", "booked a call": "Meeting booked", "scheduled a call": "Meeting booked",
	"scheduled a meeting": "Meeting booked", "set up a meeting": "Meeting booked", "set up a call": "Meeting booked", "booked a demo": "Meeting booked",
	"booked": "Meeting booked", "meeting scheduled": "Meeting booked", "call booked": "Meeting booked", "demo booked": "Meeting booked", "has a meeting": "Meeting booked",
	"sent the proposal": "Proposal sent", "sent a proposal": "Proposal sent", "proposal went out": "Proposal sent", "proposal sent": "Proposal sent",
	"sent the quote": "Proposal sent", "sent a quote": "Proposal sent", "sent an offer": "Proposal sent", "sent the offer": "Proposal sent",
	"sent pricing": "Proposal sent", "quoted": "Proposal sent", "got the proposal": "Proposal sent", "sent over the proposal": "Proposal sent",
	"negotiating": "Negotiation", "in negotiations": "Negotiation", "haggling": "Negotiation", "negotiating terms": "Negotiation",
	"interested": "Interest", "showed interest": "Interest", "came back": "",
}

// pronouns stand for the lead the last exchange was about.
var pronounWords = words("it him her them he she they his hers their its this that one lead deal contact guy person same")

// pronounPhrases are the references to the last exchange's lead.
var pronounPhrases = []string{"this one", "that one", "this lead", "that lead", "this deal", "that deal", "same lead", "the same one", "him", "her", "them", "it", "he", "she", "they", "his", "hers", "their", "its", "that", "this"}

// noise are words that carry nothing for the parser: articles, politeness,
// fillers. They are never a lead's name.
var noise = words("the a an please pls plz kindly could can would will you u to for of on in at as is are was be been to now just also then so ok okay hey hi hello thanks thank thx ty yo assistant me my our we us i i'm im i'd id like want wanna need needs let's lets go ahead and with from by this that it's its actually really quickly asap today yesterday tomorrow this morning again both all lead leads deal deals contact contacts guy person account client customer prospect one ones stage column status mr mrs ms dr sir btw hmm um uh well oh pretty very")

// knownSources are where leads come from; "from LinkedIn" names a source, while
// "from Initech" names a company.
var knownSources = map[string]bool{
	"website": true, "web": true, "the website": true, "our website": true, "referral": true, "a referral": true,
	"linkedin": true, "trade show": true, "tradeshow": true, "a trade show": true, "cold email": true,
	"cold call": true, "cold calling": true, "google": true, "google ads": true, "ads": true, "facebook": true,
	"twitter": true, "partner": true, "a partner": true, "event": true, "an event": true,
	"conference": true, "a conference": true, "webinar": true, "a webinar": true, "chat": true, "inbound": true,
	"outbound": true, "newsletter": true, "instagram": true, "youtube": true, "word of mouth": true,
	"email campaign": true, "ad": true, "an ad": true, "seo": true, "podcast": true, "meetup": true, "a meetup": true,
}

// phrases returns the keys of m, longest (most words) first, so a longer
// phrase is matched before a word inside it.
func phrases[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		ni, nj := strings.Count(out[i], " "), strings.Count(out[j], " ")
		if ni != nj {
			return ni > nj
		}
		return out[i] < out[j]
	})
	return out
}
