// Command cgscale audits, benchmarks, plans, reshapes and tunes large
// CommuniGate Pro mail stores. See `cgscale help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/cgscale/cgscale/errs"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand. run parses its own flags with env.flags.
type command struct {
	name    string
	summary string // one line for `cgscale help`
	usage   string // "scan [flags] [BASE]"
	help    string // what it does, then examples
	run     func(ctx context.Context, env *env, args []string) error
}

// commands lists every subcommand, in the order `cgscale help` shows them.
func commands() []*command {
	return []*command{
		scanCommand(),
		benchCommand(),
		planCommand(),
		applyCommand(),
		moveCommand(),
		tuneCommand(),
		genCommand(),
		versionCommand(),
	}
}

// env is what a command may touch of the outside world.
type env struct {
	stdout, stderr io.Writer
	stderrTTY      bool
	getenv         func(string) string
}

// stopSignals stop a run the way Ctrl-C does: at a safe point, with one
// line saying where it stood and what to run next. SIGHUP is among them
// because a dropped ssh session sends it; unhandled, it would end the
// process at once, between journal records.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	e := &env{
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		stderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		getenv:    os.Getenv,
	}
	code := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code. All error
// output happens here, in one format.
func run(ctx context.Context, e *env, args []string) int {
	err := dispatch(ctx, e, args)
	if errors.Is(err, pflag.ErrHelp) {
		err = nil
	}
	report(e.stderr, err)
	return exitCode(err)
}

func dispatch(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		printHelp(e.stdout)
		return errs.Errorf(errs.Usage, "", "", "run `cgscale help COMMAND` for one command", "no command given")
	}
	name := args[0]
	switch name {
	case "help", "-h", "--help":
		return helpCommand(e, args[1:])
	case "--version", "-version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, e, args[1:])
		}
	}
	return errs.Errorf(errs.Usage, "", "", "run `cgscale help` for the list of commands", "unknown command %q", name)
}

// report prints err as "cgscale: <what>: <cause>" and a hint line.
func report(w io.Writer, err error) {
	if err == nil || errors.Is(err, pflag.ErrHelp) {
		return
	}
	kind := errs.KindOf(err)
	if errors.Is(err, context.Canceled) {
		kind = errs.Interrupted
	}
	switch kind {
	case errs.Interrupted:
		// One line: what was stopped, where it stood, what to run next;
		// never the context's own words and never an empty cause.
		hint := errs.HintOf(err)
		if hint == "" {
			hint = "run the same command again to finish"
		}
		if what := interruptedWhat(err); what != "" {
			fmt.Fprintf(w, "cgscale: interrupted: %s; %s\n", what, hint)
		} else {
			fmt.Fprintf(w, "cgscale: interrupted; %s\n", hint)
		}
		return
	default:
		fmt.Fprintf(w, "cgscale: %v\n", err)
	}
	if h := errs.HintOf(err); h != "" {
		fmt.Fprintf(w, "hint: %s\n", h)
	}
}

// interruptedWhat describes an interrupted run from its error: the
// operation and path of each *errs.E in the chain, then the cause in
// parentheses ("move /s/Domains/a (stopped in the copy, 41% done)"). The
// text of a context's own error is left out.
func interruptedWhat(err error) string {
	var parts []string
	cause := ""
	for err != nil {
		e, ok := err.(*errs.E)
		if !ok {
			cause = err.Error()
			for _, c := range []error{context.Canceled, context.DeadlineExceeded} {
				cause = strings.ReplaceAll(cause, ": "+c.Error(), "")
				if cause == c.Error() {
					cause = ""
				}
			}
			break
		}
		if s := strings.TrimSpace(e.Op + " " + e.Path); s != "" {
			parts = append(parts, s)
		}
		err = e.Err
	}
	s := strings.Join(parts, ": ")
	if cause != "" {
		if s == "" {
			return cause
		}
		s += " (" + cause + ")"
	}
	return s
}

// flags returns a FlagSet for c whose parse errors are usage errors and
// whose --help prints the command's help on stdout.
func (e *env) flags(c *command) *pflag.FlagSet {
	fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.SetInterspersed(true)
	return fs
}

// parse parses args into fs; --help prints help and returns pflag.ErrHelp.
func (e *env) parse(c *command, fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printCommandHelp(e.stdout, c, fs)
			return pflag.ErrHelp
		}
		return errs.Errorf(errs.Usage, c.name, "", "run `cgscale help "+c.name+"`", "%v", err)
	}
	return nil
}

func printHelp(w io.Writer) {
	fmt.Fprintf(w, "cgscale: audit, benchmark, plan, reshape and tune large CommuniGate Pro mail stores\n\n")
	fmt.Fprintf(w, "Usage: cgscale COMMAND [flags] [arguments]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-9s %s\n", "help", "show help for a command, or `help exit-codes`")
	fmt.Fprintf(w, "\nEvery report command takes --json. Progress goes to stderr on a terminal.\n")
	fmt.Fprintf(w, "Run `cgscale help COMMAND` for flags and examples.\n\n")
	printExitCodes(w)
}

func printExitCodes(w io.Writer) {
	fmt.Fprintf(w, "Exit codes:\n")
	for _, c := range exitCodes {
		fmt.Fprintf(w, "  %3d  %s\n", c.code, c.text)
	}
}

func printCommandHelp(w io.Writer, c *command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage: cgscale %s\n\n%s\n", c.usage, strings.TrimSpace(c.help))
	if fs != nil && fs.HasFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	}
}

func helpCommand(e *env, args []string) error {
	if len(args) == 0 {
		printHelp(e.stdout)
		return nil
	}
	if args[0] == "help" {
		printHelp(e.stdout)
		return nil
	}
	if args[0] == "exit-codes" {
		printExitCodes(e.stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			// Let the command build its flags and print its own help.
			return ignoreHelp(c.run(context.Background(), e, []string{"--help"}))
		}
	}
	names := []string{}
	for _, c := range commands() {
		names = append(names, c.name)
	}
	sort.Strings(names)
	return errs.Errorf(errs.Usage, "help", "", "commands: "+strings.Join(names, ", "), "unknown command %q", args[0])
}

func ignoreHelp(err error) error {
	if errors.Is(err, pflag.ErrHelp) {
		return nil
	}
	return err
}

func versionCommand() *command {
	c := &command{
		name:    "version",
		summary: "print the version",
		usage:   "version",
		help:    "Prints the cgscale version.\n\nExample:\n  cgscale version",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := e.flags(c)
		if err := e.parse(c, fs, args); err != nil {
			return err
		}
		if fs.NArg() != 0 {
			return errs.Errorf(errs.Usage, c.name, "", "", "takes no arguments")
		}
		fmt.Fprintf(e.stdout, "cgscale %s\n", version)
		return nil
	}
	return c
}
