package store

import (
	"strconv"
	"strings"
)

// Names sort by bytes (COLLATE "C") wherever a list is ordered by them, so that the
// order, and the cursors that page through it, are those of Go's strings.Compare (and of
// `tagdrift scan`) whatever the database's locale.

// defaultLimit is the page size when a filter gives none.
const defaultLimit = 100

func limitOf(n int) int {
	if n <= 0 {
		return defaultLimit
	}
	return n
}

type query struct {
	conds []string
	args  []any
}

// arg adds an argument and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *query) where(cond string) { q.conds = append(q.conds, cond) }

// clause is the WHERE clause of the conditions, or "".
func (q *query) clause() string {
	if len(q.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.conds, " AND ")
}
