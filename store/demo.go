package store

import (
	"context"
	"fmt"
)

// CountLeads returns the number of leads on the board.
func (s *Store) CountLeads(ctx context.Context) (int, error) {
	n, err := s.q.CountLeads(ctx)
	if err != nil {
		return 0, translate(fmt.Errorf("count leads: %w", err))
	}
	return int(n), nil
}

// demoLead is one row of the demo pipeline.
type demoLead struct {
	name, company, email, phone, notes, status, source string
	value                                              Money
}

var demoLeads = []demoLead{
	{"Jane Doe", "Example Corp", "jane@example.com", "+1-555-0199", "Wants the enterprise plan for 40 seats; decision in Q1.", "Interest", "Website", 7_500_000},
	{"Bob Martin", "Acme Inc", "bob.martin@acme.test", "+1-555-0142", "Met at the Boston trade show.", "Interest", "Trade show", 2_000_000},
	{"Priya Raman", "Northwind Traders", "priya@northwind.test", "+44 20 7946 0321", "Asked for a demo of the reporting module.", "Meeting booked", "Referral", 4_200_000},
	{"Carlos Mendes", "Lisbon Logistics", "carlos@lisbonlog.test", "+351 21 000 1234", "Call booked Thursday 10:00.", "Meeting booked", "LinkedIn", 1_850_000},
	{"Emily Chen", "Brightside Health", "emily.chen@brightside.test", "+1-555-0175", "Needs HIPAA paperwork before signing.", "Proposal sent", "Website", 12_000_000},
	{"Tom Becker", "Becker & Sons", "tom@beckersons.test", "+49 30 1234567", "Proposal v2 sent with 10% discount.", "Proposal sent", "Cold email", 950_000},
	{"Aisha Okafor", "Lagos Fintech", "aisha@lagosfintech.test", "+234 1 234 5678", "Legal is reviewing the MSA.", "Negotiation", "Partner", 6_800_000},
	{"Lukas Novak", "Prague Studio", "lukas@praguestudio.test", "+420 222 333 444", "Pushing for annual billing.", "Negotiation", "Website", 3_100_000},
	{"Sofia Rossi", "Milano Design", "sofia@milanodesign.test", "+39 02 1234 5678", "Signed; onboarding starts next week.", "Closed won", "Referral", 5_400_000},
	{"Kenji Watanabe", "Osaka Robotics", "kenji@osakarobotics.test", "+81 6 1234 5678", "Signed a two-year contract.", "Closed won", "Trade show", 15_000_000},
	{"Grace Kim", "Seoul Bakery Group", "grace@seoulbakery.test", "+82 2 123 4567", "Chose a competitor on price.", "Closed lost", "Cold email", 1_200_000},
	{"Oliver Smith", "Smith Consulting", "oliver@smithconsulting.test", "+1-555-0110", "Inbound chat; wants pricing for 5 users.", "Interest", "Chat", 500_000},
}

// SeedDemo adds a dozen realistic demo leads across the pipeline.
func (s *Store) SeedDemo(ctx context.Context) (int, error) {
	for i, d := range demoLeads {
		in := LeadInput{Name: &d.name, Company: &d.company, Email: &d.email, Phone: &d.phone,
			Notes: &d.notes, Status: &d.status, Source: &d.source, Value: &d.value}
		if _, err := s.CreateLead(ctx, in); err != nil {
			return i, fmt.Errorf("seed %s: %w", d.name, err)
		}
	}
	return len(demoLeads), nil
}
