package store

import "testing"

// TestFill: a query's named holes are filled wherever they appear, and a hole left
// unfilled is refused before PostgreSQL sees half a query.
func TestFill(t *testing.T) {
	got := fill(`SELECT 1 WHERE a = {{x}} OR b = {{x}} {{rest}}`, holes{"x": "$1", "rest": "AND c"})
	if want := `SELECT 1 WHERE a = $1 OR b = $1 AND c`; got != want {
		t.Errorf("fill gave %q, want %q", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("a hole left unfilled did not panic")
		}
	}()
	fill(`SELECT {{x}}, {{y}}`, holes{"x": "1"})
}
