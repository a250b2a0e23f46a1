package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/document"
)

// source is a decoded rollout document and where it came from.
type source struct {
	path string
	doc  *document.Rollout
	// over is set when --set changed the text: it maps problems back to the
	// file's lines.
	over *overridden
}

// readDocument reads one rollout document, applies the --set overrides to
// its text and decodes the result strictly, so that an override of a field
// the schema does not have is an unknown field like a typo in the file.
func readDocument(path string, sets *overrides) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, invalidf("document %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, document.MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("document %s: %w", path, err)
	}
	src := &source{path: path}
	if sets != nil && len(sets.list) > 0 && len(b) <= document.MaxDocumentSize {
		if src.over, err = applyOverrides(b, sets.list); err != nil {
			return nil, err
		}
		if src.over != nil {
			b = src.over.text
		}
	}
	if src.doc, err = document.Decode(b); err != nil {
		return nil, withCode(ExitInvalid, fmt.Errorf("%s: %w", path, src.over.fix(err)))
	}
	return src, nil
}

// placeholderResolver stands in for secrets where a plan is built only to be
// read (explain) or rehearsed against the simulator (--sim), so that neither
// needs the production webhook URL in its environment, and no rehearsal can
// post to it.
var placeholderResolver = document.ResolverFunc(func(_ context.Context, ref document.ValueFrom) (string, error) {
	// The host says where the value would come from, since Explain shows
	// hosts and redacts paths.
	name := "env-" + ref.Env
	if ref.Env == "" {
		name = "file-" + filepath.Base(ref.File)
	}
	host := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '-'
	}, name)
	return "https://" + strings.Trim(host, "-") + ".invalid/", nil
})

// plan builds the plan of a document: real secrets unless placeholder.
func (a *App) plan(ctx context.Context, src *source, placeholder bool) (progressive.Plan, error) {
	var res document.Resolver = resolver{getenv: a.Getenv, base: filepath.Dir(src.path)}
	if placeholder {
		res = placeholderResolver
	}
	plan, err := src.doc.Plan(ctx, document.WithResolver(res))
	if err != nil {
		return plan, withCode(ExitInvalid, fmt.Errorf("%s: %w", src.path, src.over.fix(err)))
	}
	return plan, nil
}

// fileResult is validate's answer for one document.
type fileResult struct {
	File     string                `json:"file"`
	Valid    bool                  `json:"valid"`
	Problems []document.Problem    `json:"problems,omitempty"`
	Warnings []progressive.Warning `json:"warnings,omitempty"`
	Error    string                `json:"error,omitempty"`
}

func cmdValidate(ctx context.Context, a *App, args []string) error {
	f := a.newFlags("validate", "FILE...", "Checks rollout documents without contacting anything: every problem of every file\nis printed with its line, column and field. Secrets (urlFrom) are not read.")
	f.withOutput("text", "json", "yaml").withSet()
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return invalidf("want at least one document (FILE...)")
	}
	results := make([]fileResult, 0, len(pos))
	invalid := 0
	for _, p := range pos {
		r := fileResult{File: p, Valid: true}
		src, err := readDocument(p, f.sets)
		if err == nil {
			err = src.over.fix(src.doc.Validate())
		}
		if err == nil {
			// Lint's warnings need a plan; placeholders stand in for secrets.
			if plan, perr := src.doc.Plan(ctx, document.WithResolver(placeholderResolver)); perr == nil {
				r.Warnings = rollout.Lint(plan)
			}
		}
		var de *document.Error
		switch {
		case err == nil:
		case errors.As(err, &de):
			r.Valid, r.Problems = false, de.Problems
		default:
			r.Valid, r.Error = false, err.Error()
		}
		if !r.Valid {
			invalid++
		}
		results = append(results, r)
	}
	if f.output != "text" {
		if err := a.emit(f.output, results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			switch {
			case r.Valid:
				fmt.Fprintf(a.Stdout, "%s: valid\n", r.File)
			case r.Error != "":
				fmt.Fprintf(a.Stdout, "%s: %s\n", r.File, r.Error)
			default:
				fmt.Fprintf(a.Stdout, "%s: %d problem(s)\n", r.File, len(r.Problems))
				for _, p := range r.Problems {
					fmt.Fprintf(a.Stdout, "  %s\n", p.Error())
				}
			}
			for _, w := range r.Warnings {
				fmt.Fprintf(a.Stdout, "  warning: %s\n", w)
			}
		}
	}
	if invalid > 0 {
		// Already printed; the code says it.
		return withCode(ExitInvalid, quietError(fmt.Sprintf("%d of %d document(s) invalid", invalid, len(results))))
	}
	return nil
}

// quietError is an error whose details were already printed on stdout; its
// one line still tells stderr why the code is not 0.
type quietError string

func (q quietError) Error() string { return string(q) }

func cmdExplain(ctx context.Context, a *App, args []string) error {
	f := a.newFlags("explain", "FILE", "Prints the plan a document describes, step by step, with the checks and what rolls\nback, as a person approves it. -o json|yaml prints the plan itself.")
	f.withOutput("text", "json", "yaml").withSet()
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if err := exactly(pos, 1, "one document (FILE)"); err != nil {
		return err
	}
	src, err := readDocument(pos[0], f.sets)
	if err != nil {
		return err
	}
	plan, err := a.plan(ctx, src, true)
	if err != nil {
		return err
	}
	if f.output != "text" {
		return a.emit(f.output, plan)
	}
	fmt.Fprint(a.Stdout, rollout.Explain(plan))
	for _, w := range rollout.Lint(plan) {
		fmt.Fprintf(a.Stdout, "warning: %s\n", w)
	}
	return nil
}

func cmdDryRun(ctx context.Context, a *App, args []string) error {
	f := a.newFlags("dry-run", "FILE", "Validates the plan against the configured providers, asks every metric query once\nfor both sides and sends each step's write to providers that can check it without\napplying it (Kubernetes server-side dry run). Nothing changes and nothing is stored.")
	f.withStore().withSim().withOutput("text", "json", "yaml").withSet()
	sf := addSimFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if err := exactly(pos, 1, "one document (FILE)"); err != nil {
		return err
	}
	src, err := readDocument(pos[0], f.sets)
	if err != nil {
		return err
	}
	plan, err := a.plan(ctx, src, f.sim)
	if err != nil {
		return err
	}
	s, err := a.newSession(f)
	if err != nil {
		return err
	}
	defer s.close()
	var ps rollout.Providers
	opts := rollout.Options{Logger: s.logger()}
	if f.sim {
		w, err := a.newSimWorld(ctx, &plan, sf)
		if err != nil {
			return err
		}
		defer w.stop()
		ps, opts.Clock = w.providers, w.clock
	} else {
		if ps, err = s.providers(ctx, &plan, true); err != nil {
			return err
		}
		resolveQueries(&plan, s.cfg.Queries)
	}
	opts.Providers = ps
	runner, err := rollout.New(opts)
	if err != nil {
		return err
	}
	report, err := runner.DryRun(ctx, plan)
	if err != nil {
		return withCode(ExitInvalid, err)
	}
	if f.output != "text" {
		if err := a.emit(f.output, report); err != nil {
			return err
		}
	} else {
		printDryRun(a.Stdout, report)
	}
	if !report.OK() {
		return withCode(ExitNotStarted, quietError("the dry run found problems; the rollout would not start"))
	}
	return nil
}

func printDryRun(w io.Writer, r rollout.DryRunReport) {
	fmt.Fprint(w, r.Explanation)
	fmt.Fprintln(w, "\nQueries now:")
	for _, q := range r.Queries {
		if q.Error != "" {
			fmt.Fprintf(w, "  %-14s %-7s ERROR %s\n", q.Check, q.Role, q.Error)
			continue
		}
		fmt.Fprintf(w, "  %-14s %-7s %g %s\n", q.Check, q.Role, q.Value, q.Status)
	}
	fmt.Fprintln(w, "Steps:")
	for _, s := range r.Steps {
		state := "described"
		if s.Rehearsed {
			state = "rehearsed"
		}
		line := fmt.Sprintf("  %2d. %-9s %s", s.Step+1, state, s.Description)
		if s.Note != "" {
			line += " (" + s.Note + ")"
		}
		if s.Error != "" {
			line += ": ERROR " + s.Error
		}
		fmt.Fprintln(w, line)
	}
	for _, wr := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wr)
	}
	if r.OK() {
		fmt.Fprintln(w, "dry run: OK")
	} else {
		fmt.Fprintln(w, "dry run: FAILED")
	}
}

// emit writes data as json or yaml.
func (a *App) emit(format string, v any) error {
	f := document.JSON
	if format == "yaml" {
		f = document.YAML
	}
	b, err := document.Encode(v, f)
	if err != nil {
		return err
	}
	_, err = a.Stdout.Write(b)
	return err
}
