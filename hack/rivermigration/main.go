// Command rivermigration writes River's schema as golang-migrate pairs, one pair per
// River migration (some must commit before the next runs: an enum value added by one is
// used by a later one), so that the job engine's tables are created by tagdrift's own
// migrations:
//
//	go run ./hack/rivermigration migrations 2
//
// writes migrations/000002_river_002_….up.sql and .down.sql onwards. River's version 1
// (its own migration-tracking table) is left out, as River advises when another tool runs
// the migrations; the schema template becomes the search path's.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rivermigration:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: rivermigration DIR FIRST-NUMBER")
	}
	first, err := strconv.Atoi(args[1])
	if err != nil {
		return fmt.Errorf("first number: %w", err)
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return err
	}
	n := first
	for _, m := range migrator.AllVersions() {
		if m.Version == 1 {
			continue
		}
		base := fmt.Sprintf("%06d_river_%03d_%s", n, m.Version, strings.NewReplacer("-", "_", " ", "_").Replace(m.Name))
		for dir, sql := range map[string]string{"up": m.SQLUp, "down": m.SQLDown} {
			text := fmt.Sprintf("-- River migration %03d (%s), written by hack/rivermigration; do not edit.\n\n%s\n",
				m.Version, m.Name, strings.TrimSpace(strings.ReplaceAll(sql, "/* TEMPLATE: schema */", "")))
			if err := os.WriteFile(filepath.Join(args[0], base+"."+dir+".sql"), []byte(text), 0o644); err != nil {
				return err
			}
		}
		n++
	}
	return nil
}
