package request

import (
	"regexp"
	"strings"

	"github.com/tagdrift/tagdrift/scanner/imageref"
)

// hexPrefix is a digest, or a prefix of one of at least 6 hex characters, with or
// without sha256:.
var hexPrefix = regexp.MustCompile(`^(sha256:)?[0-9a-f]{6,64}$`)

// refPart is a term that may be part of a reference: the characters references are
// written with.
var refPart = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:@-]*$`)

// SearchTerm is what a term typed by a person may stand for; the UI's search and the
// API's suggestions read a term the same way.
type SearchTerm struct {
	// DigestPrefix is "sha256:" and the term's 6 to 64 hex digits, or "".
	DigestPrefix string
	// Ref and Repo are the term normalized as a reference and its repository, or "".
	Ref, Repo string
	// RefPart is the term in lower case when it may be part of a reference, as whole
	// path segments ending it or before its tag or digest ("team/app:1", "app:1",
	// "team"), or "".
	RefPart string
}

// ParseSearchTerm reads term (trimmed by the caller) as every kind of thing it may name.
func ParseSearchTerm(term string) SearchTerm {
	var t SearchTerm
	lower := strings.ToLower(term)
	if hexPrefix.MatchString(lower) {
		t.DigestPrefix = "sha256:" + strings.TrimPrefix(lower, "sha256:")
	}
	if pr := imageref.ParseRef(term); pr.Valid() {
		t.Ref, t.Repo = pr.Normalized, pr.Repository
	}
	if refPart.MatchString(lower) {
		t.RefPart = lower
	}
	return t
}
