package kubeenv

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Registry is a local plain-http registry (the distribution registry, run as a process)
// and the images the tests push to it. Every image is one layer holding /app, a tiny
// static program built at start, and /content, bytes chosen by the caller: pushing
// other content under a tag moves the tag.
//
// /app prints /content and waits for SIGTERM; with the argument "exit" it exits at once.
type Registry struct {
	// Host is host:port, the registry part of the references it serves
	// (127.0.0.1:PORT/tagdrift/app:v1).
	Host string
	app  []byte
}

// PauseRepository is the repository of the sandbox (pause) image that a node's
// containerd runs for every pod; it is pushed at start.
const PauseRepository = "tagdrift/pause"

// PauseTag is the tag of the sandbox image.
const PauseTag = "1"

// Ref returns the reference of repository:tag in the registry.
func (r *Registry) Ref(repository, tag string) string {
	return r.Host + "/" + repository + ":" + tag
}

// Image returns the image of the given content for one architecture (linux).
// The program in it is built for this machine's architecture; an image of another
// architecture carries the same program, which is never run.
func (r *Registry) Image(content, arch string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{{"app", 0o755, r.app}, {"content", 0o644, []byte(content)}} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("image layer: %w", err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, fmt.Errorf("image layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Config:       v1.Config{Entrypoint: []string{"/app"}},
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return img, nil
}

// Index returns a multi-platform image index of the content for linux/amd64 and
// linux/arm64, and the digests of its platform manifests by architecture.
func (r *Registry) Index(content string) (v1.ImageIndex, map[string]string, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	manifests := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := r.Image(content+" ("+arch+")", arch)
		if err != nil {
			return nil, nil, err
		}
		d, err := img.Digest()
		if err != nil {
			return nil, nil, fmt.Errorf("image digest: %w", err)
		}
		manifests[arch] = d.String()
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: arch},
		}})
	}
	return idx, manifests, nil
}

// Push pushes the image of content (this machine's architecture) under
// repository:tag and returns its manifest digest.
func (r *Registry) Push(ctx context.Context, repository, tag, content string) (string, error) {
	img, err := r.Image(content, runtime.GOARCH)
	if err != nil {
		return "", err
	}
	return r.PushImage(ctx, repository, tag, img)
}

// PushImage pushes img under repository:tag and returns its manifest digest.
func (r *Registry) PushImage(ctx context.Context, repository, tag string, img v1.Image) (string, error) {
	ref, err := name.ParseReference(r.Ref(repository, tag), name.Insecure)
	if err != nil {
		return "", fmt.Errorf("reference: %w", err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("digest of %s: %w", ref, err)
	}
	return d.String(), nil
}

// PushIndex pushes idx under repository:tag and returns the index digest.
func (r *Registry) PushIndex(ctx context.Context, repository, tag string, idx v1.ImageIndex) (string, error) {
	ref, err := name.ParseReference(r.Ref(repository, tag), name.Insecure)
	if err != nil {
		return "", fmt.Errorf("reference: %w", err)
	}
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", fmt.Errorf("digest of %s: %w", ref, err)
	}
	return d.String(), nil
}

// SaveImage writes img as a `docker save` archive naming it ref, the input of
// `ctr images import` (what `kind load` feeds containerd).
func SaveImage(path, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("reference %q: %w", ref, err)
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		return fmt.Errorf("save %s: %w", ref, err)
	}
	return nil
}

// appSource is the program of every test image.
const appSource = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	content, _ := os.ReadFile("/content")
	fmt.Printf("tagdrift test image: %s\n", content)
	if len(os.Args) > 1 && os.Args[1] == "exit" {
		return
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
`

// buildApp builds the test images' program, static, for this machine.
func buildApp(ctx context.Context, dir string) ([]byte, error) {
	src := filepath.Join(dir, "app-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module tagdrift.local/testapp\n\ngo 1.22\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(appSource), 0o644); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "app")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the test image program: %w\n%s", err, b)
	}
	return os.ReadFile(out)
}

// registryBinary returns the distribution registry binary, built by
// hack/registry-binary.sh into the cache when absent.
func registryBinary(ctx context.Context) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "registry-binary.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/registry-binary.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// startRegistry starts the registry on a free loopback port, builds the test program
// and pushes the sandbox image.
func (e *Env) startRegistry(ctx context.Context) (*Registry, error) {
	bin, err := registryBinary(ctx)
	if err != nil {
		return nil, err
	}
	app, err := buildApp(ctx, e.dir)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.dir, "registry")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &Registry{Host: "127.0.0.1:" + strconv.Itoa(port), app: app}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), r.Host)
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	p, err := e.start(ctx, "registry", bin, "serve", configPath)
	if err != nil {
		return nil, err
	}
	err = p.waitReady(ctx, func() error {
		resp, err := http.Get("http://" + r.Host + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/v2/: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := r.Push(ctx, PauseRepository, PauseTag, "pause"); err != nil {
		return nil, fmt.Errorf("push the sandbox image: %w", err)
	}
	e.log.Info("registry ready", "host", r.Host)
	return r, nil
}
