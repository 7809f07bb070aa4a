// Command tagdrift finds mutant container images: places where an image tag resolved to
// different code. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runStdin(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitError carries a process exit status out of run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode prints err, when there is one to print, and returns the status for it: the
// one an exitError carries, otherwise 2.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "tagdrift: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "tagdrift: %v\n", err)
	return 2
}

const usage = `tagdrift finds container images whose tag resolved to different code.

Usage:
  tagdrift scan [flags]             scan clusters from a kubeconfig once and report mutations
  tagdrift serve [flags]            run the service: scheduled scans of registered clusters
  tagdrift migrate up|down N|version  manage the database schema
  tagdrift keys generate|rotate     make an encryption key; re-seal credentials under the newest
  tagdrift token create|list|revoke manage API tokens
  tagdrift user add NAME --role R   add a user of the web UI (password from a prompt or stdin)
  tagdrift version                  print the version

Run 'tagdrift COMMAND --help' for a command's flags.
`

// run is the program with an empty standard input, as most tests start it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runStdin(ctx, args, getenv, strings.NewReader(""), stdout, stderr)
}

// runStdin is the whole program: main only binds it to the process, so tests run it as
// is. Only `user add` reads stdin, for a password.
func runStdin(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2}
	}
	switch args[0] {
	case "scan":
		return runScan(ctx, args[1:], getenv, stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], getenv, stderr)
	case "migrate":
		return runMigrate(args[1:], getenv, stdout, stderr)
	case "keys":
		return runKeys(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		return runToken(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		return runUser(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "version", "--version":
		_, err := fmt.Fprintf(stdout, "tagdrift %s\n", version)
		return err
	case "help", "-h", "--help":
		_, err := fmt.Fprint(stdout, usage)
		return err
	default:
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, err: fmt.Errorf("unknown command %q", args[0])}
	}
}
