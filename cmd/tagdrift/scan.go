package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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

// scanCmd is `tagdrift scan`.
type scanCmd struct {
	Kubeconfig   string        `placeholder:"FILE" help:"kubeconfig file (default $$KUBECONFIG, then ~/.kube/config)"`
	Context      []string      `placeholder:"NAME" sep:"none" help:"kubeconfig context to scan; repeatable (default the current context)"`
	AllContexts  bool          `help:"scan every context in the kubeconfig"`
	Output       string        `short:"o" enum:"table,json" default:"table" help:"output format: table or json"`
	FailOnMutant bool          `help:"exit with status 1 when any mutation is found"`
	Timeout      time.Duration `default:"30s" help:"time limit for scanning one cluster"`
	Verbose      bool          `short:"v" help:"log progress to stderr"`
}

// Help is the long help of tagdrift scan.
func (scanCmd) Help() string {
	return `Scans every pod of each cluster (one kubeconfig context = one cluster), once, and
reports mutations: places where an image tag resolved to different code.

Exit status: 2 when any cluster failed, else 1 with --fail-on-mutant when a mutation
was found, else 0.`
}

func (c *scanCmd) Run(ctx context.Context, d *deps) error {
	if c.AllContexts && len(c.Context) > 0 {
		return &exitError{code: exitFailed, err: errors.New("--context and --all-contexts exclude each other")}
	}
	if c.Timeout <= 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("--timeout must be positive, not %s", c.Timeout)}
	}
	getenv, stdout, stderr := d.getenv, d.stdout, d.stderr

	targets, err := kubeconfig.LoadLocal(c.Kubeconfig, kubeconfig.Selection{Contexts: c.Context, All: c.AllContexts}, getenv)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	level := slog.LevelWarn
	if c.Verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	rep := scanner.ScanAll(ctx, targets, scanner.Config{
		Timeout:   c.Timeout,
		UserAgent: "tagdrift/" + version,
		Logger:    logger,
	})

	if c.Output == "json" {
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
	if c.FailOnMutant && len(rep.Mutations) > 0 {
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
