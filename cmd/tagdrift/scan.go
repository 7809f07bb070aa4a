package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tagdrift/tagdrift/scanner"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/scanner/report"
)

// Exit statuses of tagdrift scan.
const (
	exitMutant = 1 // --fail-on-mutant and a mutation was found
	exitFailed = 2 // a cluster could not be scanned, or the command was used wrongly
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runScan(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tagdrift scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		kubeconfigPath = fs.String("kubeconfig", "", "kubeconfig file (default $KUBECONFIG, then ~/.kube/config)")
		contexts       stringList
		allContexts    = fs.Bool("all-contexts", false, "scan every context in the kubeconfig")
		output         = fs.String("o", "table", "output format: table or json")
		failOnMutant   = fs.Bool("fail-on-mutant", false, "exit with status 1 when any mutation is found")
		timeout        = fs.Duration("timeout", 30*time.Second, "time limit for scanning one cluster")
		verbose        = fs.Bool("v", false, "log progress to stderr")
	)
	fs.Var(&contexts, "context", "kubeconfig context to scan (repeatable; default the current context)")
	fs.StringVar(output, "output", "table", "same as -o")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: tagdrift scan [--kubeconfig FILE] [--context NAME]... [--all-contexts]
                     [-o table|json] [--fail-on-mutant] [--timeout 30s]

Scans every pod of each cluster (one kubeconfig context = one cluster), once, and
reports mutations: places where an image tag resolved to different code.

Exit status: 2 when any cluster failed, else 1 with --fail-on-mutant when a mutation
was found, else 0.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: exitFailed}
	}
	if fs.NArg() > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("scan takes no arguments, got %q", fs.Args())}
	}
	if *output != "table" && *output != "json" {
		return &exitError{code: exitFailed, err: fmt.Errorf("-o must be table or json, not %q", *output)}
	}
	if *allContexts && len(contexts) > 0 {
		return &exitError{code: exitFailed, err: errors.New("--context and --all-contexts exclude each other")}
	}
	if *timeout <= 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("--timeout must be positive, not %s", *timeout)}
	}

	targets, err := kubeconfig.LoadLocal(*kubeconfigPath, kubeconfig.Selection{Contexts: contexts, All: *allContexts}, getenv)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	rep := scanner.ScanAll(ctx, targets, scanner.Config{
		Timeout:   *timeout,
		UserAgent: "tagdrift/" + version,
		Logger:    logger,
	})

	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = report.WriteTable(stdout, rep, terminalWidth(getenv))
	}
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("write report: %w", err)}
	}

	for _, c := range rep.Clusters {
		if c.Error != "" {
			return &exitError{code: exitFailed}
		}
	}
	if *failOnMutant && len(rep.Mutations) > 0 {
		return &exitError{code: exitMutant}
	}
	return nil
}

// terminalWidth reads $COLUMNS, which shells set for interactive terminals.
func terminalWidth(getenv func(string) string) int {
	if n, err := strconv.Atoi(getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return report.DefaultWidth
}
