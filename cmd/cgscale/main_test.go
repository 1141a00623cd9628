package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/term"
)

// TestMain makes the test binary double as cgscale, so the testscript files
// in testdata/script run the real command, in its own process.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"cgscale": func() {
			// Signals are handled as in main, so scripts can interrupt a run.
			ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
			e := &env{stdout: os.Stdout, stderr: os.Stderr, stderrTTY: term.IsTerminal(int(os.Stderr.Fd())), getenv: os.Getenv}
			code := run(ctx, e, os.Args[1:])
			stop()
			os.Exit(code)
		},
	})
}

func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			// Tests that need loop-mounted volumes read these.
			for _, k := range []string{"CGSCALE_VOLUMES", "CGSCALE_REQUIRE_VOLUMES", "CI"} {
				env.Setenv(k, os.Getenv(k))
			}
			// Shared fixtures (fake /proc trees and the like) under testdata/.
			td, err := filepath.Abs(filepath.Join("..", "..", "testdata"))
			if err != nil {
				return err
			}
			env.Setenv("CGSCALE_TESTDATA", td)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": cmdExits,
		},
	})
}

// cmdExits runs a program and checks its exit status:
//
//	exits 4 cgscale scan $WORK/store
//
// stdout and stderr are kept for the stdout and stderr commands that follow.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %q is not an exit code", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}
