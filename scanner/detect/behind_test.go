package detect

import (
	"slices"
	"testing"
	"time"
)

// TestBehind: a reference is behind when its tag moved in the workload's group, no pod
// runs where it points, and some pod runs a digest it left; another group's moves, a
// digest the moves never named, and a pod on the tag's digest say it is not.
func TestBehind(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	const web, cli = "docker.io/library/nginx:1.25", "docker.io/library/cli:1"
	targets := Targets([]Move{
		{Ref: web, Group: "a", From: "A", To: "B", At: t0, Seq: 1},
		{Ref: web, Group: "a", From: "B", To: "C", At: t0.Add(time.Hour), Seq: 2},
		// Two moves of one time: the later id is the newer.
		{Ref: web, Group: "b", From: "A", To: "D", At: t0, Seq: 3},
		{Ref: web, Group: "b", From: "D", To: "E", At: t0, Seq: 4},
	})
	if got := targets[RefGroup{web, "a"}]; got.Digest != "C" || !got.MovedAt.Equal(t0.Add(time.Hour)) || !slices.Equal(got.Left, []string{"A", "B"}) {
		t.Errorf("group a: %+v", got)
	}
	if got := targets[RefGroup{web, "b"}]; got.Digest != "E" || !slices.Equal(got.Left, []string{"A", "D"}) {
		t.Errorf("group b: %+v", got)
	}
	for _, c := range []struct {
		name, group string
		runs        map[string][]string
		want        []BehindRef
	}{
		{"on a digest the tag left", "a", map[string][]string{web: {"A"}}, []BehindRef{{Ref: web, Digests: []string{"A"}, Tag: "C", MovedAt: t0.Add(time.Hour)}}},
		{"on two it left", "a", map[string][]string{web: {"B", "A"}, cli: {"X"}}, []BehindRef{{Ref: web, Digests: []string{"A", "B"}, Tag: "C", MovedAt: t0.Add(time.Hour)}}},
		{"some on the tag's", "a", map[string][]string{web: {"A", "C"}}, nil},
		{"on the tag's", "a", map[string][]string{web: {"C"}}, nil},
		{"on a digest no move named", "a", map[string][]string{web: {"Z"}}, nil},
		{"beside one no move named", "a", map[string][]string{web: {"Z", "B"}}, []BehindRef{{Ref: web, Digests: []string{"B"}, Tag: "C", MovedAt: t0.Add(time.Hour)}}},
		{"another group's move", "c", map[string][]string{web: {"A"}}, nil},
		{"in its own group", "b", map[string][]string{web: {"D"}}, []BehindRef{{Ref: web, Digests: []string{"D"}, Tag: "E", MovedAt: t0}}},
		{"a reference that never moved", "a", map[string][]string{cli: {"X"}}, nil},
	} {
		got := Behind(c.group, c.runs, targets)
		if !slices.EqualFunc(got, c.want, func(a, b BehindRef) bool {
			return a.Ref == b.Ref && slices.Equal(a.Digests, b.Digests) && a.Tag == b.Tag && a.MovedAt.Equal(b.MovedAt)
		}) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
