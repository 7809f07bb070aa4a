package watch

import (
	"context"
	"errors"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/kube"
)

// Nodes are watched as metadata only: a node's status is large (the images it holds,
// its conditions, its addresses) and its kubelet rewrites it often, while tagdrift
// reads two fields of it that hardly ever change, the architecture and the container
// runtime. The informer keeps a node's name, UID and architecture label (Node); its
// status is read apart, with a scan's bounds and decoder (kube.Client.Nodes and Node:
// pages of kube.NodePageSize, kube.MaxResponseBytes per answer, a scan's budget; a
// list by name, which the right to list nodes allows): every node when the watch
// starts and every Config.NodeRefresh, one node when it is first seen or comes back
// under another UID, and one again at each update while its status lacks the
// architecture or the runtime (a node registers before its kubelet reports them). A
// status heartbeat changes no field the informer keeps: it is dropped, and reads
// nothing. Until each node of the cache has been read, the watch is not synced: a pod
// on a node whose runtime is not known yet would be recorded without it.

// nodeStatuses is what was read of the nodes' status, by name.
type nodeStatuses struct {
	w      *Watch
	client *kube.Client
	kick   chan struct{}

	mu   sync.Mutex
	read map[string]nodeStatus
}

// nodeStatus is what was read of one node's status.
type nodeStatus struct {
	uid           types.UID
	arch, runtime str
	// asked counts the updates of the node that asked for a new read (its status
	// lacked the architecture or the runtime); answered is the count the last read
	// started from. They differ while a read is due.
	asked, answered uint32
}

func (s nodeStatus) lacking() bool { return s.arch == (str{}) || s.runtime == (str{}) }

// followStatus reads the status of the nodes of w's node informer through client.
func (w *Watch) followStatus(client *kube.Client) *nodeStatuses {
	s := &nodeStatuses{w: w, client: client, kick: make(chan struct{}, 1), read: map[string]nodeStatus{}}
	_, _ = w.nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { s.wake() },
		UpdateFunc: func(old, cur any) {
			o, n := old.(*Node), cur.(*Node)
			s.mu.Lock()
			st, ok := s.read[n.name]
			again := ok && st.uid == n.uid && st.lacking()
			if again {
				st.asked++
				s.read[n.name] = st
			}
			s.mu.Unlock()
			if again || o.uid != n.uid {
				s.wake()
			}
		},
		DeleteFunc: func(obj any) {
			name, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
			if err != nil {
				return
			}
			s.mu.Lock()
			delete(s.read, name)
			s.mu.Unlock()
		},
	})
	return s
}

func (s *nodeStatuses) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// due is a node of the cache whose status is to be read.
type due struct {
	name  string
	uid   types.UID
	asked uint32
}

// missing returns the nodes of the cache whose status is to be read (none read under
// their UID, or an update asked again), and how many nodes the cache holds.
func (s *nodeStatuses) missing() (need []due, total int) {
	objs := s.w.nodes.GetStore().List()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, obj := range objs {
		n := obj.(*Node)
		if st, ok := s.read[n.name]; !ok || st.uid != n.uid || st.asked != st.answered {
			need = append(need, due{name: n.name, uid: n.uid, asked: st.asked})
		}
	}
	return need, len(objs)
}

// complete tells whether the status of every node of the cache has been read.
func (s *nodeStatuses) complete() bool {
	need, _ := s.missing()
	return len(need) == 0
}

// fill adds every node of the cache to nodes as a scan lists it, and tells whether
// each one's status has been read.
func (s *nodeStatuses) fill(nodes map[string]inventory.Node) bool {
	objs := s.w.nodes.GetStore().List()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, obj := range objs {
		n := obj.(*Node)
		st, ok := s.read[n.name]
		if !ok || st.uid != n.uid || st.asked != st.answered {
			return false
		}
		nodes[n.name] = kube.NodeInfo{Arch: st.arch.String(), ArchLabel: n.archLabel.String(), Runtime: st.runtime.String()}.Node()
	}
	return true
}

// run reads every node's status at once, then the status of the nodes that need it
// as they do and every node's again every NodeRefresh, until ctx ends. A read that
// fails is tried again (0.5 s, doubling up to 30 s; the watch is not synced
// meanwhile); an answer past the caps stops the watch.
func (s *nodeStatuses) run(ctx context.Context) {
	refresh := time.NewTimer(s.w.cfg.NodeRefresh)
	defer refresh.Stop()
	all, wait := true, time.Duration(0)
	for {
		var err error
		if all {
			err = s.readAll(ctx)
		} else {
			err = s.readMissing(ctx)
		}
		var tl *kube.TooLargeError
		switch {
		case err == nil:
			wait = 0
			if all {
				all = false
				refresh.Reset(s.w.cfg.NodeRefresh)
			}
		case ctx.Err() != nil:
			return
		case errors.As(err, &tl):
			s.w.fail(err)
			return
		case apierrors.IsForbidden(err):
			s.w.fail(&ForbiddenError{What: "nodes", Err: err})
			return
		default:
			wait = min(max(2*wait, 500*time.Millisecond), 30*time.Second)
			s.w.cfg.Logger.Debug("read the nodes' status", "error", err.Error(), "retry_in_ms", wait.Milliseconds())
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-refresh.C:
			all = true
		}
	}
}

// readMissing reads the status of the nodes that need it: one by one, or all at once
// when that takes fewer requests.
func (s *nodeStatuses) readMissing(ctx context.Context) error {
	need, total := s.missing()
	if len(need) == 0 {
		return nil
	}
	if pages := (total + kube.NodePageSize - 1) / kube.NodePageSize; len(need) > pages {
		return s.readAll(ctx)
	}
	for _, d := range need {
		info, found, err := s.client.Node(ctx, d.name)
		if err != nil {
			return err
		}
		if !found { // deleted since: its deletion is on its way to the cache
			info = kube.NodeInfo{Name: d.name, UID: d.uid}
		}
		s.mu.Lock()
		old := s.read[d.name]
		st := nodeStatus{uid: info.UID, arch: mk(info.Arch), runtime: mk(info.Runtime), asked: old.asked, answered: d.asked}
		s.read[d.name] = st
		s.mu.Unlock()
		if st.arch != old.arch || st.runtime != old.runtime {
			s.w.signal()
		}
	}
	return nil
}

// readAll reads every node's status and replaces what was read.
func (s *nodeStatuses) readAll(ctx context.Context) error {
	s.mu.Lock()
	asked := make(map[string]uint32, len(s.read))
	for name, st := range s.read {
		asked[name] = st.asked
	}
	s.mu.Unlock()
	infos, err := s.client.Nodes(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.read
	s.read = make(map[string]nodeStatus, len(infos))
	changed := false
	for _, info := range infos {
		was := old[info.Name]
		st := nodeStatus{uid: info.UID, arch: mk(info.Arch), runtime: mk(info.Runtime), asked: was.asked, answered: asked[info.Name]}
		s.read[info.Name] = st
		changed = changed || st.arch != was.arch || st.runtime != was.runtime
	}
	s.mu.Unlock()
	if changed {
		s.w.signal()
	}
	return nil
}
