package kube

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Lists are decoded here, not by client-go: client-go turns a whole answer into
// typed objects, every field of them, and a few bytes on the wire (an empty container,
// `{}`) become hundreds in memory, so what an answer costs could not be bounded by its
// length. These decoders walk the answer (protobuf, as asked, or JSON) and build
// minimal objects holding only the fields the inventory reads; each field kept, each
// container, is charged to the scan's budget before it is held, so that no answer
// can take more than the budget allows, however it is shaped.

// ErrMalformed is an answer that is neither a valid protobuf nor a valid JSON list.
var ErrMalformed = errors.New("the API server's answer is not a Kubernetes list")

// MaxContainers bounds the containers of one kind (and their statuses) in one pod.
// The largest object etcd stores (1.5 MiB) holds fewer than 10,000 containers as an
// API server writes them, defaults filled; an answer of empty ones (`{}`) would
// otherwise hold about 600 bytes of decoded container per 3 bytes read.
const MaxContainers = 10_000

// protobufMagic starts every protobuf answer of a Kubernetes API server.
var protobufMagic = []byte("k8s\x00")

// keep says which fields of an object's metadata are kept.
type keep struct {
	labels      []string
	annotations []string
	// controller keeps the controller owner reference.
	controller bool
	// manager keeps the managedFields entries of this field manager (main resource).
	manager string
	// version keeps the resource version (a watch event's).
	version bool
}

// list decodes a list answer of the given kind (PodList, ...), calling item with each
// item's bytes (protobuf) or with the decoder at the item (JSON), and returns the
// continue token. An answer of another kind, or of none, is refused, as client-go
// refuses it: an empty object must never read as an empty cluster.
func list(body []byte, kind string, pb func([]byte) error, js func(*jsonDec) error) (string, error) {
	lm, err := listMeta(body, kind, pb, js)
	return lm.Continue, err
}

// ListMeta is what a list answer says of itself: where the next page starts, and the
// resource version the list was read at (a watch starts there).
type ListMeta struct {
	Continue        string
	ResourceVersion string
}

// listMeta is list, returning the list's ListMeta.
func listMeta(body []byte, kind string, pb func([]byte) error, js func(*jsonDec) error) (ListMeta, error) {
	var lm ListMeta
	var got string
	var err error
	if raw, ok := bytes.CutPrefix(body, protobufMagic); ok {
		lm, got, err = pbList(raw, pb)
	} else {
		lm, got, err = jsList(body, js)
	}
	if err == nil && got != kind {
		err = fmt.Errorf("%w: kind %q, not %s", ErrMalformed, got, kind)
	}
	return lm, err
}

// pbList decodes the runtime.Unknown envelope, then the list inside it.
func pbList(b []byte, item func([]byte) error) (lm ListMeta, kind string, err error) {
	kind, raw, err := pbUnknown(b)
	if err != nil {
		return lm, "", err
	}
	err = fields(raw, func(num uint64, v []byte, _ uint64) error {
		switch num {
		case 1: // ListMeta
			return fields(v, func(num uint64, v []byte, _ uint64) error {
				switch num {
				case 2:
					lm.ResourceVersion = string(v)
				case 3:
					lm.Continue = string(v)
				}
				return nil
			})
		case 2: // items
			return item(v)
		}
		return nil
	})
	return lm, kind, err
}

// pbUnknown decodes the runtime.Unknown envelope of an object: its kind and its bytes.
func pbUnknown(b []byte) (kind string, raw []byte, err error) {
	err = fields(b, func(num uint64, v []byte, _ uint64) error {
		switch num {
		case 1: // TypeMeta: field 2 is the kind
			return fields(v, func(num uint64, v []byte, _ uint64) error {
				if num == 2 {
					kind = string(v)
				}
				return nil
			})
		case 2: // raw
			raw = v
		case 3: // contentEncoding: none is ever asked for
			if len(v) > 0 {
				return fmt.Errorf("%w: content encoding %q", ErrMalformed, v)
			}
		}
		return nil
	})
	return kind, raw, err
}

// fields calls fn with each field of the protobuf message b: its number and its
// bytes (length-delimited) or value (varint); fixed-size fields are skipped.
func fields(b []byte, fn func(num uint64, v []byte, x uint64) error) error {
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return ErrMalformed
		}
		b = b[n:]
		num := tag >> 3
		switch tag & 7 {
		case 0:
			x, n := binary.Uvarint(b)
			if n <= 0 {
				return ErrMalformed
			}
			b = b[n:]
			if err := fn(num, nil, x); err != nil {
				return err
			}
		case 1:
			if len(b) < 8 {
				return ErrMalformed
			}
			b = b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return ErrMalformed
			}
			v := b[n : n+int(l)]
			b = b[n+int(l):]
			if err := fn(num, v, 0); err != nil {
				return err
			}
		case 5:
			if len(b) < 4 {
				return ErrMalformed
			}
			b = b[4:]
		default:
			return ErrMalformed
		}
	}
	return nil
}

// str keeps a string, charging it.
func str(t *tracker, v []byte) (string, error) {
	return string(v), t.hold(int64(len(v)), false)
}

// pbMeta decodes what k keeps of an ObjectMeta.
func pbMeta(t *tracker, b []byte, m *metav1.ObjectMeta, k keep) error {
	return fields(b, func(num uint64, v []byte, _ uint64) error {
		var err error
		switch num {
		case 1:
			m.Name, err = str(t, v)
		case 3:
			m.Namespace, err = str(t, v)
		case 5:
			var uid string
			uid, err = str(t, v)
			m.UID = types.UID(uid)
		case 6:
			if k.version {
				m.ResourceVersion, err = str(t, v)
			}
		case 11:
			m.Labels, err = pbEntry(t, v, m.Labels, k.labels)
		case 12:
			m.Annotations, err = pbEntry(t, v, m.Annotations, k.annotations)
		case 13:
			if k.controller && metav1.GetControllerOfNoCopy(m) == nil {
				err = pbOwner(t, v, m)
			}
		case 17:
			if k.manager != "" {
				err = pbManaged(t, v, m, k.manager)
			}
		}
		return err
	})
}

// pbEntry adds a map entry to m when its key is one of keys.
func pbEntry(t *tracker, b []byte, m map[string]string, keys []string) (map[string]string, error) {
	if len(keys) == 0 {
		return m, nil
	}
	var key, value []byte
	if err := fields(b, func(num uint64, v []byte, _ uint64) error {
		switch num {
		case 1:
			key = v
		case 2:
			value = v
		}
		return nil
	}); err != nil {
		return m, err
	}
	if !slices.Contains(keys, string(key)) {
		return m, nil
	}
	if m == nil {
		m = map[string]string{}
	}
	m[string(key)] = string(value)
	return m, t.hold(int64(len(key)+len(value))+mapEntrySize, false)
}

// mapEntrySize is a map entry's share of its map, an upper estimate.
const mapEntrySize = 64

// pbOwner keeps an owner reference when it is the controller.
func pbOwner(t *tracker, b []byte, m *metav1.ObjectMeta) error {
	var ref metav1.OwnerReference
	var kind, name, uid []byte
	if err := fields(b, func(num uint64, v []byte, x uint64) error {
		switch num {
		case 1:
			kind = v
		case 3:
			name = v
		case 4:
			uid = v
		case 6:
			yes := x != 0
			ref.Controller = &yes
		}
		return nil
	}); err != nil {
		return err
	}
	if ref.Controller == nil || !*ref.Controller {
		return nil
	}
	ref.Kind, ref.Name, ref.UID = string(kind), string(name), types.UID(uid)
	m.OwnerReferences = []metav1.OwnerReference{ref}
	return t.hold(int64(len(kind)+len(name)+len(uid))+sizeOf[metav1.OwnerReference](), false)
}

// pbManaged keeps a managedFields entry of manager on the main resource.
func pbManaged(t *tracker, b []byte, m *metav1.ObjectMeta, manager string) error {
	var e metav1.ManagedFieldsEntry
	var mgr, sub, raw []byte
	if err := fields(b, func(num uint64, v []byte, _ uint64) error {
		switch num {
		case 1:
			mgr = v
		case 7: // FieldsV1
			return fields(v, func(num uint64, v []byte, _ uint64) error {
				if num == 1 {
					raw = v
				}
				return nil
			})
		case 8:
			sub = v
		}
		return nil
	}); err != nil {
		return err
	}
	if string(mgr) != manager || len(sub) > 0 {
		return nil
	}
	e.Manager = manager
	e.FieldsV1 = &metav1.FieldsV1{Raw: bytes.Clone(raw)}
	m.ManagedFields = append(m.ManagedFields, e)
	return t.hold(int64(len(raw))+sizeOf[metav1.ManagedFieldsEntry]()+sizeOf[metav1.FieldsV1](), false)
}

// podKeep is what is kept of a pod's metadata: the labels that name its revision and
// its controller.
var podKeep = keep{labels: []string{"pod-template-hash", "controller-revision-hash"}, controller: true}

// pbPod decodes what the inventory reads of a pod.
func pbPod(t *tracker, b []byte, p *corev1.Pod) error { return pbPodKeep(t, b, p, podKeep) }

// pbPodKeep is pbPod keeping what k says of its metadata.
func pbPodKeep(t *tracker, b []byte, p *corev1.Pod, k keep) error {
	if err := t.hold(sizeOf[corev1.Pod](), true); err != nil {
		return err
	}
	return fields(b, func(num uint64, v []byte, _ uint64) error {
		switch num {
		case 1:
			return pbMeta(t, v, &p.ObjectMeta, k)
		case 2:
			return pbSpec(t, v, &p.Spec)
		case 3:
			return pbStatus(t, v, &p.Status)
		}
		return nil
	})
}

func pbSpec(t *tracker, b []byte, s *corev1.PodSpec) error {
	return fields(b, func(num uint64, v []byte, _ uint64) error {
		var err error
		switch num {
		case 2:
			s.Containers, err = pbContainer(t, v, s.Containers)
		case 20:
			s.InitContainers, err = pbContainer(t, v, s.InitContainers)
		case 34:
			// EphemeralContainer: the common part (name, image) is its field 1.
			var c []corev1.Container
			err = fields(v, func(num uint64, v []byte, _ uint64) error {
				if num == 1 {
					c, err = pbContainer(t, v, c)
					return err
				}
				return nil
			})
			for _, c := range c {
				s.EphemeralContainers = append(s.EphemeralContainers, corev1.EphemeralContainer{
					EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name, Image: c.Image},
				})
			}
			if err == nil {
				err = t.hold(sizeOf[corev1.EphemeralContainer](), false)
			}
		case 10:
			s.NodeName, err = str(t, v)
		}
		return err
	})
}

// pbContainer appends a container's name and image to cs.
func pbContainer(t *tracker, b []byte, cs []corev1.Container) ([]corev1.Container, error) {
	cs, err := grow(t, cs)
	if err != nil {
		return cs, err
	}
	c := &cs[len(cs)-1]
	return cs, fields(b, func(num uint64, v []byte, _ uint64) error {
		var err error
		switch num {
		case 1:
			c.Name, err = str(t, v)
		case 2:
			c.Image, err = str(t, v)
		}
		return err
	})
}

// grow appends a zero element to s, charging it as an object and charging the
// capacity append adds (the old array is garbage, the collector's to reclaim).
func grow[T any](t *tracker, s []T) ([]T, error) {
	if len(s) >= MaxContainers {
		return s, &TooLargeError{What: "containers", Limit: MaxContainers}
	}
	was := cap(s)
	var zero T
	s = append(s, zero)
	return s, t.hold(int64(cap(s)-was)*sizeOf[T](), true)
}

func pbStatus(t *tracker, b []byte, s *corev1.PodStatus) error {
	return fields(b, func(num uint64, v []byte, _ uint64) error {
		var err error
		switch num {
		case 8:
			s.ContainerStatuses, err = pbContainerStatus(t, v, s.ContainerStatuses)
		case 10:
			s.InitContainerStatuses, err = pbContainerStatus(t, v, s.InitContainerStatuses)
		case 13:
			s.EphemeralContainerStatuses, err = pbContainerStatus(t, v, s.EphemeralContainerStatuses)
		}
		return err
	})
}

// waiting stands for any waiting state: the inventory asks only whether there is one.
var waiting = &corev1.ContainerStateWaiting{}

// pbContainerStatus appends a status's name, imageID and whether it waits to ss.
func pbContainerStatus(t *tracker, b []byte, ss []corev1.ContainerStatus) ([]corev1.ContainerStatus, error) {
	// A status is charged as an object: statuses, like containers, are what a page of
	// empty messages would multiply.
	ss, err := grow(t, ss)
	if err != nil {
		return ss, err
	}
	s := &ss[len(ss)-1]
	return ss, fields(b, func(num uint64, v []byte, _ uint64) error {
		var err error
		switch num {
		case 1:
			s.Name, err = str(t, v)
		case 2: // ContainerState: field 1 is waiting
			err = fields(v, func(num uint64, _ []byte, _ uint64) error {
				if num == 1 {
					s.State.Waiting = waiting
				}
				return nil
			})
		case 7:
			s.ImageID, err = str(t, v)
		}
		return err
	})
}

// nodeKeep is what is kept of a node's metadata: its architecture label, read when
// its status does not say.
var nodeKeep = keep{labels: []string{corev1.LabelArchStable}}

// pbNode decodes a node's name, architecture and container runtime.
func pbNode(t *tracker, b []byte, n *corev1.Node) error {
	if err := t.hold(sizeOf[corev1.Node](), true); err != nil {
		return err
	}
	return fields(b, func(num uint64, v []byte, _ uint64) error {
		switch num {
		case 1:
			return pbMeta(t, v, &n.ObjectMeta, nodeKeep)
		case 3: // NodeStatus: field 7 is nodeInfo
			return fields(v, func(num uint64, v []byte, _ uint64) error {
				if num != 7 {
					return nil
				}
				return fields(v, func(num uint64, v []byte, _ uint64) error {
					var err error
					switch num {
					case 6:
						n.Status.NodeInfo.ContainerRuntimeVersion, err = str(t, v)
					case 10:
						n.Status.NodeInfo.Architecture, err = str(t, v)
					}
					return err
				})
			})
		}
		return nil
	})
}

// pbPartial decodes what k keeps of a PartialObjectMetadata.
func pbPartial(t *tracker, b []byte, m *metav1.PartialObjectMetadata, k keep) error {
	if err := t.hold(sizeOf[metav1.PartialObjectMetadata](), true); err != nil {
		return err
	}
	return fields(b, func(num uint64, v []byte, _ uint64) error {
		if num == 1 {
			return pbMeta(t, v, &m.ObjectMeta, k)
		}
		return nil
	})
}

// jsonDec walks a JSON answer token by token, so that nothing is decoded that is not
// kept (a value skipped is held only while it is skipped).
type jsonDec struct{ *json.Decoder }

// jsList decodes a JSON list: its metadata's continue token and its items.
func jsList(body []byte, item func(*jsonDec) error) (lm ListMeta, kind string, err error) {
	d := &jsonDec{json.NewDecoder(bytes.NewReader(body))}
	err = d.object(func(key string) error {
		switch key {
		case "kind":
			s, err := d.str()
			kind = s
			return err
		case "metadata":
			return d.object(func(key string) (err error) {
				switch key {
				case "continue":
					lm.Continue, err = d.str()
				case "resourceVersion":
					lm.ResourceVersion, err = d.str()
				default:
					err = d.skip()
				}
				return err
			})
		case "items":
			return d.array(func() error { return item(d) })
		}
		return d.skip()
	})
	if err != nil {
		return ListMeta{}, "", err
	}
	if _, err := d.Token(); err != io.EOF {
		return ListMeta{}, "", fmt.Errorf("%w: data after the list", ErrMalformed)
	}
	return lm, kind, nil
}

// object walks an object (or null), calling fn with each key; fn must consume the
// value.
func (d *jsonDec) object(fn func(key string) error) error {
	tok, err := d.Token()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("%w: an object was expected", ErrMalformed)
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		key, ok := tok.(string)
		if !ok {
			return ErrMalformed
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	if _, err := d.Token(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// array walks an array (or null), calling fn at each element; fn must consume it.
func (d *jsonDec) array(fn func() error) error {
	tok, err := d.Token()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("%w: an array was expected", ErrMalformed)
	}
	for d.More() {
		if err := fn(); err != nil {
			return err
		}
	}
	if _, err := d.Token(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// str reads a string (or null, as "").
func (d *jsonDec) str() (string, error) {
	tok, err := d.Token()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch v := tok.(type) {
	case string:
		return v, nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("%w: a string was expected", ErrMalformed)
}

// kept reads a string to keep, charging it.
func (d *jsonDec) kept(t *tracker) (string, error) {
	s, err := d.str()
	if err != nil {
		return "", err
	}
	return s, t.hold(int64(len(s)), false)
}

// skip consumes a value without keeping it.
func (d *jsonDec) skip() error {
	var v json.RawMessage
	if err := d.Decode(&v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// jsMeta decodes what k keeps of an object's metadata.
func jsMeta(t *tracker, d *jsonDec, m *metav1.ObjectMeta, k keep) error {
	return d.object(func(key string) error {
		var err error
		switch key {
		case "name":
			m.Name, err = d.kept(t)
		case "namespace":
			m.Namespace, err = d.kept(t)
		case "uid":
			var uid string
			uid, err = d.kept(t)
			m.UID = types.UID(uid)
		case "resourceVersion":
			if !k.version {
				return d.skip()
			}
			m.ResourceVersion, err = d.kept(t)
		case "labels":
			m.Labels, err = jsMap(t, d, k.labels)
		case "annotations":
			m.Annotations, err = jsMap(t, d, k.annotations)
		case "ownerReferences":
			err = d.array(func() error { return jsOwner(t, d, m, k.controller) })
		case "managedFields":
			err = d.array(func() error { return jsManaged(t, d, m, k.manager) })
		default:
			err = d.skip()
		}
		return err
	})
}

// jsMap keeps the entries of keys.
func jsMap(t *tracker, d *jsonDec, keys []string) (map[string]string, error) {
	var m map[string]string
	err := d.object(func(key string) error {
		if !slices.Contains(keys, key) {
			return d.skip()
		}
		v, err := d.str()
		if err != nil {
			return err
		}
		if m == nil {
			m = map[string]string{}
		}
		m[key] = v
		return t.hold(int64(len(key)+len(v))+mapEntrySize, false)
	})
	return m, err
}

func jsOwner(t *tracker, d *jsonDec, m *metav1.ObjectMeta, keepController bool) error {
	var ref metav1.OwnerReference
	var controller bool
	err := d.object(func(key string) error {
		var err error
		switch key {
		case "kind":
			ref.Kind, err = d.str()
		case "name":
			ref.Name, err = d.str()
		case "uid":
			var uid string
			uid, err = d.str()
			ref.UID = types.UID(uid)
		case "controller":
			var tok json.Token
			if tok, err = d.Token(); err == nil {
				controller = tok == true
			}
		default:
			err = d.skip()
		}
		return err
	})
	if err != nil || !keepController || !controller || metav1.GetControllerOfNoCopy(m) != nil {
		return err
	}
	ref.Controller = &controller
	m.OwnerReferences = []metav1.OwnerReference{ref}
	return t.hold(int64(len(ref.Kind)+len(ref.Name)+len(ref.UID))+sizeOf[metav1.OwnerReference](), false)
}

func jsManaged(t *tracker, d *jsonDec, m *metav1.ObjectMeta, manager string) error {
	var mgr, sub string
	var raw json.RawMessage
	err := d.object(func(key string) error {
		var err error
		switch key {
		case "manager":
			mgr, err = d.str()
		case "subresource":
			sub, err = d.str()
		case "fieldsV1":
			if manager != "" {
				err = d.Decode(&raw)
			} else {
				err = d.skip()
			}
		default:
			err = d.skip()
		}
		return err
	})
	if err != nil || manager == "" || mgr != manager || sub != "" {
		return err
	}
	m.ManagedFields = append(m.ManagedFields, metav1.ManagedFieldsEntry{Manager: mgr, FieldsV1: &metav1.FieldsV1{Raw: raw}})
	return t.hold(int64(len(raw))+sizeOf[metav1.ManagedFieldsEntry]()+sizeOf[metav1.FieldsV1](), false)
}

func jsPod(t *tracker, d *jsonDec, p *corev1.Pod) error { return jsPodKeep(t, d, p, podKeep) }

// jsPodKeep is jsPod keeping what k says of its metadata.
func jsPodKeep(t *tracker, d *jsonDec, p *corev1.Pod, k keep) error {
	if err := t.hold(sizeOf[corev1.Pod](), true); err != nil {
		return err
	}
	return d.object(func(key string) error {
		switch key {
		case "metadata":
			return jsMeta(t, d, &p.ObjectMeta, k)
		case "spec":
			return d.object(func(key string) error {
				var err error
				switch key {
				case "nodeName":
					p.Spec.NodeName, err = d.kept(t)
				case "containers":
					err = d.array(func() (err error) { p.Spec.Containers, err = jsContainer(t, d, p.Spec.Containers); return })
				case "initContainers":
					err = d.array(func() (err error) { p.Spec.InitContainers, err = jsContainer(t, d, p.Spec.InitContainers); return })
				case "ephemeralContainers":
					err = d.array(func() error {
						c, err := jsContainer(t, d, nil)
						for _, c := range c {
							p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
								EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name, Image: c.Image},
							})
						}
						if err != nil {
							return err
						}
						return t.hold(sizeOf[corev1.EphemeralContainer](), false)
					})
				default:
					err = d.skip()
				}
				return err
			})
		case "status":
			return d.object(func(key string) error {
				var err error
				switch key {
				case "containerStatuses":
					err = d.array(func() (err error) {
						p.Status.ContainerStatuses, err = jsContainerStatus(t, d, p.Status.ContainerStatuses)
						return
					})
				case "initContainerStatuses":
					err = d.array(func() (err error) {
						p.Status.InitContainerStatuses, err = jsContainerStatus(t, d, p.Status.InitContainerStatuses)
						return
					})
				case "ephemeralContainerStatuses":
					err = d.array(func() (err error) {
						p.Status.EphemeralContainerStatuses, err = jsContainerStatus(t, d, p.Status.EphemeralContainerStatuses)
						return
					})
				default:
					err = d.skip()
				}
				return err
			})
		}
		return d.skip()
	})
}

func jsContainer(t *tracker, d *jsonDec, cs []corev1.Container) ([]corev1.Container, error) {
	cs, err := grow(t, cs)
	if err != nil {
		return cs, err
	}
	c := &cs[len(cs)-1]
	return cs, d.object(func(key string) error {
		var err error
		switch key {
		case "name":
			c.Name, err = d.kept(t)
		case "image":
			c.Image, err = d.kept(t)
		default:
			err = d.skip()
		}
		return err
	})
}

func jsContainerStatus(t *tracker, d *jsonDec, ss []corev1.ContainerStatus) ([]corev1.ContainerStatus, error) {
	ss, err := grow(t, ss)
	if err != nil {
		return ss, err
	}
	s := &ss[len(ss)-1]
	return ss, d.object(func(key string) error {
		var err error
		switch key {
		case "name":
			s.Name, err = d.kept(t)
		case "imageID":
			s.ImageID, err = d.kept(t)
		case "state":
			err = d.object(func(key string) error {
				if key == "waiting" {
					tok, err := d.Token()
					if err != nil {
						return fmt.Errorf("%w: %w", ErrMalformed, err)
					}
					if tok == nil { // "waiting": null is no waiting state
						return nil
					}
					s.State.Waiting = waiting
					if tok != json.Delim('{') {
						return ErrMalformed
					}
					for d.More() {
						if _, err := d.str(); err != nil {
							return err
						}
						if err := d.skip(); err != nil {
							return err
						}
					}
					_, err = d.Token()
					return err
				}
				return d.skip()
			})
		default:
			err = d.skip()
		}
		return err
	})
}

func jsNode(t *tracker, d *jsonDec, n *corev1.Node) error {
	if err := t.hold(sizeOf[corev1.Node](), true); err != nil {
		return err
	}
	return d.object(func(key string) error {
		switch key {
		case "metadata":
			return jsMeta(t, d, &n.ObjectMeta, nodeKeep)
		case "status":
			return d.object(func(key string) error {
				if key != "nodeInfo" {
					return d.skip()
				}
				return d.object(func(key string) error {
					var err error
					switch key {
					case "architecture":
						n.Status.NodeInfo.Architecture, err = d.kept(t)
					case "containerRuntimeVersion":
						n.Status.NodeInfo.ContainerRuntimeVersion, err = d.kept(t)
					default:
						err = d.skip()
					}
					return err
				})
			})
		}
		return d.skip()
	})
}

func jsPartial(t *tracker, d *jsonDec, m *metav1.PartialObjectMetadata, k keep) error {
	if err := t.hold(sizeOf[metav1.PartialObjectMetadata](), true); err != nil {
		return err
	}
	return d.object(func(key string) error {
		if key == "metadata" {
			return jsMeta(t, d, &m.ObjectMeta, k)
		}
		return d.skip()
	})
}
