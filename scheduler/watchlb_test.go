package scheduler

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/store"
)

// balancer is a TCP load balancer in front of several API servers: each connection
// goes to the next backend in turn that accepts it (one that refuses is skipped, as a
// load balancer's health check would take it out), and ends when either side ends.
type balancer struct {
	ln       net.Listener
	addr     string
	backends []string

	mu    sync.Mutex
	next  int
	conns map[net.Conn]bool
}

func newBalancer(t *testing.T, backends ...string) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, addr: ln.Addr().String(), backends: backends, conns: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for c := range b.conns {
			c.Close()
		}
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go b.forward(in)
		}
	}()
	return b
}

// forward joins in to the next backend in turn that accepts a connection, or closes
// it when none does.
func (b *balancer) forward(in net.Conn) {
	b.mu.Lock()
	first := b.next
	b.next = (b.next + 1) % len(b.backends)
	b.mu.Unlock()
	for k := range b.backends {
		out, err := net.DialTimeout("tcp", b.backends[(first+k)%len(b.backends)], time.Second)
		if err != nil {
			continue
		}
		b.mu.Lock()
		b.conns[in], b.conns[out] = true, true
		b.mu.Unlock()
		var once sync.Once
		end := func() {
			once.Do(func() {
				in.Close()
				out.Close()
				b.mu.Lock()
				delete(b.conns, in)
				delete(b.conns, out)
				b.mu.Unlock()
			})
		}
		go func() { io.Copy(out, in); end() }()
		go func() { io.Copy(in, out); end() }()
		return
	}
	in.Close()
}

func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestWatchAPIServersBehindBalancer runs a cluster's control plane as an HA one: two
// API servers on the same etcd behind a TCP load balancer, which is the address
// registered. The API server that serves the pods' watch is killed (its connections
// end at once, as in a crash), and a pod moves meanwhile: the watch reconnects through
// the other and records the move within seconds, closing nothing else. Then the
// killed one starts again and the other, serving the watch now, is killed, and the
// pod moves back: recorded again, through the first.
func TestWatchAPIServersBehindBalancer(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	first := h.cluster
	peer, err := first.AddAPIServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := first.At(peer.Host)
	if err != nil {
		t.Fatal(err)
	}
	lb := newBalancer(t, hostPort(t, first.Host), hostPort(t, peer.Host))
	// The played kubelet reaches the cluster through the balancer too.
	if h.cluster, err = first.At("https://" + lb.addr); err != nil {
		t.Fatal(err)
	}
	servers := []struct {
		name  string
		at    *kubeenv.Cluster
		kill  func()
		start func(context.Context) error
	}{
		{"first", first, first.KillAPIServer, first.StartAPIServer},
		{"second", second, peer.Kill, peer.Start},
	}
	podWatches := func(i int) float64 {
		return metricSum(t, servers[i].at, "apiserver_longrunning_requests", `resource="pods"`, `verb="WATCH"`)
	}
	base := []float64{podWatches(0), podWatches(1)}
	f := newFaultFixture(t, h, "balanced", "https://"+lb.addr)
	s := h.watchScheduler(t, "r1")
	defer s.Stop(ctx)
	f.settled()

	for round, to := range []string{"d", "c"} {
		// The API server that serves the pods' watch.
		holder := -1
		eventually(t, "one API server serves the pods' watch", func() bool {
			a, b := podWatches(0) > base[0], podWatches(1) > base[1]
			switch {
			case a && !b:
				holder = 0
			case b && !a:
				holder = 1
			default:
				return false
			}
			return true
		})
		other := 1 - holder
		servers[holder].kill()
		stopped := time.Now()
		f.set("w2", to)
		stale := false
		eventually(t, "the move recorded through the other API server", func() bool {
			stale = stale || f.state().State == store.WatchStale
			open, resolved := f.divergences()
			if to == "d" {
				return open == 1
			}
			return open == 0 && resolved == 1
		})
		took := time.Since(stopped)
		t.Logf("round %d: the %s API server killed under the watch, the move recorded %s after (stale meanwhile: %v)",
			round+1, servers[holder].name, took.Round(time.Millisecond), stale)
		if took > 10*time.Second {
			t.Errorf("round %d: recorded %s after the API server was killed, want within 10 s", round+1, took)
		}
		if k := f.lastScanKind(); k != store.ScanKindWatch {
			t.Errorf("round %d: the move was recorded by a %s scan, want the watch", round+1, k)
		}
		if podWatches(other) <= base[other] {
			t.Errorf("round %d: the %s API server serves no pods' watch", round+1, servers[other].name)
		}
		// Nothing that kept running was closed; w2 has one interval per digest it ran,
		// the last open.
		f.unbroken("w1", "w3")
		obs := f.intervals()["w2"]
		if len(obs) != round+2 || obs[len(obs)-1].ClosedAt != nil {
			t.Errorf("round %d: w2's intervals %+v, want %d, the last open", round+1, obs, round+2)
		}
		for _, o := range obs[:len(obs)-1] {
			if o.ClosedAt == nil {
				t.Errorf("round %d: w2's earlier interval %+v still open", round+1, o)
			}
		}
		if round == 0 {
			if err := servers[holder].start(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}
