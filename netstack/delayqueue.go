package netstack

import (
	"container/heap"
	"sync"
	"time"

	"github.com/glassnet/glassnet/tun"
)

// DefaultDelayQueue is how many packets each direction's delay queue holds
// when Options.DelayQueue is 0.
const DefaultDelayQueue = 4096

// delayQueue holds packets that a hook delayed and lets each go at its due
// time, from a goroutine of its own, so that the stack's goroutines never
// wait for a delay. Packets due at the same time leave in the order they
// came. It is bounded: a packet that finds it full is refused.
type delayQueue struct {
	limit int
	out   func(b []byte, g tun.GSO) // called from the queue's goroutine
	lost  func(b []byte)            // a packet still queued at stop

	mu      sync.Mutex
	items   delayHeap
	seq     uint64
	stopped bool

	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

type delayed struct {
	due time.Time
	seq uint64
	b   []byte
	gso tun.GSO // of a super-packet; zero for a packet
}

type delayHeap []delayed

func (h delayHeap) Len() int { return len(h) }
func (h delayHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h delayHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)   { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = delayed{}
	*h = old[:len(old)-1]
	return x
}

func newDelayQueue(limit int, out func([]byte, tun.GSO), lost func([]byte)) *delayQueue {
	if limit <= 0 {
		limit = DefaultDelayQueue
	}
	return &delayQueue{limit: limit, out: out, lost: lost, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues b (which the queue now owns), with its offload metadata g,
// to leave at due (at once if that has passed, or is zero). It reports
// false when the queue is full or stopped.
func (q *delayQueue) push(b []byte, g tun.GSO, due time.Time) bool {
	q.mu.Lock()
	if q.stopped || len(q.items) >= q.limit {
		q.mu.Unlock()
		return false
	}
	q.seq++
	if due.IsZero() {
		due = time.Now()
	}
	heap.Push(&q.items, delayed{due: due, seq: q.seq, b: b, gso: g})
	first := q.items[0].seq == q.seq
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

func (q *delayQueue) start() {
	q.wg.Add(1)
	go q.run()
}

func (q *delayQueue) run() {
	defer q.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		q.mu.Lock()
		var ready []delayed
		now := time.Now()
		for len(q.items) > 0 && !q.items[0].due.After(now) {
			ready = append(ready, heap.Pop(&q.items).(delayed))
		}
		wait := time.Hour
		if len(q.items) > 0 {
			wait = q.items[0].due.Sub(now)
		}
		q.mu.Unlock()
		for _, it := range ready {
			q.out(it.b, it.gso)
		}
		if len(ready) > 0 {
			continue
		}
		t.Reset(wait)
		select {
		case <-q.done:
			return
		case <-q.wake:
		case <-t.C:
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
	}
}

// stop ends the goroutine and hands what is still queued to lost. It is
// safe to call more than once.
func (q *delayQueue) stop() {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		q.wg.Wait()
		return
	}
	q.stopped = true
	q.mu.Unlock()
	close(q.done)
	q.wg.Wait()
	q.mu.Lock()
	items := q.items
	q.items = nil
	q.mu.Unlock()
	for _, it := range items {
		q.lost(it.b)
	}
}
