package request

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

	"github.com/go-chi/chi/v5"
)

// Page sizes of lists.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Body limits. A cluster's body carries a kubeconfig of at most MaxKubeconfig bytes,
// which JSON escaping (newlines, quotes) makes a little larger.
const (
	MaxKubeconfig   = 1 << 20
	MaxClusterBody  = MaxKubeconfig + 64<<10
	MaxOtherBody    = 64 << 10
	maxParamLength  = 1024 // any single query parameter value
	maxCursorLength = 1024
)

// Query is a request's query string, checked against the parameters a route accepts.
type Query struct {
	v url.Values
}

// Parse accepts only the named parameters, each at most once and of bounded length:
// an unknown, repeated or oversized parameter is a 400 naming it.
func Parse(rawQuery string, allowed ...string) (Query, error) {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Query{}, BadRequest("malformed query string")
	}
	var unknown []string
	for name, vals := range v {
		if !slices.Contains(allowed, name) {
			unknown = append(unknown, strconv.Quote(name))
			continue
		}
		if len(vals) > 1 {
			return Query{}, BadRequest("query parameter %q given more than once", name)
		}
		if len(vals[0]) > maxParamLength {
			return Query{}, BadRequest("query parameter %q longer than %d bytes", name, maxParamLength)
		}
		// The database refuses NUL and invalid UTF-8, and no name holds a control
		// character: refuse them here, as the client's mistake.
		if !utf8.ValidString(vals[0]) || strings.ContainsFunc(vals[0], unicode.IsControl) {
			return Query{}, BadRequest("query parameter %q must be UTF-8 text without control characters", name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return Query{}, BadRequest("unknown query parameter %s (this route takes: %s)", strings.Join(unknown, ", "), strings.Join(allowed, ", "))
	}
	return Query{v: v}, nil
}

// Get returns a parameter's value; "" when absent or empty.
func (q Query) Get(name string) string { return q.v.Get(name) }

// Set sets a parameter, as a page does to impose its own page size on the API's list
// rules.
func (q Query) Set(name, value string) { q.v.Set(name, value) }

// OneOf returns a parameter that must be one of values, or def when absent.
func (q Query) OneOf(name, def string, values ...string) (string, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	if !slices.Contains(values, s) {
		return "", BadRequest("query parameter %s must be one of %s, not %q", name, strings.Join(values, ", "), s)
	}
	return s, nil
}

// Boolean returns a true|false parameter, false when absent.
func (q Query) Boolean(name string) (bool, error) {
	s, err := q.OneOf(name, "false", "true", "false")
	return s == "true", err
}

// Limit returns ?limit=: DefaultLimit when absent, else an integer in 1..MaxLimit.
func (q Query) Limit() (int, error) {
	s := q.Get("limit")
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, BadRequest("query parameter limit must be an integer from 1 to %d, not %q", MaxLimit, s)
	}
	return n, nil
}

// Cursor is where a list's next page starts. It travels as base64url of this JSON, bound
// to its list and to the filters of the request that made it, so that a cursor from
// another list or other filters is refused instead of silently skipping items.
type Cursor struct {
	List   string `json:"l"`
	Filter string `json:"f,omitempty"`
	// One of these is set, as the list orders its items.
	ID       int64    `json:"i,omitempty"`
	Name     string   `json:"n,omitempty"`
	Workload []string `json:"w,omitempty"` // cluster, namespace, kind, name (and pod, container for a running place)
	// The rest of a workload's sort key (store.WorkloadCursor).
	ClusterID int64      `json:"wc,omitempty"`
	Mutant    bool       `json:"wm,omitempty"`
	Behind    bool       `json:"wb,omitempty"`
	Ref       string     `json:"wr,omitempty"`
	Changed   *time.Time `json:"wt,omitempty"`
	// At is, with ID, an interval's place in a digest's history (store.HistoryKey).
	At *time.Time `json:"t,omitempty"`
}

// Encode renders the cursor for nextCursor.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Cursor decodes ?cursor= for list with filter; the zero cursor when absent. A
// cursor that does not decode, or belongs to another list or other filters, is a 400.
func (q Query) Cursor(list, filter string) (Cursor, error) {
	return q.CursorIn("cursor", list, filter)
}

// CursorIn is Cursor, read from the query parameter param.
func (q Query) CursorIn(param, list, filter string) (Cursor, error) {
	s := q.Get(param)
	if s == "" {
		return Cursor{}, nil
	}
	bad := BadRequest("query parameter %s is not a cursor of this list: pass the next cursor of the previous page unchanged, with the same filters", param)
	if len(s) > maxCursorLength {
		return Cursor{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	var c Cursor
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() || c.List != list || c.Filter != filter {
		return Cursor{}, bad
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
	if list != "workloads" && (c.Mutant || c.Behind || c.Ref != "" || c.Changed != nil) || list != "workloads" && list != "digest-running" && c.ClusterID != 0 {
		valid = false
	}
	if !valid {
		return Cursor{}, bad
	}
	return c, nil
}

// FilterKey fingerprints a list's filters for its cursors: name=value pairs in order.
func FilterKey(pairs ...string) string {
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

// List is the JSON of every list. NextCursor is "" on the last page.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor"`
}

// Page trims items, fetched with limit+1, to limit, and makes the next cursor from the
// last item kept when there were more.
func Page[T any](items []T, limit int, next func(last T) Cursor) List[T] {
	out := List[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if len(items) > limit {
		out.Items = items[:limit]
		out.NextCursor = next(items[limit-1]).Encode()
	}
	return out
}

// DecodeBody reads a JSON request body of at most limit bytes into v: it must be
// application/json (415), fit (413), be one well-formed JSON value (400) and hold only
// known fields (400).
func DecodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
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
		return BadRequest("request body: trailing data after the JSON value")
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
		return BadRequest("request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("request body: malformed JSON: unexpected end")
	case errors.As(err, &syntax):
		return BadRequest("request body: malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typeError):
		return BadRequest("request body: field %q must be %s, not %s", typeError.Field, typeError.Type.String(), typeError.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return BadRequest("request body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return BadRequest("request body: %s", err.Error())
}

// jsonContentType requires Content-Type: application/json (a charset of utf-8 allowed).
func jsonContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return Errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json, not %q", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return Errorf(http.StatusUnsupportedMediaType, "charset must be utf-8, not %q", cs)
	}
	return nil
}

// NoBody refuses a body on a request that takes none.
func NoBody(w http.ResponseWriter, r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1))
	if n > 0 || err != nil {
		return BadRequest("this request takes no body")
	}
	return nil
}

// FormatDuration renders a duration as people write it: 5m, 1h30m, 45s (not 5m0s).
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseDuration parses a Go duration of a request field, at least minimum.
func ParseDuration(field, s string, minimum time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, BadRequest("%s must be a duration such as 5m or 1h30m, not %q", field, s)
	}
	if d < minimum {
		return 0, BadRequest("%s must be at least %s, not %s", field, FormatDuration(minimum), s)
	}
	return d, nil
}

// UTC returns t in UTC, for RFC 3339 UTC times in responses.
func UTC(t time.Time) time.Time { return t.UTC() }

// UTCPtr returns *t in UTC; nil stays nil (null in JSON).
func UTCPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// PathID parses a positive integer id from a path; anything else is a 400.
func PathID(s, what string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, BadRequest("%s id must be a positive integer, not %q", what, s)
	}
	return id, nil
}

// UnfilteredPage reads the query of a list that takes no filter: only limit and
// cursor, the cursor bound to the list.
func UnfilteredPage(r *http.Request, list string) (limit int, c Cursor, err error) {
	q, err := Parse(r.URL.RawQuery, "limit", "cursor")
	if err != nil {
		return 0, Cursor{}, err
	}
	if limit, err = q.Limit(); err != nil {
		return 0, Cursor{}, err
	}
	c, err = q.Cursor(list, "")
	return limit, c, err
}

// PathParam is a route parameter unescaped: chi routes on the raw path when it has
// escapes (a name holding '/'), and then hands the segment as written.
func PathParam(r *http.Request, name string) string {
	v := chi.URLParam(r, name)
	if r.URL.RawPath == "" {
		return v
	}
	if s, err := url.PathUnescape(v); err == nil {
		return s
	}
	return v
}

// Clip shortens s for an error message.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
