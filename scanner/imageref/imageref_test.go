package imageref

import (
	"strings"
	"testing"
)

const (
	hexA = "4f3d2c1b0a9e8d7c6b5a49382716a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8"
	hexB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in         string
		normalized string
		repository string
		pin        string
	}{
		{"nginx", "docker.io/library/nginx:latest", "docker.io/library/nginx", ""},
		{"nginx:1.25", "docker.io/library/nginx:1.25", "docker.io/library/nginx", ""},
		{"library/nginx:1.25", "docker.io/library/nginx:1.25", "docker.io/library/nginx", ""},
		{"docker.io/nginx:1.25", "docker.io/library/nginx:1.25", "docker.io/library/nginx", ""},
		{"index.docker.io/library/nginx:1.25", "docker.io/library/nginx:1.25", "docker.io/library/nginx", ""},
		{"bitnami/redis:7", "docker.io/bitnami/redis:7", "docker.io/bitnami/redis", ""},
		{"ghcr.io/a/b", "ghcr.io/a/b:latest", "ghcr.io/a/b", ""},
		{"localhost:5000/app:v1", "localhost:5000/app:v1", "localhost:5000/app", ""},
		{"ghcr.io/a/b@sha256:" + hexA, "ghcr.io/a/b@sha256:" + hexA, "ghcr.io/a/b", "sha256:" + hexA},
		{"nginx:1.25@sha256:" + hexA, "docker.io/library/nginx:1.25@sha256:" + hexA, "docker.io/library/nginx", "sha256:" + hexA},
		// Does not parse: kept as written, never normalized or pinned.
		{"Nginx:1.25", "Nginx:1.25", "", ""},
		{"", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := ParseRef(tt.in)
			if got.Written != tt.in || got.Normalized != tt.normalized || got.Repository != tt.repository || got.Pin != tt.pin {
				t.Errorf("ParseRef(%q) = %+v, want normalized %q repository %q pin %q", tt.in, got, tt.normalized, tt.repository, tt.pin)
			}
			if got.Pinned() != (tt.pin != "") || got.Valid() != (tt.repository != "") {
				t.Errorf("ParseRef(%q): Pinned %v Valid %v", tt.in, got.Pinned(), got.Valid())
			}
			if again := ParseRef(got.Normalized); again.Normalized != got.Normalized {
				t.Errorf("normalizing %q twice: %q then %q", tt.in, got.Normalized, again.Normalized)
			}
		})
	}
}

func TestParseImageID(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		kind       Kind
		digest     string
		repository string
	}{
		{"containerd repository digest", "docker.io/library/nginx@sha256:" + hexA, KindRepo, "sha256:" + hexA, "docker.io/library/nginx"},
		{"dockershim short name", "docker-pullable://nginx@sha256:" + hexA, KindRepo, "sha256:" + hexA, "docker.io/library/nginx"},
		{"dockershim user repository", "docker-pullable://bitnami/redis@sha256:" + hexA, KindRepo, "sha256:" + hexA, "docker.io/bitnami/redis"},
		{"cri-dockerd registry", "docker-pullable://ghcr.io/a/b@sha256:" + hexA, KindRepo, "sha256:" + hexA, "ghcr.io/a/b"},
		{"tag before digest (kind)", "docker.io/library/nginx:1.25@sha256:" + hexA, KindRepo, "sha256:" + hexA, "docker.io/library/nginx"},
		{"registry with port", "localhost:5000/app@sha256:" + hexA, KindRepo, "sha256:" + hexA, "localhost:5000/app"},
		{"other repository, same content", "quay.io/mirror/nginx@sha256:" + hexA, KindRepo, "sha256:" + hexA, "quay.io/mirror/nginx"},
		{"local registry by address (real node)", "127.0.0.1:41234/tagdrift/web@sha256:" + hexA, KindRepo, "sha256:" + hexA, "127.0.0.1:41234/tagdrift/web"},
		{"ctr import --digests (kind load, real node)", "docker.io/library/import-2026-12-01@sha256:" + hexA, KindImport, "sha256:" + hexA, "docker.io/library/import-2026-12-01"},
		{"ctr import name, short", "import-2026-11-30@sha256:" + hexA, KindImport, "sha256:" + hexA, "docker.io/library/import-2026-11-30"},
		{"ctr import name, docker-pullable", "docker-pullable://import-2026-11-30@sha256:" + hexA, KindImport, "sha256:" + hexA, "docker.io/library/import-2026-11-30"},
		{"ctr import name with a tag", "docker.io/library/import-2026-11-30:latest@sha256:" + hexA, KindImport, "sha256:" + hexA, "docker.io/library/import-2026-11-30"},
		{"import-like name in another repository", "ghcr.io/a/import-2026-11-30@sha256:" + hexA, KindRepo, "sha256:" + hexA, "ghcr.io/a/import-2026-11-30"},
		{"import-like name, not a date", "docker.io/library/import-export@sha256:" + hexA, KindRepo, "sha256:" + hexA, "docker.io/library/import-export"},
		{"import-like name, a user's repository", "docker.io/bob/import-2026-11-30@sha256:" + hexA, KindRepo, "sha256:" + hexA, "docker.io/bob/import-2026-11-30"},
		{"sha512 repository digest", "ghcr.io/a/b@sha512:" + hexA + hexA, KindRepo, "sha512:" + hexA + hexA, "ghcr.io/a/b"},
		{"docker image id", "docker://sha256:" + hexB, KindImageID, "sha256:" + hexB, ""},
		{"bare image id (ctr import, real node)", "sha256:" + hexB, KindImageID, "sha256:" + hexB, ""},
		{"bare hex (CRI-O 1.28)", hexB, KindImageID, "sha256:" + hexB, ""},
		{"docker bare hex", "docker://" + hexB, KindImageID, "sha256:" + hexB, ""},
		{"unknown scheme", "containerd://sha256:" + hexB, KindUnknown, "containerd://sha256:" + hexB, ""},
		{"short hex", "sha256:abc", KindUnknown, "sha256:abc", ""},
		{"upper-case hex", "sha256:" + strings.ToUpper(hexB), KindUnknown, "sha256:" + strings.ToUpper(hexB), ""},
		{"md5", "nginx@md5:" + hexB[:32], KindUnknown, "nginx@md5:" + hexB[:32], ""},
		{"bad repository", "Nginx@sha256:" + hexA, KindUnknown, "Nginx@sha256:" + hexA, ""},
		{"empty repository", "@sha256:" + hexA, KindUnknown, "@sha256:" + hexA, ""},
		{"two digests", "nginx@sha256:" + hexA + "@sha256:" + hexB, KindUnknown, "nginx@sha256:" + hexA + "@sha256:" + hexB, ""},
		{"tag only", "nginx:1.25", KindUnknown, "nginx:1.25", ""},
		{"63 hex", hexB[:63], KindUnknown, hexB[:63], ""},
		{"garbage", "not an image id", KindUnknown, "not an image id", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cached := func(raw string) (ID, bool) {
				id := NewParser().ImageID(raw)
				if id == nil {
					return ID{}, false
				}
				return *id, true
			}
			for _, parse := range []func(string) (ID, bool){ParseImageID, cached} {
				got, ok := parse(tt.raw)
				if !ok {
					t.Fatalf("ParseImageID(%q) is not an observation", tt.raw)
				}
				want := ID{Raw: tt.raw, Kind: tt.kind, Digest: tt.digest, Repository: tt.repository}
				if got != want {
					t.Errorf("ParseImageID(%q) = %+v, want %+v", tt.raw, got, want)
				}
			}
		})
	}
}

func TestParseImageIDEmptyIsNoObservation(t *testing.T) {
	if id, ok := ParseImageID(""); ok {
		t.Fatalf("ParseImageID(\"\") = %+v, true; want not an observation", id)
	}
}

func TestComparable(t *testing.T) {
	repoA, _ := ParseImageID("docker.io/library/nginx@sha256:" + hexA)
	repoAShort, _ := ParseImageID("docker-pullable://nginx@sha256:" + hexA)
	repoB, _ := ParseImageID("docker.io/library/nginx@sha256:" + hexB)
	imageB, _ := ParseImageID("sha256:" + hexB)
	imageBBare, _ := ParseImageID(hexB)
	unknown, _ := ParseImageID("whatever")

	if !repoA.Comparable(repoB) || !imageB.Comparable(imageBBare) {
		t.Error("same kinds must compare")
	}
	if repoA.Comparable(imageB) || imageB.Comparable(repoA) {
		t.Error("a repository digest and an image ID must not compare")
	}
	if unknown.Comparable(unknown) {
		t.Error("unknown IDs must never compare")
	}
	// The same digest through two runtime prefixes is the same digest.
	if repoA.Digest != repoAShort.Digest || repoA.Repository != repoAShort.Repository {
		t.Errorf("runtime prefixes changed the digest: %+v vs %+v", repoA, repoAShort)
	}
	if imageB.Digest != imageBBare.Digest {
		t.Errorf("bare hex and sha256: image IDs differ: %q vs %q", imageB.Digest, imageBBare.Digest)
	}
}

func TestShortAndFamiliar(t *testing.T) {
	if got := Short("sha256:" + hexA); got != hexA[:12] {
		t.Errorf("Short = %q", got)
	}
	if got := Short("weird"); got != "weird" {
		t.Errorf("Short(weird) = %q", got)
	}
	if got := Familiar("docker.io/library/nginx:1.25"); got != "nginx:1.25" {
		t.Errorf("Familiar = %q", got)
	}
	if got := Familiar("ghcr.io/a/b:v1"); got != "ghcr.io/a/b:v1" {
		t.Errorf("Familiar = %q", got)
	}
}

func TestParserRemembers(t *testing.T) {
	p := NewParser()
	a := p.Ref("nginx")
	b := p.Ref("nginx")
	if a != b || a.Normalized != "docker.io/library/nginx:latest" {
		t.Errorf("Parser.Ref = %+v then %+v", a, b)
	}
	if len(p.refs) != 1 {
		t.Errorf("parser kept %d refs, want 1", len(p.refs))
	}
	if id := p.ImageID(""); id != nil {
		t.Errorf("Parser.ImageID(\"\") = %+v, want nil", id)
	}
	x, y := p.ImageID("sha256:"+hexA), p.ImageID("sha256:"+hexA)
	if x != y || x.Kind != KindImageID {
		t.Errorf("Parser.ImageID not shared: %p %p", x, y)
	}
}

// FuzzParse checks that no input panics, and that parsing a normalized result again
// changes nothing.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"nginx", "nginx:1.25", "ghcr.io/a/b@sha256:" + hexA, "docker-pullable://nginx@sha256:" + hexA,
		"docker://sha256:" + hexB, "sha256:" + hexB, hexB, "docker.io/library/nginx:1.25@sha256:" + hexA,
		"", "::", "@", "docker://", "a@sha256:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := ParseRef(s)
		if r.Valid() {
			again := ParseRef(r.Normalized)
			if again.Normalized != r.Normalized || again.Repository != r.Repository || again.Pin != r.Pin {
				t.Errorf("ParseRef not idempotent: %q -> %+v -> %+v", s, r, again)
			}
		} else if r.Normalized != s || r.Pinned() {
			t.Errorf("invalid ref %q changed: %+v", s, r)
		}

		id, ok := ParseImageID(s)
		if ok != (s != "") {
			t.Fatalf("ParseImageID(%q) ok = %v", s, ok)
		}
		if !ok {
			return
		}
		if id.Raw != s {
			t.Errorf("raw not kept: %q -> %q", s, id.Raw)
		}
		var again ID
		switch id.Kind {
		case KindRepo, KindImport:
			again, _ = ParseImageID(id.Repository + "@" + id.Digest)
			if again.Repository != id.Repository {
				t.Errorf("repository not stable: %q -> %q -> %q", s, id.Repository, again.Repository)
			}
		case KindImageID:
			again, _ = ParseImageID(id.Digest)
		case KindUnknown:
			if id.Digest != s {
				t.Errorf("unknown id %q not kept raw: %q", s, id.Digest)
			}
			return
		default:
			t.Fatalf("ParseImageID(%q) kind %q", s, id.Kind)
		}
		if again.Kind != id.Kind || again.Digest != id.Digest {
			t.Errorf("ParseImageID not idempotent: %q -> %+v -> %+v", s, id, again)
		}
		if cached := NewParser().ImageID(s); cached == nil || *cached != id {
			t.Errorf("Parser.ImageID(%q) = %+v, ParseImageID = %+v", s, cached, id)
		}
	})
}

// TestValidDigest is the one rule for what a digest is, which the API's look-ups share
// with ParseImageID.
func TestValidDigest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"sha256:" + strings.Repeat("a", 64), true},
		{"sha384:" + strings.Repeat("b", 96), true},
		{"sha512:" + strings.Repeat("c", 128), true},
		{"sha256:" + strings.Repeat("a", 63), false},
		{"sha384:" + strings.Repeat("b", 64), false},
		{"sha512:" + strings.Repeat("c", 64), false},
		{"sha256:" + strings.Repeat("A", 64), false},
		{"sha1:" + strings.Repeat("a", 40), false},
		{"md5:" + strings.Repeat("a", 64), false},
		{strings.Repeat("a", 64), false},
		{"", false},
	} {
		if got := ValidDigest(tc.in); got != tc.want {
			t.Errorf("ValidDigest(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if id, _ := ParseImageID("ghcr.io/a/b@" + tc.in); (id.Kind == KindRepo) != tc.want {
			t.Errorf("ParseImageID of a repository digest %q: kind %s, want valid %v", tc.in, id.Kind, tc.want)
		}
	}
}
