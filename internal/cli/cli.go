package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// Exit codes. They are part of the interface: scripts branch on them, so a
// code keeps its meaning from one release to the next.
const (
	// ExitOK: the rollout was promoted, or the command did what it was asked.
	ExitOK = 0
	// ExitFailure: anything the other codes do not cover.
	ExitFailure = 1
	// ExitInvalid: invalid input (a flag, a rollout document, the configuration,
	// an unknown rollout id, a command the rollout's phase does not allow).
	// Retrying does not help; fixing the input does.
	ExitInvalid = 2
	// ExitRolledBack: the rollout ended rolled back or aborted; everything is
	// back on stable.
	ExitRolledBack = 3
	// ExitNotStarted: the runner refused to start the rollout (a preflight
	// query failed, another rollout holds the target, the checklist is not
	// met, the rollout already ran) or a dry run found a problem. Nothing moved.
	ExitNotStarted = 4
	// ExitTransient: a store, cluster or metric source could not be reached.
	// The same command may succeed later.
	ExitTransient = 5
	// ExitInterrupted: the command was interrupted (Ctrl-C, --timeout) before
	// the rollout ended. Its state is stored; `run` with the same document
	// resumes it.
	ExitInterrupted = 6
)

// exitHelp documents the codes in every command's help.
const exitHelp = `Exit codes:
  0  promoted, or done
  1  unexpected failure
  2  invalid input (flag, document, configuration, rollout id)
  3  rolled back or aborted
  4  not started (preflight, busy target, checklist, already ran; dry run problems)
  5  transient failure (store, cluster or metrics unreachable): retry
  6  interrupted before the rollout ended (it is stored: run resumes it)
`

// exitError carries an exit code with the error that explains it.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode marks err with an exit code; nil stays nil.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// invalidf is an input error naming the flag or field and the value.
func invalidf(format string, args ...any) error {
	return withCode(ExitInvalid, fmt.Errorf(format, args...))
}

// codeOf maps an error to its exit code. An explicit code wins; otherwise the
// SDK's sentinel errors decide, transient first: a refused write to an
// unreachable store is worth retrying whatever else it says.
func codeOf(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ExitInterrupted
	case errors.Is(err, progressive.ErrTransient):
		return ExitTransient
	case errors.Is(err, progressive.ErrInvalid), errors.Is(err, progressive.ErrNotFound):
		return ExitInvalid
	}
	return ExitFailure
}

// startCode classifies an error of Runner.Start: a transient failure stays
// retryable, everything else the runner refused means "not started".
func startCode(err error) int {
	if errors.Is(err, progressive.ErrTransient) {
		return ExitTransient
	}
	return ExitNotStarted
}

// outcomeCode is the exit code of a rollout's phase.
func outcomeCode(p rollout.Phase) int {
	switch p {
	case rollout.PhaseSucceeded:
		return ExitOK
	case rollout.PhaseRolledBack, rollout.PhaseAborted:
		return ExitRolledBack
	}
	return ExitInterrupted
}

// App is one invocation's environment. The mains fill it from the process;
// tests give it buffers and their own environment.
type App struct {
	// Name is how the program is called in help texts: "progressive" or
	// "kubectl progressive".
	Name   string
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (config path, secrets). Default os.Getenv.
	Getenv func(string) string
	// Terminal reports whether Stdout is a terminal, which selects the live
	// progress view over the plain line log. Default: Stdout is a character
	// device.
	Terminal func() bool
	// Now is the wall clock, for ages. Default time.Now.
	Now func() time.Time
}

// Main runs the program with the process's standard streams and environment
// and returns the exit code. It stops on SIGINT/SIGTERM through ctx.
func Main(ctx context.Context, name string, args []string) int {
	a := &App{Name: name, Stdout: os.Stdout, Stderr: os.Stderr}
	return a.Run(ctx, args)
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, a *App, args []string) error
}

func commands() []command {
	return []command{
		{"validate", "check rollout documents; print every problem with its line and field", cmdValidate},
		{"explain", "explain the plan a document describes, step by step", cmdExplain},
		{"dry-run", "validate against the providers, ask every query once, rehearse the writes", cmdDryRun},
		{"run", "start (or resume) a rollout and drive it to its end with a live view", cmdRun},
		{"status", "every rollout in the store: phase, weight, last analysis, age (-w to watch)", cmdStatus},
		{"promote", "advance a rollout one step (--full: promote now)", cmdPromote},
		{"abort", "roll a rollout back and mark it aborted", cmdAbort},
		{"rollback", "roll a rollout back now, whatever the metrics say", cmdRollback},
		{"continue", "resume a held rollout at its current step", cmdContinue},
		{"history", "list the decision records in the store", cmdHistory},
		{"record", "print one decision record (--svg/--html: draw its timeline)", cmdRecord},
		{"stats", "rollback rate, MTTD and MTTR per service and strategy", cmdStats},
		{"template", "template export ID: a promoted rollout as a reusable RolloutTemplate", cmdTemplate},
	}
}

// Run executes one command line (without the program name) and returns the
// exit code. Errors are printed on Stderr, prefixed with the program's name.
func (a *App) Run(ctx context.Context, args []string) int {
	a.defaults()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		a.usage(a.Stdout)
		if len(args) == 0 {
			return ExitInvalid
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, a, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				return ExitOK
			}
			if err != nil {
				fmt.Fprintf(a.Stderr, "%s %s: %v\n", a.Name, c.name, err)
			}
			return codeOf(err)
		}
	}
	fmt.Fprintf(a.Stderr, "%s: unknown command %q\n\n", a.Name, args[0])
	a.usage(a.Stderr)
	return ExitInvalid
}

func (a *App) defaults() {
	if a.Name == "" {
		a.Name = "progressive"
	}
	if a.Stdout == nil {
		a.Stdout = io.Discard
	}
	if a.Stderr == nil {
		a.Stderr = io.Discard
	}
	if a.Getenv == nil {
		a.Getenv = os.Getenv
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Terminal == nil {
		a.Terminal = func() bool { return isTerminal(a.Stdout) }
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (a *App) usage(w io.Writer) {
	fmt.Fprintf(w, "%s drives progressive rollouts (canary, blue-green, rolling, A/B, flags).\n\nUsage:\n  %s <command> [flags] [args]\n\nCommands:\n", a.Name, a.Name)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> -h' for a command's flags.\n\n%s", a.Name, exitHelp)
}

// flags is the flag set of one command with the options most commands share.
type flags struct {
	fs       *flag.FlagSet
	config   string
	stateDir string
	output   string
	sim      bool
	outputs  []string
	// sets are the --set overrides of the commands that read documents.
	sets *overrides
}

// newFlags makes a command's flag set. usage is the argument synopsis and
// what the command does; help lists the flags and the exit codes after it.
func (a *App) newFlags(name, synopsis, about string) *flags {
	f := &flags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.SetOutput(a.Stderr)
	f.fs.Usage = func() {
		w := a.Stderr
		fmt.Fprintf(w, "Usage: %s %s %s\n\n%s\n\nFlags:\n", a.Name, name, synopsis, about)
		f.fs.PrintDefaults()
		fmt.Fprintf(w, "\n%s", exitHelp)
	}
	return f
}

// withStore adds the flags that choose the configuration and state store.
func (f *flags) withStore() *flags {
	f.fs.StringVar(&f.config, "config", "", "configuration document (default $XDG_CONFIG_HOME/progressive/config.yaml)")
	f.fs.StringVar(&f.stateDir, "state-dir", "", "keep rollout states as files in this directory (overrides the configuration's store)")
	return f
}

// withSim adds --sim.
func (f *flags) withSim() *flags {
	f.fs.BoolVar(&f.sim, "sim", false, "run against the simulator (provider/sim) on a fake clock driven to the end, not the configured providers")
	return f
}

// withOutput adds -o with the formats allowed, the first being the default.
func (f *flags) withOutput(formats ...string) *flags {
	f.outputs = formats
	f.fs.StringVar(&f.output, "o", formats[0], "output format: "+strings.Join(formats, ", "))
	return f
}

// parse reads flags wherever they stand among the arguments (the standard
// library stops at the first argument; people write flags after the file)
// and checks -o. It returns the positional arguments.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, withCode(ExitInvalid, err)
		}
		args = f.fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if f.outputs != nil {
		ok := false
		for _, o := range f.outputs {
			ok = ok || o == f.output
		}
		if !ok {
			return nil, invalidf("flag -o: unknown format %q; want one of %s", f.output, strings.Join(f.outputs, ", "))
		}
	}
	return pos, nil
}

// exactly checks the number of positional arguments.
func exactly(pos []string, n int, what string) error {
	if len(pos) != n {
		return invalidf("want %s, got %d argument(s): %s", what, len(pos), strings.Join(quoteAll(pos), " "))
	}
	return nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
