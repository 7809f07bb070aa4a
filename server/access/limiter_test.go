package access

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestLimitersForgetIdleTokens checks that the buckets do not grow without bound: one
// idle long enough to be full again is dropped.
func TestLimitersForgetIdleTokens(t *testing.T) {
	l := NewLimiter(10, 20, 0) // full again after 2s
	t0 := time.Now()
	for i := range 5000 {
		if _, wait := l.Take(fmt.Sprint("token:", i), t0); wait != 0 {
			t.Fatal("refused")
		}
	}
	if n := l.size(); n != 5000 {
		t.Fatalf("%d buckets, want 5000", n)
	}
	if _, wait := l.Take("token:new", t0.Add(3*time.Second)); wait != 0 {
		t.Fatal("refused")
	}
	if n := l.size(); n != 1 {
		t.Errorf("%d buckets after the idle ones were full again, want 1", n)
	}
	// Dropping a full bucket changes nothing for its token: a burst still passes.
	for range 20 {
		if _, wait := l.Take("token:7", t0.Add(3*time.Second)); wait != 0 {
			t.Fatal("burst refused")
		}
	}
	if _, wait := l.Take("token:7", t0.Add(3*time.Second)); wait == 0 {
		t.Error("past the burst: allowed")
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:1234":          "192.0.2.1",
		"[::ffff:192.0.2.1]:1":    "192.0.2.1",
		"[2001:db8:1:2:3::4]:5":   "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::]:5": "2001:db8:1:2::/64",
		"garbage":                 "garbage",
	} {
		if got := AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLimiterBoundsKeys(t *testing.T) {
	l := NewLimiter(rate.Every(time.Minute), 2, 3)
	now := time.Now()
	for _, k := range []string{"a", "b", "c"} {
		if _, wait := l.Take(k, now); wait != 0 {
			t.Fatal("first attempt refused")
		}
	}
	// Past maxKeys, new keys share the overflow bucket.
	l.Take("d", now)
	l.Take("e", now)
	if _, wait := l.Take("f", now); wait == 0 {
		t.Error("the overflow bucket allowed more than its burst")
	}
	// A success gives the token back.
	a, _ := l.Take("a", now)
	a.Succeeded()
	if _, wait := l.Take("a", now); wait != 0 {
		t.Error("a success counted as a failure")
	}
	if _, wait := l.Take("a", now); wait == 0 {
		t.Error("burst exceeded")
	}
	// Idle keys are swept once full again.
	if _, wait := l.Take("g", now.Add(time.Hour)); wait != 0 || len(l.buckets) != 1 {
		t.Errorf("after an hour: %d buckets", len(l.buckets))
	}
}
