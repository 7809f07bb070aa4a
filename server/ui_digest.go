package server

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"strings"
	"time"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/web"
)

// digestPageWorkloads is how many workloads each table of a digest's page lists; the
// downloads list every pod.
const digestPageWorkloads = 60

func (u *ui) digest(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r.URL.RawQuery, "format")
	if err != nil {
		return err
	}
	format, err := q.oneOf("format", "html", "html", "csv", "json")
	if err != nil {
		return err
	}
	d := pathParam(r, "digest")
	if !imageref.ValidDigest(d) {
		return badRequest("a digest is sha256:, sha384: or sha512: and its 64, 96 or 128 lowercase hex digits, not %q; search takes a prefix", clip(d, 80))
	}
	use, err := u.st.DigestUses(r.Context(), d)
	if err != nil {
		return about(err, "digest %s", d)
	}
	switch format {
	case "json":
		// The API's answer for the same digest, as a download.
		out := digestJSON{Digest: d, Running: use.Running, History: make([]digestPlaceJSON, len(use.History)), HistoryTruncated: use.Truncated}
		for i, p := range use.History {
			out.History[i] = digestPlaceJSON{Place: p.Place, FirstSeen: utc(p.FirstSeen), LastSeen: utc(p.LastSeen)}
		}
		w.Header().Set("Content-Disposition", `attachment; filename="`+strings.TrimPrefix(d, "sha256:")[:12]+`.json"`)
		return respond(w, http.StatusOK, out)
	case "csv":
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		cw.Write([]string{"digest", "cluster", "namespace", "workload_kind", "workload", "pod", "container", "first_seen", "last_seen", "running"})
		running := map[string]bool{}
		for _, p := range use.Running {
			running[p.Cluster+"\x00"+p.Namespace+"\x00"+p.Pod+"\x00"+p.Container] = true
		}
		for _, p := range use.History {
			now := running[p.Cluster+"\x00"+p.Namespace+"\x00"+p.Pod+"\x00"+p.Container]
			cw.Write(csvSafe(d, p.Cluster, p.Namespace, p.Workload.Kind, p.Workload.Name, p.Pod, p.Container,
				p.FirstSeen.UTC().Format(time.RFC3339), p.LastSeen.UTC().Format(time.RFC3339), boolWord(now)))
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return about(err, "digest %s as CSV", d)
		}
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="`+strings.TrimPrefix(d, "sha256:")[:12]+`.csv"`)
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		w.Write(buf.Bytes())
		return nil
	}
	v := web.DigestView{Digest: d, Truncated: use.Truncated, Refs: use.Refs, Legend: web.NewLegend(d)}
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
	return u.render(w, r, http.StatusOK, u.meta(r, "Digest "+web.ShortDigest(d), ""), web.Digest(v, u.now()))
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
