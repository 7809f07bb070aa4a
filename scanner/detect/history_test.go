package detect

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

func TestHistoryEvents(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	dg := func(l string) string { return "sha256:" + strings.Repeat(l, 64) }
	const ref = "docker.io/library/nginx:1.25"
	// seen is a sighting of nginx:1.25 by container web of pod web-1 (uid u1) on node n1,
	// minutes after t0.
	type opt func(*Sighting)
	seen := func(minutes int, kind imageref.Kind, l string, opts ...opt) Sighting {
		s := Sighting{
			Place: Place{Cluster: "prod", Namespace: "shop", Workload: inventory.Workload{Kind: "Deployment", Name: "web"},
				Pod: "web-1", Container: "web", Digest: dg(l)},
			PodUID: "u1", Ref: ref, Kind: kind, Node: "n1", Arch: "amd64", FirstSeen: t0.Add(time.Duration(minutes) * time.Minute),
		}
		for _, o := range opts {
			o(&s)
		}
		return s
	}
	repo, image := imageref.KindRepo, imageref.KindImageID
	arch := func(a string) opt { return func(s *Sighting) { s.Arch = a } }
	node := func(n string) opt { return func(s *Sighting) { s.Node = n } }
	pod := func(uid, name string) opt { return func(s *Sighting) { s.PodUID, s.Pod = uid, name } }
	otherRef := func(s *Sighting) { s.Ref = "docker.io/library/nginx:1.26" }
	otherContainer := func(s *Sighting) { s.Container = "sidecar" }

	type want struct {
		moved, drift string // the digest it moved or drifted from; "" for no event
	}
	for _, tc := range []struct {
		name    string
		earlier []Sighting
		now     Sighting
		want    want
	}{
		{"the tag moved under a restart", []Sighting{seen(0, repo, "a")}, seen(5, repo, "b"), want{dg("a"), dg("a")}},
		{"first sighting", nil, seen(0, repo, "a"), want{}},
		{"a restart onto the same digest", []Sighting{seen(0, repo, "a")}, seen(5, repo, "a"), want{}},
		// The tag moved back: not a move, but the pod's code changed under it.
		{"back to an old digest", []Sighting{seen(0, repo, "a"), seen(5, repo, "b")}, seen(10, repo, "a"), want{drift: dg("b")}},
		{"back to an old digest, fed out of order", []Sighting{seen(5, repo, "b"), seen(0, repo, "a")}, seen(10, repo, "a"), want{drift: dg("b")}},
		{"a restart onto the digest it ran last, after another", []Sighting{seen(0, repo, "b"), seen(5, repo, "a")}, seen(10, repo, "a"), want{}},
		{"back over an image ID", []Sighting{seen(0, repo, "a"), seen(5, repo, "b"), seen(7, image, "c")}, seen(10, repo, "a"),
			want{drift: dg("b")}},
		{"a later sighting is not earlier", []Sighting{seen(0, repo, "a"), seen(15, repo, "b")}, seen(10, repo, "a"), want{}},
		{"repository digest to an image ID of the same image", []Sighting{seen(0, repo, "a")}, seen(5, image, "c"), want{}},
		{"image ID to a repository digest", []Sighting{seen(0, image, "c")}, seen(5, repo, "a"), want{}},
		{"a pulled digest to an import of the same image", []Sighting{seen(0, repo, "a")}, seen(5, imageref.KindImport, "m"), want{}},
		{"an import to a pulled digest", []Sighting{seen(0, imageref.KindImport, "m")}, seen(5, repo, "a"), want{}},
		{"an import to an image ID", []Sighting{seen(0, imageref.KindImport, "m")}, seen(5, image, "c"), want{}},
		{"imports on one architecture", []Sighting{seen(0, imageref.KindImport, "m")}, seen(5, imageref.KindImport, "n"), want{dg("m"), dg("m")}},
		{"imports on two architectures", []Sighting{seen(0, imageref.KindImport, "m")}, seen(5, imageref.KindImport, "n", arch("arm64")), want{}},
		{"another node architecture", []Sighting{seen(0, image, "c")}, seen(5, image, "d", arch("arm64")), want{}},
		{"image IDs on one architecture", []Sighting{seen(0, image, "c")}, seen(5, image, "d"), want{dg("c"), dg("c")}},
		{"architecture unknown, another node", []Sighting{seen(0, image, "c", arch(""))}, seen(5, image, "d", arch(""), node("n2")), want{}},
		{"architecture unknown, one node", []Sighting{seen(0, image, "c", arch(""))}, seen(5, image, "d", arch("")), want{dg("c"), dg("c")}},
		{"an unknown form", []Sighting{seen(0, imageref.KindUnknown, "c")}, seen(5, imageref.KindUnknown, "d"), want{}},
		{"the latest comparable one", []Sighting{seen(0, repo, "a"), seen(9, image, "x"), seen(5, repo, "b")}, seen(10, repo, "c"),
			want{dg("b"), dg("b")}},
		{"another reference", []Sighting{seen(0, repo, "a", otherRef)}, seen(5, repo, "b"), want{}},
		// Another pod ran a before: the tag moved; this pod never ran anything else.
		{"another pod", []Sighting{seen(0, repo, "a", pod("u2", "web-2"))}, seen(5, repo, "b"), want{moved: dg("a")}},
		{"another container", []Sighting{seen(0, repo, "a", otherContainer)}, seen(5, repo, "b"), want{moved: dg("a")}},
		// The tag ran b elsewhere before; this pod moved from a onto it.
		{"onto a digest the tag ran elsewhere", []Sighting{seen(0, repo, "b", pod("u2", "web-2")), seen(1, repo, "a")}, seen(5, repo, "b"),
			want{drift: dg("a")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := TagMovedEvent(tc.earlier, tc.now)
			if ok != (tc.want.moved != "") {
				t.Errorf("tag-moved: %v %+v, want from %q", ok, m, tc.want.moved)
			} else if ok {
				wantEvent(t, m, TagMoved, tc.now, tc.want.moved, "tag-moved|"+ref+"|"+tc.want.moved+"|"+tc.now.Digest)
			}
			m, ok = PodDriftEvent(tc.earlier, tc.now)
			if ok != (tc.want.drift != "") {
				t.Errorf("pod-drift: %v %+v, want from %q", ok, m, tc.want.drift)
			} else if ok {
				wantEvent(t, m, PodDrift, tc.now, tc.want.drift, "pod-drift|prod|u1|web|"+tc.want.drift+"|"+tc.now.Digest)
			}
		})
	}
}

func wantEvent(t *testing.T, m Mutation, kind Kind, now Sighting, from, ident string) {
	t.Helper()
	want := Mutation{Kind: kind, Cluster: "prod", Namespace: "shop", Workload: now.Workload, Container: now.Container,
		Ref: now.Ref, Digests: []string{from, now.Digest}, Places: []Place{now.Place}, Identity: ident}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", kind, m, want)
	}
}

// TestPodDriftSequences follows one pod container through scans, each fed what it ran
// before: every change of its digest is a drift, a return to one it ran included.
func TestPodDriftSequences(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	dg := func(l string) string { return "sha256:" + strings.Repeat(l, 64) }
	seen := func(i int, l string) Sighting {
		return Sighting{
			Place: Place{Cluster: "prod", Namespace: "shop", Workload: inventory.Workload{Kind: "Deployment", Name: "web"},
				Pod: "web-1", Container: "web", Digest: dg(l)},
			PodUID: "u1", Ref: "docker.io/library/nginx:1.25", Kind: imageref.KindRepo, Node: "n1", Arch: "amd64",
			FirstSeen: t0.Add(time.Duration(i) * time.Minute),
		}
	}
	for _, tc := range []struct {
		name   string
		digest string   // one letter a scan
		drifts []string // from>to of each drift, in order
	}{
		{"A→B", "ab", []string{"a>b"}},
		{"A→B→A", "aba", []string{"a>b", "b>a"}},
		{"A→B→A→B", "abab", []string{"a>b", "b>a", "a>b"}},
		{"A→A→B→B→A", "aabba", []string{"a>b", "b>a"}},
		{"A→B→C→A", "abca", []string{"a>b", "b>c", "c>a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var earlier []Sighting
			var got []string
			for i, l := range tc.digest {
				now := seen(i, string(l))
				if m, ok := PodDriftEvent(earlier, now); ok {
					got = append(got, m.Digests[0][7:8]+">"+m.Digests[1][7:8])
					if want := "pod-drift|prod|u1|web|" + m.Digests[0] + "|" + now.Digest; m.Identity != want {
						t.Errorf("identity %q, want %q", m.Identity, want)
					}
				}
				earlier = append(earlier, now)
			}
			if !reflect.DeepEqual(got, tc.drifts) && !(len(got) == 0 && len(tc.drifts) == 0) {
				t.Errorf("drifts %v, want %v", got, tc.drifts)
			}
		})
	}
}

// TestTagMovedInGroup: a tag-moved of another group than the default is named by it,
// so that each group records its own move of the same digests; the default group's
// keeps the name it had before groups.
func TestTagMovedInGroup(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	at := func(minutes int, l, group string) Sighting {
		return Sighting{Place: Place{Cluster: "prod", Pod: "web-1", Container: "web", Digest: "sha256:" + strings.Repeat(l, 64)},
			Group: group, PodUID: "u1", Ref: "r.io/web:1", Kind: imageref.KindRepo, FirstSeen: t0.Add(time.Duration(minutes) * time.Minute)}
	}
	for _, group := range []string{"", "default", "team-a"} {
		m, ok := TagMovedEvent([]Sighting{at(0, "a", group)}, at(5, "b", group))
		want := "tag-moved|r.io/web:1|sha256:" + strings.Repeat("a", 64) + "|sha256:" + strings.Repeat("b", 64)
		if group == "team-a" {
			want += "|team-a"
		}
		if !ok || m.Identity != want || m.Group != group {
			t.Errorf("group %q: %v %q group %q, want %q", group, ok, m.Identity, m.Group, want)
		}
	}
}
