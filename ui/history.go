package ui

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"sync"

	"github.com/glassnet/glassnet/trace"
)

// DefaultHistory is how many events a Server keeps unless told otherwise.
const DefaultHistory = 200_000

// history is the bounded record of events a page can fetch by ID range.
// Each event is a copy: Fields and, for a unit with bytes, Data of its
// own, never reused, so a shallow copy taken under the lock stays valid
// after the slot is overwritten.
type history struct {
	size  int // how many events it keeps: cap(buf), which may be read without mu
	mu    sync.Mutex
	kept  packer // the copies' fields and bytes
	buf   []trace.Event
	next  int    // slot the next event goes to
	total uint64 // events ever added
	last  uint64 // ID of the newest event
	// nums holds, slot by slot beside buf, the number of the connection
	// each event belongs to on its endpoints (incarnation.go), 0 for none.
	nums []uint32
	inc  incarnations
}

func newHistory(n int) *history {
	if n < 1 {
		n = DefaultHistory
	}
	return &history{size: n, buf: make([]trace.Event, 0, n), nums: make([]uint32, 0, n)}
}

// A packer cuts copies of fields and bytes from chunks of these sizes, so
// that keeping an event costs no allocation of its own; a chunk is never
// reused, only dropped when no event it holds is left.
const (
	fieldChunk = 16 << 10
	dataChunk  = 1 << 20
)

// packer copies events' fields and bytes into shared chunks, each copy of
// its exact length.
type packer struct {
	fields []trace.Field // the rest of the current chunk
	data   []byte
}

// add adds e to the history with a copy of its Data. Its Fields are
// kept as they are when they are of their exact length (trace.Sink lets a
// sink keep a copy of an event, Data aside, and every emitter gives an
// event Fields of its own, most at their exact length).
func (h *history) add(e *trace.Event) {
	h.mu.Lock()
	h.addLocked(e, false)
	h.mu.Unlock()
}

// adopt adds e to the history without copying its Data either when it is
// of its exact length: the caller gives it up (Load, whose readers cut
// fields and bytes from chunks of their own).
func (h *history) adopt(e *trace.Event) {
	h.mu.Lock()
	h.addLocked(e, true)
	h.mu.Unlock()
}

// addLocked adds e: a copy of its Fields unless they are of their exact
// length, and of its Data unless ownData says it may be kept and it is
// of its exact length; h.mu held.
func (h *history) addLocked(e *trace.Event, ownData bool) {
	c := *e
	if len(c.Fields) != cap(c.Fields) {
		c.Fields = h.kept.keepFields(e.Fields)
	}
	if !ownData || len(c.Data) != cap(c.Data) {
		c.Data = h.kept.keepData(e.Data)
	}
	var first uint64
	if len(h.buf) > 0 {
		first = h.at(0).ID
	}
	n := h.inc.number(&c, first, h.size)
	if len(h.buf) < cap(h.buf) {
		h.buf = append(h.buf, c)
		h.nums = append(h.nums, n)
	} else {
		h.buf[h.next] = c
		h.nums[h.next] = n
	}
	h.next++
	if h.next == cap(h.buf) {
		h.next = 0
	}
	h.total++
	h.last = c.ID
}

// keepFields returns a copy of f.
func (p *packer) keepFields(f []trace.Field) []trace.Field {
	if len(f) == 0 {
		return nil
	}
	if len(f) > fieldChunk/4 {
		return append([]trace.Field(nil), f...)
	}
	if len(p.fields) < len(f) {
		p.fields = make([]trace.Field, fieldChunk)
	}
	c := p.fields[:len(f):len(f)]
	copy(c, f)
	p.fields = p.fields[len(f):]
	return c
}

// keepData returns a copy of b.
func (p *packer) keepData(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if len(b) > dataChunk/8 {
		return append([]byte(nil), b...)
	}
	if len(p.data) < len(b) {
		p.data = make([]byte, dataChunk)
	}
	c := p.data[:len(b):len(b)]
	copy(c, b)
	p.data = p.data[len(b):]
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

// numbers appends to dst the connection number of each of evs, events
// the history returned (0 for one it no longer holds), in order.
func (h *history) numbers(dst []uint32, evs []trace.Event) []uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := 0
	if len(evs) > 0 {
		i = h.search(evs[0].ID)
	}
	for _, e := range evs {
		for i < len(h.buf) && h.at(i).ID < e.ID {
			i++
		}
		var n uint32
		if i < len(h.buf) && h.at(i).ID == e.ID {
			n = h.numAt(i)
		}
		dst = append(dst, n)
	}
	return dst
}

// numAt returns the connection number of the i-th oldest event held; h.mu
// must be held.
func (h *history) numAt(i int) uint32 {
	if len(h.nums) < cap(h.nums) {
		return h.nums[i]
	}
	return h.nums[(h.next+i)%len(h.nums)]
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

// eventsJSON returns the events as a JSON array, each with its connection
// number from nums (history.numbers) when it is 2 or more.
func eventsJSON(dst []byte, evs []trace.Event, nums []uint32) []byte {
	dst = append(dst, '[')
	for i := range evs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendEventJSON(dst, &evs[i])
		if i < len(nums) {
			dst = appendConnNumber(dst, nums[i])
		}
	}
	return append(dst, ']')
}

// appendConnNumber adds "conn_n" to the event object that ends dst, when
// n is 2 or more: the first connection on a pair of endpoints has none.
func appendConnNumber(dst []byte, n uint32) []byte {
	if n < 2 || len(dst) == 0 || dst[len(dst)-1] != '}' {
		return dst
	}
	dst = strconv.AppendUint(append(dst[:len(dst)-1], `,"conn_n":`...), uint64(n), 10)
	return append(dst, '}')
}
