package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// firstRiverNumber is the number hack/rivermigration was run with for migrations/.
const firstRiverNumber = 2

// TestCopyMatchesRiver fails when migrations/ holds River migrations other than those
// the River version in go.mod has, for example after an upgrade that added one.
func TestCopyMatchesRiver(t *testing.T) {
	if err := check("../../migrations", firstRiverNumber); err != nil {
		t.Fatal(err)
	}
}

// copyMigrations copies migrations/ into a directory of the test's own.
func copyMigrations(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir("../../migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("../../migrations", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCheckFindsPlantedDifferences(t *testing.T) {
	plants := map[string]func(t *testing.T, dir string, river []string){
		"edited": func(t *testing.T, dir string, river []string) {
			p := filepath.Join(dir, river[0])
			b, _ := os.ReadFile(p)
			if err := os.WriteFile(p, append(b, []byte("-- edited\n")...), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"missing": func(t *testing.T, dir string, river []string) {
			if err := os.Remove(filepath.Join(dir, river[len(river)-1])); err != nil {
				t.Fatal(err)
			}
		},
		"extra": func(t *testing.T, dir string, _ []string) {
			if err := os.WriteFile(filepath.Join(dir, "000099_river_099_future.up.sql"), []byte("select 1;\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, plant := range plants {
		t.Run(name, func(t *testing.T) {
			dir := copyMigrations(t)
			river, err := filepath.Glob(filepath.Join(dir, "*_river_*.sql"))
			if err != nil || len(river) == 0 {
				t.Fatalf("no River migrations in the copy: %v", err)
			}
			for i := range river {
				river[i] = filepath.Base(river[i])
			}
			if err := check(dir, firstRiverNumber); err != nil {
				t.Fatalf("unplanted copy: %v", err)
			}
			plant(t, dir, river)
			if err := check(dir, firstRiverNumber); err == nil {
				t.Fatal("check passed a planted difference")
			}
		})
	}
}

// TestRefusesOurNumbers: written from a number our own migrations hold, River's would
// replace them; run refuses and writes nothing.
func TestRefusesOurNumbers(t *testing.T) {
	dir := copyMigrations(t)
	before, _ := os.ReadFile(filepath.Join(dir, "000009_mutations.up.sql"))
	err := run([]string{dir, "9"})
	if err == nil || !strings.Contains(err.Error(), "000009_mutations") {
		t.Fatalf("run onto our migration 9: got %v, want a refusal naming it", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "000009_mutations.up.sql"))
	if string(before) != string(after) {
		t.Fatal("our migration 9 was overwritten")
	}
	if err := run([]string{dir, "2"}); err != nil {
		t.Fatalf("run onto River's own numbers: %v", err)
	}
	if err := check(dir, firstRiverNumber); err != nil {
		t.Fatal(err)
	}
}
