// Package imageref turns the image strings of pod specs (references) and the imageIDs
// reported by container runtimes into normalized, comparable values.
//
// Runtimes report imageIDs in many forms; two of them only compare when they are of the
// same Kind, since a repository digest (the manifest or index digest) and a local image
// ID (the config digest) of the same image differ.
//
// What a real node writes (containerd 1.6.20's CRI under kubelet 1.35, seen in the
// end-to-end test e2e.TestRealNode, which asserts it):
//   - a pulled image: REPO@sha256:M, the repository as pulled and M the digest the tag
//     resolved to in the registry (127.0.0.1:5000/demo/app@sha256:…): KindRepo;
//   - a tag naming a multi-platform image index (linux/amd64 and linux/arm64): the
//     index's digest, not the digest of the platform manifest that ran (linux/amd64
//     here); the index is one for every architecture, so pods of one tag report one
//     digest: KindRepo;
//   - an image imported without a registry (ctr images import) and run with
//     imagePullPolicy Never: a bare sha256:C, C the config digest: KindImageID, never
//     compared with a repository digest;
//   - imported as kind load does (ctr images import --all-platforms --digests):
//     docker.io/library/import-YYYY-MM-DD@sha256:M', M' the digest of a manifest that
//     was made where the image was exported (docker save, ctr export), under a
//     repository ctr made up: not the digest a registry gives the reference the pod
//     asked for, so that an imported pod and a pulled one of the same image would look
//     like two contents: KindImport, compared only with other imports.
package imageref

import (
	"regexp"
	"strings"

	"github.com/distribution/reference"
)

// Kind says what an imageID's digest is a digest of.
type Kind string

const (
	// KindRepo is a repository (manifest or index) digest, as containerd, CRI-O and
	// dockershim report for pulled images.
	KindRepo Kind = "repo"
	// KindImageID is a local image ID (config digest), reported for imported images
	// and by some CRI-O versions.
	KindImageID Kind = "image-id"
	// KindImport is the digest of a manifest written at import under a repository ctr
	// made up (import-YYYY-MM-DD): local like an image ID, not the registry's digest of
	// any reference, so it compares only with other imports.
	KindImport Kind = "import"
	// KindUnknown is any other form: kept raw, never compared.
	KindUnknown Kind = "unknown"
)

// importRepository is the repository ctr images import names an image it has no name
// for (its --digests flag; kind load uses it): import-YYYY-MM-DD, normalized.
var importRepository = regexp.MustCompile(`^docker\.io/library/import-[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// Ref is a reference as written in a pod spec, and its normalized form.
type Ref struct {
	// Written is the reference as the pod spec has it.
	Written string `json:"image"`
	// Normalized is the fully qualified reference with a tag
	// (docker.io/library/nginx:latest), or Written when it does not parse.
	Normalized string `json:"ref"`
	// Repository is the normalized repository name; empty when Written does not parse.
	Repository string `json:"-"`
	// Pin is the digest of a pinned reference (repo@sha256:…); empty when unpinned.
	Pin string `json:"-"`
}

// Valid reports whether the reference parsed.
func (r Ref) Valid() bool { return r.Repository != "" }

// Pinned reports whether the reference names a digest, so that it cannot mutate.
func (r Ref) Pinned() bool { return r.Pin != "" }

// ID is one parsed imageID.
type ID struct {
	// Raw is the imageID exactly as the runtime reported it.
	Raw string
	// Kind says what Digest is; only IDs of one kind compare.
	Kind Kind
	// Digest is algorithm:hex for KindRepo, KindImport and KindImageID, and Raw for
	// KindUnknown.
	Digest string
	// Repository is the normalized repository of a KindRepo or KindImport digest, as
	// reported (it may differ from the spec's: the digest still names the content).
	Repository string
}

// Comparable reports whether two IDs are of the same known kind, so that unequal
// digests prove different content.
func (id ID) Comparable(other ID) bool {
	return id.Kind == other.Kind && id.Kind != KindUnknown
}

// ParseRef normalizes a pod spec's image reference: nginx becomes
// docker.io/library/nginx:latest. A reference that does not parse is kept as written.
func ParseRef(image string) Ref {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return Ref{Written: image, Normalized: image}
	}
	r := Ref{Written: image, Repository: named.Name()}
	if d, ok := named.(reference.Digested); ok {
		r.Pin = d.Digest().String()
	} else {
		named = reference.TagNameOnly(named)
	}
	r.Normalized = named.String()
	return r
}

// ParseImageID parses a runtime's imageID. It returns false when the string is empty,
// which means the container has not pulled yet and is not an observation. Every other
// string parses; forms it does not know are KindUnknown.
func ParseImageID(raw string) (ID, bool) {
	return parseImageID(raw, normalizeRepository)
}

func parseImageID(raw string, repo func(string) (string, bool)) (ID, bool) {
	if raw == "" {
		return ID{}, false
	}
	unknown := ID{Raw: raw, Kind: KindUnknown, Digest: raw}
	rest := raw
	if scheme, after, ok := strings.Cut(raw, "://"); ok {
		if scheme != "docker-pullable" && scheme != "docker" {
			return unknown, true
		}
		rest = after
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		dgst := rest[at+1:]
		if !ValidDigest(dgst) {
			return unknown, true
		}
		name, ok := repo(rest[:at])
		if !ok {
			return unknown, true
		}
		kind := KindRepo
		if importRepository.MatchString(name) {
			kind = KindImport
		}
		return ID{Raw: raw, Kind: kind, Digest: dgst, Repository: name}, true
	}
	if ValidDigest(rest) {
		return ID{Raw: raw, Kind: KindImageID, Digest: rest}, true
	}
	if len(rest) == 64 && isLowerHex(rest) {
		return ID{Raw: raw, Kind: KindImageID, Digest: "sha256:" + rest}, true
	}
	return unknown, true
}

// normalizeRepository normalizes the repository part of a repository digest, which may
// carry a tag (repo:tag@sha256:…, seen on kind); the tag is dropped.
func normalizeRepository(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return "", false
	}
	if _, ok := named.(reference.Digested); ok {
		return "", false
	}
	return named.Name(), true
}

// ValidDigest reports whether s is a digest as tagdrift stores and looks them up:
// one of the OCI image spec's algorithms (sha256, sha384, sha512) and its exact
// lowercase hex length.
func ValidDigest(s string) bool {
	alg, hex, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	var n int
	switch alg {
	case "sha256":
		n = 64
	case "sha384":
		n = 96
	case "sha512":
		n = 128
	default:
		return false
	}
	return len(hex) == n && isLowerHex(hex)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Short returns the first 12 hex characters of a digest, for tables; other strings are
// returned whole.
func Short(digest string) string {
	if _, hex, ok := strings.Cut(digest, ":"); ok && len(hex) >= 12 && isLowerHex(hex) {
		return hex[:12]
	}
	return digest
}

// Familiar returns the short form users write (nginx:1.25 for
// docker.io/library/nginx:1.25), or s when it does not parse.
func Familiar(s string) string {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return reference.FamiliarString(named)
}

// Parser parses references and imageIDs and remembers the results, since a scan sees
// the same few images in many pods: every pod running one image shares one parsed Ref
// and ID. It is not safe for concurrent use.
type Parser struct {
	refs  map[string]*Ref
	ids   map[string]*ID
	repos map[string]repoResult
}

type repoResult struct {
	name string
	ok   bool
}

// NewParser returns an empty Parser.
func NewParser() *Parser {
	return &Parser{refs: make(map[string]*Ref), ids: make(map[string]*ID), repos: make(map[string]repoResult)}
}

// Ref is ParseRef, remembered. The result is shared: do not modify it.
func (p *Parser) Ref(image string) *Ref {
	if r, ok := p.refs[image]; ok {
		return r
	}
	r := ParseRef(image)
	p.refs[image] = &r
	return &r
}

// ImageID is ParseImageID, remembered; it returns nil for an empty imageID, which is not
// an observation. The result is shared: do not modify it.
func (p *Parser) ImageID(raw string) *ID {
	if id, ok := p.ids[raw]; ok {
		return id
	}
	id, ok := parseImageID(raw, p.repository)
	if !ok {
		return nil
	}
	p.ids[raw] = &id
	return &id
}

func (p *Parser) repository(s string) (string, bool) {
	if r, ok := p.repos[s]; ok {
		return r.name, r.ok
	}
	name, ok := normalizeRepository(s)
	p.repos[s] = repoResult{name: name, ok: ok}
	return name, ok
}
