package web

import (
	"testing"
	"time"
)

func TestAckRowStateAndEnds(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(24*time.Hour)
	for _, c := range []struct {
		a           AckRow
		state, ends string
		live        bool
	}{
		{AckRow{Status: "requested", Until: "time", ExpiresAt: &future}, "requested", "until 2026-12-07 12:00 UTC", true},
		{AckRow{Status: "requested", Until: "time", ExpiresAt: &past}, "expired", "until 2026-12-06 11:00 UTC", false},
		{AckRow{Status: "active", Until: "resolved"}, "active", "until resolved", true},
		{AckRow{Status: "active", Until: "changed", ExpiresAt: &future}, "active", "until it changes, at the latest 2026-12-07 12:00 UTC", true},
		{AckRow{Status: "active", Until: "time", ExpiresAt: &past}, "expired", "until 2026-12-06 11:00 UTC", false},
		{AckRow{Status: "ended", EndReason: "revoked", Until: "resolved"}, "revoked", "until resolved", false},
		{AckRow{Status: "denied", Until: "changed"}, "denied", "until it changes", false},
	} {
		if got := c.a.State(now); got != c.state {
			t.Errorf("%+v: state %q, want %q", c.a, got, c.state)
		}
		if got := c.a.Ends(); got != c.ends {
			t.Errorf("%+v: ends %q, want %q", c.a, got, c.ends)
		}
		if got := c.a.Live(now); got != c.live {
			t.Errorf("%+v: live %v", c.a, got)
		}
	}
	for _, c := range []struct {
		r    RuleRow
		want string
	}{
		{RuleRow{}, "active"},
		{RuleRow{ExpiresAt: &past}, "expired"},
		{RuleRow{ExpiresAt: &future}, "active"},
		{RuleRow{EndedAt: &past, EndReason: "revoked"}, "revoked"},
	} {
		if got := c.r.State(now); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
}

func TestMutationRowState(t *testing.T) {
	at := time.Now()
	for _, c := range []struct {
		m    MutationRow
		want string
	}{
		{MutationRow{Kind: "workload-divergence"}, "open"},
		{MutationRow{Kind: "workload-divergence", Attention: "open"}, "open"},
		{MutationRow{Kind: "workload-divergence", Attention: "acknowledged"}, "acknowledged"},
		{MutationRow{Kind: "tag-divergence", Attention: "expected"}, "expected"},
		{MutationRow{Kind: "workload-divergence", Attention: "resolved", ResolvedAt: &at}, "closed"},
		{MutationRow{Kind: "tag-moved", Attention: "resolved", ResolvedAt: &at}, "event"},
		{MutationRow{Kind: "tag-moved", Attention: "expected", ResolvedAt: &at}, "expected"},
	} {
		if got := c.m.State(); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.m.Kind, c.m.Attention, got, c.want)
		}
		if c.m.NeedsAttention() != (c.want == "open") {
			t.Errorf("%s %s: needs attention %v", c.m.Kind, c.m.Attention, c.m.NeedsAttention())
		}
	}
}
