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
	environ, err := withoutSecretEnv(os.Environ())
	if err != nil {
		fmt.Fprintf(os.Stderr, "tagdrift: warning: %v; its TAGDRIFT_ variables stay readable in /proc/%d/environ\n", err, os.Getpid())
	}
	getenv := takeEnv(environ, os.Unsetenv, os.Getenv)
	err = runStdin(ctx, os.Args[1:], getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// takeEnv reads tagdrift's own variables (TAGDRIFT_*: the database URL, the encryption
// keys, the admin token, ...) from environ and removes them from the process environment
// with unset, so that no child process (an exec credential plugin) can inherit them. The
// getenv it returns still answers them, and asks getenv for any other variable.
func takeEnv(environ []string, unset func(string) error, getenv func(string) string) func(string) string {
	kept := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TAGDRIFT_") {
			kept[k] = v
			unset(k)
		}
	}
	return func(k string) string {
		if v, ok := kept[k]; ok {
			return v
		}
		return getenv(k)
	}
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

// run is the program with an empty standard input, as most tests start it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runStdin(ctx, args, getenv, strings.NewReader(""), stdout, stderr)
}
