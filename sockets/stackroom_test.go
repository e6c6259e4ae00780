package sockets

import (
	"errors"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
)

// TestConnFirstReadMakesStackRoom checks that a Conn's first Read (or
// WriteTo, as io.Copy calls it, or RemoteAddr, as net/http's connection
// goroutine calls it first) grows its goroutine's stack to hold stackRoom
// more bytes: n fresh goroutines that have made one call each hold 16 KiB
// of stack, where the call itself needs 8 KiB. Other goroutines' stacks
// come and go meanwhile, so the test asks for 12 KiB each.
func TestConnFirstReadMakesStackRoom(t *testing.T) {
	for _, first := range []string{"Read", "WriteTo", "RemoteAddr"} {
		t.Run(first, func(t *testing.T) { testStackRoom(t, first) })
	}
}

func testStackRoom(t *testing.T, first string) {
	s := newSockets(t, Options{})
	ln, err := s.Listener("tcp4", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	ctx := testContext(t)
	const n = 64
	servers := make([]net.Conn, n)
	for i := range servers {
		c, err := s.Dial(ctx, "tcp4", ln.Addr().String())
		must(t, err)
		defer c.Close()
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		if first == "WriteTo" {
			must(t, c.Close()) // WriteTo returns at end of stream
		}
		sc, err := ln.Accept()
		must(t, err)
		defer sc.Close()
		servers[i] = sc
	}

	// A collection frees the stack spans that earlier goroutines left
	// unused, and none may run until the stacks are counted (it could
	// shrink them).
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	release := make(chan struct{})
	var read, done sync.WaitGroup
	errs := make([]error, n)
	for i, sc := range servers {
		read.Add(1)
		done.Go(func() {
			switch first {
			case "WriteTo":
				_, errs[i] = sc.(*Conn).WriteTo(io.Discard)
			case "RemoteAddr":
				if sc.RemoteAddr() == nil {
					errs[i] = errors.New("no remote address")
				}
			default:
				var b [1]byte
				_, errs[i] = sc.Read(b[:])
			}
			read.Done()
			<-release
		})
	}
	read.Wait()
	runtime.ReadMemStats(&after)
	close(release)
	done.Wait()
	for _, err := range errs {
		must(t, err)
	}
	grew := after.StackInuse - before.StackInuse
	if want := uint64(n) * 12 << 10; grew < want {
		t.Errorf("%d goroutines after one %s each hold %d more bytes of stack, want at least %d (12 KiB each)", n, first, grew, want)
	}
}
