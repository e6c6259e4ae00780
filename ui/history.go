package ui

import (
	"bytes"
	"encoding/json"
	"sort"
	"sync"

	"github.com/glassnet/glassnet/trace"
)

// DefaultHistory is how many events a Server keeps unless told otherwise.
const DefaultHistory = 200_000

// history is the bounded record of events a page can fetch by ID range.
// Each event is a copy: its own Fields and, for a unit with bytes, its own
// Data, never reused, so a shallow copy taken under the lock stays valid
// after the slot is overwritten.
type history struct {
	mu     sync.Mutex
	fields []trace.Field // the rest of the current chunk
	data   []byte
	buf    []trace.Event
	next   int    // slot the next event goes to
	total  uint64 // events ever added
	last   uint64 // ID of the newest event
}

func newHistory(n int) *history {
	if n < 1 {
		n = DefaultHistory
	}
	return &history{buf: make([]trace.Event, 0, n)}
}

// Copies of fields and bytes are cut from chunks of these sizes, so that
// keeping an event costs no allocation of its own; a chunk is never
// reused, only dropped when no event it holds is left.
const (
	fieldChunk = 16 << 10
	dataChunk  = 1 << 20
)

// add copies e into the history.
func (h *history) add(e *trace.Event) {
	c := *e
	h.mu.Lock()
	c.Fields = h.keepFields(e.Fields)
	c.Data = h.keepData(e.Data)
	if len(h.buf) < cap(h.buf) {
		h.buf = append(h.buf, c)
	} else {
		h.buf[h.next] = c
	}
	h.next++
	if h.next == cap(h.buf) {
		h.next = 0
	}
	h.total++
	h.last = c.ID
	h.mu.Unlock()
}

// keepFields returns a copy of f; h.mu held.
func (h *history) keepFields(f []trace.Field) []trace.Field {
	if len(f) == 0 {
		return nil
	}
	if len(f) > fieldChunk/4 {
		return append([]trace.Field(nil), f...)
	}
	if len(h.fields) < len(f) {
		h.fields = make([]trace.Field, fieldChunk)
	}
	c := h.fields[:len(f):len(f)]
	copy(c, f)
	h.fields = h.fields[len(f):]
	return c
}

// keepData returns a copy of b; h.mu held.
func (h *history) keepData(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if len(b) > dataChunk/8 {
		return append([]byte(nil), b...)
	}
	if len(h.data) < len(b) {
		h.data = make([]byte, dataChunk)
	}
	c := h.data[:len(b):len(b)]
	copy(c, b)
	h.data = h.data[len(b):]
	return c
}

// at returns the i-th oldest event held; h.mu must be held.
func (h *history) at(i int) *trace.Event {
	if len(h.buf) < cap(h.buf) {
		return &h.buf[i]
	}
	return &h.buf[(h.next+i)%len(h.buf)]
}

// bounds returns the IDs of the oldest and newest events held (0, 0 when
// empty) and how many were ever added.
func (h *history) bounds() (first, last, total uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.buf) == 0 {
		return 0, 0, h.total
	}
	return h.at(0).ID, h.last, h.total
}

// search returns the index of the first held event with ID >= id; h.mu
// must be held.
func (h *history) search(id uint64) int {
	return sort.Search(len(h.buf), func(i int) bool { return h.at(i).ID >= id })
}

// rangeOf appends to dst the held events with from <= ID <= to, at most
// max of them, oldest first.
func (h *history) rangeOf(dst []trace.Event, from, to uint64, max int) []trace.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := h.search(from); i < len(h.buf) && max > 0; i++ {
		e := h.at(i)
		if e.ID > to {
			break
		}
		dst = append(dst, *e)
		max--
	}
	return dst
}

// scanBack calls f with the held events before ID id, newest first, at
// most max of them, until f returns false. f must not use h.
func (h *history) scanBack(id uint64, max int, f func(e *trace.Event) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := h.search(id) - 1; i >= 0 && max > 0; i-- {
		if !f(h.at(i)) {
			return
		}
		max--
	}
}

// get returns the event with the given ID.
func (h *history) get(id uint64) (trace.Event, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := h.search(id)
	if i < len(h.buf) && h.at(i).ID == id {
		return *h.at(i), true
	}
	return trace.Event{}, false
}

// appendJSON appends v encoded as JSON without HTML escaping ("a->b", as
// the trace sinks write it) and without a trailing newline.
func appendJSON(dst []byte, v any) []byte {
	b := bytes.NewBuffer(dst)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a field value of a type JSON cannot hold gets here.
		msg, _ := json.Marshal(err.Error())
		return append(append(append(dst, `{"error":`...), msg...), '}')
	}
	out := b.Bytes()
	return out[:len(out)-1]
}

// eventsJSON returns the events as a JSON array.
func eventsJSON(dst []byte, evs []trace.Event) []byte {
	dst = append(dst, '[')
	for i := range evs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendEventJSON(dst, &evs[i])
	}
	return append(dst, ']')
}
