package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/crmteam/crm/store"
)

// crm import --from-postgres URL: moving from the original backend
// (store/legacy.go; README "Moving from the original backend").

const importUsage = `Usage:
  crm import --from-postgres URL [--map-status "OLD=STAGE"]... [--owner EMAIL]
             [--as EMAIL] [--id-map FILE] [--apply]

Reads the leads table of the original (Django/Supabase) backend's PostgreSQL at
URL, in one read-only snapshot, and prints what importing it would do: the
stage each status goes to, the leads per stage, the rows it skips and the rows
it changes (with their ids). Nothing is written without --apply; with it, every
lead is created in one transaction (all or none), keeping its id, order in its
column, created_at, updated_at and notes, each with a creation event in its
history. Leads whose id is here already are skipped, so running it again is
safe. Pending migrations of this database are applied first.

  --from-postgres URL    the original database (postgres://user:pass@host/db)
  --map-status OLD=STAGE the stage for a status of the original that is not
                         one here (repeat for each; compared without regard
                         to case and spaces); --apply refuses while a status
                         is neither a stage nor mapped
  --owner EMAIL          the user who owns the imported leads (default: nobody)
  --as EMAIL             the user the history names as importing (default:
                         the system)
  --id-map FILE          write the original id and the id here of every
                         imported lead as CSV (ids that are not uuids get a
                         uuid derived from them)
  --apply                write (default: a dry run that writes nothing)
`

// statusFlag collects the repeated --map-status.
type statusFlag map[string]string

func (f statusFlag) String() string { return "" }

func (f statusFlag) Set(v string) error {
	i := strings.LastIndex(v, "=")
	if i < 0 || strings.TrimSpace(v[i+1:]) == "" {
		return fmt.Errorf("want OLD=STAGE, got %q", v)
	}
	f[v[:i]] = strings.TrimSpace(v[i+1:])
	return nil
}

// runImport runs "crm import".
func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, importUsage) }
	from := fs.String("from-postgres", "", "the original database's URL")
	statuses := statusFlag{}
	fs.Var(statuses, "map-status", "OLD=STAGE (repeatable)")
	owner := fs.String("owner", "", "the imported leads' owner, by email")
	as := fs.String("as", "", "the user importing, by email")
	idMap := fs.String("id-map", "", "write old,new ids as CSV to this file")
	apply := fs.Bool("apply", false, "write (default: dry run)")
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, importUsage)
		return nil
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("import: unexpected argument %q", fs.Arg(0))
	}
	if strings.TrimSpace(*from) == "" {
		fmt.Fprint(stderr, importUsage)
		return errors.New("import: --from-postgres URL is required (the CSV export of the original goes through the import page)")
	}

	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(cfg, stderr)
	pool, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, log); err != nil {
		return err
	}
	st := store.New(pool)

	actor := store.LegacyActor(nil)
	if strings.TrimSpace(*as) != "" {
		u, err := userByEmail(ctx, st, *as)
		if err != nil {
			return fmt.Errorf("--as: %w", err)
		}
		if !u.Active {
			return fmt.Errorf("--as: %s is deactivated", u.Email)
		}
		actor = store.LegacyActor(&u)
	}
	ctx = store.WithActor(ctx, actor)

	plan, err := st.ImportLegacy(ctx, store.LegacyImport{
		SourceURL: *from, StatusMap: statuses, Owner: *owner, Apply: *apply,
	})
	var unmapped *store.LegacyUnmappedError
	if err != nil && !errors.As(err, &unmapped) {
		var ve *store.ValidationError
		if errors.As(err, &ve) && ve.Fields["owner"] != "" {
			return fmt.Errorf("--owner: %s", ve.Fields["owner"])
		}
		return err
	}
	printLegacyPlan(stdout, plan)
	if err != nil {
		return err
	}
	if *idMap != "" && len(plan.IDs) > 0 {
		if err := writeIDMap(*idMap, plan.IDs); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Wrote the ids of %d leads to %s.\n", len(plan.IDs), *idMap)
	}
	if plan.Applied {
		log.Info("imported from the original backend", "created", plan.Create, "skipped", len(plan.Skipped), "warnings", len(plan.Warnings), "by", actor.Name)
	}
	return nil
}

// printLegacyPlan writes the plan for a person to read.
func printLegacyPlan(w io.Writer, p store.LegacyPlan) {
	fmt.Fprintf(w, "Original backend: %s, table leads: %d %s.\n", p.Source, p.Read, plural(p.Read, "row", "rows"))
	if len(p.MissingColumns) > 0 {
		fmt.Fprintf(w, "Columns it lacks (left empty): %s.\n", strings.Join(p.MissingColumns, ", "))
	}
	if p.DerivedIDs > 0 {
		fmt.Fprintf(w, "Ids: %d are not uuids; each gets the uuid derived from it (--id-map FILE lists them).\n", p.DerivedIDs)
	} else {
		fmt.Fprintln(w, "Ids: kept.")
	}

	fmt.Fprintln(w, "\nStatuses:")
	var unknown []store.LegacyStatus
	for _, st := range p.Statuses {
		name := fmt.Sprintf("%q", st.Name)
		if len(st.Spellings) > 0 {
			quoted := make([]string, len(st.Spellings))
			for i, s := range st.Spellings {
				quoted[i] = fmt.Sprintf("%q", s)
			}
			name += " (also " + strings.Join(quoted, ", ") + ")"
		}
		if st.Stage == "" {
			unknown = append(unknown, st)
			fmt.Fprintf(w, "  %-40s -> ?  %6d %s  NOT A STAGE: map it with --map-status %q\n", name, st.Leads, plural(st.Leads, "lead", "leads"), st.Name+"=STAGE")
			continue
		}
		fmt.Fprintf(w, "  %-40s -> %-16s %6d %s  (%s)\n", name, st.Stage, st.Leads, plural(st.Leads, "lead", "leads"), st.How)
	}
	for _, m := range p.UnusedMappings {
		fmt.Fprintf(w, "  --map-status %q matched no lead\n", m)
	}

	verb := "Would create"
	if p.Applied {
		verb = "Created"
	}
	fmt.Fprintf(w, "\n%s %d %s, each after the leads its stage holds already:\n", verb, p.Create, plural(p.Create, "lead", "leads"))
	for _, st := range p.Stages {
		fmt.Fprintf(w, "  %-20s %6d new  (after %d already there)\n", st.Stage, st.New, st.Existing)
	}
	if n := 0; len(unknown) > 0 {
		for _, st := range unknown {
			n += st.Leads
		}
		fmt.Fprintf(w, "  %d %s wait for a stage: %d unknown %s.\n", n, plural(n, "lead", "leads"), len(unknown), plural(len(unknown), "status", "statuses"))
	}
	if p.LostWithoutReason > 0 {
		fmt.Fprintf(w, "  %d %s a lost stage without a lost reason (the original kept none): the pipeline requires one for leads entering a lost stage, these were lost before.\n",
			p.LostWithoutReason, plural(p.LostWithoutReason, "lead goes into", "leads go into"))
	}
	if p.Owner != "" {
		fmt.Fprintf(w, "Owner: %s.\n", p.Owner)
	} else {
		fmt.Fprintln(w, "Owner: nobody (--owner EMAIL gives them one).")
	}
	fmt.Fprintf(w, "History: each lead's creation, by %q.\n", p.Actor)

	if len(p.Skipped) > 0 {
		fmt.Fprintf(w, "\nSkipped (%d):\n", len(p.Skipped))
		for _, n := range p.Skipped {
			fmt.Fprintf(w, "  lead %s: %s\n", n.ID, n.Message)
		}
	}
	if len(p.Warnings) > 0 {
		fmt.Fprintf(w, "\nChanged on the way in (%d):\n", len(p.Warnings))
		for _, n := range p.Warnings {
			fmt.Fprintf(w, "  lead %s: %s\n", n.ID, n.Message)
		}
	}
	fmt.Fprintln(w)
	switch {
	case p.Applied:
		fmt.Fprintf(w, "Applied: %d %s created in one transaction.\n", p.Create, plural(p.Create, "lead", "leads"))
	case len(unknown) > 0:
		fmt.Fprintln(w, "Dry run: nothing was written. Map every status marked NOT A STAGE with --map-status, then run again with --apply.")
	default:
		fmt.Fprintln(w, "Dry run: nothing was written. Run again with --apply to import.")
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// writeIDMap writes old,new id pairs as CSV to path.
func writeIDMap(path string, ids []store.LegacyID) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--id-map: %w", err)
	}
	cw := csv.NewWriter(f)
	_ = cw.Write([]string{"original_id", "id"})
	for _, id := range ids {
		_ = cw.Write([]string{id.Old, id.New.String()})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		f.Close()
		return fmt.Errorf("--id-map: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--id-map: %w", err)
	}
	return nil
}
