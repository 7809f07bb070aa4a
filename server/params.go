package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Page sizes of lists.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// Body limits. A cluster's body carries a kubeconfig of at most maxKubeconfig bytes,
// which JSON escaping (newlines, quotes) makes a little larger.
const (
	maxKubeconfig   = 1 << 20
	maxClusterBody  = maxKubeconfig + 64<<10
	maxOtherBody    = 64 << 10
	maxParamLength  = 1024 // any single query parameter value
	maxCursorLength = 1024
)

// query is a request's query string, checked against the parameters a route accepts.
type query struct {
	v url.Values
}

// parseQuery accepts only the named parameters, each at most once and of bounded length:
// an unknown, repeated or oversized parameter is a 400 naming it.
func parseQuery(rawQuery string, allowed ...string) (query, error) {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return query{}, badRequest("malformed query string")
	}
	var unknown []string
	for name, vals := range v {
		if !slices.Contains(allowed, name) {
			unknown = append(unknown, strconv.Quote(name))
			continue
		}
		if len(vals) > 1 {
			return query{}, badRequest("query parameter %q given more than once", name)
		}
		if len(vals[0]) > maxParamLength {
			return query{}, badRequest("query parameter %q longer than %d bytes", name, maxParamLength)
		}
		// The database refuses NUL and invalid UTF-8, and no name holds a control
		// character: refuse them here, as the client's mistake.
		if !utf8.ValidString(vals[0]) || strings.ContainsFunc(vals[0], unicode.IsControl) {
			return query{}, badRequest("query parameter %q must be UTF-8 text without control characters", name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return query{}, badRequest("unknown query parameter %s (this route takes: %s)", strings.Join(unknown, ", "), strings.Join(allowed, ", "))
	}
	return query{v: v}, nil
}

// get returns a parameter's value; "" when absent or empty.
func (q query) get(name string) string { return q.v.Get(name) }

// oneOf returns a parameter that must be one of values, or def when absent.
func (q query) oneOf(name, def string, values ...string) (string, error) {
	s := q.get(name)
	if s == "" {
		return def, nil
	}
	if !slices.Contains(values, s) {
		return "", badRequest("query parameter %s must be one of %s, not %q", name, strings.Join(values, ", "), s)
	}
	return s, nil
}

// boolean returns a true|false parameter, false when absent.
func (q query) boolean(name string) (bool, error) {
	s, err := q.oneOf(name, "false", "true", "false")
	return s == "true", err
}

// limit returns ?limit=: defaultLimit when absent, else an integer in 1..maxLimit.
func (q query) limit() (int, error) {
	s := q.get("limit")
	if s == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badRequest("query parameter limit must be an integer from 1 to %d, not %q", maxLimit, s)
	}
	return n, nil
}

// cursor is where a list's next page starts. It travels as base64url of this JSON, bound
// to its list and to the filters of the request that made it, so that a cursor from
// another list or other filters is refused instead of silently skipping items.
type cursor struct {
	List   string `json:"l"`
	Filter string `json:"f,omitempty"`
	// One of these is set, as the list orders its items.
	ID       int64    `json:"i,omitempty"`
	Name     string   `json:"n,omitempty"`
	Workload []string `json:"w,omitempty"` // cluster, namespace, kind, name (and pod, container for a running place)
	// The rest of a workload's sort key (store.WorkloadCursor).
	ClusterID int64      `json:"wc,omitempty"`
	Mutant    bool       `json:"wm,omitempty"`
	Ref       string     `json:"wr,omitempty"`
	Changed   *time.Time `json:"wt,omitempty"`
	// At is, with ID, an interval's place in a digest's history (store.HistoryKey).
	At *time.Time `json:"t,omitempty"`
}

// encode renders the cursor for nextCursor.
func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cursor decodes ?cursor= for list with filter; the zero cursor when absent. A
// cursor that does not decode, or belongs to another list or other filters, is a 400.
func (q query) cursor(list, filter string) (cursor, error) {
	return q.cursorIn("cursor", list, filter)
}

// cursorIn is cursor, read from the query parameter param.
func (q query) cursorIn(param, list, filter string) (cursor, error) {
	s := q.get(param)
	if s == "" {
		return cursor{}, nil
	}
	bad := badRequest("query parameter %s is not a cursor of this list: pass the next cursor of the previous page unchanged, with the same filters", param)
	if len(s) > maxCursorLength {
		return cursor{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	var c cursor
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() || c.List != list || c.Filter != filter {
		return cursor{}, bad
	}
	valid := false
	switch list {
	case "clusters":
		valid = c.Name != "" && c.ID == 0 && c.Workload == nil
	case "workloads":
		valid = len(c.Workload) == 4 && c.ID == 0 && c.Name == ""
	case "digest-history":
		valid = c.ID > 0 && c.At != nil && c.Name == "" && c.Workload == nil
	case "digest-running":
		valid = c.ID > 0 && c.ClusterID > 0 && c.At == nil && c.Name == "" && len(c.Workload) == 6 // cluster, namespace, kind, name, pod, container
	default:
		valid = c.ID > 0 && c.At == nil && c.Name == "" && c.Workload == nil
	}
	if list != "workloads" && (c.Mutant || c.Ref != "" || c.Changed != nil) || list != "workloads" && list != "digest-running" && c.ClusterID != 0 {
		valid = false
	}
	if !valid {
		return cursor{}, bad
	}
	return c, nil
}

// filterKey fingerprints a list's filters for its cursors: name=value pairs in order.
func filterKey(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(pairs[i]) + "=" + url.QueryEscape(pairs[i+1]))
	}
	return b.String()
}

// list is the JSON of every list. NextCursor is "" on the last page.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor"`
}

// page trims items, fetched with limit+1, to limit, and makes the next cursor from the
// last item kept when there were more.
func page[T any](items []T, limit int, next func(last T) cursor) list[T] {
	out := list[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if len(items) > limit {
		out.Items = items[:limit]
		out.NextCursor = next(items[limit-1]).encode()
	}
	return out
}

// decodeBody reads a JSON request body of at most limit bytes into v: it must be
// application/json (415), fit (413), be one well-formed JSON value (400) and hold only
// known fields (400).
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if err := jsonContentType(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if err := dec.Decode(&json.RawMessage{}); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("request body: trailing data after the JSON value")
	}
	return nil
}

// bodyError turns a decoding error into a client error. encoding/json's messages name
// offsets, fields and types, never values.
func bodyError(err error) error {
	var (
		tooBig    *http.MaxBytesError
		syntax    *json.SyntaxError
		typeError *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return err
	case errors.Is(err, io.EOF):
		return badRequest("request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("request body: malformed JSON: unexpected end")
	case errors.As(err, &syntax):
		return badRequest("request body: malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typeError):
		return badRequest("request body: field %q must be %s, not %s", typeError.Field, typeError.Type.String(), typeError.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("request body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return badRequest("request body: %s", err.Error())
}

// jsonContentType requires Content-Type: application/json (a charset of utf-8 allowed).
func jsonContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return newHTTPError(http.StatusUnsupportedMediaType, "Content-Type must be application/json, not %q", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return newHTTPError(http.StatusUnsupportedMediaType, "charset must be utf-8, not %q", cs)
	}
	return nil
}

// noBody refuses a body on a request that takes none.
func noBody(w http.ResponseWriter, r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1))
	if n > 0 || err != nil {
		return badRequest("this request takes no body")
	}
	return nil
}

// formatDuration renders a duration as people write it: 5m, 1h30m, 45s (not 5m0s).
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// parseDuration parses a Go duration of a request field, at least minimum.
func parseDuration(field, s string, minimum time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, badRequest("%s must be a duration such as 5m or 1h30m, not %q", field, s)
	}
	if d < minimum {
		return 0, badRequest("%s must be at least %s, not %s", field, formatDuration(minimum), s)
	}
	return d, nil
}

// utc returns t in UTC, for RFC 3339 UTC times in responses.
func utc(t time.Time) time.Time { return t.UTC() }

// utcPtr returns *t in UTC; nil stays nil (null in JSON).
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// pathID parses a positive integer id from a path; anything else is a 400.
func pathID(s, what string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("%s id must be a positive integer, not %q", what, s)
	}
	return id, nil
}

// unfilteredPage reads the query of a list that takes no filter: only limit and
// cursor, the cursor bound to the list.
func unfilteredPage(r *http.Request, list string) (limit int, c cursor, err error) {
	q, err := parseQuery(r.URL.RawQuery, "limit", "cursor")
	if err != nil {
		return 0, cursor{}, err
	}
	if limit, err = q.limit(); err != nil {
		return 0, cursor{}, err
	}
	c, err = q.cursor(list, "")
	return limit, c, err
}
