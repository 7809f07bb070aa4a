package ui

import (
	"context"
	"net/http"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/store"
)

// TestUIOverviewCountsNeedAttention: the overview's open counts are what needs
// attention; an acknowledged mutation leaves them.
func TestUIOverviewCountsNeedAttention(t *testing.T) {
	t.Parallel()
	e, _ := newUIFleet(t)
	ctx := context.Background()
	ms, err := e.st.ListMutations(ctx, store.MutationFilter{Kind: "workload-divergence"})
	if err != nil || len(ms) != 1 {
		t.Fatalf("open workload-divergences: %d, %v", len(ms), err)
	}
	if _, err := e.st.CreateAck(ctx, store.Audit{Actor: "user:admin"}, store.NewAck{MutationID: ms[0].ID, Reason: "known",
		Until: attention.UntilResolved, Approved: true}); err != nil {
		t.Fatal(err)
	}
	p := e.page("viewer", "/").want(t, http.StatusOK)
	p.all("open-kind").Each(func(_ int, s *goquery.Selection) {
		if k, _ := s.Attr("data-kind"); k == "workload-divergence" {
			t.Errorf("the acknowledged workload-divergence is counted open: %q", s.Text())
		}
	})
}
