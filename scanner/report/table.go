package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
)

// DefaultWidth is the terminal width the table fits when none is known.
const DefaultWidth = 80

// tableGap separates columns, as kubectl does.
const tableGap = "  "

// kindWidth is the narrowest the KIND column gets: tag-divergence whole,
// workload-divergence wrapped after its hyphen.
const kindWidth = 14

var header = []string{"KIND", "CLUSTER", "NAMESPACE", "WORKLOAD", "CONTAINER", "REFERENCE", "DIGESTS"}

// sharable are the columns that, holding one value in every row, leave the table for
// a line above it when the table does not fit: the value is said once, not wrapped in
// every row.
var sharable = []string{"CLUSTER", "NAMESPACE", "CONTAINER"}

// WriteTable writes the mutations as a table that fits width columns where it can: when
// the values are too wide, the widest columns narrow first and their values wrap onto
// further lines (nothing is cut off), each digest on a line of its own as 12 hex
// characters. Before narrowing, a cluster, namespace or container that every row shares
// leaves the table for one line above it. One summary line per cluster follows.
func WriteTable(w io.Writer, rep Report, width int) error {
	if width <= 0 {
		width = DefaultWidth
	}
	var b strings.Builder
	if len(rep.Mutations) == 0 {
		b.WriteString("No mutations found.\n")
	} else {
		rows := mutationRows(rep.Mutations)
		if naturalWidth(rows) > width {
			var shared []string
			rows, shared = dropShared(rows)
			if len(shared) > 0 {
				fmt.Fprintf(&b, "All in %s.\n", strings.Join(shared, ", "))
			}
		}
		writeRows(&b, rows, width)
	}
	b.WriteString("\n")
	for _, c := range rep.Clusters {
		if c.Error != "" {
			fmt.Fprintf(&b, "cluster %s: error: %s\n", c.Name, c.Error)
			continue
		}
		fmt.Fprintf(&b, "cluster %s: %s, %s, %s\n", c.Name,
			plural(c.Pods, "pod"), plural(c.Containers, "container"), plural(mutationsIn(rep.Mutations, c.Name), "mutation"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mutationRows returns the header and one row per mutation; a cell may hold several
// lines (the digests) separated by newlines.
func mutationRows(ms []detect.Mutation) [][]string {
	rows := [][]string{header}
	for _, m := range ms {
		workload := ""
		if m.Workload.Kind != "" {
			workload = shortKind(m.Workload.Kind) + "/" + m.Workload.Name
		}
		digests := make([]string, len(m.Digests))
		for i, d := range m.Digests {
			digests[i] = imageref.Short(d)
		}
		rows = append(rows, []string{
			string(m.Kind), orSeveral(m.Cluster), orSeveral(m.Namespace), orSeveral(workload),
			orSeveral(m.Container), shortRef(m.Ref), strings.Join(digests, "\n"),
		})
	}
	return rows
}

// shortRef is the reference as users write it, with a pin shortened like the digests.
func shortRef(ref string) string {
	familiar := imageref.Familiar(ref)
	if name, pin, ok := strings.Cut(familiar, "@"); ok {
		return name + "@" + imageref.Short(pin)
	}
	return familiar
}

// shortKind returns kubectl's short name for a workload kind, so that the column is
// narrow and the value can be pasted into kubectl.
func shortKind(kind string) string {
	switch kind {
	case "Deployment":
		return "deploy"
	case "ReplicaSet":
		return "rs"
	case "StatefulSet":
		return "sts"
	case "DaemonSet":
		return "ds"
	case "CronJob":
		return "cj"
	case "Job":
		return "job"
	case "Pod":
		return "pod"
	}
	return strings.ToLower(kind)
}

// orSeveral marks a field that a mutation spanning several places does not share.
func orSeveral(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

// columnWidths is the width of each column's widest line.
func columnWidths(rows [][]string) []int {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, cell := range r {
			for _, line := range strings.Split(cell, "\n") {
				widths[i] = max(widths[i], utf8.RuneCountInString(line))
			}
		}
	}
	return widths
}

// naturalWidth is how wide rows are unwrapped.
func naturalWidth(rows [][]string) int {
	n := len(tableGap) * (len(rows[0]) - 1)
	for _, w := range columnWidths(rows) {
		n += w
	}
	return n
}

// dropShared removes the sharable columns whose value is one and the same in every row
// (a mutation spanning places, "*", shares nothing), and says what they held
// ("cluster prod").
func dropShared(rows [][]string) ([][]string, []string) {
	var drop []int
	var said []string
	for i, h := range rows[0] {
		if !slices.Contains(sharable, h) {
			continue
		}
		v := rows[1][i]
		if v == "*" || slices.ContainsFunc(rows[1:], func(r []string) bool { return r[i] != v }) {
			continue
		}
		drop = append(drop, i)
		said = append(said, strings.ToLower(h)+" "+v)
	}
	if len(drop) == 0 {
		return rows, nil
	}
	out := make([][]string, len(rows))
	for j, r := range rows {
		for i, cell := range r {
			if !slices.Contains(drop, i) {
				out[j] = append(out[j], cell)
			}
		}
	}
	return out, said
}

func writeRows(b *strings.Builder, rows [][]string, width int) {
	head := rows[0]
	widths := columnWidths(rows)
	minimum := make([]int, len(head))
	for i, h := range head {
		minimum[i] = utf8.RuneCountInString(h)
		switch h {
		case "KIND":
			minimum[i] = kindWidth
		case "DIGESTS":
			// Never narrows: short digests are 12 hex characters.
			minimum[i] = widths[i]
		}
	}
	total := func() int {
		n := len(tableGap) * (len(widths) - 1)
		for _, w := range widths {
			n += w
		}
		return n
	}
	// Take one column at a time from the widest column that can narrow, until the
	// table fits or every column is at its minimum.
	for total() > width {
		widest := -1
		for i, w := range widths {
			if w > minimum[i] && (widest < 0 || w > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break
		}
		widths[widest]--
	}
	for _, r := range rows {
		cells := make([][]string, len(r))
		height := 0
		for i, cell := range r {
			for _, line := range strings.Split(cell, "\n") {
				cells[i] = append(cells[i], wrap(line, widths[i])...)
			}
			height = max(height, len(cells[i]))
		}
		for l := range height {
			var line strings.Builder
			for i := range r {
				part := ""
				if l < len(cells[i]) {
					part = cells[i][l]
				}
				line.WriteString(part)
				if i < len(r)-1 {
					line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(part)))
					line.WriteString(tableGap)
				}
			}
			b.WriteString(strings.TrimRight(line.String(), " "))
			b.WriteString("\n")
		}
	}
}

// wrap splits s into lines of at most n runes, breaking after a separator (- / : . @)
// where one falls in the last three quarters of a line, so that names split where they
// read.
func wrap(s string, n int) []string {
	r := []rune(s)
	var lines []string
	for len(r) > n {
		cut := n
		for i := n; i > n/4; i-- {
			if strings.ContainsRune("-/:.@", r[i-1]) {
				cut = i
				break
			}
		}
		lines = append(lines, string(r[:cut]))
		r = r[cut:]
	}
	return append(lines, string(r))
}

func mutationsIn(ms []detect.Mutation, cluster string) int {
	n := 0
	for _, m := range ms {
		for _, p := range m.Places {
			if p.Cluster == cluster {
				n++
				break
			}
		}
	}
	return n
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
