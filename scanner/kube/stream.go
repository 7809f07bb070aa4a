package kube

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
)

// A watch's list pages and events are decoded here as a scan's pages are (decode.go),
// not by client-go, so that what a watched cluster sends is bounded as a scan's
// listing is: client-go would turn every page of a list into whole objects and hold
// them all until the last page, and a pod of empty containers into hundreds of bytes
// a container before anything could refuse it.

// Listing is one listing its caller makes page by page (client-go's pager does so for
// a watch's informer), bounded across its pages as a scan is by its Budget: requests
// (so continue tokens without end stop), bytes read, and the bytes the caller keeps.
type Listing struct {
	c *Client
	t *tracker
}

// Listing starts a listing bounded by b. b.Objects bounds the pods and their
// containers together, as in a scan; zero fields take DefaultBudget's.
func (c *Client) Listing(b Budget) *Listing { return &Listing{c: c, t: newTracker(b)} }

// PodPage lists the page of pods opts asks for (its Limit, Continue, ResourceVersion
// and ResourceVersionMatch), handing each pod to add as it is decoded: its kept
// fields only (names, UID, controller, revision labels, node, images, imageIDs and
// states). add returns the bytes its caller keeps of the pod, charged to the budget.
func (l *Listing) PodPage(ctx context.Context, opts metav1.ListOptions, add func(*corev1.Pod) (int64, error)) (ListMeta, error) {
	if err := l.t.request(); err != nil {
		return ListMeta{}, err
	}
	body, err := l.c.core.Get().Resource("pods").VersionedParams(&opts, scheme.ParameterCodec).DoRaw(ctx)
	if err != nil {
		return ListMeta{}, err
	}
	if err := l.t.read(len(body)); err != nil {
		return ListMeta{}, err
	}
	keep := func(p *corev1.Pod) error {
		n, err := add(p)
		if err != nil {
			return err
		}
		return l.t.keep(n)
	}
	return listMeta(body, "PodList", func(item []byte) error {
		var p corev1.Pod
		if err := pbPod(l.t, item, &p); err != nil {
			return err
		}
		return keep(&p)
	}, func(d *jsonDec) error {
		var p corev1.Pod
		if err := jsPod(l.t, d, &p); err != nil {
			return err
		}
		return keep(&p)
	})
}

// OwnerPage lists the page of ReplicaSets (replicaSet) or Jobs that opts asks for,
// as metadata, handing each to add as it is decoded: its names, UID and controller
// and, of a ReplicaSet, what tagdrift wrote on it (ReplicaSetKeys), as a scan keeps
// them. add returns the bytes its caller keeps of it, charged to the budget.
func (l *Listing) OwnerPage(ctx context.Context, replicaSet bool, opts metav1.ListOptions,
	add func(*metav1.PartialObjectMetadata) (int64, error)) (ListMeta, error) {
	r, resource, k := l.c.batch, jobs.Resource, keep{controller: true}
	if replicaSet {
		r, resource, k = l.c.apps, replicaSets.Resource, replicaSetKeep()
	}
	if err := l.t.request(); err != nil {
		return ListMeta{}, err
	}
	body, err := r.Get().Resource(resource).VersionedParams(&opts, scheme.ParameterCodec).
		SetHeader("Accept", metadataAccept).DoRaw(ctx)
	if err != nil {
		return ListMeta{}, err
	}
	if err := l.t.read(len(body)); err != nil {
		return ListMeta{}, err
	}
	keep := func(m *metav1.PartialObjectMetadata) error {
		n, err := add(m)
		if err != nil {
			return err
		}
		return l.t.keep(n)
	}
	return listMeta(body, "PartialObjectMetadataList", func(item []byte) error {
		var m metav1.PartialObjectMetadata
		if err := pbPartial(l.t, item, &m, k); err != nil {
			return err
		}
		return keep(&m)
	}, func(d *jsonDec) error {
		var m metav1.PartialObjectMetadata
		if err := jsPartial(l.t, d, &m, k); err != nil {
			return err
		}
		return keep(&m)
	})
}

// PodEvent is one event of a watch of pods.
type PodEvent struct {
	Type watch.EventType
	// Pod is the pod of an ADDED, MODIFIED or DELETED event, decoded as a list's pods
	// are, with its resource version; of a BOOKMARK, the resource version and the
	// annotation that ends a streaming list's initial events.
	Pod *corev1.Pod
	// Status is an ERROR event's: its code, reason and message.
	Status *metav1.Status
}

// podEventKeep keeps, beside a list's pod fields, what the informer reads of an event:
// the resource version, and a bookmark's end of initial events.
var podEventKeep = keep{labels: podKeep.labels, controller: true, version: true,
	annotations: []string{metav1.InitialEventsAnnotationKey}}

// PodWatch is a watch of pods whose events are decoded one by one, each at most
// its maximum size; Close ends it.
type PodWatch struct {
	body io.ReadCloser
	br   *bufio.Reader
	max  int64
	json bool
}

// WatchPods opens a watch of pods with opts (Watch is set); an event longer than
// maxEvent bytes fails Next with a *TooLargeError.
func (c *Client) WatchPods(ctx context.Context, opts metav1.ListOptions, maxEvent int64) (*PodWatch, error) {
	opts.Watch = true
	body, err := c.core.Get().Resource("pods").VersionedParams(&opts, scheme.ParameterCodec).Stream(ctx)
	if err != nil {
		return nil, err
	}
	return newPodWatch(body, maxEvent), nil
}

func newPodWatch(body io.ReadCloser, maxEvent int64) *PodWatch {
	w := &PodWatch{body: body, br: bufio.NewReader(body), max: maxEvent}
	// A protobuf stream starts with an event's length (big-endian, so a zero byte for
	// any event under 16 MiB), a JSON stream with an object.
	if b, err := w.br.Peek(1); err == nil && b[0] == '{' {
		w.json = true
	}
	return w
}

// Close ends the watch.
func (w *PodWatch) Close() error { return w.body.Close() }

// Next reads and decodes the next event; io.EOF when the stream ended.
func (w *PodWatch) Next() (PodEvent, error) {
	frame, err := w.frame()
	if err != nil {
		return PodEvent{}, err
	}
	t := newTracker(Budget{Objects: math.MaxInt64})
	if w.json {
		return jsEvent(t, frame)
	}
	return pbEvent(t, frame)
}

// frame reads one event's bytes: a length-prefixed protobuf message, or a line of JSON.
func (w *PodWatch) frame() ([]byte, error) {
	if !w.json {
		var hdr [4]byte
		if _, err := io.ReadFull(w.br, hdr[:]); err != nil {
			return nil, err
		}
		n := int64(binary.BigEndian.Uint32(hdr[:]))
		if n > w.max {
			return nil, &TooLargeError{What: "event", Limit: w.max}
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(w.br, b); err != nil {
			return nil, unexpected(err)
		}
		return b, nil
	}
	var line []byte
	for {
		part, err := w.br.ReadSlice('\n')
		if int64(len(line)+len(part)) > w.max {
			return nil, &TooLargeError{What: "event", Limit: w.max}
		}
		line = append(line, part...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(bytes.TrimSpace(line)) > 0:
			return line, nil
		case err != nil:
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			line = line[:0]
			continue
		}
		return line, nil
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// pbEvent decodes a protobuf watch event: a WatchEvent (its type, field 1, and its
// object, field 2: a RawExtension whose field 1 is the object as a whole protobuf
// answer, magic and envelope).
func pbEvent(t *tracker, b []byte) (PodEvent, error) {
	var ev PodEvent
	var obj []byte
	err := fields(b, func(num uint64, v []byte, _ uint64) error {
		switch num {
		case 1:
			ev.Type = watch.EventType(v)
		case 2:
			return fields(v, func(num uint64, v []byte, _ uint64) error {
				if num == 1 {
					obj = v
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return PodEvent{}, err
	}
	raw, ok := bytes.CutPrefix(obj, protobufMagic)
	if !ok {
		return PodEvent{}, fmt.Errorf("%w: a watch event's object is not protobuf", ErrMalformed)
	}
	kind, raw, err := pbUnknown(raw)
	if err != nil {
		return PodEvent{}, err
	}
	switch {
	case ev.Type == watch.Error && kind == "Status":
		ev.Status = &metav1.Status{}
		return ev, pbStatusObject(raw, ev.Status)
	case kind != "Pod":
		return PodEvent{}, fmt.Errorf("%w: a %s event of kind %q, not Pod", ErrMalformed, ev.Type, kind)
	}
	ev.Pod = &corev1.Pod{}
	if err := pbPodKeep(t, raw, ev.Pod, podEventKeep); err != nil {
		return PodEvent{}, err
	}
	return ev, checkType(ev.Type)
}

// pbStatusObject decodes what the informer reads of a metav1.Status.
func pbStatusObject(b []byte, s *metav1.Status) error {
	return fields(b, func(num uint64, v []byte, x uint64) error {
		switch num {
		case 2:
			s.Status = string(v)
		case 3:
			s.Message = string(v)
		case 4:
			s.Reason = metav1.StatusReason(v)
		case 6:
			s.Code = int32(x)
		}
		return nil
	})
}

// jsEvent decodes a JSON watch event: {"type": ..., "object": {...}}, in either order.
func jsEvent(t *tracker, line []byte) (PodEvent, error) {
	var ev PodEvent
	var kind string
	d := &jsonDec{json.NewDecoder(bytes.NewReader(line))}
	err := d.object(func(key string) (err error) {
		switch key {
		case "type":
			var s string
			s, err = d.str()
			ev.Type = watch.EventType(s)
			return err
		case "object":
			return d.object(func(key string) (err error) {
				if key == "kind" {
					kind, err = d.str()
					return err
				}
				return d.skip()
			})
		}
		return d.skip()
	})
	if err != nil {
		return PodEvent{}, err
	}
	switch {
	case ev.Type == watch.Error && kind != "Status":
		return PodEvent{}, fmt.Errorf("%w: an ERROR event of kind %q, not Status", ErrMalformed, kind)
	case ev.Type != watch.Error && kind != "Pod":
		return PodEvent{}, fmt.Errorf("%w: a %s event of kind %q, not Pod", ErrMalformed, ev.Type, kind)
	}
	d = &jsonDec{json.NewDecoder(bytes.NewReader(line))}
	err = d.object(func(key string) error {
		if key != "object" {
			return d.skip()
		}
		if ev.Type == watch.Error {
			ev.Status = &metav1.Status{}
			return jsStatusObject(d, ev.Status)
		}
		ev.Pod = &corev1.Pod{}
		return jsPodKeep(t, d, ev.Pod, podEventKeep)
	})
	if err != nil {
		return PodEvent{}, err
	}
	switch {
	case ev.Status != nil:
		return ev, nil
	case ev.Pod == nil:
		return PodEvent{}, fmt.Errorf("%w: a watch event without an object", ErrMalformed)
	}
	return ev, checkType(ev.Type)
}

// jsStatusObject decodes what the informer reads of a metav1.Status.
func jsStatusObject(d *jsonDec, s *metav1.Status) error {
	return d.object(func(key string) (err error) {
		var v string
		switch key {
		case "status":
			s.Status, err = d.str()
		case "message":
			s.Message, err = d.str()
		case "reason":
			v, err = d.str()
			s.Reason = metav1.StatusReason(v)
		case "code":
			var tok json.Token
			if tok, err = d.Token(); err == nil {
				n, _ := tok.(float64)
				s.Code = int32(n)
			}
		default:
			err = d.skip()
		}
		return err
	})
}

func checkType(t watch.EventType) error {
	switch t {
	case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark:
		return nil
	}
	return fmt.Errorf("%w: a watch event of type %q", ErrMalformed, t)
}
