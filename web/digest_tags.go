package web

import "time"

// TagRow says whether a digest is what one reference's tag points to now in one cluster
// group, as far as tagdrift saw: the target of the tag's newest move there.
type TagRow struct {
	Ref string
	// Group is the cluster group ("" for the default one, which is not named).
	Group string
	// Pinned references name their digest: they cannot move.
	Pinned bool
	// Moved says tagdrift saw the tag move (in Group); when not, Now and MovedAt are
	// empty.
	Moved bool
	// Now is the digest of the newest move, From the one it left, MovedAt when.
	Now, From string
	MovedAt   time.Time
}

// Current reports whether the digest d is where the tag points now.
func (t TagRow) Current(d string) bool { return t.Moved && t.Now == d }

// CurrentAttr is Current as the data-current attribute says it: "true", "false", or
// "unknown" for a tag never seen to move (and "pinned").
func (t TagRow) CurrentAttr(d string) string {
	switch {
	case t.Pinned:
		return "pinned"
	case !t.Moved:
		return "unknown"
	case t.Now == d:
		return "true"
	}
	return "false"
}
