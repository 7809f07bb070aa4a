package api

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/server/access"
)

// TestTokenLookupsBoundedAcrossAddresses checks the bound that the per-address limit
// cannot give: a flood of unknown tokens from many addresses (each within its own
// burst) holds at most AuthLookups of the pool's connections, however long the look-ups
// take, so that the rest of the pool stays free for the scans; the requests past the
// bound wait, then get 503 with Retry-After, without counting against their address.
// The look-ups are made slow by locking the tokens table, so that they pile up as they
// would under a flood bigger than the database can answer.
func TestTokenLookupsBoundedAcrossAddresses(t *testing.T) {
	t.Parallel()
	const bound, flood = 3, 40
	e := newEnv(t, func(c *testConfig) { c.AuthLookups = bound; c.FailedAuthBurst = 20 })
	ctx := context.Background()
	pool := e.st.Pool()
	if pool.Config().MaxConns >= flood {
		t.Fatalf("a pool of %d: the flood must be larger than it to prove anything", pool.Config().MaxConns)
	}
	// The checks have a connection of their own: without the bound, the pool's would
	// all be taken.
	watch, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	lock, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx)
	if _, err := lock.Exec(ctx, `LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	answers := make([]response, flood)
	var wg sync.WaitGroup
	for i := range flood {
		wg.Go(func() {
			answers[i] = e.call(apiRequest{method: "GET", path: "/api/v1/clusters", token: "tdt_unknown",
				remoteAddr: fmt.Sprintf("198.51.100.%d:4000", i+1)})
		})
	}
	waiting := func() int {
		var n int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%api_tokens%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(access.LookupWait / 2)
	for waiting() < bound && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // room for more to arrive, were they let through
	if n := waiting(); n != bound {
		t.Errorf("%d token look-ups in the database at once, want %d", n, bound)
	}
	// The lock's connection and the bounded look-ups: the rest is free.
	if got := pool.Stat().AcquiredConns(); got > bound+1 {
		t.Errorf("%d connections held during the flood, want at most %d", got, bound+1)
	}
	pingCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := e.st.Ping(pingCtx); err != nil {
		t.Errorf("the pool is not available to others during the flood: %v", err)
	}

	// Past the wait, the requests left over are told to retry; then the look-ups in
	// the database end with the lock.
	time.Sleep(access.LookupWait)
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	count := map[int]int{}
	var refused string
	for i, res := range answers {
		count[res.status]++
		if res.status == http.StatusServiceUnavailable {
			refused = fmt.Sprintf("198.51.100.%d:4000", i+1)
			if ra := res.header.Get("Retry-After"); ra != "1" {
				t.Errorf("503 with Retry-After %q, want 1", ra)
			}
		}
	}
	if count[http.StatusUnauthorized] != bound || count[http.StatusServiceUnavailable] != flood-bound {
		t.Errorf("answers %v, want %d × 401 and %d × 503", count, bound, flood-bound)
	}
	// A 503 was the service's fault, not the address's: it did not count.
	for range 20 {
		want(t, e.call(apiRequest{method: "GET", path: "/api/v1/clusters", token: "tdt_unknown", remoteAddr: refused}), http.StatusUnauthorized)
	}
	want(t, e.call(apiRequest{method: "GET", path: "/api/v1/clusters", token: "tdt_unknown", remoteAddr: refused}), http.StatusTooManyRequests)
}
