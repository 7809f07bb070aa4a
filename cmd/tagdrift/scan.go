package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tagdrift/tagdrift/scanner"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/scanner/report"
)

// Exit statuses of tagdrift scan.
const (
	exitMutant   = 1 // --fail-on-mutant and a mutation was found
	exitFailed   = 2 // a cluster could not be scanned, or the command was used wrongly
	exitAnnotate = 3 // --annotate and the annotation of a cluster failed
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
	Annotate     bool          `help:"write the verdict onto the scanned ReplicaSets: label is-mutant, annotations mutant/status and tagdrift.io/mutations, Events (needs patch on replicasets, create on events)"`
	DryRun       bool          `name:"dry-run" help:"with --annotate: print what it would change and write nothing"`
	ClusterGroup []string      `placeholder:"CONTEXT=GROUP" sep:"none" help:"put the cluster of that context in GROUP: a tag-divergence spans the clusters of one group only (default: all in one group); repeatable"`
}

// Help is the long help of tagdrift scan.
func (scanCmd) Help() string {
	return `Scans every pod of each cluster (one kubeconfig context = one cluster), once, and
reports mutations: places where an image tag resolved to different code.

With --annotate, the verdict is written onto the ReplicaSets of every cluster scanned
completely, as tagdrift serve does; --annotate --dry-run prints the changes instead.

Exit status: 2 when any cluster failed, else 3 when an annotation failed, else 1 with
--fail-on-mutant when a mutation was found, else 0.`
}

func (c *scanCmd) Run(ctx context.Context, d *deps) error {
	if c.AllContexts && len(c.Context) > 0 {
		return &exitError{code: exitFailed, err: errors.New("--context and --all-contexts exclude each other")}
	}
	if c.Timeout <= 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("--timeout must be positive, not %s", c.Timeout)}
	}
	if c.DryRun && !c.Annotate {
		return &exitError{code: exitFailed, err: errors.New("--dry-run previews --annotate: without --annotate a scan writes nothing, so there is nothing to preview")}
	}
	groups, err := clusterGroups(c.ClusterGroup)
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("--cluster-group: %w", err)}
	}
	getenv, stdout, stderr := d.getenv, d.stdout, d.stderr

	targets, err := kubeconfig.LoadLocal(c.Kubeconfig, kubeconfig.Selection{Contexts: c.Context, All: c.AllContexts}, getenv)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	// A group for a context not scanned is a typo, which would quietly correlate
	// what the user meant to keep apart.
	for name, group := range groups {
		if !slices.ContainsFunc(targets, func(t kubeconfig.Target) bool { return t.Name == name }) {
			return &exitError{code: exitFailed, err: fmt.Errorf("--cluster-group %s=%s: no context of that name is scanned", name, group)}
		}
	}
	level := slog.LevelWarn
	if c.Verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	scan := scanner.Scan(ctx, targets, scanner.Config{
		Timeout:   c.Timeout,
		UserAgent: "tagdrift/" + version,
		Logger:    logger,
		Groups:    groups,
	})
	rep := scan.Report

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

	// The report is out before any write: a failed annotation never hides it.
	var annotateErr error
	if c.Annotate {
		anns := scan.Annotate(ctx, scanner.AnnotateConfig{DryRun: c.DryRun, Timeout: c.Timeout, Logger: logger})
		// stdout stays one JSON document with -o json; the table is for people, and
		// so are these lines.
		w := stdout
		if c.Output == "json" {
			w = stderr
		}
		if err := writeAnnotations(w, anns, c.DryRun); err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("write annotation report: %w", err)}
		}
		var errs []error
		for _, a := range anns {
			if a.Err != nil {
				errs = append(errs, fmt.Errorf("annotate cluster %q: %w", a.Cluster, a.Err))
			}
		}
		annotateErr = errors.Join(errs...)
	}

	for _, c := range rep.Clusters {
		if c.Error != "" {
			return &exitError{code: exitFailed, err: annotateErr}
		}
	}
	if annotateErr != nil {
		return &exitError{code: exitAnnotate, err: annotateErr}
	}
	if c.FailOnMutant && len(rep.Mutations) > 0 {
		return &exitError{code: exitMutant}
	}
	return nil
}

// writeAnnotations tells, per cluster, what --annotate changed (or, dry, would change).
func writeAnnotations(w io.Writer, anns []scanner.Annotation, dry bool) error {
	var b strings.Builder
	for _, a := range anns {
		p := a.Plan
		events := len(p.Warnings) + len(p.Resolutions)
		switch {
		case a.Skipped:
			fmt.Fprintf(&b, "annotation of cluster %s: skipped, its scan failed\n", a.Cluster)
			continue
		case p.Empty():
			fmt.Fprintf(&b, "annotation of cluster %s: nothing to change\n", a.Cluster)
			continue
		case dry:
			fmt.Fprintf(&b, "annotation of cluster %s (dry run, nothing written): %s, %s\n", a.Cluster,
				plural(len(p.Patches), "replicaset patch", "replicaset patches"), plural(events, "event", "events"))
		case a.Err != nil:
			fmt.Fprintf(&b, "annotation of cluster %s failed after %s and %s: %v\n", a.Cluster,
				plural(a.Result.Patched, "replicaset patched", "replicasets patched"),
				plural(len(a.Result.Warned)+len(a.Result.Resolved), "event", "events"), a.Err)
		default:
			fmt.Fprintf(&b, "annotation of cluster %s: %s, %s", a.Cluster,
				plural(a.Result.Patched, "replicaset patched", "replicasets patched"),
				plural(len(a.Result.Warned)+len(a.Result.Resolved), "event", "events"))
			if a.Result.Gone > 0 {
				// Deleted since the scan listed them: nothing to annotate there any more.
				fmt.Fprintf(&b, ", %s", plural(a.Result.Gone, "replicaset gone before its patch", "replicasets gone before their patch"))
			}
			b.WriteString("\n")
		}
		if !dry {
			continue
		}
		for _, patch := range p.Patches {
			fmt.Fprintf(&b, "  %s\n", patch)
		}
		for _, e := range slices.Concat(p.Warnings, p.Resolutions) {
			fmt.Fprintf(&b, "  event %s %s on replicaset %s/%s: %s\n", e.Type, e.Reason, e.Namespace, e.ReplicaSet, e.Message)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// terminalWidth reads $COLUMNS, which shells set for interactive terminals.
func terminalWidth(getenv func(string) string) int {
	if n, err := strconv.Atoi(getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return report.DefaultWidth
}
