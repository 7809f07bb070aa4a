package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/pgtest"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/server"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// BenchmarkUIPages measures the server render time of the web pages (handler, store
// reads and templ rendering; no network) on the benchmark fleet: by default 10 clusters,
// 10,000 workloads and 1,000,000 observation rows (TAGDRIFT_UI_BENCH_WORKLOADS makes it
// smaller or larger: rows are 100 per workload). The pages have no cache: every request
// is rendered afresh from the database, as the first one after a change of the data.
// Each page reports its p95 and its size in bytes.
//
//	go test -run '^$' -bench UIPages -benchtime 100x -timeout 30m ./hack/benchapi/
func BenchmarkUIPages(b *testing.B) {
	dbURL := os.Getenv(pgtest.EnvURL)
	if dbURL == "" {
		b.Skip("set " + pgtest.EnvURL + " to a PostgreSQL server")
	}
	workloads := 10_000
	if s := os.Getenv("TAGDRIFT_UI_BENCH_WORKLOADS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			b.Fatalf("TAGDRIFT_UI_BENCH_WORKLOADS=%q: want a number of at least 10", s)
		}
		workloads = n
	}
	ctx := context.Background()
	u, drop, err := createDatabase(ctx, config{databaseURL: dbURL}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := drop(); err != nil {
			b.Error(err)
		}
	})
	st, err := openStore(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	f := newFleet(10, workloads, 10, time.Now().UTC().Truncate(time.Second).Add(-time.Minute))
	if _, err := populate(ctx, st, f, io.Discard); err != nil {
		b.Fatal(err)
	}
	ref := imageref.ParseRef(popularImage).Normalized
	digest, _, err := popularDigest(ctx, st, ref)
	if err != nil {
		b.Fatal(err)
	}
	mutant, err := st.ListWorkloads(ctx, store.WorkloadFilter{MutantOnly: true, Limit: 1})
	if err != nil || len(mutant) == 0 {
		b.Fatalf("a mutant workload: %v", err)
	}
	const token = "bench-ui-admin-token-0123456789"
	h := server.New(server.Config{Store: st, AdminToken: token, CacheBytes: -1, Logger: nil})
	k := mutant[0].WorkloadKey
	// A running pod's name but its last characters: longer than its workload's name.
	pod := f.pods(f.workload(42*len(f.clusters)), f.generations-1)[0].name
	pod = pod[:len(pod)-2]
	pages := []struct{ name, path string }{
		{"overview", "/"},
		{"workloads", "/workloads"},
		{"workloads-mutant", "/workloads?mutant=true"},
		// Behind the tag (issue 25): the filter's page; the overview counts them too.
		{"workloads-behind", "/workloads?behind=true"},
		{"workload", web.WorkloadURL(k.Cluster, k.Namespace, k.Kind, k.Name)},
		{"timeline", "/images?ref=" + url.QueryEscape(popularImage)},
		{"timeline-clusters", "/images/clusters?ref=" + url.QueryEscape(popularImage)},
		{"digest", "/digests/" + digest},
		// The search box, each way issue 25 says people type: a reference as written, a
		// suffix of one, a repository path, a digest prefix, a cluster, a namespace, a
		// workload or pod-name prefix, most of a pod's name, and nothing known (nearest
		// references suggested). One match answers 303 to its page; the budget is p95
		// under 50 ms.
		{"search-ref", "/search?q=" + url.QueryEscape(popularImage)},
		{"search-suffix", "/search?q=" + url.QueryEscape("svc-007:1.2.0")},
		{"search-repo", "/search?q=" + url.QueryEscape("apps/svc-007")},
		{"search-digest", "/search?q=" + digest[len("sha256:"):len("sha256:")+12]},
		{"search-cluster", "/search?q=bench-03"},
		{"search-namespace", "/search?q=team-04"},
		{"search-pod", "/search?q=svc-0042"},
		{"search-pod-name", "/search?q=" + url.QueryEscape(pod)},
		{"search-nothing", "/search?q=nothing-like-this"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var took []time.Duration
			size := 0
			var rec *httptest.ResponseRecorder
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, p.path, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				rec = httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(rec, req)
				took = append(took, time.Since(start))
				if rec.Code != http.StatusOK && !(rec.Code == http.StatusSeeOther && strings.HasPrefix(p.name, "search-")) {
					b.Fatalf("%s: %d %s", p.path, rec.Code, rec.Body)
				}
				size = rec.Body.Len()
			}
			if dir := os.Getenv("TAGDRIFT_UI_BENCH_DUMP"); dir != "" {
				os.WriteFile(dir+"/"+p.name+".html", rec.Body.Bytes(), 0o644)
			}
			slices.Sort(took)
			p95 := took[min(len(took)-1, len(took)*95/100)]
			b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(size), "html-bytes")
			if size > 100<<10 {
				b.Errorf("%s: %d bytes of HTML, over 100 KB", p.name, size)
			}
		})
	}
	// Behind the tag is judged once a change of the data, by the first reader after
	// it, for the clusters whose runs moved: each round moves the data version and one
	// cluster's runs version, as a scan that opened or closed intervals there does (in
	// turn, over the fleet's clusters), or every cluster's (a tag's new target judges
	// every workload), and counts again.
	for _, j := range []struct {
		name, sql string
	}{
		{"behind-judgement", `WITH v AS (UPDATE data_version SET version = version + 1 RETURNING version)
			UPDATE clusters SET runs_version = (SELECT version FROM v)
			WHERE id = (SELECT id FROM clusters ORDER BY runs_version, id LIMIT 1)`},
		{"behind-judgement-all", `WITH v AS (UPDATE data_version SET version = version + 1 RETURNING version)
			UPDATE clusters SET runs_version = (SELECT version FROM v)`},
	} {
		b.Run(j.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				if _, err := st.Pool().Exec(ctx, j.sql); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				n, err := st.CountBehind(ctx, store.Scope{})
				took = append(took, time.Since(start))
				if err != nil || n == 0 {
					b.Fatalf("behind: %d, %v", n, err)
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[min(len(took)-1, len(took)*95/100)].Microseconds())/1000, "p95-ms")
		})
	}
}
