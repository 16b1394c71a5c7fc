package projections

import "sync"

// maxCachedDocs bounds a projector's document cache; past it the cache
// starts over (a cache miss costs one read).
const maxCachedDocs = 50_000

// docCache keeps the documents a projector wrote last, so that the next
// batch folds into them instead of reading them back: a projector is the
// only writer of its documents while it holds its consumer group's lease,
// so what it wrote is what is stored. It is emptied whenever that may no
// longer be true: a new lease term (another process may have written in
// between), a move to another generation of the model, a failed write
// (its outcome is unknown). Safe for concurrent use (partitions of a
// group run side by side; their streams never overlap).
type docCache[PD any] struct {
	mu   sync.Mutex
	db   string // the database the documents were written to
	docs map[string]PD
}

// get returns the document id as last written to db.
func (c *docCache[PD]) get(db, id string) (PD, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if db != c.db {
		var zero PD
		return zero, false
	}
	d, ok := c.docs[id]
	return d, ok
}

// put records d as written to db.
func (c *docCache[PD]) put(db, id string, d PD) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if db != c.db || c.docs == nil || len(c.docs) >= maxCachedDocs {
		c.db, c.docs = db, map[string]PD{}
	}
	c.docs[id] = d
}

// forget drops a document whose stored state is not known.
func (c *docCache[PD]) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.docs, id)
}

// clear empties the cache.
func (c *docCache[PD]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.db, c.docs = "", nil
}
