package web

import (
	"strings"
	"testing"
)

// TestWrap: a long name gets break opportunities after its separators and stays
// escaped; a short one is plain text.
func TestWrap(t *testing.T) {
	ref := "registry.eu-west-1.example.com:5000/platform/team/gateway-api:2026.12.01"
	doc := render(t, Wrap(ref))
	if got := doc.Text(); got != ref {
		t.Errorf("text %q", got)
	}
	if n := doc.Find("wbr").Length(); n != strings.Count(ref[:len(ref)-1], ".")+strings.Count(ref, "/")+strings.Count(ref, ":") {
		t.Errorf("%d <wbr>", n)
	}
	hostile := `"><script>alert(1)</script>` + strings.Repeat("/x", 20)
	doc = render(t, Wrap(hostile))
	if doc.Find("script").Length() != 0 || doc.Text() != hostile {
		t.Errorf("hostile name: %q", doc.Text())
	}
	if doc := render(t, Wrap("web-7d9-abc.x")); doc.Find("wbr").Length() != 0 {
		t.Error("a short name got <wbr>")
	}
}
