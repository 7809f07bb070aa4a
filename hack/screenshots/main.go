// Command screenshots takes the documentation's screenshots of the web UI from a running
// tagdrift, so that they show real data (the demo's: make demo, then this) rather than
// a test's synthetic digests. It signs in with an API token (the demo prints one),
// finds a mutant workload through the API, and writes PNGs of the overview, that
// workload's page and its reference's timeline at laptop width in light mode:
//
//	go run ./hack/screenshots -url http://127.0.0.1:8080 -token "$TOKEN" -out docs/screenshots
//
// Chromium is $CHROMIUM or /usr/bin/chromium (hack/test-deps.sh with BROWSER=1
// installs it).
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "screenshots:", err)
		os.Exit(1)
	}
}

type config struct {
	base, token, out, scheme string
	width, height            int
}

func run(args []string) error {
	var c config
	fs := flag.NewFlagSet("screenshots", flag.ContinueOnError)
	fs.StringVar(&c.base, "url", "http://127.0.0.1:8080", "tagdrift's address")
	fs.StringVar(&c.token, "token", os.Getenv("TAGDRIFT_TOKEN"), "an API token (default $TAGDRIFT_TOKEN)")
	fs.StringVar(&c.out, "out", "docs/screenshots", "directory of the PNGs")
	fs.StringVar(&c.scheme, "scheme", "light", "prefers-color-scheme: light or dark")
	fs.IntVar(&c.width, "width", 1280, "window width in CSS pixels")
	fs.IntVar(&c.height, "height", 800, "window height in CSS pixels; pages longer than it are captured whole")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.token == "" {
		return errors.New("no token: give -token or set TAGDRIFT_TOKEN (the demo prints one)")
	}
	w, err := firstWorkload(c, "mutant")
	if err != nil {
		return err
	}
	if w.Name == "" {
		return errors.New("no mutant workload yet: wait until the demo says its mutation is found")
	}
	pages := []struct{ name, path string }{
		{"overview", "/"},
		{"workload", w.path()},
		{"timeline", "/images?ref=" + url.QueryEscape(w.Ref)},
		{"workloads", "/workloads"},
	}
	// The demo's other cluster still runs the digest its tag left: behind the tag.
	if b, err := firstWorkload(c, "behind"); err != nil {
		return err
	} else if b.Name != "" {
		pages = append(pages, struct{ name, path string }{"behind", b.path()})
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	return shoot(c, pages)
}

// workload is the part of the API's Workload this needs.
type workload struct {
	Cluster, Namespace, Kind, Name string
	Ref                            string
}

// path is the workload's page.
func (w workload) path() string {
	return "/workloads/" + url.PathEscape(w.Cluster) + "/" + url.PathEscape(w.Namespace) + "/" +
		url.PathEscape(w.Kind) + "/" + url.PathEscape(w.Name)
}

// firstWorkload returns the first workload the API lists with filter (mutant or behind)
// true, and its first container's reference; none (a zero workload) when it lists none.
func firstWorkload(c config, filter string) (workload, error) {
	req, err := http.NewRequest(http.MethodGet, c.base+"/api/v1/workloads?"+filter+"=true&limit=1", nil)
	if err != nil {
		return workload{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return workload{}, fmt.Errorf("list "+filter+" workloads: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return workload{}, fmt.Errorf("list "+filter+" workloads: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return workload{}, fmt.Errorf("list "+filter+" workloads: %s: %.200s", res.Status, body)
	}
	var list struct {
		Items []struct {
			Cluster, Namespace, Kind, Name string
			Containers                     []struct{ Ref string }
		}
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return workload{}, fmt.Errorf("list "+filter+" workloads: %w", err)
	}
	if len(list.Items) == 0 || len(list.Items[0].Containers) == 0 {
		return workload{}, nil
	}
	i := list.Items[0]
	return workload{Cluster: i.Cluster, Namespace: i.Namespace, Kind: i.Kind, Name: i.Name, Ref: i.Containers[0].Ref}, nil
}

func shoot(c config, pages []struct{ name, path string }) error {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(cmp.Or(os.Getenv("CHROMIUM"), "/usr/bin/chromium")),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(c.width, c.height),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelC := chromedp.NewContext(actx)
	defer cancelC()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	err := chromedp.Run(ctx, network.Enable(),
		network.SetExtraHTTPHeaders(network.Headers{"Authorization": "Bearer " + c.token}),
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: c.scheme}}))
	if err != nil {
		return fmt.Errorf("start chromium: %w", err)
	}
	for _, p := range pages {
		var png []byte
		if err := chromedp.Run(ctx, chromedp.Navigate(c.base+p.path), chromedp.WaitReady("body"),
			chromedp.FullScreenshot(&png, 100)); err != nil {
			return fmt.Errorf("%s (%s): %w", p.name, p.path, err)
		}
		file := filepath.Join(c.out, p.name+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			return err
		}
		fmt.Println(file, p.path)
	}
	return nil
}
