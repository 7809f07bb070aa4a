package ui

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"time"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// digestPageWorkloads is how many workloads each table of a digest's page lists; the
// downloads list every pod.
const digestPageWorkloads = 60

func (u *UI) digest(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "format", "cursor")
	if err != nil {
		return err
	}
	format, err := q.OneOf("format", "html", "html", "csv", "json")
	if err != nil {
		return err
	}
	d := request.PathParam(r, "digest")
	if !imageref.ValidDigest(d) {
		return request.BadRequest("a digest is sha256:, sha384: or sha512: and its 64, 96 or 128 lowercase hex digits, not %q; search takes a prefix", request.Clip(d, 80))
	}
	var use store.DigestUse
	next := ""
	if format == "html" {
		// The page shows one page of the history, with a link to the older ones: a
		// large one, as it shows a row a workload, not an interval.
		p, err := request.DigestHistoryPage(q, d, store.HistoryLimit)
		if err != nil {
			return err
		}
		p.Refs = true
		p.Scope = scopeOf(r.Context())
		if use, next, err = request.DigestUses(r.Context(), u.st, d, p); err != nil {
			return err
		}
	} else {
		// A download holds the whole history, whatever page the user was on: what a
		// file saved for later is expected to hold.
		if use, err = wholeDigestUses(r.Context(), u.st, d); err != nil {
			return err
		}
	}
	switch format {
	case "json":
		// The API's answer for the same digest, as a download.
		out := request.ToDigestJSON(d, use, "")
		w.Header().Set("Content-Disposition", `attachment; filename="`+strings.TrimPrefix(d, "sha256:")[:12]+`.json"`)
		return request.Respond(w, http.StatusOK, out)
	case "csv":
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		cw.Write([]string{"digest", "ref", "letter", "cluster", "namespace", "workload_kind", "workload", "pod", "container", "first_seen", "last_seen", "running"})
		running := map[string]bool{}
		for _, p := range use.Running {
			running[p.Cluster+"\x00"+p.Namespace+"\x00"+p.Pod+"\x00"+p.Container] = true
		}
		for _, p := range use.History {
			now := running[p.Cluster+"\x00"+p.Namespace+"\x00"+p.Pod+"\x00"+p.Container]
			cw.Write(csvSafe(d, p.Ref, p.Letter, p.Cluster, p.Namespace, p.Workload.Kind, p.Workload.Name, p.Pod, p.Container,
				p.FirstSeen.UTC().Format(time.RFC3339), p.LastSeen.UTC().Format(time.RFC3339), boolWord(now)))
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return request.About(err, "digest %s as CSV", d)
		}
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="`+strings.TrimPrefix(d, "sha256:")[:12]+`.csv"`)
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		w.Write(buf.Bytes())
		return nil
	}
	v := web.DigestView{Digest: d, Refs: use.Refs, Legend: web.NewLegend(), Older: next, Paged: q.Get("cursor") != ""}
	for _, ref := range use.Refs {
		v.Legend.Set(ref, d, use.Letters[ref])
	}
	var running, history []web.PlaceRow
	for _, p := range use.Running {
		running = append(running, web.PlaceRow{Cluster: p.Cluster, Namespace: p.Namespace, Kind: p.Workload.Kind,
			Workload: p.Workload.Name, Pod: p.Pod, Container: p.Container})
	}
	for _, p := range use.History {
		history = append(history, web.PlaceRow{Cluster: p.Cluster, Namespace: p.Namespace, Kind: p.Workload.Kind,
			Workload: p.Workload.Name, Pod: p.Pod, Container: p.Container, FirstSeen: p.FirstSeen, LastSeen: p.LastSeen})
	}
	v.Running, v.RunningMore = web.GroupPlaces(running, digestPageWorkloads)
	v.History, v.HistoryMore = web.GroupPlaces(history, digestPageWorkloads)
	if err := u.digestTags(r.Context(), &v); err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, u.meta(r, "Digest "+web.ShortDigest(d), ""), web.Digest(v, u.now()))
}

// wholeDigestUses reads a digest's uses with its whole history, page by page, for the
// downloads.
func wholeDigestUses(ctx context.Context, st *store.Store, d string) (store.DigestUse, error) {
	p := store.HistoryPage{Limit: store.HistoryLimit, Scope: scopeOf(ctx)}
	var whole store.DigestUse
	for first := true; ; first = false {
		use, err := st.DigestUses(ctx, d, p)
		if err != nil {
			return store.DigestUse{}, request.About(err, "digest %s", d)
		}
		if first {
			whole = use
		} else {
			whole.History = append(whole.History, use.History...)
		}
		if len(use.History) < p.Limit {
			return whole, nil
		}
		p.Before = &use.History[len(use.History)-1].Key
	}
}

func boolWord(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// csvSafe defuses cells a spreadsheet would run as a formula (a pod named =HYPERLINK(…)):
// such a cell gets a leading apostrophe.
func csvSafe(cells ...string) []string {
	for i, c := range cells {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			cells[i] = "'" + c
		}
	}
	return cells
}
