package trace

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// idSink records the IDs and Data it gets, and the skips reported.
type idSink struct {
	mu    sync.Mutex
	ids   []uint64
	data  []string
	skips [][3]uint64
	gate  chan struct{} // if set, each Emit waits for a value
}

func (s *idSink) Emit(e *Event) {
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	s.ids = append(s.ids, e.ID)
	s.data = append(s.data, string(e.Data))
	s.mu.Unlock()
}

func (s *idSink) Skipped(from, to, n uint64) {
	s.mu.Lock()
	s.skips = append(s.skips, [3]uint64{from, to, n})
	s.mu.Unlock()
}

func (s *idSink) got() ([]uint64, []string, [][3]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids), slices.Clone(s.data), slices.Clone(s.skips)
}

// within fails the test if f has not returned after a minute (a hang).
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s: blocked", what)
	}
}

func TestEmitDeferredOrderAndData(t *testing.T) {
	t.Parallel()
	sink := &idSink{}
	tr := New(sink)
	const per = 2000
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := []byte("x")
			for i := range per {
				if (i+g)%2 == 0 {
					tr.Emit(Event{Name: "now"})
					continue
				}
				buf[0] = byte('a' + g)
				tr.EmitDeferred(Event{Name: "later", Data: buf})
				buf[0] = '!' // the caller's buffer is reused at once
			}
		}()
	}
	wg.Wait()
	// A last Emit delivers whatever is still deferred before itself.
	last := tr.Emit(Event{Name: "last"})
	ids, data, _ := sink.got()
	if uint64(len(ids)) != last || last != 4*per+1 {
		t.Fatalf("delivered %d events, last id %d; want %d", len(ids), last, 4*per+1)
	}
	for i, id := range ids {
		if id != uint64(i+1) {
			t.Fatalf("event %d delivered as the %dth", id, i+1)
		}
		if data[i] == "!" {
			t.Fatalf("event %d: Data not copied by EmitDeferred", id)
		}
	}
}

func TestFlushDeliversDeferred(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	sink := &idSink{gate: gate}
	tr := New(sink)
	// The Tracer's goroutine delivering these waits at the gate.
	tr.EmitDeferred(Event{Name: "first"})
	tr.EmitDeferred(Event{Name: "second"})
	tr.EmitDeferred(Event{Name: "third"})
	flushed := make(chan struct{})
	go func() { tr.Flush(); close(flushed) }()
	close(gate)
	<-flushed
	if ids, _, _ := sink.got(); len(ids) != 3 {
		t.Fatalf("after Flush: %v delivered; want all 3", ids)
	}
	var nilTracer *Tracer
	nilTracer.Flush()
}

// TestEmitDeferredDoesNotWaitForSinks: while a Stepper holds a step, an
// EmitDeferred from another goroutine returns, and its event is held at
// next, on a goroutine of the Tracer.
func TestEmitDeferredDoesNotWaitForSinks(t *testing.T) {
	t.Parallel()
	st := NewStepper(StepOptions{})
	tr := New(st)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go tr.Emit(Event{Layer: LayerLink, Name: "packet", Summary: "first"})
	e, err := st.Wait(ctx)
	if err != nil || e.Summary != "first" {
		t.Fatalf("Wait = %q, %v", e.Summary, err)
	}
	within(t, "EmitDeferred while a step is held", func() {
		tr.EmitDeferred(Event{Layer: LayerTCP, Name: "state", Summary: "second"})
	})
	st.Next()
	e, err = st.Wait(ctx)
	if err != nil || e.Summary != "second" || e.ID != 2 {
		t.Fatalf("Wait = #%d %q, %v; want the deferred event #2", e.ID, e.Summary, err)
	}
	st.Run()
}

// TestEmitDeferredBoundsData: while a sink holds its first event, deferred
// events queue their Data only up to maxDeferredData, then EmitDeferred
// waits; once the sink goes on, every event arrives, in order.
func TestEmitDeferredBoundsData(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	var ids []uint64 // the sink's, read after Flush
	tr := New(SinkFunc(func(e *Event) {
		<-gate
		ids = append(ids, e.ID)
	}))
	const size, n = 1 << 20, 200
	data := make([]byte, size)
	var emitted atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			tr.EmitDeferred(Event{Layer: LayerLink, Name: "packet", Data: data})
			emitted.Add(1)
		}
	}()
	// The first event is at the gate, in the batch the Tracer took for
	// delivery (up to the bound); the queue behind it fills to the bound
	// and no further.
	most := int64(2*maxDeferredData/size + 2)
	deadline := time.Now().Add(time.Minute)
	for emitted.Load() < maxDeferredData/size {
		if time.Now().After(deadline) {
			t.Fatalf("%d events emitted in a minute", emitted.Load())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if got := emitted.Load(); got > most {
		t.Fatalf("%d events of %d bytes queued behind a sink that takes none, want at most %d (twice %d MiB)", got, size, most, maxDeferredData>>20)
	}
	close(gate)
	<-done
	tr.Flush()
	if len(ids) != n || !slices.IsSorted(ids) {
		t.Fatalf("%d events delivered (sorted: %v), want all %d in order", len(ids), slices.IsSorted(ids), n)
	}
}

func TestAsyncDeliversInOrderAndCopiesData(t *testing.T) {
	t.Parallel()
	sink := &idSink{gate: make(chan struct{})}
	a := NewAsync(sink, AsyncOptions{Queue: 8})
	buf := []byte("a")
	for i := range 8 {
		buf[0] = byte('a' + i)
		a.Emit(&Event{ID: uint64(i + 1), Data: buf})
	}
	buf[0] = '!'
	close(sink.gate)
	a.Flush()
	ids, data, skips := sink.got()
	if !slices.Equal(ids, []uint64{1, 2, 3, 4, 5, 6, 7, 8}) || len(skips) != 0 || a.Skipped() != 0 {
		t.Fatalf("ids %v, skips %v (%d)", ids, skips, a.Skipped())
	}
	if !slices.Equal(data, []string{"a", "b", "c", "d", "e", "f", "g", "h"}) {
		t.Fatalf("data %q: not copied", data)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestAsyncSkipsAndReports: a sink that does not take events makes a full
// queue skip, never block; the skipped run is reported in order, before the
// next event delivered.
func TestAsyncSkipsAndReports(t *testing.T) {
	t.Parallel()
	sink := &idSink{gate: make(chan struct{})}
	a := NewAsync(sink, AsyncOptions{Queue: 2})
	within(t, "Emit into a full Async", func() {
		// 1 is taken by the goroutine (waiting at the gate) or still
		// queued; either way at most 3 fit before the queue is full.
		for id := uint64(1); id <= 10; id++ {
			a.Emit(&Event{ID: id})
		}
	})
	skipped := a.Skipped()
	if skipped < 7 || skipped > 8 {
		t.Fatalf("Skipped = %d; want 7 or 8 of 10 with a queue of 2", skipped)
	}
	for range 10 - skipped {
		sink.gate <- struct{}{}
	}
	waitFor(t, func() bool { ids, _, _ := sink.got(); return uint64(len(ids)) == 10-skipped })
	a.Emit(&Event{ID: 11})
	sink.gate <- struct{}{}
	a.Flush()
	ids, _, skips := sink.got()
	first := 10 - skipped + 1
	if len(skips) != 1 || skips[0] != [3]uint64{first, 10, skipped} {
		t.Fatalf("skips %v; want [[%d 10 %d]]", skips, first, skipped)
	}
	if ids[len(ids)-1] != 11 {
		t.Fatalf("ids %v; want 11 last", ids)
	}
	close(sink.gate)
	a.Close()
	a.Emit(&Event{ID: 12})
	if a.Skipped() != skipped+1 {
		t.Fatalf("Emit after Close: Skipped = %d; want %d", a.Skipped(), skipped+1)
	}
}

// TestAsyncBlock: with Block, a full queue makes Emit wait, and nothing is
// skipped.
func TestAsyncBlock(t *testing.T) {
	t.Parallel()
	sink := &idSink{gate: make(chan struct{})}
	a := NewAsync(sink, AsyncOptions{Queue: 1, Block: true})
	emitted := make(chan struct{})
	go func() {
		defer close(emitted)
		for id := uint64(1); id <= 5; id++ {
			a.Emit(&Event{ID: id})
		}
	}()
	sink.gate <- struct{}{} // 1 delivered; 2..5 cannot all fit
	select {
	case <-emitted:
		t.Fatal("Emit did not wait for room with Block")
	default:
	}
	close(sink.gate)
	<-emitted
	a.Close()
	ids, _, skips := sink.got()
	if !slices.Equal(ids, []uint64{1, 2, 3, 4, 5}) || len(skips) != 0 || a.Skipped() != 0 {
		t.Fatalf("ids %v skips %v", ids, skips)
	}
}

// waitFor polls cond until it holds; a minute means a hang.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}

// busySink signals when an Emit starts, waits for gate, and then records
// that it finished.
type busySink struct {
	started chan struct{}
	gate    chan struct{}
	mu      sync.Mutex
	done    int
}

func (s *busySink) Emit(*Event) {
	s.started <- struct{}{}
	<-s.gate
	s.mu.Lock()
	s.done++
	s.mu.Unlock()
}

// Flush waits for the event the sink is busy with, not only for the
// queue to empty: after it returns, the sink is done with every event.
func TestAsyncFlushWaitsForTheSink(t *testing.T) {
	t.Parallel()
	for i := range 20 {
		sink := &busySink{started: make(chan struct{}), gate: make(chan struct{})}
		a := NewAsync(sink, AsyncOptions{})
		a.Emit(&Event{ID: 1})
		<-sink.started // the queue is empty, the sink is busy
		go close(sink.gate)
		a.Flush()
		sink.mu.Lock()
		done := sink.done
		sink.mu.Unlock()
		a.Close()
		if done != 1 {
			t.Fatalf("try %d: Flush returned before the sink was done with the event", i)
		}
	}
}
