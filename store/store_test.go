package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/internal/pgtest"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/store/keyring"
)

func newKey(t testing.TB) string {
	t.Helper()
	b := make([]byte, keyring.KeySize)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func mustRing(t testing.TB, keys ...string) *keyring.Ring {
	t.Helper()
	r, err := keyring.Parse(strings.Join(keys, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustStore opens a store on a fresh, migrated database of its own: a clone of the
// package's template.
func mustStore(t testing.TB, ring *keyring.Ring) (*Store, *pgtest.Database) {
	t.Helper()
	ctx := context.Background()
	db := migrated.Clone(t, "tagdrift_store")
	s, err := Open(ctx, db.URL, ring, testBodies{1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, db
}

func mustCluster(t testing.TB, s *Store, name, secret string) Cluster {
	t.Helper()
	c, err := s.CreateCluster(context.Background(), NewCluster{
		Name: name, Server: "https://" + name + ".example:6443", Context: name,
		Credentials: []byte(`{"token":"` + secret + `"}`), Enabled: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClusters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	c := mustCluster(t, s, "prod", "tok-prod")
	if c.ID == 0 || c.ScanInterval != 5*time.Minute || c.Annotate != "off" || !c.Enabled {
		t.Errorf("defaults: %+v", c)
	}
	if _, err := s.CreateCluster(ctx, NewCluster{Name: "prod", Server: "https://x", Context: "x", Credentials: []byte("x")}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate name: %v, want ErrConflict", err)
	}
	got, err := s.ClusterByName(ctx, "prod")
	if err != nil || got != c {
		t.Errorf("ClusterByName = %+v, %v", got, err)
	}
	if _, err := s.ClusterByName(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing cluster: %v", err)
	}
	creds, err := s.Credentials(ctx, c.ID)
	if err != nil || string(creds) != `{"token":"tok-prod"}` {
		t.Errorf("Credentials = %q, %v", creds, err)
	}
	if err := s.CheckCredentials(ctx); err != nil {
		t.Errorf("CheckCredentials: %v", err)
	}
}

// TestCredentialsSealed checks a real pg_dump of the database for the secrets, and that
// a ciphertext moved to another row, or read with the wrong key, does not open.
func TestCredentialsSealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := mustStore(t, mustRing(t, newKey(t)))
	a := mustCluster(t, s, "a", "secret-token-a")
	b := mustCluster(t, s, "b", "secret-token-b")

	dump, err := exec.Command("pg_dump", "--dbname", db.URL).CombinedOutput()
	if err != nil {
		if pgtest.Required() {
			t.Fatalf("pg_dump: %v\n%s", err, dump)
		}
		t.Logf("pg_dump unavailable: %v", err)
	} else {
		if !strings.Contains(string(dump), "COPY public.clusters") {
			t.Fatalf("dump has no clusters table:\n%s", dump)
		}
		for _, secret := range []string{"secret-token-a", "secret-token-b", `"token"`} {
			if strings.Contains(string(dump), secret) {
				t.Errorf("the dump contains %q", secret)
			}
		}
	}

	if _, err := s.pool.Exec(ctx, `UPDATE clusters SET kubeconfig = (SELECT kubeconfig FROM clusters WHERE id = $1) WHERE id = $2`, a.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Credentials(ctx, b.ID); !errors.Is(err, keyring.ErrDecrypt) {
		t.Errorf("ciphertext moved to another row: %v, want ErrDecrypt", err)
	}
	if err := s.CheckCredentials(ctx); err == nil || !strings.Contains(err.Error(), `cluster "b"`) {
		t.Errorf("CheckCredentials: %v, want a failure naming cluster b", err)
	}

	wrong, err := Open(ctx, db.URL, mustRing(t, newKey(t)), testBodies{1})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if err := wrong.CheckCredentials(ctx); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Errorf("wrong key: %v, want ErrUnknownKey", err)
	}
}

// TestRotateKeysResumes rotates many rows, stopping after one batch as an interrupted
// rotation would, and checks that every row still opens and the next run finishes.
func TestRotateKeysResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldKey, newKeyText := newKey(t), newKey(t)
	s, db := mustStore(t, mustRing(t, oldKey))
	const n = 25
	for i := range n {
		mustCluster(t, s, fmt.Sprintf("c%02d", i), fmt.Sprintf("tok-%d", i))
	}

	rotated, err := Open(ctx, db.URL, mustRing(t, oldKey, newKeyText), testBodies{1})
	if err != nil {
		t.Fatal(err)
	}
	defer rotated.Close()
	if done, err := rotated.rotateBatch(ctx, 10); err != nil || done != 10 {
		t.Fatalf("first batch: %d, %v", done, err)
	}
	if err := rotated.CheckCredentials(ctx); err != nil {
		t.Fatalf("halfway, with both keys: %v", err)
	}
	if done, err := rotated.RotateKeys(ctx, 10); err != nil || done != n-10 {
		t.Fatalf("resumed rotation: %d, %v, want %d", done, err, n-10)
	}
	if done, err := rotated.RotateKeys(ctx, 10); err != nil || done != 0 {
		t.Fatalf("rotation again: %d, %v, want 0", done, err)
	}
	newOnly, err := Open(ctx, db.URL, mustRing(t, newKeyText), testBodies{1})
	if err != nil {
		t.Fatal(err)
	}
	defer newOnly.Close()
	if err := newOnly.CheckCredentials(ctx); err != nil {
		t.Fatalf("after rotation, with the new key only: %v", err)
	}
	creds, err := newOnly.Credentials(ctx, 7)
	if err != nil || !strings.HasPrefix(string(creds), `{"token":"tok-`) {
		t.Errorf("credentials after rotation: %q %v", creds, err)
	}
}

func TestQueuedScans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	c := mustCluster(t, s, "prod", "t")
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	who := Audit{Actor: "token:7:ops", RemoteAddr: "203.0.113.9:5000"}
	q1, created, err := s.QueueScan(ctx, c.ID, at, who)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	// The ask is audited with the scan it queued, in its transaction.
	if evs, err := s.AuditEvents(ctx, 0, 10); err != nil || len(evs) == 0 || evs[0].Action != ActionScanRequest ||
		evs[0].Actor != who.Actor || evs[0].Target != "prod" || evs[0].Detail["scan_id"] != float64(q1) {
		t.Errorf("audit of the ask: %+v, %v", evs, err)
	}
	if _, _, err := s.QueueScan(ctx, c.ID+1000, at, who); !errors.Is(err, ErrNotFound) {
		t.Errorf("ask for a missing cluster: %v", err)
	}
	// Asks before the scan starts share it.
	if q2, created, err := s.QueueScan(ctx, c.ID, at.Add(time.Second), Audit{}); err != nil || created || q2 != q1 {
		t.Errorf("second ask: %d %v %v, want %d", q2, created, err, q1)
	}
	if sc, _ := s.ScanRecordByID(ctx, q1, Scope{}); sc.Status != ScanQueued || sc.StartedAt != nil || !sc.QueuedAt.Equal(at) {
		t.Errorf("queued scan: %+v", sc)
	}
	// The next scan to start is the one asked for.
	started, err := s.StartScan(ctx, c.ID, at.Add(time.Minute))
	if err != nil || started != q1 {
		t.Fatalf("StartScan = %d, %v; want the queued %d", started, err, q1)
	}
	if sc, _ := s.ScanRecordByID(ctx, q1, Scope{}); sc.Status != ScanRunning || sc.StartedAt == nil || !sc.StartedAt.Equal(at.Add(time.Minute)) {
		t.Errorf("started scan: %+v", sc)
	}
	// Asked for while it runs: a new one.
	q3, created, err := s.QueueScan(ctx, c.ID, at.Add(2*time.Minute), Audit{})
	if err != nil || !created || q3 == q1 {
		t.Errorf("ask during a scan: %d %v %v", q3, created, err)
	}
	// Without a queued one, StartScan makes its own.
	other, _ := s.StartScan(ctx, c.ID, at.Add(3*time.Minute))
	again, _ := s.StartScan(ctx, c.ID, at.Add(4*time.Minute))
	if other != q3 || again == q3 || again == q1 {
		t.Errorf("StartScan ids %d %d, want %d then a new one", other, again, q3)
	}
	if err := s.DropQueuedScan(ctx, again); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ScanRecordByID(ctx, again, Scope{}); err != nil {
		t.Errorf("a running scan was dropped: %v", err)
	}
}

// pod builds an inventory pod running one container.
func pod(name, uid, container, imageID string) inventory.Pod {
	ref := imageref.ParseRef("nginx:1.25")
	c := inventory.Container{Name: container, Type: inventory.Regular, Ref: &ref}
	if id, ok := imageref.ParseImageID(imageID); ok {
		c.ID = &id
	}
	return inventory.Pod{Cluster: "prod", Namespace: "shop", Name: name, UID: types.UID(uid),
		Workload:   inventory.Workload{Kind: "Deployment", Name: "web"},
		Controller: inventory.Controller{Kind: "ReplicaSet", Name: "web-1", UID: "rs-1", Revision: "1"},
		Containers: []inventory.Container{c}}
}

func digest(letter string) string {
	return "docker.io/library/nginx@sha256:" + strings.Repeat(letter, 64)
}

func TestObservationIntervals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	c := mustCluster(t, s, "prod", "tok")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

	scan := func(at time.Time, pods ...inventory.Pod) ScanCounts {
		t.Helper()
		id, err := s.StartScan(ctx, c.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		counts, err := s.CompleteScan(ctx, id, pods, len(pods), at.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		sc, err := s.ScanRecordByID(ctx, id, Scope{})
		if err != nil || sc.Status != ScanSucceeded || sc.Opened != counts.Opened || sc.Closed != counts.Closed || sc.Pods != len(pods) {
			t.Errorf("scan record: %+v, %v", sc, err)
		}
		return counts
	}
	history := func() []Observation {
		t.Helper()
		obs, err := s.ObservationsOfCluster(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return obs
	}

	p1, p2 := pod("web-a", "u1", "app", digest("a")), pod("web-b", "u2", "app", digest("a"))
	pulling := pod("web-c", "u3", "app", "")
	if got := scan(t0, p1, p2, pulling); !sameCounts(got, ScanCounts{Opened: 2}) {
		t.Fatalf("first scan: %+v", got)
	}
	first := history()

	// Nothing changed: no observation row is written.
	if got := scan(t0.Add(time.Minute), p1, p2, pulling); !sameCounts(got, ScanCounts{}) || got.ChangedRefs != nil {
		t.Fatalf("steady scan: %+v", got)
	}
	if again := history(); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("a steady scan changed the history:\n%v\n%v", first, again)
	}

	// A failed scan closes nothing, whatever it saw.
	failed, _ := s.StartScan(ctx, c.ID, t0.Add(90*time.Second))
	if err := s.EndScan(ctx, failed, ScanFailed, ScanError{Class: "unreachable", Message: "list pods: connection refused"}, t0.Add(91*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteScan(ctx, failed, nil, 0, t0.Add(92*time.Second)); err == nil {
		t.Error("a failed scan was completed")
	}
	if rec, err := s.ScanRecordByID(ctx, failed, Scope{}); err != nil || rec.ErrorClass != "unreachable" || rec.Error != "list pods: connection refused" {
		t.Errorf("failed scan: %+v, %v", rec, err)
	}

	// web-b restarted onto a moved tag (same pod UID, new digest); web-a is gone.
	p2moved := pod("web-b", "u2", "app", digest("b"))
	t2 := t0.Add(2 * time.Minute)
	// Two events: web-b's pod drifted from a to b, and the tag moved from a to b.
	if got := scan(t2, p2moved, pulling); !sameCounts(got, ScanCounts{Opened: 1, Closed: 2, Events: 2}) ||
		strings.Join(got.ChangedRefs, ",") != "docker.io/library/nginx:1.25" {
		t.Fatalf("third scan: %+v", got)
	}
	events, err := s.ListMutations(ctx, MutationFilter{State: StateAll, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	da, db := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	want := map[string]string{
		"pod-drift|prod|u2|app|" + da + "|" + db:                  "web-b",
		"tag-moved|docker.io/library/nginx:1.25|" + da + "|" + db: "web-b",
	}
	if len(events) != 2 {
		t.Fatalf("events: %+v", events)
	}
	for _, e := range events {
		if pod, ok := want[e.Identity]; !ok || len(e.Places) != 1 || e.Places[0].Pod != pod || e.Places[0].Digest != db ||
			e.ResolvedAt == nil || strings.Join(e.Digests, ",") != da+","+db || e.Cluster != "prod" {
			t.Errorf("event %+v", e)
		}
	}
	// The same change seen again (a rescan of the same listing) records nothing twice.
	if got := scan(t2.Add(time.Minute), p2moved, pulling); !sameCounts(got, ScanCounts{}) {
		t.Fatalf("fourth scan: %+v", got)
	}
	obs := history()
	if again, _ := s.ListMutations(ctx, MutationFilter{State: StateAll, Limit: 1000}); len(again) != 2 {
		t.Errorf("events after a rescan: %d, want 2", len(again))
	}
	if len(obs) != 3 {
		t.Fatalf("history: %+v", obs)
	}
	for _, o := range obs[:2] {
		if o.ClosedAt == nil || !o.ClosedAt.Equal(t2) || o.LastSeen == nil || !o.LastSeen.Equal(t0.Add(time.Minute)) || !o.FirstSeen.Equal(t0) {
			t.Errorf("closed interval %+v: want first %s, last %s, closed %s", o, t0, t0.Add(time.Minute), t2)
		}
	}
	if o := obs[2]; o.ClosedAt != nil || o.LastSeen != nil || !o.FirstSeen.Equal(t2) || o.PodUID != "u2" ||
		o.Digest != "sha256:"+strings.Repeat("b", 64) || o.DigestKind != "repo" || o.Ref != "docker.io/library/nginx:1.25" {
		t.Errorf("new interval: %+v", o)
	}
}

// sameCounts compares what a scan changed, leaving out which references.
func sameCounts(a, b ScanCounts) bool {
	return a.Opened == b.Opened && a.Closed == b.Closed && a.Events == b.Events
}

// migrated is the package's migrated template database, which mustStore clones; set by
// TestMain before any test runs.
var migrated *pgtest.Template

func TestMain(m *testing.M) {
	if os.Getenv(pgtest.EnvURL) == "" && pgtest.Required() {
		fmt.Fprintln(os.Stderr, pgtest.ErrNoServer)
		os.Exit(1)
	}
	os.Exit(pgtest.Main(m, "tagdrift_store_template", func(url string) error {
		m, err := NewMigrator(url)
		if err != nil {
			return err
		}
		defer m.Close()
		return m.Up()
	}, func(t *pgtest.Template) { migrated = t }))
}

// TestVersions checks that every change the API's cached reads are made from moves the
// data version, that a scan in which nothing changed moves only its cluster's sighting
// version, and that reads, failed scans and unchanged reconciliations move neither.
func TestVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	c := mustCluster(t, s, "prod", "tok")
	other := mustCluster(t, s, "stage", "tok")
	type versions struct {
		data        int64
		prod, stage int64
	}
	read := func() versions {
		t.Helper()
		v, scans, err := s.Versions(ctx, []int64{c.ID, other.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(scans) != 2 {
			t.Fatalf("%d sighting versions for 2 clusters", len(scans))
		}
		return versions{v, scans[0], scans[1]}
	}
	// step runs fn and checks which versions moved.
	step := func(what string, data, prod, stage bool, fn func()) {
		t.Helper()
		before := read()
		fn()
		after := read()
		if (after.data != before.data) != data || (after.prod != before.prod) != prod || (after.stage != before.stage) != stage {
			t.Errorf("%s: versions %+v -> %+v, want moved data=%t prod=%t stage=%t", what, before, after, data, prod, stage)
		}
	}
	scan := func(cl Cluster, pods ...inventory.Pod) ScanCounts {
		t.Helper()
		id, err := s.StartScan(ctx, cl.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		counts, err := s.CompleteScan(ctx, id, pods, len(pods), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return counts
	}
	webA := pod("web-a", "u1", "app", digest("a"))
	step("first scan", true, true, false, func() { scan(c, webA) })
	step("steady scan: only the sighting moves", false, true, false, func() { scan(c, webA) })
	step("failed scan", false, false, false, func() {
		id, _ := s.StartScan(ctx, c.ID, time.Now())
		if err := s.EndScan(ctx, id, ScanFailed, ScanError{Class: "unreachable", Message: "refused"}, time.Now()); err != nil {
			t.Fatal(err)
		}
	})
	recheck := func() {
		t.Helper()
		if _, err := s.RecheckRefs(ctx, 100, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	step("recheck of a new reference, no mutation", false, false, false, recheck)
	step("nothing to recheck", false, false, false, recheck)
	step("a scan elsewhere", true, false, true, func() { scan(other, pod("web-b", "u2", "app", digest("b"))) })
	step("tag-divergence opened by the recheck", true, false, false, recheck)
	step("recheck with nothing queued", false, false, false, recheck)
	step("steady scan of the other cluster", false, false, true, func() { scan(other, pod("web-b", "u2", "app", digest("b"))) })
	step("a scan that closes an interval", true, true, false, func() { scan(c) })
	step("reads", false, false, false, func() { s.ListWorkloads(ctx, WorkloadFilter{}) })
	step("cluster edited", true, false, false, func() {
		enabled := false
		if _, err := s.UpdateCluster(ctx, "stage", ClusterChange{Enabled: &enabled}, Audit{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	})
	step("cluster added", true, false, false, func() { mustCluster(t, s, "third", "tok") })
	step("cluster deleted", true, false, false, func() {
		if _, err := s.DeleteCluster(ctx, "prod", false, Audit{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	})
	step("cluster purged: its sighting is gone", true, false, true, func() {
		if _, err := s.DeleteCluster(ctx, "stage", true, Audit{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	})
}
