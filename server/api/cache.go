package api

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// responseCache keeps the encoded answers of the heavy reads (workloads, the timeline,
// digests). Each is kept with the versions it was made under (see store.Versions): the
// data version, read before the data, and the sighting version of each cluster whose
// last sighting the answer shows, as the read saw it. An answer is served only while
// all of them still read the same, so it is never staler than a fresh one would be,
// and replicas sharing a database need no other coordination; a scan that changed
// nothing moves only its own cluster's sighting, so answers about other clusters stay.
// Concurrent misses of one key share one query.
type responseCache struct {
	maxBytes int

	mu      sync.Mutex
	version int64 // the data version every entry was made under
	entries map[string]cacheEntry
	bytes   int

	flight singleflight.Group
}

// cacheEntry is one kept answer and the sightings it shows: clusters[i] had sighting
// version scans[i] (sorted by cluster).
type cacheEntry struct {
	body     []byte
	clusters []int64
	scans    []int64
}

func newResponseCache(maxBytes int) *responseCache {
	if maxBytes <= 0 {
		return nil
	}
	return &responseCache{maxBytes: maxBytes, entries: map[string]cacheEntry{}}
}

// lookup returns the entry for key and the data version it was made under.
func (c *responseCache) lookup(key string) (cacheEntry, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return e, c.version, ok
}

// entryOf makes the entry of an answer body showing the sightings seen.
func entryOf(body []byte, seen store.Sightings) cacheEntry {
	e := cacheEntry{body: body, clusters: slices.Sorted(maps.Keys(seen))}
	e.scans = make([]int64, len(e.clusters))
	for i, id := range e.clusters {
		e.scans[i] = seen[id]
	}
	return e
}

// put keeps e for key, made under data version. A newer version empties the cache; an
// answer made under an older one is not kept; a newer answer for a key replaces the old
// one; past maxBytes nothing more is kept until the version moves.
func (c *responseCache) put(key string, version int64, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version < c.version {
		return
	}
	if version > c.version {
		c.version, c.entries, c.bytes = version, map[string]cacheEntry{}, 0
	}
	old := c.entries[key]
	if c.bytes-len(old.body)+len(e.body) > c.maxBytes {
		return
	}
	c.entries[key] = e
	c.bytes += len(e.body) - len(old.body)
}

// cachedRead answers a read made by build, through the cache when there is one. build
// returns the answer and the sightings it shows (nil for none). The key is the
// request's path and query as sent, after the scope of the principal (store.Scope.Key:
// an answer is never served to a principal of another scope): two spellings of one
// query are two entries, which costs memory, never correctness.
func (a *API) cachedRead(w http.ResponseWriter, r *http.Request, build func(ctx context.Context) (any, store.Sightings, error)) error {
	if a.cache == nil {
		v, _, err := build(r.Context())
		if err != nil {
			return err
		}
		return request.Respond(w, http.StatusOK, v)
	}
	key := scopeOf(r.Context()).Key() + " " + r.URL.Path + "?" + r.URL.RawQuery
	// One query checks a kept answer: the data version and its clusters' sightings.
	// On a miss the same query, read before the data, gives the version the new
	// answer is made under: an answer made from newer data than its version says is
	// only dropped early, never served stale.
	e, kept, ok := a.cache.lookup(key)
	version, scans, err := a.st.Versions(r.Context(), e.clusters)
	if err != nil {
		return request.About(err, "read data versions")
	}
	if ok && version == kept && slices.Equal(scans, e.scans) {
		return writeBody(w, e.body)
	}
	fresh := func(ctx context.Context) (cacheEntry, error) {
		v, seen, err := build(ctx)
		if err != nil {
			return cacheEntry{}, err
		}
		b, err := request.EncodeJSON(v)
		if err != nil {
			return cacheEntry{}, err
		}
		e := entryOf(b, seen)
		a.cache.put(key, version, e)
		return e, nil
	}
	// The shared query outlives one caller's cancellation: others may wait on it.
	led := false
	v, err, _ := a.cache.flight.Do(strconv.FormatInt(version, 10)+" "+key, func() (any, error) {
		led = true
		return fresh(context.WithoutCancel(r.Context()))
	})
	if err != nil {
		return err
	}
	e = v.(cacheEntry)
	if !led {
		// Another request's read, begun before this one: it may show a sighting that
		// moved since. Served only if it still holds, else read afresh.
		now, scans, err := a.st.Versions(r.Context(), e.clusters)
		if err != nil {
			return request.About(err, "read data versions")
		}
		if now != version || !slices.Equal(scans, e.scans) {
			if e, err = fresh(r.Context()); err != nil {
				return err
			}
		}
	}
	return writeBody(w, e.body)
}

// writeBody writes an encoded JSON answer.
func writeBody(w http.ResponseWriter, body []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

// rawList encodes a list whose items are each already encoded as request.EncodeJSON encodes
// them, without encoding/json's pass over every byte of every item (most of the cost of
// a workloads page).
func rawList(l request.List[json.RawMessage]) request.EncodedJSON {
	n := 40 + len(l.NextCursor)
	for _, it := range l.Items {
		n += len(it) + 1
	}
	var s jsonStrings
	b := make([]byte, 0, n)
	b = append(b, `{"items":[`...)
	for i, it := range l.Items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	b = append(b, `],"nextCursor":`...)
	b = s.append(b, l.NextCursor)
	return append(b, "}\n"...)
}

// jsonStrings appends strings as request.EncodeJSON encodes them, reusing one encoder.
type jsonStrings struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func (j *jsonStrings) append(b []byte, s string) []byte {
	if j.enc == nil {
		j.enc = json.NewEncoder(&j.buf)
		j.enc.SetEscapeHTML(false)
	}
	j.buf.Reset()
	j.enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(j.buf.Bytes(), []byte("\n"))...)
}
