package access

import (
	"container/list"
	"sync"
)

// recentTokens remembers the SHA-256 of bearer secrets recently seen valid, at most max
// of them, the least recently seen forgotten first. A secret it holds skips the failed
// token limit of its client's address: a client behind the same proxy or NAT as one
// that fails again and again is never refused for it. Such a secret is still looked up
// every time, so a revoked one fails as before (and is forgotten); what the limit
// spares, the database look-ups of unknown secrets, it still spares, since an attacker
// cannot present a secret that was valid without knowing one.
type recentTokens struct {
	max int

	mu    sync.Mutex
	order *list.List // of [32]byte, most recent first
	index map[[32]byte]*list.Element
}

// maxRecentTokens bounds recentTokens: about 100 bytes each, 1 MB in all.
const maxRecentTokens = 10000

func newRecentTokens(n int) *recentTokens {
	return &recentTokens{max: n, order: list.New(), index: map[[32]byte]*list.Element{}}
}

// has reports whether sum was seen valid recently, and makes it the most recent.
func (c *recentTokens) has(sum [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.index[sum]
	if ok {
		c.order.MoveToFront(e)
	}
	return ok
}

// add notes sum as seen valid now, forgetting the least recent past max.
func (c *recentTokens) add(sum [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.index[sum]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.index[sum] = c.order.PushFront(sum)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.index, last.Value.([32]byte))
	}
}

// remove forgets sum: it was refused.
func (c *recentTokens) remove(sum [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.index[sum]; ok {
		c.order.Remove(e)
		delete(c.index, sum)
	}
}

// len is how many secrets are remembered.
func (c *recentTokens) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
