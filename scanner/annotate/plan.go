// Package annotate writes tagdrift's verdict back onto a cluster's ReplicaSets, in the
// format of the reference controller (k8s-mutant-detector): the label is-mutant and the
// annotation mutant/status, plus tagdrift.io/mutations, and Kubernetes Events when a
// ReplicaSet becomes mutant and when that resolves.
//
// Planning is pure (Plan, Cleanup): it compares what the ReplicaSets carry now with
// what they should carry and returns only the changes. The Client sends them.
//
// Only ReplicaSets are written, never Deployments or pods: GitOps tools (Argo CD, Flux)
// own Deployments and would revert, and fight, any change made to them.
package annotate

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// The keys tagdrift writes, and nothing else.
const (
	// LabelMutant is "true" exactly when the ReplicaSet has a workload-divergence not
	// resolved: open, or acknowledged (known is not fixed).
	LabelMutant = "is-mutant"
	// AnnotationStatus is the reference format: {"<pod>":[{"Name":…,"ImageID":…}]}.
	AnnotationStatus = "mutant/status"
	// AnnotationMutations holds the kinds of the mutations not resolved that involve
	// the ReplicaSet, which of them are acknowledged and which expected, and a link to
	// its page when a public URL is configured (MutationsValue).
	AnnotationMutations = "tagdrift.io/mutations"
	// FieldManager is the field manager of tagdrift's patches: the ReplicaSet's
	// managedFields tell which of these keys tagdrift wrote.
	FieldManager = "tagdrift"
)

// Event reasons.
const (
	ReasonMutant   = "MutantImage"
	ReasonResolved = "MutantImageResolved"
)

// ReplicaSet is what the planner needs of one ReplicaSet as the cluster has it now.
type ReplicaSet struct {
	Namespace   string
	Name        string
	UID         types.UID
	Labels      map[string]string
	Annotations map[string]string
	// OwnedLabels and OwnedAnnotations are the keys of tagdrift's that its field
	// manager owns: the ones it wrote and nobody has overwritten since.
	OwnedLabels      []string
	OwnedAnnotations []string
}

// FromMetadata reads a ReplicaSet from its metadata, with the keys tagdrift owns taken
// from its managedFields.
func FromMetadata(m *metav1.ObjectMeta) ReplicaSet {
	rs := ReplicaSet{Namespace: m.Namespace, Name: m.Name, UID: m.UID, Labels: m.Labels, Annotations: m.Annotations}
	for _, f := range m.ManagedFields {
		if f.Manager != FieldManager || f.Subresource != "" || f.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Metadata struct {
				Labels      map[string]json.RawMessage `json:"f:labels"`
				Annotations map[string]json.RawMessage `json:"f:annotations"`
			} `json:"f:metadata"`
		}
		if json.Unmarshal(f.FieldsV1.Raw, &fields) != nil {
			continue
		}
		for k := range fields.Metadata.Labels {
			if key, ok := strings.CutPrefix(k, "f:"); ok && key == LabelMutant && !slices.Contains(rs.OwnedLabels, key) {
				rs.OwnedLabels = append(rs.OwnedLabels, key)
			}
		}
		for k := range fields.Metadata.Annotations {
			if key, ok := strings.CutPrefix(k, "f:"); ok && (key == AnnotationStatus || key == AnnotationMutations) &&
				!slices.Contains(rs.OwnedAnnotations, key) {
				rs.OwnedAnnotations = append(rs.OwnedAnnotations, key)
			}
		}
	}
	slices.Sort(rs.OwnedLabels)
	slices.Sort(rs.OwnedAnnotations)
	return rs
}

// owns reports whether tagdrift wrote any of its keys on the ReplicaSet.
func (rs *ReplicaSet) owns() bool { return len(rs.OwnedLabels)+len(rs.OwnedAnnotations) > 0 }

// Mutation is a mutation not resolved as the planner needs it.
type Mutation struct {
	// Key names the mutation across scans: the stored mutation's id in the service,
	// its detect identity in the one-shot command.
	Key  string
	Kind detect.Kind
	// State is the stored state (attention.Decide's): open, acknowledged or expected;
	// "" is open (the one-shot command has no state).
	State     attention.State
	Container string
	Ref       string
	Digests   []string
	Places    []detect.Place
}

// FromDetected adapts detected mutations, keyed by their identity.
func FromDetected(ms []detect.Mutation) []Mutation {
	out := make([]Mutation, len(ms))
	for i, m := range ms {
		out[i] = Mutation{Key: m.Identity, Kind: m.Kind, Container: m.Container, Ref: m.Ref, Digests: m.Digests, Places: m.Places}
	}
	return out
}

// Warning is a MutantImage Event sent for one mutation on one ReplicaSet and not yet
// followed by its MutantImageResolved.
type Warning struct {
	Key        string // the mutation's
	Namespace  string
	ReplicaSet string
	UID        types.UID
}

// Input is everything one plan is made from.
type Input struct {
	Cluster string
	// Pods are the cluster's pods from the scan.
	Pods []inventory.Pod
	// ReplicaSets are the cluster's ReplicaSets as listed.
	ReplicaSets []ReplicaSet
	// Mutations are the mutations not resolved that touch the cluster (those spanning
	// clusters included); places in other clusters are ignored.
	Mutations []Mutation
	// Warnings are the MutantImage Events already sent and not yet resolved. When
	// Stateless, there is no record of them and the is-mutant label stands in: a
	// ReplicaSet labelled true has been warned of all its mutations, and its
	// MutantImageResolved is sent when the label turns false.
	Warnings  []Warning
	Stateless bool
	// ExternalURL is tagdrift's public URL; when set, tagdrift.io/mutations links to the
	// workload's page.
	ExternalURL string
}

// Patch is a change to one ReplicaSet's keys: a value to set, or nil to remove the key.
type Patch struct {
	Namespace   string
	Name        string
	UID         types.UID
	Labels      map[string]*string
	Annotations map[string]*string
}

// Body is the JSON merge patch. It names the ReplicaSet's uid, which the API server
// refuses to change: a ReplicaSet deleted and created again under the same name is not
// patched with what was planned for the old one.
func (p Patch) Body() ([]byte, error) {
	meta := map[string]any{"uid": p.UID}
	if len(p.Labels) > 0 {
		meta["labels"] = p.Labels
	}
	if len(p.Annotations) > 0 {
		meta["annotations"] = p.Annotations
	}
	return json.Marshal(map[string]any{"metadata": meta})
}

// String describes the patch for people (--dry-run).
func (p Patch) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "replicaset %s/%s:", p.Namespace, p.Name)
	describe := func(what string, m map[string]*string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if v := m[k]; v == nil {
				fmt.Fprintf(&b, " remove %s %s;", what, k)
			} else {
				fmt.Fprintf(&b, " %s %s=%s;", what, k, *v)
			}
		}
	}
	describe("label", p.Labels)
	describe("annotation", p.Annotations)
	return strings.TrimSuffix(b.String(), ";")
}

// Event is a Kubernetes Event to record on a ReplicaSet.
type Event struct {
	Namespace  string
	ReplicaSet string
	UID        types.UID
	Type       string // Warning or Normal
	Reason     string
	Message    string
	// Key is the mutation's.
	Key string
}

// Plan is what to change in one cluster.
type Plan struct {
	Patches []Patch
	// Warnings are MutantImage Events to send; each sent one is recorded.
	Warnings []Event
	// Resolutions are MutantImageResolved Events to send; each sent one ends its
	// warning's record.
	Resolutions []Event
	// Forget are warnings whose ReplicaSet is gone: their records end without an Event.
	Forget []Warning
	// EventsFirst sends the Events before the patches (Input.Stateless): with no record
	// of what was announced but the is-mutant label, an Event that fails must leave its
	// ReplicaSet unpatched, so that the next run announces it again. An Event may then
	// be sent twice, never not at all.
	EventsFirst bool
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.Patches)+len(p.Warnings)+len(p.Resolutions)+len(p.Forget) == 0
}

// StatusEntry is one container in the mutant/status annotation.
type StatusEntry struct {
	Name    string
	ImageID string
}

// MutationsValue is the tagdrift.io/mutations annotation. Kinds are those of the
// mutations open or acknowledged (not fixed), as before acknowledgements existed, so
// that a reader of kinds alone sees what it saw; Acknowledged are those of Kinds
// whose every mutation here is acknowledged: what needs attention is Kinds without
// Acknowledged. Expected are the kinds of expected mutations (a rule declares their
// tag mutable) not in Kinds. Both are left out when empty, so that a ReplicaSet with
// nothing acknowledged or expected keeps its value, and no write.
type MutationsValue struct {
	Kinds        []detect.Kind `json:"kinds"`
	Acknowledged []detect.Kind `json:"acknowledged,omitempty"`
	Expected     []detect.Kind `json:"expected,omitempty"`
	URL          string        `json:"url,omitempty"`
}

type rsKey struct{ namespace, name string }

// rsState is what a ReplicaSet should carry.
type rsState struct {
	uid      types.UID
	workload inventory.Workload
	status   map[string][]StatusEntry
	// kinds are those of the mutations open or acknowledged; open those of the open
	// ones; expected those of the expected ones.
	kinds, open, expected []detect.Kind
	// divergent are the workload-divergences of the ReplicaSet, open or acknowledged.
	divergent []*Mutation
}

// add adds the kind k to ks once.
func add(ks []detect.Kind, k detect.Kind) []detect.Kind {
	if slices.Contains(ks, k) {
		return ks
	}
	return append(ks, k)
}

// Make plans the annotation of one cluster: every ReplicaSet that owns a pod gets the
// label and both annotations; one tagdrift annotated before that owns no pod now is
// set not mutant with an empty status. Only values that differ from what the
// ReplicaSet carries are patched, so a steady state plans nothing.
func Make(in Input) Plan {
	want := map[rsKey]*rsState{}
	rsOfPod := map[rsKey]rsKey{}
	for i := range in.Pods {
		p := &in.Pods[i]
		if p.Cluster != in.Cluster || p.Controller.Kind != "ReplicaSet" {
			continue
		}
		k := rsKey{p.Namespace, p.Controller.Name}
		rsOfPod[rsKey{p.Namespace, p.Name}] = k
		st := want[k]
		if st == nil {
			st = &rsState{uid: p.Controller.UID, workload: p.Workload, status: map[string][]StatusEntry{}}
			want[k] = st
		}
		entries := []StatusEntry{}
		for j := range p.Containers {
			c := &p.Containers[j]
			if c.ID == nil || c.ID.Raw == "" {
				continue // not pulled yet
			}
			entries = append(entries, StatusEntry{Name: c.Name, ImageID: c.ID.Raw})
		}
		st.status[p.Name] = entries
	}
	for i := range in.Mutations {
		m := &in.Mutations[i]
		var involved []rsKey
		for _, pl := range m.Places {
			if pl.Cluster != in.Cluster {
				continue
			}
			if k, ok := rsOfPod[rsKey{pl.Namespace, pl.Pod}]; ok && !slices.Contains(involved, k) {
				involved = append(involved, k)
			}
		}
		for _, k := range involved {
			st := want[k]
			switch m.State {
			case attention.StateExpected:
				st.expected = add(st.expected, m.Kind)
				continue
			case attention.StateAbsent, attention.StateOpen:
				st.open = add(st.open, m.Kind)
			}
			st.kinds = add(st.kinds, m.Kind)
			if m.Kind == detect.WorkloadDivergence {
				st.divergent = append(st.divergent, m)
			}
		}
	}

	plan := Plan{EventsFirst: in.Stateless}
	warned := map[string]bool{}
	for _, w := range in.Warnings {
		warned[w.Key+"|"+string(w.UID)] = true
	}
	listed := map[types.UID]bool{}
	// A warning stands while its mutation is not fixed: acknowledged included.
	open := map[string]bool{}
	for _, m := range in.Mutations {
		open[m.Key] = m.State != attention.StateExpected
	}
	rss := slices.Clone(in.ReplicaSets)
	slices.SortFunc(rss, func(a, b ReplicaSet) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	for i := range rss {
		rs := &rss[i]
		listed[rs.UID] = true
		st, ok := want[rsKey{rs.Namespace, rs.Name}]
		if ok && st.uid != rs.UID {
			ok = false // recreated under the same name since its pods were listed
		}
		if !ok {
			if !rs.owns() {
				continue
			}
			// Annotated before, owns no pod now (scaled down by a rollout).
			st = &rsState{uid: rs.UID, status: map[string][]StatusEntry{}}
		}
		mutant := len(st.divergent) > 0
		if p, changed := diff(rs, st, in.Cluster, in.ExternalURL, ok); changed {
			plan.Patches = append(plan.Patches, p)
		}
		wasMutant := rs.Labels[LabelMutant] == "true"
		for _, m := range st.divergent {
			if in.Stateless && wasMutant || !in.Stateless && warned[m.Key+"|"+string(rs.UID)] {
				continue
			}
			plan.Warnings = append(plan.Warnings, Event{
				Namespace: rs.Namespace, ReplicaSet: rs.Name, UID: rs.UID, Type: "Warning", Reason: ReasonMutant,
				Message: mutantMessage(m, in.Cluster, rs.Namespace, rsOfPod, rsKey{rs.Namespace, rs.Name}), Key: m.Key,
			})
		}
		if in.Stateless && wasMutant && !mutant {
			plan.Resolutions = append(plan.Resolutions, resolvedEvent(rs.Namespace, rs.Name, rs.UID, ""))
		}
	}
	if !in.Stateless {
		for _, w := range in.Warnings {
			switch {
			case open[w.Key]:
			case listed[w.UID]:
				plan.Resolutions = append(plan.Resolutions, resolvedEvent(w.Namespace, w.ReplicaSet, w.UID, w.Key))
			default:
				plan.Forget = append(plan.Forget, w)
			}
		}
	}
	return plan
}

// diff returns the patch that makes rs carry st. A ReplicaSet without pods (hasPods
// false) loses tagdrift.io/mutations, when tagdrift wrote it.
func diff(rs *ReplicaSet, st *rsState, cluster, externalURL string, hasPods bool) (Patch, bool) {
	p := Patch{Namespace: rs.Namespace, Name: rs.Name, UID: rs.UID, Labels: map[string]*string{}, Annotations: map[string]*string{}}
	set := func(m map[string]*string, current map[string]string, key, value string) {
		if v, ok := current[key]; !ok || v != value {
			m[key] = &value
		}
	}
	set(p.Labels, rs.Labels, LabelMutant, fmt.Sprint(len(st.divergent) > 0))
	set(p.Annotations, rs.Annotations, AnnotationStatus, statusValue(st.status))
	if hasPods {
		set(p.Annotations, rs.Annotations, AnnotationMutations, mutationsValue(st, cluster, rs.Namespace, externalURL))
	} else if _, ok := rs.Annotations[AnnotationMutations]; ok && slices.Contains(rs.OwnedAnnotations, AnnotationMutations) {
		p.Annotations[AnnotationMutations] = nil
	}
	return p, len(p.Labels)+len(p.Annotations) > 0
}

func statusValue(status map[string][]StatusEntry) string {
	b, err := json.Marshal(status) // map keys sorted: the same status, the same string
	if err != nil {
		panic(err) // strings only
	}
	return string(b)
}

func mutationsValue(st *rsState, cluster, namespace, externalURL string) string {
	v := MutationsValue{Kinds: slices.Sorted(slices.Values(st.kinds))}
	if v.Kinds == nil {
		v.Kinds = []detect.Kind{}
	}
	for _, k := range v.Kinds {
		if !slices.Contains(st.open, k) {
			v.Acknowledged = append(v.Acknowledged, k)
		}
	}
	for _, k := range slices.Sorted(slices.Values(st.expected)) {
		if !slices.Contains(v.Kinds, k) {
			v.Expected = append(v.Expected, k)
		}
	}
	if externalURL != "" {
		v.URL = WorkloadURL(externalURL, cluster, namespace, st.workload)
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// WorkloadURL is the web UI's page of a workload under base:
// /workloads/{cluster}/{namespace}/{kind}/{name}, each segment escaped.
func WorkloadURL(base, cluster, namespace string, w inventory.Workload) string {
	parts := []string{"workloads", cluster, namespace, w.Kind, w.Name}
	for i := 1; i < len(parts); i++ {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.TrimSuffix(base, "/") + "/" + strings.Join(parts, "/")
}

// maxMessage bounds an Event's message (the API server refuses more than 1 KiB).
const maxMessage = 1000

// mutantMessage names the container, its reference and each digest with the pods of
// this ReplicaSet that run it.
func mutantMessage(m *Mutation, cluster, namespace string, rsOfPod map[rsKey]rsKey, rs rsKey) string {
	pods := map[string][]string{}
	for _, pl := range m.Places {
		if pl.Cluster == cluster && pl.Namespace == namespace && rsOfPod[rsKey{pl.Namespace, pl.Pod}] == rs {
			pods[pl.Digest] = append(pods[pl.Digest], pl.Pod)
		}
	}
	var parts []string
	for _, d := range slices.Sorted(maps.Keys(pods)) {
		ps := slices.Compact(slices.Sorted(slices.Values(pods[d])))
		parts = append(parts, fmt.Sprintf("%s (%s)", d, strings.Join(ps, ", ")))
	}
	msg := fmt.Sprintf("container %q runs %d digests of %s: %s", m.Container, len(parts), imageref.Familiar(m.Ref), strings.Join(parts, "; "))
	if len(msg) > maxMessage {
		msg = msg[:maxMessage-3] + "..."
	}
	return msg
}

func resolvedEvent(namespace, name string, uid types.UID, key string) Event {
	return Event{
		Namespace: namespace, ReplicaSet: name, UID: uid, Type: "Normal", Reason: ReasonResolved, Key: key,
		Message: "every pod of this ReplicaSet runs one digest per container again",
	}
}

// Cleanup plans the removal of the keys tagdrift owns from every ReplicaSet: after
// annotation was turned off, or before the cluster is deleted from tagdrift. A key
// someone else set, or overwrote since, is left alone.
func Cleanup(rss []ReplicaSet) []Patch {
	var out []Patch
	for i := range rss {
		rs := &rss[i]
		p := Patch{Namespace: rs.Namespace, Name: rs.Name, UID: rs.UID, Labels: map[string]*string{}, Annotations: map[string]*string{}}
		for _, k := range rs.OwnedLabels {
			if _, ok := rs.Labels[k]; ok {
				p.Labels[k] = nil
			}
		}
		for _, k := range rs.OwnedAnnotations {
			if _, ok := rs.Annotations[k]; ok {
				p.Annotations[k] = nil
			}
		}
		if len(p.Labels)+len(p.Annotations) > 0 {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Patch) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return out
}
