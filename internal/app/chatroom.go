package app

import (
	"context"
	"sync"

	"github.com/glassnet/glassnet/ws"
)

// chatRoom is /chat's broadcast. Every line is kept once, in a log that
// each member's writer reads from, so what the room holds does not grow
// with its members: less than limit bytes of lines, plus one line. A
// member that has limit bytes of lines or more still to be written when
// another line comes is failed with close 1008, and the lines only it
// still needed are freed. (A line is not held back while a writer starts:
// a member that has yet to be sent a short line, its own join, still gets
// a long one.)
//
// A writer goroutine runs for a member only while it has lines to write;
// it writes them from the log, without copying them, as many as are
// waiting (up to a batch) with one WriteMessages: a member that fell
// behind, as every member does while others join by the thousand, catches
// up in a few writes instead of one per line.
type chatRoom struct {
	limit int

	mu      sync.Mutex
	lines   []chatLine // lines[head:] are held, oldest first
	head    int
	first   uint64 // the sequence number of lines[head]
	end     int64  // the bytes of every line broadcast so far
	held    int    // the bytes of the lines held
	members map[*ws.Conn]*chatMember
}

type chatLine struct {
	b    []byte
	at   int64 // the bytes of the lines broadcast before this one
	left int   // the members that have yet to write it
}

type chatMember struct {
	c       *ws.Conn
	cl      *wsClient
	next    uint64 // the sequence number of the next line to write
	writing bool   // a writer goroutine runs
	gone    bool
}

// join adds c to the room, which drops a member limit bytes behind; it
// gets the lines broadcast from now on.
func (r *chatRoom) join(c *ws.Conn, cl *wsClient, limit int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.limit = limit
	if r.members == nil {
		r.members = make(map[*ws.Conn]*chatMember)
	}
	r.members[c] = &chatMember{c: c, cl: cl, next: r.first + uint64(len(r.lines)-r.head)}
}

// leave takes c out of the room, if it is in it.
func (r *chatRoom) leave(c *ws.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.members[c]; m != nil {
		r.removeLocked(m)
	}
}

// size is how many members the room has.
func (r *chatRoom) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members)
}

// heldBytes is how many bytes of lines the room holds.
func (r *chatRoom) heldBytes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

// broadcast adds a line for every member and returns the members it
// failed for being too far behind: the caller closes them (1008).
func (r *chatRoom) broadcast(b []byte) (failed []*chatMember) {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := chatLine{b: b, at: r.end}
	var start []*chatMember
	for _, m := range r.members {
		if behind := r.end - r.offsetLocked(m.next); behind >= int64(r.limit) {
			r.removeLocked(m)
			failed = append(failed, m)
			continue
		}
		line.left++
		if !m.writing {
			m.writing = true
			start = append(start, m)
		}
	}
	r.lines = append(r.lines, line)
	r.end += int64(len(b))
	r.held += len(b)
	r.trimLocked()
	for _, m := range start {
		go r.write(m)
	}
	return failed
}

// chatBatch bounds the lines one WriteMessages of a member's writer
// carries: so many, or so many bytes (the line that crosses it included;
// WriteMessages writes 8 KiB at a time).
const (
	chatBatchLines = 256
	chatBatchBytes = 16 << 10
)

// chatBatches recycles the writers' lists of lines.
var chatBatches = sync.Pool{New: func() any { return new([][]byte) }}

// write writes the lines m has not written yet, in order, and ends when
// it has written the last one or m has left.
func (r *chatRoom) write(m *chatMember) {
	ctx := context.Background()
	batch := chatBatches.Get().(*[][]byte)
	defer chatBatches.Put(batch)
	r.mu.Lock()
	for !m.gone && m.next < r.first+uint64(len(r.lines)-r.head) {
		lines, size := (*batch)[:0], 0
		for i := r.head + int(m.next-r.first); i < len(r.lines) && len(lines) < chatBatchLines && size < chatBatchBytes; i++ {
			lines = append(lines, r.lines[i].b)
			size += len(r.lines[i].b)
		}
		*batch = lines
		r.mu.Unlock()
		err := m.c.WriteMessages(ctx, ws.MessageText, lines...)
		clear(lines) // the pool keeps no line alive
		r.mu.Lock()
		if err != nil {
			// Its reader ends too, and counts how it ended.
			if !m.gone {
				r.removeLocked(m)
			}
			break
		}
		m.cl.active(m.c)
		if m.gone {
			break // failed meanwhile: removeLocked has let go of its lines
		}
		for range lines {
			r.lines[r.head+int(m.next-r.first)].left--
			m.next++
		}
		r.trimLocked()
	}
	m.writing = false
	r.mu.Unlock()
}

// offsetLocked is the byte offset of line seq in the room's stream: the
// bytes broadcast before it.
func (r *chatRoom) offsetLocked(seq uint64) int64 {
	if i := r.head + int(seq-r.first); i < len(r.lines) {
		return r.lines[i].at
	}
	return r.end
}

// removeLocked takes m out of the room: the lines it had yet to write
// need one member fewer.
func (r *chatRoom) removeLocked(m *chatMember) {
	delete(r.members, m.c)
	m.gone = true
	for i := r.head + int(m.next-r.first); i < len(r.lines); i++ {
		r.lines[i].left--
	}
	r.trimLocked()
}

// trimLocked lets go of the oldest lines that no member needs any more.
func (r *chatRoom) trimLocked() {
	for r.head < len(r.lines) && r.lines[r.head].left == 0 {
		r.held -= len(r.lines[r.head].b)
		r.lines[r.head] = chatLine{}
		r.head++
		r.first++
	}
	if r.head == len(r.lines) {
		r.lines, r.head = r.lines[:0], 0
		if cap(r.lines) > 1024 {
			r.lines = nil // a burst's log goes back once it is written
		}
	} else if r.head >= 64 && 2*r.head >= len(r.lines) {
		n := copy(r.lines, r.lines[r.head:])
		clear(r.lines[n:])
		r.lines, r.head = r.lines[:n], 0
	}
}
