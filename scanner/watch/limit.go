package watch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/scanner/kube"
)

// Configure prepares cfg for a watch as kube.Configure does for a scan (protobuf,
// rate limits, user agent), on a copy of cfg, which must not be wrapped already: a
// list answer is capped at kube.MaxResponseBytes as a scan's, but a watch is an
// endless stream, whose cap is per event: maxEvent bytes (DefaultMaxEventBytes when 0).
func Configure(cfg *rest.Config, userAgent string, maxEvent int64) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	if maxEvent <= 0 {
		maxEvent = DefaultMaxEventBytes
	}
	listCap := kube.LimitResponses(kube.MaxResponseBytes)
	// As kube.Configure, without its cap on every answer: a watch's answers are
	// capped per event instead.
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.QPS, cfg.Burst = 25, 50
	if userAgent != "" {
		cfg.UserAgent = userAgent
	}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &eventLimit{list: listCap(rt), next: rt, max: maxEvent}
	})
	return cfg
}

// eventLimit caps list answers as a scan's, and each event of a watch's stream.
type eventLimit struct {
	list http.RoundTripper
	next http.RoundTripper
	max  int64
}

func isWatch(r *http.Request) bool {
	v := r.URL.Query().Get("watch")
	return v == "true" || v == "1"
}

func (t *eventLimit) RoundTrip(r *http.Request) (*http.Response, error) {
	if !isWatch(r) {
		return t.list.RoundTrip(r)
	}
	resp, err := t.next.RoundTrip(r)
	// An error's answer is a Status, not a stream: client-go reads it, bounded.
	if err != nil || resp.Body == nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	ct := resp.Header.Get("Content-Type")
	if strings.Contains(ct, "protobuf") {
		resp.Body = &frames{rc: resp.Body, max: t.max}
	} else {
		resp.Body = &lines{rc: resp.Body, br: bufio.NewReader(resp.Body), max: t.max}
	}
	return resp, nil
}

// frames reads a protobuf watch stream (each event a 4-byte big-endian length and that
// many bytes), failing on an event longer than max before reading it.
type frames struct {
	rc   io.ReadCloser
	max  int64
	hdr  [4]byte
	nhdr int   // header bytes read of the current frame
	left int64 // body bytes left of the current frame
}

func (f *frames) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if f.left == 0 {
		// Read the header of the next frame, byte by byte as the caller asks.
		n, err := f.rc.Read(f.hdr[f.nhdr:min(4, f.nhdr+len(p))])
		copy(p, f.hdr[f.nhdr:f.nhdr+n])
		f.nhdr += n
		if f.nhdr == 4 {
			f.nhdr = 0
			f.left = int64(binary.BigEndian.Uint32(f.hdr[:]))
			if f.left > f.max {
				return 0, &kube.TooLargeError{What: "event", Limit: f.max}
			}
		}
		return n, err
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.rc.Read(p)
	f.left -= int64(n)
	return n, err
}

func (f *frames) Close() error { return f.rc.Close() }

// lines reads a JSON watch stream (each event one line), failing on an event longer
// than max.
type lines struct {
	rc   io.ReadCloser
	br   *bufio.Reader
	max  int64
	line int64
}

func (l *lines) Read(p []byte) (int, error) {
	n, err := l.br.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			l.line = 0
			continue
		}
		if l.line++; l.line > l.max {
			return 0, &kube.TooLargeError{What: "event", Limit: l.max}
		}
	}
	return n, err
}

func (l *lines) Close() error { return l.rc.Close() }

// tripWire tells the watch what client-go keeps to itself: an answer's body that
// failed with a *kube.TooLargeError (client-go takes a broken stream for a closed one
// and watches again, where the watch must stop), a request that failed or a stream
// that broke (client-go retries a failed request for about ten seconds before its
// informer hears of it), and a watch that connected.
type tripWire struct {
	next    http.RoundTripper
	trip    func(error)
	broken  func(error)
	healthy func()
}

func (t *tripWire) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		var tl *kube.TooLargeError
		switch {
		case errors.As(err, &tl):
			t.trip(err)
		case r.Context().Err() == nil:
			t.broken(err)
		}
		return resp, err
	}
	if resp.StatusCode >= 500 {
		t.broken(errors.New(resp.Status))
	}
	if resp.StatusCode == http.StatusOK && isWatch(r) {
		t.healthy()
	}
	if resp.Body != nil {
		resp.Body = &tripBody{rc: resp.Body, t: t, ctx: r.Context().Err}
	}
	return resp, nil
}

type tripBody struct {
	rc  io.ReadCloser
	t   *tripWire
	ctx func() error
}

func (b *tripBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	var tl *kube.TooLargeError
	switch {
	case err == nil || err == io.EOF || b.ctx() != nil:
	case errors.As(err, &tl):
		b.t.trip(err)
	default:
		b.t.broken(err)
	}
	return n, err
}

func (b *tripBody) Close() error { return b.rc.Close() }
