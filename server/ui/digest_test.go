package ui

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// TestDigestPageHistory shows a digest's history of more than one page: the page links
// to the older history and back, and its downloads hold the whole history. (The API's
// cursor over the same history is tested in server/api.)
func TestDigestPageHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	f.id["prod"] = e.addCluster("prod")
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	var pods []inventory.Pod
	for i := range store.HistoryLimit + 1 {
		pods = append(pods, webPod("prod", fmt.Sprintf("web-%04d", i), fmt.Sprintf("u-%d", i), "a"))
	}
	f.scan("prod", t0, pods...)
	f.scan("prod", t0.Add(time.Minute), append(pods[3:], webPod("prod", "late", "u-late", "a"))...)
	total := store.HistoryLimit + 2

	// The UI: the newest page links to the older history, which links back.
	p := e.page("viewer", "/digests/"+digestOf("a")).want(t, http.StatusOK)
	older := p.one(t, "older-history").AttrOr("href", "")
	if !strings.HasPrefix(older, "/digests/"+digestOf("a")+"?cursor=") || !strings.HasSuffix(older, "#history") || p.all("newest-history").Length() != 0 {
		t.Fatalf("older history link %q, %d newest links", older, p.all("newest-history").Length())
	}
	p.one(t, "history-paged")
	older, _, _ = strings.Cut(older, "#") // a browser sends no fragment
	p = e.page("viewer", older).want(t, http.StatusOK)
	if p.all("older-history").Length() != 0 || p.one(t, "newest-history").AttrOr("href", "") != "/digests/"+digestOf("a")+"#history" {
		t.Errorf("the last page links on to %d older pages", p.all("older-history").Length())
	}
	if n := p.all("history").Find(`[data-testid="place"]`).Length(); n != 1 {
		t.Errorf("the last page shows %d places, want the 1 workload of its 2 intervals", n)
	}
	e.page("viewer", "/digests/"+digestOf("a")+"?cursor=nonsense").want(t, http.StatusBadRequest)
	for _, format := range []string{"csv", "json"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/digests/"+digestOf("a")+"?format="+format+"&cursor="+url.QueryEscape(strings.TrimPrefix(older, "/digests/"+digestOf("a")+"?cursor=")), nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens["viewer"])
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s download: %d %s", format, rec.Code, rec.Body)
		}
		n := 0
		if format == "csv" {
			rows, err := csv.NewReader(rec.Body).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			n = len(rows) - 1
		} else {
			var dj request.DigestJSON
			if err := json.Unmarshal(rec.Body.Bytes(), &dj); err != nil {
				t.Fatal(err)
			}
			n = len(dj.History)
		}
		if n != total {
			t.Errorf("%s download: %d intervals, want the whole history of %d", format, n, total)
		}
	}
}
