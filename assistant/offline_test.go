package assistant_test

import (
	"strings"
	"testing"

	"github.com/crmteam/crm/store"
)

// TestOffline runs the built-in assistant over phrasings of every operation, with
// typos, different word orders and ambiguous names, and checks each by its
// effect on the database (and what the last reply says).
func TestOffline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		says    []string
		changes []change
		reply   []string
		// notReply are words the last reply must not contain.
		notReply []string
	}{
		// Moving a lead.
		{says: []string{"move Jane Doe to Meeting booked"}, changes: []change{moved("Jane Doe", "Meeting booked")},
			reply: []string{"Moved Jane Doe (Example Corp) from Interest to Meeting booked"}},
		{says: []string{"Move jane doe to meeting"}, changes: []change{moved("Jane Doe", "Meeting booked")}},
		{says: []string{"mvoe jane doe to meeting booked"}, changes: []change{moved("Jane Doe", "Meeting booked")}},
		{says: []string{"put Bob Martin in negotiation"}, changes: []change{moved("Bob Martin", "Negotiation")}},
		{says: []string{"mark Bob Martin as won"}, changes: []change{moved("Bob Martin", "Closed won")}},
		{says: []string{"mark bob martin closed win"}, changes: []change{moved("Bob Martin", "Closed won")}},
		{says: []string{"mark Priya lost"}, changes: []change{moved("Priya Raman", "Closed lost")}},
		{says: []string{"move Emily Chen into closed won."}, changes: []change{moved("Emily Chen", "Closed won")}},
		{says: []string{"please move carlos to proposal"}, changes: []change{moved("Carlos Mendes", "Proposal sent")}},
		{says: []string{"Can you move Aisha Okafor to closed-won?"}, changes: []change{moved("Aisha Okafor", "Closed won")}},
		{says: []string{"Kenji to negotiation"}, changes: []change{moved("Kenji Watanabe", "Negotiation")}},
		{says: []string{"set Tom Becker's status to negotiation"}, changes: []change{moved("Tom Becker", "Negotiation")}},
		{says: []string{"change the stage of Lukas Novak to won"}, changes: []change{moved("Lukas Novak", "Closed won")}},
		{says: []string{"move jnae doe to negotiation"}, changes: []change{moved("Jane Doe", "Negotiation")}},
		{says: []string{"move Example Corp to proposal sent"}, changes: []change{moved("Jane Doe", "Proposal sent")}},
		{says: []string{"move priya@northwind.test to won"}, changes: []change{moved("Priya Raman", "Closed won")}},
		{says: []string{"drag bob martin from interest to proposal sent"}, changes: []change{moved("Bob Martin", "Proposal sent")}},
		{says: []string{"move Jane Doe to negotiating"}, changes: []change{moved("Jane Doe", "Negotiation")}},
		{says: []string{"Sofia Rossi is now in negotiation"}, changes: []change{moved("Sofia Rossi", "Negotiation")}},
		{says: []string{"Priya signed!"}, changes: []change{moved("Priya Raman", "Closed won")}},
		{says: []string{"advance Oliver Smith"}, changes: []change{moved("Oliver Smith", "Meeting booked")}},
		{says: []string{"move lukas novak to the interest column"}, changes: []change{moved("Lukas Novak", "Interest")}},
		{says: []string{"move jane to won"}, reply: []string{"Jane Doe", "Jane Smith", "which one"}},
		{says: []string{"move Jane Doe to the moon"}, reply: []string{"no stage", "Interest", "Meeting booked", "Closed lost"}},
		{says: []string{"move Grace Kim to closed"}, reply: []string{"Closed won or Closed lost"}},
		{says: []string{"move zebulon to won"}, reply: []string{"couldn't find"}},
		{says: []string{"move Lukas Novak to negotiation"}, reply: []string{"already in Negotiation"}},

		// Pronouns stand for the lead named last.
		{says: []string{"what's Bob Martin's email?", "move him to negotiation"}, changes: []change{moved("Bob Martin", "Negotiation")}},
		{says: []string{"find Priya", "what's her phone?"}, reply: []string{"Priya Raman"}},
		{says: []string{"where is Emily Chen?", "set her email to emily@new.test", "mark her as won"},
			changes: []change{set("Emily Chen", func(l *leadState) { l.Email = "emily@new.test"; l.Status = "Closed won" })}},
		{says: []string{"add Zed Zhou from Zeta, 5k", "move them to proposal sent"},
			changes: []change{created("Zed Zhou", leadState{Company: "Zeta", Value: "5000.00", Status: "Proposal sent"})}},
		{says: []string{"move her to won"}, reply: []string{"Who do you mean", "name the lead"}},
		// A line break (Shift+Enter) separates commands as a comma does: read
		// as one clause, the move went to another lead of Acme.
		{says: []string{"add Sue Sim from Acme Inc\nmove Sue Sim to Proposal sent"},
			changes: []change{created("Sue Sim", leadState{Company: "Acme Inc", Status: "Proposal sent"})}},
		{says: []string{"where is Bob Martin?", "add Sue Sim from Acme Inc, value 5k\nshe is in negotiation"},
			changes: []change{created("Sue Sim", leadState{Company: "Acme Inc", Value: "5000.00", Status: "Negotiation"})}},
		{says: []string{"what's Bob Martin's email?", "show leads in negotiation", "move him to won"},
			reply: []string{"Who do you mean"}},
		{says: []string{"move jane to won", "Jane Smith", "set her phone to +1 555 0199"},
			changes: []change{set("Jane Smith", func(l *leadState) { l.Status = "Closed won"; l.Phone = "+1 555 0199" })}},
		{says: []string{"rename Bob Martin to Robert Martin", "move him to negotiation"},
			changes: []change{renamed("Bob Martin", "Robert Martin"), moved("Robert Martin", "Negotiation")}},
		{says: []string{"add He from Acme Labs", "what's Bob Martin's email?", `move "He" to negotiation`},
			changes: []change{created("He", leadState{Company: "Acme Labs", Status: "Negotiation"})}},
		// A pronoun in a new lead's details or in a note is text, not a reference.
		{says: []string{"add Jane Roe from Initech, her email is jane@initech.com"},
			changes: []change{created("Jane Roe", leadState{Company: "Initech", Email: "jane@initech.com"})}},
		{says: []string{"add a note to Bob Martin: called her mobile"},
			changes: []change{set("Bob Martin", func(l *leadState) { l.Notes += "\ncalled her mobile" })}},
		{says: []string{"add Bob Stone from Acme, his phone is +1 555 0100"},
			changes: []change{created("Bob Stone", leadState{Company: "Acme", Phone: "+1 555 0100"})}},

		// Adding a lead.
		{says: []string{"add Jane Roe from Initech, value 20k, email jane@initech.com, phone +1 555 0100, source LinkedIn"},
			changes: []change{created("Jane Roe", leadState{Company: "Initech", Value: "20000.00", Email: "jane@initech.com", Phone: "+1 555 0100", Source: "LinkedIn"})},
			reply:   []string{"Added Jane Roe (Initech) to Interest with value $20,000"}},
		{says: []string{"create a lead named Tom Hanks at Castaway Inc worth $15,000"},
			changes: []change{created("Tom Hanks", leadState{Company: "Castaway Inc", Value: "15000.00"})}},
		{says: []string{"new lead: Maria Garcia, Garcia Foods, 8.5k, maria@garciafoods.test"},
			changes: []change{created("Maria Garcia", leadState{Company: "Garcia Foods", Value: "8500.00", Email: "maria@garciafoods.test"})}},
		{says: []string{"add Peter Parker (Daily Bugle) in negotiation"},
			changes: []change{created("Peter Parker", leadState{Company: "Daily Bugle", Status: "Negotiation"})}},
		{says: []string{"crate lead Ann Lee from referral"},
			changes: []change{created("Ann Lee", leadState{Source: "referral"})}},
		{says: []string{"add lead Omar Haddad with email omar@haddad.test and phone 555-123-4567"},
			changes: []change{created("Omar Haddad", leadState{Email: "omar@haddad.test", Phone: "555-123-4567"})}},
		{says: []string{"add a new lead called Lena Berg, company Nordic Oak, value 1.2m, source website, status proposal"},
			changes: []change{created("Lena Berg", leadState{Company: "Nordic Oak", Value: "1200000.00", Source: "website", Status: "Proposal sent"})}},
		{says: []string{"Create lead Hiro Tanaka worth 2 million via trade show"},
			changes: []change{created("Hiro Tanaka", leadState{Value: "2000000.00", Source: "trade show"})}},
		{says: []string{"add"}, reply: []string{"name"}},
		{says: []string{"add Zoe Quinn email not-an-email"}, reply: []string{"not added", "email"}},

		// Changing fields.
		{says: []string{"set Jane Doe's email to jane.doe@example.org"},
			changes: []change{set("Jane Doe", func(l *leadState) { l.Email = "jane.doe@example.org" })},
			reply:   []string{"Updated Jane Doe (Example Corp): email from jane@example.com to jane.doe@example.org"}},
		{says: []string{"change Bob Martin's phone to +1 555 0000"},
			changes: []change{set("Bob Martin", func(l *leadState) { l.Phone = "+1 555 0000" })}},
		{says: []string{"update Priya's value to 50k"},
			changes: []change{set("Priya Raman", func(l *leadState) { l.Value = "50000.00" })}},
		{says: []string{"set the value of Carlos Mendes to $21,500.50"},
			changes: []change{set("Carlos Mendes", func(l *leadState) { l.Value = "21500.50" })}},
		{says: []string{"change emily chen company to Brightside Clinics"},
			changes: []change{set("Emily Chen", func(l *leadState) { l.Company = "Brightside Clinics" })}},
		{says: []string{"Jane Doe's phone is now +1-555-0200"},
			changes: []change{set("Jane Doe", func(l *leadState) { l.Phone = "+1-555-0200" })}},
		{says: []string{"update Aisha's source to Conference"},
			changes: []change{set("Aisha Okafor", func(l *leadState) { l.Source = "Conference" })}},
		{says: []string{"rename Lukas Novak to Lukas Nowak"}, changes: []change{renamed("Lukas Novak", "Lukas Nowak")}},
		{says: []string{"udpate bob martin's value to 25000"},
			changes: []change{set("Bob Martin", func(l *leadState) { l.Value = "25000.00" })}},
		{says: []string{"update Tom Becker's stage to won"}, changes: []change{moved("Tom Becker", "Closed won")}},
		{says: []string{"add a note to Kenji: call back in March"},
			changes: []change{set("Kenji Watanabe", func(l *leadState) { l.Notes += "\ncall back in March" })}},
		{says: []string{"set grace kim's value to lots"}, reply: []string{"nothing changed", "value"}},
		{says: []string{"set sofia's email to not an email"}, reply: []string{"nothing changed", "email"}},
		{says: []string{"set jane's email to x@y.com"}, reply: []string{"Jane Doe", "Jane Smith"}},

		// Questions.
		{says: []string{"what is Jane Doe's email?"}, reply: []string{"jane@example.com"}},
		{says: []string{"what's the phone number of Bob Martin"}, reply: []string{"+1-555-0142"}},
		{says: []string{"what stage is Priya in?"}, reply: []string{"Meeting booked"}},
		{says: []string{"how much is Kenji worth?"}, reply: []string{"$150,000"}},
		{says: []string{"What is the value of Emily Chen"}, reply: []string{"$120,000"}},
		{says: []string{"where is Lukas Novak"}, reply: []string{"Negotiation"}},
		{says: []string{"Grace Kim's source?"}, reply: []string{"Cold email"}},
		{says: []string{"what's jane's email"}, reply: []string{"Jane Doe", "Jane Smith", "which one"}},

		// Finding leads.
		{says: []string{"find Jane"}, reply: []string{"Jane Doe", "Jane Smith"}},
		{says: []string{"show me acme"}, reply: []string{"Bob Martin", "Jane Smith"}},
		{says: []string{"search for priya"}, reply: []string{"Priya Raman", "priya@northwind.test"}},
		{says: []string{"look up osaka robotics"}, reply: []string{"Kenji Watanabe"}},
		{says: []string{"show leads in negotiation"}, reply: []string{"3 leads in Negotiation", "Aisha Okafor", "Lukas Novak", "Jane Smith"}},
		{says: []string{"who is in closed won"}, reply: []string{"Sofia Rossi", "Kenji Watanabe"}},

		// Deleting, always confirmed.
		{says: []string{"delete Bob Martin"}, reply: []string{`Delete Bob Martin (Acme Inc, Interest, $20,000)?`, `"yes"`}},
		{says: []string{"delete Bob Martin", "yes"}, changes: []change{deleted("Bob Martin")}, reply: []string{"Deleted Bob Martin (Acme Inc)"}},
		{says: []string{"delte oliver smith", "Yes, delete it please!"}, changes: []change{deleted("Oliver Smith")}},
		{says: []string{"remove grace kim", "no"}, reply: []string{"won't delete Grace Kim"}},
		{says: []string{"delete bob martin", "move jane doe to won"}, changes: []change{moved("Jane Doe", "Closed won")},
			reply: []string{"did not delete Bob Martin"}},
		{says: []string{"delete all leads"}, reply: []string{"one lead at a time"}},
		{says: []string{"yes"}, reply: []string{"nothing waiting"}},
		{says: []string{"delete jane", "yes"}, reply: []string{"nothing waiting"}},
		{says: []string{"delete jane", "Jane Smith"}, reply: []string{"Delete Jane Smith"}},
		{says: []string{"delete jane", "the one at Acme", "yes"}, changes: []change{deleted("Jane Smith")}},

		// Choosing among candidates.
		{says: []string{"move jane to won", "the one at Acme"}, changes: []change{moved("Jane Smith", "Closed won")}},
		{says: []string{"move jane to won", "2"}, changes: []change{moved("Jane Smith", "Closed won")}},
		{says: []string{"move jane to won", "Jane Doe"}, changes: []change{moved("Jane Doe", "Closed won")}},
		{says: []string{"move jane to won", "find Jane Smith"}, reply: []string{"1 lead matching", "Jane Smith"}},

		// The pipeline.
		{says: []string{"pipeline summary"}, reply: []string{"13 leads", "Interest: 3 leads, $100,000"}},
		{says: []string{"how's the pipeline looking?"}, reply: []string{"13 leads"}},
		{says: []string{"summarize"}, reply: []string{"Negotiation: 3 leads"}},

		// The phrasings, end to end.
		{says: []string{"we lost Bob Martin"}, changes: []change{moved("Bob Martin", "Closed lost")}},
		{says: []string{"Priya signed the contract, mark her as won"}, changes: []change{moved("Priya Raman", "Closed won")}},
		{says: []string{"booked a meeting with Bob Martin"}, changes: []change{moved("Bob Martin", "Meeting booked")}},
		{says: []string{"sent the proposal to Jane Doe"}, changes: []change{moved("Jane Doe", "Proposal sent")}},
		{says: []string{"Jane Doe's new email is jane@doe.dev"}, changes: []change{set("Jane Doe", func(l *leadState) { l.Email = "jane@doe.dev" })}},
		{says: []string{"bump Bob Martin's value to 25k"}, changes: []change{set("Bob Martin", func(l *leadState) { l.Value = "25000.00" })}},
		{says: []string{"Jane Doe's deal is worth 80k now"}, changes: []change{set("Jane Doe", func(l *leadState) { l.Value = "80000.00" })}},
		// Two fields of one lead in one message; values that are no deal value
		// are refused, and nothing changes.
		{says: []string{"change Lukas Novak's value to 60000 and her phone to +39 333 1234567"},
			changes: []change{set("Lukas Novak", func(l *leadState) { l.Value = "60000.00"; l.Phone = "+39 333 1234567" })}},
		{says: []string{"set Bob Martin's value to -5k"}, reply: []string{"must not be negative"}, notReply: []string{"Updated"}},
		{says: []string{"set Bob Martin's value to 12345678901234567890"}, reply: []string{"too large"}, notReply: []string{"Updated"}},
		{says: []string{"add Nina Kraus from Kraus AG, -12k"}, reply: []string{"not added", "must not be negative"}},
		// The pipeline by source.
		{says: []string{"how many leads came from the website?"}, reply: []string{"3 leads came from Website", "$226,000"}},
		{says: []string{"how many came in through referrals"}, reply: []string{"2 leads came from Referral"}},
		{says: []string{"add Jane Roe from Initech, found us on LinkedIn"},
			changes: []change{created("Jane Roe", leadState{Company: "Initech", Source: "LinkedIn"})}},
		{says: []string{"Add Omar Haddad from Vandelay with a 40k deal"},
			changes: []change{created("Omar Haddad", leadState{Company: "Vandelay", Value: "40000.00"})}},
		{says: []string{"how many leads are in Interest?"}, reply: []string{"Interest: 3 leads worth $100,000"}},
		{says: []string{"what's the total value of the pipeline?"}, reply: []string{"13 leads"}},
		{says: []string{"where did Bob Martin come from?"}, reply: []string{"Trade show"}},
		{says: []string{"what's Bob Martin's phone?", "change it to +1 555 0999"},
			changes: []change{set("Bob Martin", func(l *leadState) { l.Phone = "+1 555 0999" })}},
		{says: []string{"move Jane Doe and Bob Martin to won"},
			changes: []change{moved("Jane Doe", "Closed won"), moved("Bob Martin", "Closed won")},
			reply:   []string{"Moved Jane Doe", "Moved Bob Martin"}},
		{says: []string{"Jane Doe to won, Bob Martin to lost"},
			changes: []change{moved("Jane Doe", "Closed won"), moved("Bob Martin", "Closed lost")}},
		{says: []string{"what are the biggest deals?"}, reply: []string{"Kenji Watanabe", "Emily Chen"}},
		{says: []string{"leads by source"}, reply: []string{"Website: 3 leads"}},
		{says: []string{"when was Jane Doe added?"}, reply: []string{"Jane Doe (Example Corp) was added on"}},
		{says: []string{"move Priya to negotiation", "what changed on Priya recently?"},
			changes: []change{moved("Priya Raman", "Negotiation")}, reply: []string{"status Meeting booked → Negotiation"}},
		{says: []string{"what changed recently?"}, reply: []string{"The latest changes", "added"}},
		{says: []string{"move jane to won", "the one at Acme", "what's her email?"},
			changes: []change{moved("Jane Smith", "Closed won")}, reply: []string{"jane.smith@acme.test"}},
		{says: []string{"find " + strings.Repeat("x", 300)}, reply: []string{"No lead matches"}},
		{says: []string{strings.Repeat("é", 256) + " move Jane Doe to won"}, changes: []change{moved("Jane Doe", "Closed won")}},

		// Not understood.
		{says: []string{"what's the weather like"}, reply: []string{"didn't understand", "I can"}},
		{says: []string{"blah blah"}, reply: []string{"didn't understand"}},
		{says: []string{"help"}, reply: []string{"move leads", "pipeline summary"}},
	}
	if len(tests) < 60 {
		t.Fatalf("got %d phrasings, want at least 60", len(tests))
	}
	p := newPipeline(t)
	for _, tt := range tests {
		t.Run(strings.Join(tt.says, " / "), func(t *testing.T) {
			p.reset(t)
			h := p.harness(t, nil)
			before := snapshot(t, h.st)
			var last store.ChatMessage
			for _, s := range tt.says {
				last = h.say(s)
			}
			if last.State != store.StateSuccess {
				t.Errorf("state: got %s (%s), want SUCCESS", last.State, last.Error)
			}
			expect(t, h.st, before, tt.changes...)
			contains(t, "reply", last.Content, tt.reply...)
			lacks(t, "reply", last.Content, tt.notReply...)
			if t.Failed() {
				t.Logf("reply: %s\noperations: %s", last.Content, describeOps(last.Operations))
			}
		})
	}
}
