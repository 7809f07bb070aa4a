package kube

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	pbserializer "k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// watchStream encodes events as an API server streams them: in protobuf, each a
// length-prefixed WatchEvent whose object is a whole protobuf answer; in JSON, one
// line each.
func watchStream(t *testing.T, proto bool, events ...metav1.WatchEvent) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, ev := range events {
		if proto {
			var frame bytes.Buffer
			if err := pbserializer.NewRawSerializer(scheme.Scheme, scheme.Scheme).Encode(&ev, &frame); err != nil {
				t.Fatal(err)
			}
			out.Write(binary.BigEndian.AppendUint32(nil, uint32(frame.Len())))
			out.Write(frame.Bytes())
			continue
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(append(b, '\n'))
	}
	return out.Bytes()
}

func event(t *testing.T, typ watch.EventType, obj k8sruntime.Object, proto bool) metav1.WatchEvent {
	gvks, _, err := scheme.Scheme.ObjectKinds(obj)
	if err != nil {
		t.Fatal(err)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	return metav1.WatchEvent{Type: string(typ), Object: k8sruntime.RawExtension{Raw: encode(t, obj, proto)}}
}

// TestDecodeWatchEvents decodes a watch's events as the list's pods are: the same
// inventory as client-go's whole pod, the resource version the informer resumes at,
// a bookmark's end of initial events, an error's Status; and refuses what a scan
// refuses.
func TestDecodeWatchEvents(t *testing.T) {
	pod := testPods().Items[0]
	pod.ResourceVersion = "7"
	bookmark := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "9",
		Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}
	gone := &metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version: 1 (5)"}
	b := inventory.NewBuilder("c", nil, nil)
	want := flat(b.Pod(&pod))

	for _, proto := range []bool{true, false} {
		t.Run(fmt.Sprint("protobuf=", proto), func(t *testing.T) {
			stream := watchStream(t, proto,
				event(t, watch.Added, &pod, proto),
				event(t, watch.Bookmark, bookmark, proto),
				event(t, watch.Error, gone, proto),
				event(t, watch.Deleted, &pod, proto))
			w := newPodWatch(io.NopCloser(bytes.NewReader(stream)), 1<<20)
			var got []string
			for {
				ev, err := w.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case ev.Status != nil:
					got = append(got, fmt.Sprintf("%s %d %s %q", ev.Type, ev.Status.Code, ev.Status.Reason, ev.Status.Message))
				case ev.Type == watch.Bookmark:
					got = append(got, fmt.Sprintf("%s rv=%s end=%s", ev.Type, ev.Pod.ResourceVersion, ev.Pod.Annotations[metav1.InitialEventsAnnotationKey]))
				default:
					if len(ev.Pod.Annotations) > 0 || len(ev.Pod.ManagedFields) > 0 || len(ev.Pod.Labels) > 1 {
						t.Errorf("event keeps more than it needs: %+v", ev.Pod.ObjectMeta)
					}
					if flat(b.Pod(ev.Pod)) != want {
						t.Errorf("%s: got %s, want %s", ev.Type, flat(b.Pod(ev.Pod)), want)
					}
					got = append(got, fmt.Sprintf("%s rv=%s", ev.Type, ev.Pod.ResourceVersion))
				}
			}
			wantEvents := []string{"ADDED rv=7", "BOOKMARK rv=9 end=true",
				`ERROR 410 Expired "too old resource version: 1 (5)"`, "DELETED rv=7"}
			if !slices.Equal(got, wantEvents) {
				t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantEvents, "\n"))
			}
		})
	}
}

// TestDecodeWatchEventsBounded refuses an event longer than its cap before reading it,
// a pod of too many containers in an event, and an object of another kind.
func TestDecodeWatchEventsBounded(t *testing.T) {
	pod := testPods().Items[0]
	for _, proto := range []bool{true, false} {
		t.Run(fmt.Sprint("protobuf=", proto), func(t *testing.T) {
			stream := watchStream(t, proto, event(t, watch.Added, &pod, proto))
			w := newPodWatch(io.NopCloser(bytes.NewReader(stream)), 100)
			var tl *TooLargeError
			if _, err := w.Next(); !errors.As(err, &tl) || tl.What != "event" {
				t.Errorf("an event over the cap: %v, want too large", err)
			}

			many := pod.DeepCopy()
			many.Spec.Containers = make([]corev1.Container, MaxContainers+1)
			stream = watchStream(t, proto, event(t, watch.Modified, many, proto))
			w = newPodWatch(io.NopCloser(bytes.NewReader(stream)), 1<<20)
			if _, err := w.Next(); !errors.As(err, &tl) || tl.What != "containers" {
				t.Errorf("a pod of too many containers: %v, want too many containers", err)
			}

			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
			stream = watchStream(t, proto, event(t, watch.Added, node, proto))
			w = newPodWatch(io.NopCloser(bytes.NewReader(stream)), 1<<20)
			if _, err := w.Next(); !errors.Is(err, ErrMalformed) {
				t.Errorf("a node in a watch of pods: %v, want malformed", err)
			}
		})
	}
}
