package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"golang.org/x/sync/singleflight"
)

// responseCache keeps the encoded answers of the heavy reads (workloads, the timeline,
// digests) made under one data version of the store (store.DataVersion, bumped in the
// transaction of every change they are made from). An answer is served only while the
// version still reads the same, so it is never staler than a fresh one would be, and
// replicas sharing a database need no other coordination. Concurrent misses of one key
// share one query.
type responseCache struct {
	maxBytes int

	mu      sync.Mutex
	version int64 // the version every entry was made under
	entries map[string][]byte
	bytes   int

	flight singleflight.Group
}

func newResponseCache(maxBytes int) *responseCache {
	if maxBytes <= 0 {
		return nil
	}
	return &responseCache{maxBytes: maxBytes, entries: map[string][]byte{}}
}

func (c *responseCache) get(key string, version int64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version != c.version {
		return nil, false
	}
	b, ok := c.entries[key]
	return b, ok
}

// put keeps body for key under version. A newer version empties the cache; an answer
// made under an older one is not kept; past maxBytes nothing more is kept until the
// version moves.
func (c *responseCache) put(key string, version int64, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version < c.version {
		return
	}
	if version > c.version {
		c.version, c.entries, c.bytes = version, map[string][]byte{}, 0
	}
	if _, ok := c.entries[key]; ok || c.bytes+len(body) > c.maxBytes {
		return
	}
	c.entries[key] = body
	c.bytes += len(body)
}

// cachedRead answers a read made by build, through the cache when there is one. The key
// is the request's path and query as sent: two spellings of one query are two entries,
// which costs memory, never correctness.
func (a *api) cachedRead(w http.ResponseWriter, r *http.Request, build func(ctx context.Context) (any, error)) error {
	if a.cache == nil {
		v, err := build(r.Context())
		if err != nil {
			return err
		}
		return respond(w, http.StatusOK, v)
	}
	// The version is read before the data: an answer made from newer data than its
	// version says is only dropped early, never served stale.
	version, err := a.st.DataVersion(r.Context())
	if err != nil {
		return about(err, "read data version")
	}
	key := r.URL.Path + "?" + r.URL.RawQuery
	body, ok := a.cache.get(key, version)
	if !ok {
		// The shared query outlives one caller's cancellation: others may wait on it.
		ctx := context.WithoutCancel(r.Context())
		v, err, _ := a.cache.flight.Do(strconv.FormatInt(version, 10)+" "+key, func() (any, error) {
			v, err := build(ctx)
			if err != nil {
				return nil, err
			}
			b, err := encodeJSON(v)
			if err != nil {
				return nil, err
			}
			a.cache.put(key, version, b)
			return b, nil
		})
		if err != nil {
			return err
		}
		body = v.([]byte)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

// encodeJSON encodes v as respond does.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return buf.Bytes(), nil
}
