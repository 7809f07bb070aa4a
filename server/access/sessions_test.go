package access

import "testing"

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "/",
		"/":                     "/",
		"/workloads?cluster=a":  "/workloads?cluster=a",
		"/images?ref=nginx%3A1": "/images?ref=nginx%3A1",
		"//evil.example":        "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"javascript:alert(1)":   "/",
		"evil.example":          "/",
		"/\t/evil.example":      "/",
		"/signin?next=/":        "/",
		"/%0d%0aSet-Cookie:x=1": "/%0d%0aSet-Cookie:x=1",
		"/a\r\nSet-Cookie: x=1": "/",
		"/signout":              "/",
		"/clusters/a%2F..%2Fb":  "/clusters/a%2F..%2Fb",
	} {
		if got := SafeNext(in); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
