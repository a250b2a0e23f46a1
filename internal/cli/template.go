package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout/document"
)

func cmdTemplate(ctx context.Context, a *App, args []string) error {
	if len(args) == 0 || args[0] != "export" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintf(a.Stderr, "Usage: %s template export ID [-o yaml|json] [--out FILE]\n", a.Name)
			return nil
		}
		return invalidf("want a subcommand: template export ID")
	}
	f := a.storeFlags("template export", "ID", `Exports a promoted rollout as a RolloutTemplate other services can reuse: its
strategy and checks as they ran, with the service, namespace, version and image
as parameters and each threshold a parameter defaulting to the value that held.
A rollout that did not end promoted is refused: its thresholds did not hold.`)
	f.withOutput("yaml", "json")
	out := f.fs.String("out", "", "write the template to this file instead of stdout")
	pos, err := f.parse(args[1:])
	if err != nil {
		return err
	}
	if err := exactly(pos, 1, "one rollout id (ID)"); err != nil {
		return err
	}
	s, store, runner, err := a.openStore(f)
	if err != nil {
		return err
	}
	defer s.close()
	st, err := store.Get(ctx, pos[0])
	if errors.Is(err, progressive.ErrNotFound) {
		return invalidf("rollout %q: not in the state store", pos[0])
	}
	if err != nil {
		return err
	}
	rec, err := runner.Record(ctx, st.ID)
	if err != nil {
		return err
	}
	tmpl, err := document.FromRecord(rec, st.Plan)
	if err != nil {
		return err
	}
	format := document.YAML
	if f.output == "json" {
		format = document.JSON
	}
	b, err := tmpl.Marshal(format)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = a.Stdout.Write(b)
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return invalidf("flag --out %q: %v", *out, errors.Unwrap(err))
	}
	fmt.Fprintf(a.Stderr, "wrote %s\n", *out)
	return nil
}
