package ws

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrMessageMemory reports a message whose buffer could not grow because
// the MemoryBudget the connection shares with others was spent. The
// connection is failed with status 1013 (try again later, RFC 6455
// §7.4.1 and the IANA registry); the others go on.
var ErrMessageMemory = errors.New("ws: message memory budget exhausted")

// budgetAllowance is how much message buffer a connection holds without
// charging its MemoryBudget: a message of up to this size, the common
// case, is read without touching the budget. It is kept well below
// preGrow, the buffer a frame announcing more than that takes as soon as
// its first byte arrives, so that such a buffer is charged: otherwise a
// peer could make each of its connections hold 64 KiB outside the budget
// with a frame header and one byte.
const budgetAllowance = 4 << 10

// A MemoryBudget bounds the memory that messages being read take, summed
// over the connections that share it (ConnOptions.MemoryBudget). A
// message is charged as its buffer grows, before the growth is allocated:
// both the reassembly of its fragments and, for a compressed message, the
// compressed bytes and what they inflate to. Each connection's first
// 4 KiB of message buffer is not charged, so that small messages, the
// common case, never touch the budget; connections sharing a budget of B
// bytes hold at most B plus 4 KiB each of message buffers. A connection
// whose message cannot grow within the budget is failed with 1013
// (ErrMessageMemory); the others go on.
//
// What the budget covers ends where the caller's part begins:
//
//   - A message returned by ReadMessage stays charged until the caller's
//     next read goes to the connection, or the connection closes, since
//     the caller may hold it until then (an echo writing it back to a
//     peer that does not read holds it that long); so do the messages a
//     Ping reads meanwhile and keeps for the caller.
//   - A message the caller keeps past its next read is no longer charged:
//     it is the caller's memory from then on. A server that keeps
//     messages (a queue, a broadcast log, a cache) bounds them itself.
//   - A buffer the caller passes to ReadMessageInto is the caller's and is
//     not charged, whatever size it grows to.
//   - A message the read side drops is given back at once (a close, an
//     error, a canceled context, 1009).
//
// With permessage-deflate and context takeover, a connection also keeps
// up to 32 KiB of history per direction between messages, for as long as
// it is open; that is charged too, as it grows, and given back when the
// connection closes. A history of what the peer sent that does not fit
// fails the connection with 1013 (the peer may refer back to it); a
// history of what this side sent that does not fit is dropped, and the
// next message is compressed without it.
//
// Not counted is what a connection holds for a moment whatever its
// messages: an 8 KiB read buffer while a frame is arriving, a pooled
// flate reader while a message inflates, a flate writer while one is
// compressed (given back before the last frame is written, so a write
// that waits for a slow peer does not hold it). Nor are the transport's
// buffers.
//
// A MemoryBudget is safe for concurrent use; growing a charge takes one
// atomic compare-and-swap, no lock.
type MemoryBudget struct {
	limit int64
	used  atomic.Int64
}

// NewMemoryBudget returns a budget of limit bytes. With limit 0 or
// less, every message that needs more than a connection's 4 KiB fails.
func NewMemoryBudget(limit int64) *MemoryBudget {
	return &MemoryBudget{limit: max(limit, 0)}
}

// Limit returns the budget's size in bytes.
func (b *MemoryBudget) Limit() int64 { return b.limit }

// InUse returns how many bytes are charged to the budget now.
func (b *MemoryBudget) InUse() int64 { return b.used.Load() }

// take charges n bytes, unless that would pass the limit and force is
// not set.
func (b *MemoryBudget) take(n int64, force bool) bool {
	for {
		u := b.used.Load()
		if !force && u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *MemoryBudget) give(n int64) { b.used.Add(-n) }

// msgMemory is a connection's account of the buffers it allocated for the
// message being read. It is guarded by readLock.
type msgMemory struct {
	budget *MemoryBudget // nil: nothing is counted
	// held is the bytes of buffers the connection allocated for the
	// message being read; charged is the part of it past
	// budgetAllowance, charged to budget.
	held, charged int64
	// msgCap and zCap are the capacities of the message buffer and of the
	// compressed payload buffer when the connection allocated them, 0
	// while the message buffer is the caller's or there is none.
	msgCap, zCap int64
}

// reserve charges for the buffer whose allocated capacity is *owned being
// replaced by one of capacity want, before it is allocated.
func (m *msgMemory) reserve(owned *int64, want int) error {
	if m.budget == nil {
		return nil
	}
	if !m.add(int64(want)-*owned, false) {
		return fmt.Errorf("%w: %d of %d bytes in use by messages being read", ErrMessageMemory, m.budget.InUse(), m.budget.limit)
	}
	*owned = int64(want)
	return nil
}

// settle records the capacity the buffer was allocated with, which may
// pass what reserve asked for by the allocator's rounding.
func (m *msgMemory) settle(owned *int64, got int) {
	if m.budget == nil {
		return
	}
	m.add(int64(got)-*owned, true)
	*owned = int64(got)
}

// add changes held by d, charging or giving back what passes the
// allowance; a charge the budget refuses, unless forced, changes nothing
// and returns false.
func (m *msgMemory) add(d int64, force bool) bool {
	held := m.held + d
	over := max(held-budgetAllowance, 0)
	switch {
	case over > m.charged:
		if !m.budget.take(over-m.charged, force) {
			return false
		}
	case over < m.charged:
		m.budget.give(m.charged - over)
	}
	m.held, m.charged = held, over
	return true
}

// handOver ends the account of a message handed to the caller: its charge
// moves to kept, where it stays until the connection reads again or
// closes (giveKept), for the caller holds the message meanwhile.
func (m *msgMemory) handOver(kept *atomic.Int64) {
	if m.charged > 0 {
		kept.Add(m.charged)
	}
	m.held, m.charged, m.msgCap, m.zCap = 0, 0, 0, 0
}

// giveKept gives back the charge of the message last handed over. It may
// be called from any goroutine: budget does not change after the Conn is
// made, and kept is given back once however many call it.
func (m *msgMemory) giveKept(kept *atomic.Int64) {
	if m.budget != nil && kept.Load() != 0 {
		m.budget.give(kept.Swap(0))
	}
}

// release gives back everything charged for the message being read: it is
// dropped with the read side.
func (m *msgMemory) release() {
	if m.charged > 0 {
		m.budget.give(m.charged)
	}
	m.held, m.charged, m.msgCap, m.zCap = 0, 0, 0, 0
}
