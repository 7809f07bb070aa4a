// Package docs holds tagdrift's documentation pages; its tests keep them and the README
// honest: the README stays short, and no relative link or anchor points nowhere.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// readmeLimit is the README's size budget (issue 23): what it is, how to start, one line
// per feature; the reference lives in docs/.
const readmeLimit = 15 * 1024

func TestReadmeSize(t *testing.T) {
	fi, err := os.Stat("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= readmeLimit {
		t.Errorf("README.md is %d bytes, the budget is under %d: move the detail into a docs/ page and link it", fi.Size(), readmeLimit)
	}
}

// markdownFiles are README.md and every page of docs/, as paths from this directory.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("docs/ has no pages")
	}
	return append([]string{"../README.md"}, pages...)
}

// linkRE matches a Markdown link or image, [text](target) or ![alt](target), with an
// optional title after the target.
var linkRE = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// prose returns the text of a Markdown file outside fenced code blocks and inline code,
// where a bracket or parenthesis is code, not a link.
func prose(text string) string {
	var b strings.Builder
	fenced := false
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced || strings.HasPrefix(line, "    ") {
			continue
		}
		parts := strings.Split(line, "`")
		for i := 0; i < len(parts); i += 2 { // even parts are outside inline code
			b.WriteString(parts[i])
			b.WriteString(" ")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// slug is the anchor GitHub gives a heading: lower case, punctuation dropped (hyphens
// and underscores kept), spaces made hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of a Markdown file's headings, repeats numbered as GitHub
// numbers them (-1, -2, …).
func anchors(text string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	fenced := false
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		s := slug(strings.TrimSpace(strings.TrimLeft(line, "#")))
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// TestRelativeLinks checks that every relative link of README.md and docs/*.md names a
// file that exists and, where it names an anchor in a Markdown file, a heading there.
func TestRelativeLinks(t *testing.T) {
	texts := map[string]string{}
	read := func(path string) (string, error) {
		if s, ok := texts[path]; ok {
			return s, nil
		}
		raw, err := os.ReadFile(path)
		texts[path] = string(raw)
		return string(raw), err
	}
	links := 0
	for _, file := range markdownFiles(t) {
		text, err := read(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRE.FindAllStringSubmatch(prose(text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links++
			path, anchor, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), path)
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %q: %v", file, target, err)
					continue
				}
			}
			if anchor == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			destText, err := read(dest)
			if err != nil {
				t.Errorf("%s: link %q: %v", file, target, err)
				continue
			}
			if !anchors(destText)[anchor] {
				t.Errorf("%s: link %q: %s has no heading with the anchor #%s", file, target, dest, anchor)
			}
		}
	}
	if links < 20 {
		t.Errorf("found only %d relative links: the link pattern no longer matches the pages", links)
	}
}

// TestReadmeLinksEveryPage checks that every docs/ page is reachable from the README:
// a feature documents itself in its own page and adds one line there that links it.
func TestReadmeLinksEveryPage(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, m := range linkRE.FindAllStringSubmatch(prose(string(raw)), -1) {
		path, _, _ := strings.Cut(m[1], "#")
		linked[path] = true
	}
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range pages {
		if !linked["docs/"+page] {
			t.Errorf("README.md does not link docs/%s", page)
		}
	}
}

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"The JSON (`-o json`)":                        "the-json--o-json",
		"Annotation: the verdict on ReplicaSets":      "annotation-the-verdict-on-replicasets",
		"`tagdrift scan` against a bare list":         "tagdrift-scan-against-a-bare-list",
		"API tokens, roles and the audit trail":       "api-tokens-roles-and-the-audit-trail",
		"Only ReplicaSets, never Deployments or pods": "only-replicasets-never-deployments-or-pods",
	} {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
}
