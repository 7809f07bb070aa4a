//go:build screenshots

// The screenshots are pictures to look at, not a test: built only with
// `go test -tags screenshots`, so the suite has no test that skips itself.

package ui

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// TestUIScreenshots is a helper for looking at the pages
// (TAGDRIFT_UI_SCREENSHOTS=dir go test -tags screenshots -run TestUIScreenshots ./server/):
// it seeds a fleet (hostile and long names, a tag that moved 30 times over a year
// across 12 clusters), serves the UI and has headless Chromium save
// each page at laptop and phone widths, light and dark, as PNGs there. The browser
// tests (chromedp) are the tests; this only makes pictures. TAGDRIFT_UI_SCREENSHOT_PAGES
// picks pages by name (overview,workload,…).
func TestUIScreenshots(t *testing.T) {
	dir := os.Getenv("TAGDRIFT_UI_SCREENSHOTS")
	if dir == "" {
		t.Fatal("set TAGDRIFT_UI_SCREENSHOTS to the directory the screenshots go to")
	}
	e, f := newUIFleet(t)
	ctx := context.Background()
	// A tag that moved 30 times over a year, across 12 clusters.
	now := time.Now().UTC()
	var names []string
	for i := range 12 {
		name := fmt.Sprintf("region-%02d", i)
		e.addCluster(name)
		c, err := e.st.ClusterStatusByName(ctx, name, store.Scope{})
		if err != nil {
			t.Fatal(err)
		}
		f.id[name] = c.ID
		names = append(names, name)
	}
	long := strings.Repeat("very-long-namespace-name-", 3)
	for g := range 30 {
		at := now.Add(-time.Duration(30-g) * 12 * 24 * time.Hour)
		for i, name := range names {
			if (g+i)%3 == 0 && g != 29 {
				continue // not every cluster pulls every digest
			}
			p := apiPod(name, long, fmt.Sprintf("api-%d-%d", g, i), fmt.Sprintf("u-%s-%d", name, g), fmt.Sprintf("%x", sha256.Sum256([]byte{byte(g)})))
			f.scan(name, at.Add(time.Duration(i)*time.Hour), p)
			f.scan(name, at.Add(time.Duration(i)*time.Hour+time.Duration(4+i%5)*24*time.Hour), p)
		}
	}
	// Names as long as Kubernetes allows: a 63-character namespace, a 253-character pod
	// name, a reference with a long registry path, in a cluster with a long name.
	const longCluster = "eu-west-1-production-payments-cluster-b"
	e.addCluster(longCluster)
	lc, err := e.st.ClusterStatusByName(ctx, longCluster, store.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	f.id[longCluster] = lc.ID
	longNS := "payments-" + strings.Repeat("settlement", 5) + "-core"
	longPod := strings.Repeat("checkout-gateway.", 14) + "x7f9c2-abcdefgh" // 253 characters
	longRef := imageref.ParseRef("registry.eu-west-1.internal.example.com:5000/platform/team-payments/services/checkout/gateway-api:2026.12.01-rc.1")
	var lp []inventory.Pod
	for i, hex := range []string{"a", "a", "b"} {
		p := webPod(longCluster, longPod[:len(longPod)-1]+strconv.Itoa(i), fmt.Sprintf("u-long-%d", i), hex)
		p.Namespace = longNS
		p.Workload.Name = "checkout-gateway-api-settlement-reconciler"
		p.Containers[0].Ref = &longRef
		p.Containers[0].Name = "gateway-api-sidecar-with-a-long-name"
		lp = append(lp, p)
	}
	lp = append(lp, webPod(longCluster, hostilePod, "u-long-h", "a"))
	f.scan(longCluster, now.Add(-2*time.Minute), lp...)
	f.scan(longCluster, now.Add(-time.Minute), lp...)
	notifPages := seedNotifications(t, e.st)
	for name, path := range seedAcks(t, e.st) {
		notifPages[name] = path
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Pages under /out/ are a visitor's who is not signed in.
		if p, ok := strings.CutPrefix(r.URL.Path, "/out"); ok {
			r.URL.Path = p
		} else {
			r.Header.Set("Authorization", "Bearer "+e.tokens["admin"])
		}
		e.h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	pages := map[string]string{
		"long":       web.WorkloadURL(longCluster, longNS, "Deployment", "checkout-gateway-api-settlement-reconciler"),
		"longtl":     web.TimelineURL(longRef.Normalized),
		"timeline24": "/images?ref=ghcr.io/acme/api:prod&range=24h",
		"tokens":     "/admin/tokens",
		"users":      "/admin/users",
		"audit":      "/admin/audit",
		"signin":     "/out/signin",
		"signedout":  "/out/signin?signed-out",
		"error":      "/workloads?sort=bogus",
		"overview":   "/",
		"clusters":   "/clusters",
		"cluster":    "/clusters/prod",
		"workloads":  "/workloads",
		"workload":   "/workloads/prod/shop/Deployment/web",
		"timeline":   "/images?ref=ghcr.io/acme/api:prod",
		"timeline7":  "/images?ref=ghcr.io/acme/api:prod&range=30d",
		"spans":      web.SpansURL("ghcr.io/acme/api:prod", 1),
		"spans2":     web.SpansURL("ghcr.io/acme/api:prod", 2),
		"longspans":  web.SpansURL(longRef.Normalized, 1),
		"digest":     "/digests/" + digestOf("a"),
		"mutations":  "/mutations?state=all",
		"search":     "/search?q=web",
		"notfound":   "/nope",
		"admin":      "/admin",
		"digestb":    "/digests/" + digestOf("b"),
		"found":      "/workloads/prod/shop/Deployment/web?pod=web-c#found",
		"digestmut":  "/digests/" + digestOf("b") + "#mutations",
	}
	for name, path := range notifPages {
		pages[name] = path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	only := os.Getenv("TAGDRIFT_UI_SCREENSHOT_PAGES") // a comma-separated list; empty for all
	for name, path := range pages {
		if only != "" && !slices.Contains(strings.Split(only, ","), name) {
			continue
		}
		for _, v := range []struct {
			suffix string
			width  int
			height int // a phone's page is longer
			dark   bool
		}{{"laptop", 1280, 1400, false}, {"phone", 390, 2400, false}, {"laptop-dark", 1280, 1400, true}, {"phone-dark", 390, 2400, true}} {
			out := filepath.Join(dir, name+"-"+v.suffix+".png")
			args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
				"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
				"--user-data-dir=" + t.TempDir(), "--screenshot=" + out, fmt.Sprintf("--window-size=%d,%d", v.width, v.height)}
			if v.dark {
				args = append(args, "--force-dark-mode", "--blink-settings=preferredColorScheme=0")
			}
			cmd := exec.Command("/usr/bin/chromium", append(args, srv.URL+path)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("chromium %s: %v: %s", path, err, b)
			}
		}
	}
	t.Logf("screenshots in %s", dir)
	// Empty data too: every list page of a service that watches nothing yet.
	empty := newEnv(t, nil)
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+empty.tokens["admin"])
		empty.h.ServeHTTP(w, r)
	}))
	defer srv2.Close()
	for name, path := range map[string]string{"overview": "/", "clusters": "/clusters", "workloads": "/workloads",
		"mutations": "/mutations", "timeline": "/images?ref=nginx", "spans": "/images/clusters?ref=nginx", "search": "/search?q=nothing", "users": "/admin/users",
		"acks": "/acknowledgements", "admin": "/admin", "digest": "/digests/" + digestOf("e"),
		"notifroutes": "/admin/notifications/routes"} {
		if only != "" && !slices.Contains(strings.Split(only, ","), "empty") {
			break
		}
		for _, w := range []int{1280, 390} {
			out := filepath.Join(dir, fmt.Sprintf("empty-%s-%d.png", name, w))
			cmd := exec.Command("/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
				"--user-data-dir="+t.TempDir(), "--screenshot="+out, fmt.Sprintf("--window-size=%d,900", w), srv2.URL+path)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("chromium: %v: %s", err, b)
			}
		}
	}
}

// apiPod is a pod of Deployment api running ghcr.io/acme/api:prod at digest hex.
func apiPod(cluster, namespace, name, uid, hex string) inventory.Pod {
	ref := imageref.ParseRef("ghcr.io/acme/api:prod")
	id, _ := imageref.ParseImageID("ghcr.io/acme/api@sha256:" + hex)
	return inventory.Pod{
		Cluster: cluster, Namespace: namespace, Name: name, UID: types.UID(uid), Node: "node-" + cluster, Arch: "amd64",
		Runtime:    "containerd://1.7.20",
		Workload:   inventory.Workload{Kind: "Deployment", Name: "api"},
		Controller: inventory.Controller{Kind: "ReplicaSet", Name: "api-" + hex[:6], UID: types.UID("rs-" + hex[:6]), Revision: hex[:6]},
		Containers: []inventory.Container{{Name: "api", Type: inventory.Regular, Ref: &ref, ID: &id}},
	}
}
