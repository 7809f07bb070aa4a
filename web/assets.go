package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var staticFiles embed.FS

// Assets serves the embedded CSS and JavaScript under /static/. Each file is reachable
// under a name carrying a hash of its content (style.1a2b3c4d5e6f.css), cached for a
// year, and under its plain name with an ETag, revalidated each time.
type Assets struct {
	files  map[string]asset // by served name: hashed and plain
	hashed map[string]string
}

type asset struct {
	body      []byte
	etag      string
	immutable bool
	mime      string
}

// AssetsPrefix is where the assets are served.
const AssetsPrefix = "/static/"

// NewAssets hashes the embedded files. It panics when they cannot be read, which
// cannot happen to files embedded in the binary (TestAssets reads them all).
func NewAssets() *Assets {
	a := &Assets{files: map[string]asset{}, hashed: map[string]string{}}
	err := fs.WalkDir(staticFiles, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFiles.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:6])
		ext := path.Ext(name)
		hashedName := strings.TrimSuffix(name, ext) + "." + h + ext
		mime := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}[ext]
		if mime == "" {
			mime = "application/octet-stream"
		}
		etag := `"` + h + `"`
		a.files[name] = asset{body: b, etag: etag, mime: mime}
		a.files[hashedName] = asset{body: b, etag: etag, mime: mime, immutable: true}
		a.hashed[name] = AssetsPrefix + hashedName
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("load embedded static assets: %v", err))
	}
	return a
}

// URL is the content-hashed path of the asset name ("style.css"); the plain path when
// there is no such asset.
func (a *Assets) URL(name string) string {
	if u, ok := a.hashed[name]; ok {
		return u
	}
	return AssetsPrefix + name
}

// ServeHTTP serves the asset named by the path after /static/.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := a.files[strings.TrimPrefix(r.URL.Path, AssetsPrefix)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.mime)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", f.etag)
	if f.immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	// ServeContent answers If-None-Match with 304 and Range requests.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
