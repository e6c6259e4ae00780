package sockets_test

import (
	"errors"
	"runtime"
	"syscall"
	"testing"

	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// TestSmallWritesQueueCost checks glassnet patch 24 in third_party/gvisor
// (PATCHES.md there): small writes to a peer that has stopped reading are
// gathered into the segment at the tail of the write queue, so the queue
// costs little more than the bytes it holds. Upstream queued each write
// as a segment of its own, about 700 bytes of structs for each (a pong
// of 127 bytes to every ping of a flood cost 21 MiB a connection). The
// bound is wide: about 2.4 bytes of heap a byte queued with the change
// (the 127-byte writes in 128-byte chunks, and their views), about 6
// without.
func TestSmallWritesQueueCost(t *testing.T) {
	p := newStackPair(t, tun.PipeOptions{})
	// The server never reads, and its receive buffer is small, so that
	// what is queued waits in the client's send queue.
	ctx := stacksContext(t)
	lfd, addr := p.listen(t, 4)
	check(t, p.ss.SetSockOpt(lfd, sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096))
	cfd := socket(t, p.cs, sockets.SOCK_STREAM)
	check(t, p.cs.Connect(ctx, cfd, addr))
	sfd, _, err := p.ss.Accept(ctx, lfd)
	check(t, err)
	t.Cleanup(func() { p.ss.Close(sfd) })
	p.cs.SetNonblock(cfd, true)
	msg := make([]byte, 127)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC() // and the pools' victims
	runtime.ReadMemStats(&before)
	queued := 0
	for queued < 4<<20 {
		n, err := p.cs.Send(ctx, cfd, msg, 0)
		if errors.Is(err, syscall.EAGAIN) {
			break // the send buffer is full
		}
		check(t, err)
		queued += n
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	perByte := grew / float64(queued)
	t.Logf("%d bytes queued in 127-byte writes: heap +%.1f MiB, %.2f bytes a byte", queued, grew/(1<<20), perByte)
	if perByte > 3.5 {
		t.Errorf("the send queue costs %.2f bytes of heap a byte queued in small writes, want at most 3.5", perByte)
	}
}
