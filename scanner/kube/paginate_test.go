package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// pageSize is the page size the tests ask paginate for.
const pageSize = 500

// pager serves items in pages of pageSize, expiring the continue token of the pages
// listed in expire (once each), as an API server does after etcd compaction.
type pager struct {
	items  int
	expire map[string]bool
	calls  []string
}

func (p *pager) page(got *[]int) func(metav1.ListOptions) (string, error) {
	return func(opts metav1.ListOptions) (string, error) {
		p.calls = append(p.calls, opts.Continue)
		if opts.Limit != pageSize {
			return "", fmt.Errorf("limit %d", opts.Limit)
		}
		if p.expire[opts.Continue] {
			delete(p.expire, opts.Continue)
			return "", apierrors.NewResourceExpired("continue token expired")
		}
		start := 0
		if opts.Continue != "" {
			fmt.Sscanf(opts.Continue, "from-%d", &start)
		}
		end := min(start+pageSize, p.items)
		for i := start; i < end; i++ {
			*got = append(*got, i)
		}
		if end == p.items {
			return "", nil
		}
		return fmt.Sprintf("from-%d", end), nil
	}
}

func TestPaginateFollowsContinueTokens(t *testing.T) {
	p := &pager{items: 1234}
	var got []int
	if err := paginate(context.Background(), pageSize, p.page(&got), func() { got = nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1234 || got[1233] != 1233 {
		t.Errorf("got %d items", len(got))
	}
	if want := []string{"", "from-500", "from-1000"}; !slices.Equal(p.calls, want) {
		t.Errorf("calls %q, want %q", p.calls, want)
	}
}

func TestPaginateRestartsOnExpiredToken(t *testing.T) {
	p := &pager{items: 1200, expire: map[string]bool{"from-1000": true}}
	var got []int
	resets := 0
	if err := paginate(context.Background(), pageSize, p.page(&got), func() { resets++; got = nil }); err != nil {
		t.Fatal(err)
	}
	if resets != 1 {
		t.Errorf("resets = %d, want 1", resets)
	}
	// Nothing is counted twice: the items of the first, abandoned pass were reset.
	want := make([]int, 1200)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %d items after restart, want 1200 in order", len(got))
	}
	if wantCalls := []string{"", "from-500", "from-1000", "", "from-500", "from-1000"}; !slices.Equal(p.calls, wantCalls) {
		t.Errorf("calls %q, want %q", p.calls, wantCalls)
	}
}

func TestPaginateGivesUpAfterRepeatedExpiry(t *testing.T) {
	calls := 0
	err := paginate(context.Background(), pageSize, func(opts metav1.ListOptions) (string, error) {
		calls++
		if opts.Continue == "" {
			return "next", nil
		}
		return "", apierrors.NewResourceExpired("expired")
	}, func() {})
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("err = %v, want resource expired", err)
	}
	if calls != 2*(maxRestarts+1) {
		t.Errorf("calls = %d", calls)
	}
}

func TestPaginateStopsOnOtherErrors(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no"))
	err := paginate(context.Background(), pageSize, func(metav1.ListOptions) (string, error) { return "", forbidden }, func() {
		t.Error("reset called for a forbidden error")
	})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := paginate(ctx, pageSize, func(metav1.ListOptions) (string, error) { return "", nil }, func() {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: err = %v", err)
	}
}

func TestConfigure(t *testing.T) {
	in := &rest.Config{Host: "https://example", QPS: 500, Burst: 1000}
	got := Configure(in, "tagdrift/test")
	if got.ContentType != "application/vnd.kubernetes.protobuf" || !strings.HasPrefix(got.AcceptContentTypes, "application/vnd.kubernetes.protobuf,") {
		t.Errorf("content types %q / %q, want protobuf first", got.ContentType, got.AcceptContentTypes)
	}
	if got.QPS != clientQPS || got.Burst != clientBurst || got.UserAgent != "tagdrift/test" {
		t.Errorf("QPS %v burst %d agent %q", got.QPS, got.Burst, got.UserAgent)
	}
	if in.QPS != 500 || in.ContentType != "" {
		t.Error("Configure changed its argument")
	}
}
