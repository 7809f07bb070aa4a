// Command rivermigration writes River's schema as golang-migrate pairs, one pair per
// River migration (some must commit before the next runs: an enum value added by one is
// used by a later one), so that the job engine's tables are created by tagdrift's own
// migrations:
//
//	go run ./hack/rivermigration migrations 2
//
// writes migrations/000002_river_002_….up.sql and .down.sql onwards. River's version 1
// (its own migration-tracking table) is left out, as River advises when another tool runs
// the migrations; the schema template becomes the search path's. It refuses to write a
// River migration onto a number one of tagdrift's own migrations holds, and the package's
// test fails when the copy in migrations/ differs from what the River version in go.mod
// would write: a River upgrade that adds a migration must be placed by hand.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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
	files, err := riverFiles(first)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names { // all checked before any is written, lowest first
		if err := ownedByUs(args[0], name); err != nil {
			return err
		}
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(args[0], name), text, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// riverFiles returns the migration files River's migrations become, by file name,
// numbered from first.
func riverFiles(first int) (map[string][]byte, error) {
	migrator, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return nil, fmt.Errorf("river migrator: %w", err)
	}
	files := map[string][]byte{}
	n := first
	for _, m := range migrator.AllVersions() {
		if m.Version == 1 {
			continue
		}
		base := fmt.Sprintf("%06d_river_%03d_%s", n, m.Version, strings.NewReplacer("-", "_", " ", "_").Replace(m.Name))
		for dir, sql := range map[string]string{"up": m.SQLUp, "down": m.SQLDown} {
			files[base+"."+dir+".sql"] = fmt.Appendf(nil, "-- River migration %03d (%s), written by hack/rivermigration; do not edit.\n\n%s\n",
				m.Version, m.Name, strings.TrimSpace(strings.ReplaceAll(sql, "/* TEMPLATE: schema */", "")))
		}
		n++
	}
	return files, nil
}

// ownedByUs fails when another migration in dir holds the number of name: a new River
// migration numbered onto one of ours would replace it.
func ownedByUs(dir, name string) error {
	number, _, _ := strings.Cut(name, "_")
	held, err := filepath.Glob(filepath.Join(dir, number+"_*"))
	if err != nil {
		return err
	}
	for _, h := range held {
		if !strings.HasPrefix(filepath.Base(h), number+"_river_") {
			return fmt.Errorf("%s would take number %s, which %s holds", name, number, filepath.Base(h))
		}
	}
	return nil
}

// check compares the River migrations in dir with what riverFiles writes from first:
// each must be there, byte for byte, and no other River migration may be.
func check(dir string, first int) error {
	want, err := riverFiles(first)
	if err != nil {
		return err
	}
	var problems []string
	for name, text := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case errors.Is(err, os.ErrNotExist):
			problems = append(problems, name+" is missing")
		case err != nil:
			return err
		case !bytes.Equal(got, text):
			problems = append(problems, name+" differs from River's")
		}
	}
	present, err := filepath.Glob(filepath.Join(dir, "*_river_*.sql"))
	if err != nil {
		return err
	}
	for _, p := range present {
		if _, ok := want[filepath.Base(p)]; !ok {
			problems = append(problems, filepath.Base(p)+" is not a migration of this River version")
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("the River migrations in %s do not match go.mod's River (go run ./hack/rivermigration): %s",
			dir, strings.Join(problems, "; "))
	}
	return nil
}
