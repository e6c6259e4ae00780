package trace

import "sync"

// AsyncOptions configures NewAsync. The zero value queues 4096 events and
// skips, counting them, the events that find the queue full.
type AsyncOptions struct {
	// Queue is how many events may wait for the sink; 0 means 4096.
	Queue int
	// Block makes an emitter wait for room when the queue is full instead
	// of skipping the event. The emitter holds the Tracer's delivery lock,
	// so every layer that emits waits with it: use it for a sink that
	// must see every event and that never waits for the stack (a file, a
	// socket of the host). A sink that looks at the stack or that a person
	// drives keeps the default.
	Block bool
}

// SkipReporter is implemented by a sink that wants to know which events an
// Async skipped. Skipped is called from the Async's goroutine, in order with
// the events: before the first event delivered after the run of n events
// from ID from to ID to that did not fit in the queue, or from Close.
type SkipReporter interface {
	// Skipped reports n events, IDs from to to, that were skipped.
	Skipped(from, to, n uint64)
}

// Async is a sink that hands events to another sink on a goroutine of its
// own, so that the other sink runs off every lock of the stack and of the
// Tracer, and can take as long as it likes: it may call into the stack
// (sockets.Snapshot) or write to a slow reader. Emit copies the event
// (and its Data) into a bounded queue and returns; the sink gets the
// events in ID order. When the queue is full, Emit either skips the event,
// counting it (Skipped) and telling the sink if it is a SkipReporter, or,
// with AsyncOptions.Block, waits for room: nothing is lost without a word.
type Async struct {
	sink  Sink
	block bool

	mu      sync.Mutex
	changed sync.Cond // an event was queued or taken, or Close was called
	q       []asyncSlot
	head    int // index of the oldest queued event
	n       int // events queued
	gap     asyncGap
	skipped uint64
	closed  bool
	busy    bool // the goroutine is delivering an event taken from q
	done    chan struct{}
}

// asyncGap is a run of skipped events.
type asyncGap struct{ from, to, n uint64 }

type asyncSlot struct {
	e    Event
	data []byte   // owns e.Data
	gap  asyncGap // skipped right before e
}

// NewAsync starts an Async that delivers to s. Call Close to stop it.
// s must not be nil: NewAsync panics at once rather than on its goroutine
// at the first event.
func NewAsync(s Sink, opts AsyncOptions) *Async {
	if s == nil {
		panic("trace: NewAsync of a nil Sink")
	}
	size := opts.Queue
	if size <= 0 {
		size = 4096
	}
	a := &Async{sink: s, block: opts.Block, q: make([]asyncSlot, size), done: make(chan struct{})}
	a.changed.L = &a.mu
	go a.run()
	return a
}

// Emit implements Sink.
func (a *Async) Emit(e *Event) {
	a.mu.Lock()
	for a.block && a.n == len(a.q) && !a.closed {
		a.changed.Wait()
	}
	if a.closed || a.n == len(a.q) {
		if a.gap.n == 0 {
			a.gap.from = e.ID
		}
		a.gap.to = e.ID
		a.gap.n++
		a.skipped++
		a.mu.Unlock()
		return
	}
	sl := &a.q[(a.head+a.n)%len(a.q)]
	sl.e = *e
	sl.e.Data = nil
	if e.Data != nil {
		sl.data = append(sl.data[:0], e.Data...)
		sl.e.Data = sl.data
	}
	sl.gap, a.gap = a.gap, asyncGap{}
	a.n++
	a.changed.Broadcast()
	a.mu.Unlock()
}

// run delivers queued events until Close.
func (a *Async) run() {
	defer close(a.done)
	var data []byte
	a.mu.Lock()
	for {
		for a.n == 0 && !a.closed {
			a.changed.Wait()
		}
		if a.n == 0 {
			gap := a.gap
			a.gap = asyncGap{}
			a.mu.Unlock()
			a.reportGap(gap)
			return
		}
		sl := &a.q[a.head]
		ev, gap := sl.e, sl.gap
		sl.e = Event{}
		// Swap the data buffer out of the slot, so the queue can take
		// the next event while the sink reads this one.
		data, sl.data = sl.data, data[:0]
		a.head = (a.head + 1) % len(a.q)
		a.n--
		a.busy = true
		a.changed.Broadcast()
		a.mu.Unlock()

		a.reportGap(gap)
		a.sink.Emit(&ev)

		a.mu.Lock()
		a.busy = false
		a.changed.Broadcast()
	}
}

func (a *Async) reportGap(g asyncGap) {
	if g.n == 0 {
		return
	}
	if r, ok := a.sink.(SkipReporter); ok {
		r.Skipped(g.from, g.to, g.n)
	}
}

// Skipped returns how many events did not fit in the queue and were not
// delivered, and how many events Emit got after Close.
func (a *Async) Skipped() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.skipped
}

// Flush waits until every event emitted before it was called has been
// delivered.
func (a *Async) Flush() {
	a.mu.Lock()
	for a.n > 0 || a.busy {
		a.changed.Wait()
	}
	a.mu.Unlock()
}

// Close delivers the events queued, reports a last run of skipped events,
// stops the goroutine and returns once it has ended (so it waits for a sink
// that is still busy). Events emitted after Close are counted as skipped.
// It is safe to call more than once.
func (a *Async) Close() error {
	a.mu.Lock()
	a.closed = true
	a.changed.Broadcast()
	a.mu.Unlock()
	<-a.done
	return nil
}
