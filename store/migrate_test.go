package store

import (
	"context"
	"errors"
	"io/fs"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/internal/pgtest"
	"github.com/tagdrift/tagdrift/migrations"
)

func TestMigrationFilesPair(t *testing.T) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^(\d{6})_[a-z0-9_]+\.(up|down)\.sql$`)
	halves := map[string]map[string]bool{}
	for _, n := range names {
		m := re.FindStringSubmatch(n)
		if m == nil {
			t.Errorf("migration %s: want NNNNNN_name.up.sql or .down.sql", n)
			continue
		}
		if halves[m[1]] == nil {
			halves[m[1]] = map[string]bool{}
		}
		halves[m[1]][m[2]] = true
	}
	if len(halves) == 0 {
		t.Fatal("no migrations")
	}
	for num, h := range halves {
		if !h["up"] || !h["down"] {
			t.Errorf("migration %s lacks a half: %v", num, h)
		}
	}
}

// TestMigrateUpDownUp applies every migration, undoes them all, and applies them again,
// on a real database.
func TestMigrateUpDownUp(t *testing.T) {
	db := mustDatabase(t, "tagdrift_migrate")
	m, err := NewMigrator(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	latest, err := Latest()
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := m.Current(); ok {
		t.Fatal("an empty database reads as current")
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	if v, dirty, err := m.Version(); err != nil || dirty || v != latest {
		t.Fatalf("after up: version %d dirty %v err %v, want %d", v, dirty, err, latest)
	}
	// Numbers are reserved per stream, so they can have gaps: step down once per file.
	ups, err := fs.Glob(migrations.FS, "*.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Down(len(ups)); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := m.Version(); v != 0 {
		t.Fatalf("after down: version %d", v)
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.Current(); !ok || err != nil {
		t.Fatalf("after up again: current %v %v", ok, err)
	}
}

// mustDatabase creates a test database, dropped when the test ends.
func mustDatabase(t testing.TB, prefix string) *pgtest.Database {
	t.Helper()
	return pgtest.New(t, prefix)
}

// TestMigrateRefusesDirtySchema marks the schema dirty, as a migration that failed
// halfway leaves it, and checks that nothing migrates until an operator looks.
func TestMigrateRefusesDirtySchema(t *testing.T) {
	db := mustDatabase(t, "tagdrift_dirty")
	m, err := NewMigrator(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE schema_migrations SET dirty = true`); err != nil {
		t.Fatal(err)
	}
	if err := m.Up(); !errors.Is(err, ErrDirty) {
		t.Errorf("Up on a dirty schema: %v, want ErrDirty", err)
	}
	if err := m.Down(1); !errors.Is(err, ErrDirty) {
		t.Errorf("Down on a dirty schema: %v, want ErrDirty", err)
	}
	if ok, _ := m.Current(); ok {
		t.Error("a dirty schema reads as current")
	}
}

// TestMigrateConcurrently migrates one fresh database from several processes' worth of
// migrators at once, as replicas starting together do: every one succeeds, none takes
// another's migration in flight for a dirty schema.
func TestMigrateConcurrently(t *testing.T) {
	for round := range 3 {
		db := mustDatabase(t, "tagdrift_concurrent")
		errs := make(chan error, 4)
		for range cap(errs) {
			go func() {
				m, err := NewMigrator(db.URL)
				if err != nil {
					errs <- err
					return
				}
				defer m.Close()
				errs <- m.Up()
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
	}
}
