package commands

import (
	"container/list"
	"sync"
)

// lru is a bounded map of aggregate entries, least recently used first out.
type lru[A any] struct {
	mu    sync.Mutex
	size  int
	order *list.List
	items map[string]*list.Element
}

type lruItem[A any] struct {
	key string
	e   *entry[A]
}

func newLRU[A any](size int) *lru[A] {
	return &lru[A]{size: size, order: list.New(), items: map[string]*list.Element{}}
}

func (l *lru[A]) get(key string) (*entry[A], bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.items[key]
	if !ok {
		return nil, false
	}
	l.order.MoveToFront(el)
	return el.Value.(lruItem[A]).e, true
}

// put stores e unless a newer version of the same aggregate is cached.
func (l *lru[A]) put(key string, e *entry[A]) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.items[key]; ok {
		if el.Value.(lruItem[A]).e.version > e.version {
			return
		}
		el.Value = lruItem[A]{key: key, e: e}
		l.order.MoveToFront(el)
		return
	}
	l.items[key] = l.order.PushFront(lruItem[A]{key: key, e: e})
	for l.order.Len() > l.size {
		last := l.order.Back()
		l.order.Remove(last)
		delete(l.items, last.Value.(lruItem[A]).key)
	}
}

func (l *lru[A]) remove(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.items[key]; ok {
		l.order.Remove(el)
		delete(l.items, key)
	}
}
