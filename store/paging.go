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

// holes are the parts of a query that vary with its filter, sort or direction, by the
// names its text gives them ({{name}}): the queries are constants with named holes,
// rather than format strings whose %[n]s are counted by position.
type holes map[string]string

// fill puts the holes into a query. A hole the query names and holes lacks is a
// mistake in the store's own code, which every test of that query would meet: it
// panics rather than send PostgreSQL half a query.
func fill(sqlText string, h holes) string {
	pairs := make([]string, 0, 2*len(h))
	for name, v := range h {
		pairs = append(pairs, "{{"+name+"}}", v)
	}
	out := strings.NewReplacer(pairs...).Replace(sqlText)
	if i := strings.Index(out, "{{"); i >= 0 {
		panic("store: query hole not filled: " + out[i:min(len(out), i+40)])
	}
	return out
}
