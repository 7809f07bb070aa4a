package kube

import (
	"fmt"
	"io"
	"net/http"
	"unsafe"
)

// MaxResponseBytes bounds one response from a cluster, after decompression: a page of
// PodPageSize pods at 40 KiB each on average, ten times what a pod weighs in practice
// (managedFields included). A longer answer fails the request with a *TooLargeError
// as soon as the limit is crossed; nothing past it is read. docs/security.md, "What a cluster may send"
// gives the arithmetic.
const MaxResponseBytes = 4 << 20

// TooLargeError is a cluster that sent more than tagdrift reads: one response past
// its cap, or a scan past its Budget. The message is tagdrift's own: it quotes nothing
// the cluster sent.
type TooLargeError struct {
	// What was exceeded: "response", "event" (one event of a watch), "objects",
	// "bytes", "kept bytes", "requests", "containers".
	What  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	switch e.What {
	case "response":
		return fmt.Sprintf("an answer of the API server was longer than %d bytes", e.Limit)
	case "objects":
		return fmt.Sprintf("the cluster holds more than %d objects (items and containers) a scan may read", e.Limit)
	case "event":
		return fmt.Sprintf("one watch event of the API server was longer than %d bytes", e.Limit)
	case "containers":
		return fmt.Sprintf("a pod has more than %d containers of one kind", e.Limit)
	case "requests":
		return fmt.Sprintf("the listing took more than %d requests", e.Limit)
	case "kept bytes":
		return fmt.Sprintf("what the cluster sent would take more than %d bytes of memory once listed", e.Limit)
	}
	return fmt.Sprintf("the cluster sent more than %d bytes in one scan", e.Limit)
}

// LimitResponses returns a wrapper for a rest.Config's transport (rest.Config.Wrap)
// whose response bodies fail with a *TooLargeError past max bytes. It sits above
// the HTTP transport, so it counts what a gzip-encoded answer decompresses to.
func LimitResponses(max int64) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper { return &limitTransport{next: rt, max: max} }
}

type limitTransport struct {
	next http.RoundTripper
	max  int64
}

func (t *limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	// A declared length past the cap is refused before a byte of the body is read.
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, &TooLargeError{What: "response", Limit: t.max}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max, max: t.max}
	return resp, nil
}

// limitedBody reads at most max bytes, then fails: unlike io.LimitReader, the reader
// of a truncated answer never takes it for a whole one.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	max  int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &TooLargeError{What: "response", Limit: b.max}
	}
	// Ask for one byte more than is left, to tell an answer of exactly max bytes from a
	// longer one.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), &TooLargeError{What: "response", Limit: b.max}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// Budget bounds what one scan reads from a cluster and keeps of it. Past any of
// them, the scan fails with a *TooLargeError and keeps nothing. Zero fields take the
// defaults (DefaultBudget).
type Budget struct {
	// Objects is how many items (pods, nodes, ReplicaSets, Jobs) and containers a scan
	// may read. Default 200,000.
	Objects int64
	// Bytes is how many response bytes a scan may read, all pages together: it bounds
	// the time and traffic an endless listing takes. Default 1 GiB.
	Bytes int64
	// Kept is how many bytes of memory the scan's result may take (an estimate: the
	// compact records, their strings, and the item being decoded; within a few
	// percent of the heap it takes, TestKeptEstimate). Default 16 MiB, about 40,000
	// pods of two containers.
	Kept int64
	// Requests is how many list requests a scan may send, restarts included. Default
	// 1,000: a cluster within the other bounds lists in fewer.
	Requests int64
}

// DefaultBudget is the budget of a scan that sets none.
func DefaultBudget() Budget {
	return Budget{Objects: 200_000, Bytes: 1 << 30, Kept: 16 << 20, Requests: 1_000}
}

func (b Budget) withDefaults() Budget {
	d := DefaultBudget()
	if b.Objects > 0 {
		d.Objects = b.Objects
	}
	if b.Bytes > 0 {
		d.Bytes = b.Bytes
	}
	if b.Kept > 0 {
		d.Kept = b.Kept
	}
	if b.Requests > 0 {
		d.Requests = b.Requests
	}
	return d
}

// tracker charges one scan's reads to its budget. Its methods are safe for one
// goroutine at a time: a scan lists one resource after the other.
type tracker struct {
	b        Budget
	objects  int64
	bytes    int64
	kept     int64
	requests int64
	// pending is what the item being decoded holds, charged until it is converted.
	pending int64
}

func newTracker(b Budget) *tracker { return &tracker{b: b.withDefaults()} }

// request charges one request.
func (t *tracker) request() error {
	t.requests++
	if t.requests > t.b.Requests {
		return &TooLargeError{What: "requests", Limit: t.b.Requests}
	}
	return nil
}

// read charges n response bytes.
func (t *tracker) read(n int) error {
	t.bytes += int64(n)
	if t.bytes > t.b.Bytes {
		return &TooLargeError{What: "bytes", Limit: t.b.Bytes}
	}
	return nil
}

// hold charges n bytes that the item being decoded holds, and one object when obj.
func (t *tracker) hold(n int64, obj bool) error {
	t.pending += n
	if obj {
		t.objects++
		if t.objects > t.b.Objects {
			return &TooLargeError{What: "objects", Limit: t.b.Objects}
		}
	}
	return t.checkKept()
}

// keep replaces what the decoded item held with what its compact record keeps.
func (t *tracker) keep(n int64) error {
	t.pending = 0
	t.kept += n
	return t.checkKept()
}

// mark is where a listing started, for rewind.
type mark struct{ kept, objects int64 }

func (t *tracker) mark() mark { return mark{t.kept, t.objects} }

// rewind forgets what an abandoned pass of a listing kept (its results are thrown
// away), but not what it read or the requests it took.
func (t *tracker) rewind(m mark) {
	t.kept, t.objects, t.pending = m.kept, m.objects, 0
}

func (t *tracker) checkKept() error {
	if t.kept+t.pending > t.b.Kept {
		return &TooLargeError{What: "kept bytes", Limit: t.b.Kept}
	}
	return nil
}

// sizeOf is the size of a value of type T, for charging records to the budget.
func sizeOf[T any]() int64 {
	var v T
	return int64(unsafe.Sizeof(v))
}
