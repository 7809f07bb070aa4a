package main

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// The shape of the synthetic fleet. Each workload runs pods of two containers (its app
// and a sidecar) and was rolled out once a week for generations weeks: the pods of its
// last rollout run now (open observations), those of the earlier ones are history
// (closed). 10,000 workloads × 5 pods × 2 containers × 10 generations = 1,000,000 rows;
// with 100 generations (two years of weekly rollouts), 10,000,000.
const (
	podsPerWorkload  = 5
	generationLength = 7 * 24 * time.Hour
	scanInterval     = 5 * time.Minute
	namespaces       = 20  // per cluster
	appImages        = 250 // app repositories, each deployed by several workloads
	nodesPerCluster  = 40
	seed             = 0x7461676472696674 // fixed: every run builds the same fleet
)

// popularImage is the sidecar of about one workload in twenty (thousands of running pods),
// and its tag moves every nginxMoves: tens of digests over the history. The timeline
// and digest endpoints are measured on it.
//
// It is what those workloads ran in their last popularGenerations rollouts; in the ones
// before (a fleet of more than 10 generations, such as the 10,000,000-row one) they ran
// olderImage. So the tag the timeline reads is the same at every size (36 digests,
// 2,500 running pods, 25,000 intervals, its most running digest in 820 pods), and a
// larger fleet measures how the reads cost grows with the history around it, not
// with the size of the answer.
const (
	popularImage       = "nginx:1.25"
	olderImage         = "nginx:1.24"
	popularGenerations = 10
	nginxMoves         = 2 * 24 * time.Hour
)

// sidecar is a shared image many workloads run beside their app.
type sidecar struct {
	container string
	image     string
	moves     time.Duration // how often its tag is pushed anew
}

// fleet generates the benchmark's clusters, workloads, observations and mutations,
// deterministically from seed.
//
// Tag moves count from origin, a whole number of weeks before the oldest rollout: as
// nginxMoves divides 7 days × 90, the popular tag's digests fall alike in a fleet of 10
// generations and one of 100.
type fleet struct {
	clusters    []string
	clusterIDs  []int64
	workloads   int
	generations int
	now         time.Time
	origin      time.Time // before the oldest rollout: tag moves count from here
	sidecars    []sidecar // by workload index modulo its length
	parser      *imageref.Parser
}

func newFleet(clusters, workloads, generations int, now time.Time) *fleet {
	f := &fleet{
		workloads:   workloads,
		generations: generations,
		now:         now,
		origin:      now.Add(-time.Duration(generations+1) * generationLength),
		parser:      imageref.NewParser(),
	}
	for c := range clusters {
		f.clusters = append(f.clusters, fmt.Sprintf("bench-%02d", c))
	}
	// About one workload in twenty runs nginx; the rest share a few other popular images.
	f.sidecars = []sidecar{{"nginx", popularImage, nginxMoves}}
	for _, s := range []struct {
		sidecar
		weight int
	}{
		{sidecar{"envoy", "envoyproxy/envoy:v1.31", 5 * 24 * time.Hour}, 6},
		{sidecar{"fluent-bit", "fluent/fluent-bit:3.1", 6 * 24 * time.Hour}, 5},
		{sidecar{"istio-proxy", "istio/proxyv2:1.23.2", 9 * 24 * time.Hour}, 4},
		{sidecar{"otel", "otel/opentelemetry-collector:0.110.0", 12 * 24 * time.Hour}, 2},
		{sidecar{"busybox", "busybox:1.36", 20 * 24 * time.Hour}, 1},
		{sidecar{"redis", "redis:7.4", 8 * 24 * time.Hour}, 1},
	} {
		for range s.weight {
			f.sidecars = append(f.sidecars, s.sidecar)
		}
	}
	return f
}

// workload is one workload of the fleet.
type workload struct {
	index              int
	cluster            int
	namespace          string
	kind, name         string
	app                string // the app's repository, without tag
	sidecar            sidecar
	offset             time.Duration // when in its week it rolls out
	uid                string        // the StatefulSet's or DaemonSet's UID
	workloadDivergence bool          // its last rollout runs two digests of one tag
	canary             int           // 1 + which tag-divergence it takes part in; 0 for none
}

// Mutant workloads: about one in a hundred diverges within itself, and canaryGroups groups of
// canaryClusters workloads (one service in several clusters) run a "canary" tag that
// means different code in different clusters.
const (
	canaryGroups   = 5
	canaryClusters = 4
	canaryFirst    = 500 // the per-cluster index of the first canary service
)

func (f *fleet) workload(w int) workload {
	n := len(f.clusters)
	j := w / n // index within its cluster
	r := rand.New(rand.NewPCG(seed, uint64(w)))
	wl := workload{
		index:     w,
		cluster:   w % n,
		namespace: fmt.Sprintf("team-%02d", j%namespaces),
		name:      fmt.Sprintf("svc-%04d", j),
		app:       fmt.Sprintf("registry.example.com/apps/svc-%03d", j%appImages),
		offset:    time.Duration(r.Int64N(int64(generationLength))),
		uid:       uuid(r),
		// Drawn at random, not by index, so that every cluster and namespace has some.
		sidecar:            f.sidecars[r.IntN(len(f.sidecars))],
		workloadDivergence: r.IntN(100) == 0,
	}
	switch k := j % 10; {
	case k < 7:
		wl.kind = "Deployment"
	case k < 9:
		wl.kind = "StatefulSet"
	default:
		wl.kind = "DaemonSet"
	}
	if g := j - canaryFirst; g >= 0 && g < canaryGroups && wl.cluster < canaryClusters {
		wl.canary, wl.workloadDivergence = g+1, false
	}
	return wl
}

// start is when generation g of a workload rolled out; the last one within the past
// generationLength.
func (f *fleet) start(wl workload, g int) time.Time {
	return f.now.Add(-time.Duration(f.generations-g)*generationLength + wl.offset)
}

// pod is one pod of one generation of a workload.
type pod struct {
	name, uid, node               string
	controllerKind, controllerUID string
	controllerName, revision      string
	containers                    [2]container
	firstSeen                     time.Time
	lastSeen, closedAt            *time.Time // nil while it runs
}

// container is one container of a pod and what it runs.
type container struct {
	name, image string
	ref         *imageref.Ref
	digest      string
}

// imageID is the runtime's imageID of a container: a repository digest.
func (c container) imageID() string { return c.ref.Repository + "@" + c.digest }

// pods returns the pods of generation g of a workload.
func (f *fleet) pods(wl workload, g int) []pod {
	r := rand.New(rand.NewPCG(seed^uint64(g+1), uint64(wl.index)))
	hash := strconv.FormatUint(r.Uint64()&0xffffffffff, 36)
	first := f.start(wl, g)
	var lastSeen, closedAt *time.Time
	if g < f.generations-1 {
		// Closed by the first scan after the next rollout; last seen by the one before.
		closed := f.start(wl, g+1)
		last := closed.Add(-scanInterval)
		lastSeen, closedAt = &last, &closed
	}
	ctlKind, ctlName, ctlUID, revision := wl.kind, wl.name, wl.uid, wl.name+"-"+hash
	if wl.kind == "Deployment" {
		ctlKind, ctlName, ctlUID, revision = "ReplicaSet", wl.name+"-"+hash, uuid(r), hash
	}

	tag := fmt.Sprintf("1.%d.0", wl.index%7+g)
	last := g == f.generations-1
	switch {
	case last && wl.canary > 0:
		tag = "canary"
	case last && wl.workloadDivergence:
		// A tag of its own, so that the re-push diverges this workload only.
		tag += fmt.Sprintf("-hotfix.%d", wl.index)
	}
	app := wl.app + ":" + tag
	sidecarImage := wl.sidecar.image
	if sidecarImage == popularImage && g < f.generations-popularGenerations {
		sidecarImage = olderImage
	}
	sidecarDigest := digestOf(sidecarImage, strconv.Itoa(int(first.Sub(f.origin)/wl.sidecar.moves)))

	out := make([]pod, podsPerWorkload)
	for i := range out {
		p := &out[i]
		p.uid = uuid(r)
		p.node = fmt.Sprintf("%s-node-%02d", f.clusters[wl.cluster], (i+wl.index)%nodesPerCluster)
		p.controllerKind, p.controllerName, p.controllerUID, p.revision = ctlKind, ctlName, ctlUID, revision
		p.firstSeen, p.lastSeen, p.closedAt = first, lastSeen, closedAt
		switch wl.kind {
		case "StatefulSet":
			p.name = fmt.Sprintf("%s-%d", wl.name, i)
		case "Deployment":
			p.name = fmt.Sprintf("%s-%s-%s", wl.name, hash, suffix(r))
		default:
			p.name = wl.name + "-" + suffix(r)
		}
		appDigest := digestOf(app)
		switch {
		case last && wl.canary > 0:
			appDigest = digestOf(app, strconv.Itoa(wl.canary), strconv.Itoa(wl.cluster%2))
		case last && wl.workloadDivergence && i >= 2:
			appDigest = digestOf(app, "re-pushed")
		}
		p.containers = [2]container{
			{name: "app", image: app, ref: f.parser.Ref(app), digest: appDigest},
			{name: wl.sidecar.container, image: sidecarImage, ref: f.parser.Ref(sidecarImage), digest: sidecarDigest},
		}
	}
	return out
}

// observationRows streams the fleet's observations to COPY, generation by generation, so
// that rows are stored in about the order scans would have written them, and 1,000,000
// rows never sit in memory at once.
type observationRows struct {
	f       *fleet
	g, w    int
	pending [][]any
	open    int // rows of the last generation
	total   int
}

func (s *observationRows) Next() bool {
	for len(s.pending) == 0 {
		if s.g == s.f.generations {
			return false
		}
		wl := s.f.workload(s.w)
		for _, p := range s.f.pods(wl, s.g) {
			for _, c := range p.containers {
				s.pending = append(s.pending, []any{
					s.f.clusterIDs[wl.cluster], wl.namespace, p.name, p.uid, p.node, "amd64", "containerd://1.7.22",
					wl.kind, wl.name, p.controllerKind, p.controllerName, p.controllerUID, p.revision,
					c.name, "regular", c.image, c.ref.Normalized, false,
					c.digest, "repo", c.imageID(), p.firstSeen, p.lastSeen, p.closedAt,
				})
			}
		}
		if s.g == s.f.generations-1 {
			s.open += len(s.pending)
		}
		if s.w++; s.w == s.f.workloads {
			s.w, s.g = 0, s.g+1
		}
	}
	s.total++
	return true
}

func (s *observationRows) Values() ([]any, error) {
	row := s.pending[0]
	s.pending = s.pending[1:]
	return row, nil
}

func (s *observationRows) Err() error { return nil }

// mutations returns the open mutations of the fleet's last generation, as detection
// would have found them: a workload-divergence per diverging workload and a
// tag-divergence per canary group.
func (f *fleet) mutations() []storedMutation {
	var out []storedMutation
	canaries := map[int][]workload{}
	for w := range f.workloads {
		wl := f.workload(w)
		if wl.canary > 0 {
			canaries[wl.canary] = append(canaries[wl.canary], wl)
		}
		if !wl.workloadDivergence {
			continue
		}
		g := f.generations - 1
		pods := f.pods(wl, g)
		app := pods[0].containers[0]
		m := detect.Mutation{
			Kind: detect.WorkloadDivergence, Cluster: f.clusters[wl.cluster], Namespace: wl.namespace,
			Workload: inventory.Workload{Kind: wl.kind, Name: wl.name}, Container: app.name, Ref: app.ref.Normalized,
			Places: f.places(wl, pods),
			Identity: strings.Join([]string{string(detect.WorkloadDivergence), f.clusters[wl.cluster], wl.namespace,
				pods[0].controllerUID, pods[0].revision, app.name, app.ref.Normalized}, "|"),
		}
		out = append(out, newStoredMutation(m, f.clusterIDs[wl.cluster], f.start(wl, g).Add(scanInterval)))
	}
	for g := 1; g <= canaryGroups; g++ {
		group := canaries[g]
		if len(group) == 0 {
			continue
		}
		var places []detect.Place
		var detected time.Time
		var ref string
		for _, wl := range group {
			pods := f.pods(wl, f.generations-1)
			ref = pods[0].containers[0].ref.Normalized
			places = append(places, f.places(wl, pods)...)
			if at := f.start(wl, f.generations-1).Add(scanInterval); at.After(detected) {
				detected = at
			}
		}
		// Spanning clusters, it names no cluster, namespace or workload; all places are
		// the app container.
		m := detect.Mutation{
			Kind: detect.TagDivergence, Container: "app", Ref: ref, Places: places,
			Identity: string(detect.TagDivergence) + "|" + ref,
		}
		out = append(out, newStoredMutation(m, 0, detected))
	}
	return out
}

// pastMutations returns the resolved mutations of the rollouts before the last: each
// diverging workload diverged in every rollout of its history too, from soon after it
// rolled out until the next rollout replaced its pods. They are the history that
// GET /mutations?state=open must not read: about 100 a week, 9,000 in the
// 10,000,000-row fleet.
// tagMoves are the tag-moved events of the sidecars' tags: one each time a tag was
// pushed anew (every sidecar.moves from origin), from its digest before to the new one,
// recorded when first seen (a scan after the push) in the first cluster, resolved as
// events are born. Behind the tag (issue 25) reads them.
func (f *fleet) tagMoves() []storedMutation {
	var out []storedMutation
	seen := map[string]bool{}
	for _, sc := range f.sidecars {
		if seen[sc.image] {
			continue
		}
		seen[sc.image] = true
		ref := f.parser.Ref(sc.image)
		for k := 1; f.origin.Add(time.Duration(k) * sc.moves).Before(f.now); k++ {
			from, to := digestOf(sc.image, strconv.Itoa(k-1)), digestOf(sc.image, strconv.Itoa(k))
			detected := f.origin.Add(time.Duration(k)*sc.moves + scanInterval)
			m := detect.Mutation{
				Kind: detect.TagMoved, Cluster: f.clusters[0], Ref: ref.Normalized, Digests: []string{from, to},
				Places:   []detect.Place{{Cluster: f.clusters[0], Digest: to}},
				Identity: strings.Join([]string{string(detect.TagMoved), ref.Normalized, from, to}, "|"),
			}
			resolved := detected
			out = append(out, storedMutation{Mutation: m, clusterID: f.clusterIDs[0], detected: detected, resolved: &resolved})
		}
	}
	return out
}

func (f *fleet) pastMutations() []storedMutation {
	var out []storedMutation
	for g := range f.generations - 1 {
		for w := range f.workloads {
			wl := f.workload(w)
			if !wl.workloadDivergence {
				continue
			}
			pods := f.pods(wl, g)
			app := pods[0].containers[0]
			m := detect.Mutation{
				Kind: detect.WorkloadDivergence, Cluster: f.clusters[wl.cluster], Namespace: wl.namespace,
				Workload: inventory.Workload{Kind: wl.kind, Name: wl.name}, Container: app.name, Ref: app.ref.Normalized,
				Places: f.places(wl, pods),
				Identity: strings.Join([]string{string(detect.WorkloadDivergence), f.clusters[wl.cluster], wl.namespace,
					pods[0].controllerUID, pods[0].revision, app.name, app.ref.Normalized}, "|"),
			}
			sm := newStoredMutation(m, f.clusterIDs[wl.cluster], f.start(wl, g).Add(scanInterval))
			resolved := f.start(wl, g+1).Add(scanInterval)
			sm.resolved = &resolved
			out = append(out, sm)
		}
	}
	slices.SortFunc(out, func(a, b storedMutation) int { return a.detected.Compare(b.detected) })
	return out
}

// places are the app containers of a workload's pods.
func (f *fleet) places(wl workload, pods []pod) []detect.Place {
	var out []detect.Place
	for _, p := range pods {
		out = append(out, detect.Place{
			Cluster: f.clusters[wl.cluster], Namespace: wl.namespace,
			Workload: inventory.Workload{Kind: wl.kind, Name: wl.name},
			Pod:      p.name, Container: p.containers[0].name, Digest: p.containers[0].digest,
		})
	}
	return out
}

// storedMutation is a mutation as a row of the mutations table.
type storedMutation struct {
	detect.Mutation
	clusterID int64 // 0 for one spanning clusters
	detected  time.Time
	resolved  *time.Time // nil while open
}

// newStoredMutation sorts places and digests as detect does.
func newStoredMutation(m detect.Mutation, clusterID int64, detected time.Time) storedMutation {
	slices.SortFunc(m.Places, func(a, b detect.Place) int {
		return cmp.Or(
			strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Namespace, b.Namespace),
			strings.Compare(a.Workload.Kind, b.Workload.Kind), strings.Compare(a.Workload.Name, b.Workload.Name),
			strings.Compare(a.Pod, b.Pod), strings.Compare(a.Container, b.Container), strings.Compare(a.Digest, b.Digest))
	})
	for _, p := range m.Places {
		if !slices.Contains(m.Digests, p.Digest) {
			m.Digests = append(m.Digests, p.Digest)
		}
	}
	slices.Sort(m.Digests)
	return storedMutation{Mutation: m, clusterID: clusterID, detected: detected}
}

// digestOf is a made-up but well-formed sha256 digest, the same for the same parts.
func digestOf(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// uuid is a random version-4 UUID, as Kubernetes gives objects.
func uuid(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, a>>16&0xffff, a&0xfff, b>>48&0x3fff|0x8000, b&0xffffffffffff)
}

// suffix is a pod name's random suffix.
func suffix(r *rand.Rand) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}
