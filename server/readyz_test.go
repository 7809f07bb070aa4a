package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4/database"
	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/internal/storetest"
)

// TestReadyzUnderMigrationLock holds what a migration in flight holds (golang-migrate's
// advisory lock, and schema_migrations locked exclusively, as its version update does)
// and sends 20 /readyz at once: each answers 503 with a fixed message before its
// deadline, the database sees at most one more connection, and once the lock is gone
// /readyz answers 200.
func TestReadyzUnderMigrationLock(t *testing.T) {
	ctx := context.Background()
	st, db := storetest.New(t, "tagdrift_readyz")
	srv := httptest.NewServer(New(Config{Ready: st.SchemaCurrent}))
	defer srv.Close()
	get := func() (int, string, error) {
		client := &http.Client{Timeout: 10 * time.Second}
		resp, err := client.Get(srv.URL + "/readyz")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	if code, body, err := get(); err != nil || code != http.StatusOK {
		t.Fatalf("readyz before: %d %s %v", code, body, err)
	}

	watch, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	var name string
	if err := watch.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	conns := func() int {
		var n int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	locker, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	aid, err := database.GenerateAdvisoryLockId(name, "public", "schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locker.Exec(ctx, `SELECT pg_advisory_lock($1)`, aid); err != nil {
		t.Fatal(err)
	}
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	// Let the cached answer from before expire.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, _, _ := get(); code != http.StatusOK {
			break
		}
	}
	before := conns()

	var wg sync.WaitGroup
	type answer struct {
		code int
		body string
		err  error
	}
	answers := make([]answer, 20)
	stop := make(chan struct{})
	most := before
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			most = max(most, conns())
		}
	})
	for i := range answers {
		wg.Go(func() {
			code, body, err := get()
			answers[i] = answer{code, body, err}
		})
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	for i, a := range answers {
		if a.err != nil || a.code != http.StatusServiceUnavailable {
			t.Errorf("readyz %d under the lock: %d %s %v", i, a.code, a.body, a.err)
		}
		if !strings.Contains(a.body, `"error":"not ready: the service's log says why"`) || strings.Contains(a.body, "schema") || strings.Contains(a.body, "context") {
			t.Errorf("readyz %d told the caller: %s", i, a.body)
		}
	}
	if most > before+1 {
		t.Errorf("connections rose from %d to %d under 20 readiness checks", before, most)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := locker.Exec(ctx, `SELECT pg_advisory_unlock($1)`, aid); err != nil {
		t.Fatal(err)
	}
	ok := false
	for deadline := time.Now().Add(10 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		code, _, _ := get()
		ok = code == http.StatusOK
	}
	if !ok {
		t.Error("readyz did not recover once the lock was released")
	}
}
