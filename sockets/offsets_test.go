package sockets

import (
	"io"
	"testing"

	"github.com/glassnet/glassnet/trace"
)

// streamOffsetter is the optional interface the ws package looks for on a
// net.Conn to tie frames to stream offsets.
type streamOffsetter interface {
	StreamOffsets() (read, written int64)
}

func TestStreamOffsets(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s := newSockets(t, Options{Tracer: trace.New(rec)})
	ctx := testContext(t)
	l, err := s.Listener("tcp4", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	c, err := s.Dial(ctx, "tcp4", l.Addr().String())
	must(t, err)
	defer c.Close()
	nc, err := l.Accept()
	must(t, err)
	defer nc.Close()

	// Found through the optional interface, as ws does.
	so, ok := nc.(streamOffsetter)
	if !ok {
		t.Fatal("accepted net.Conn has no StreamOffsets")
	}
	co := c.(streamOffsetter)
	offsets := func(o streamOffsetter) [2]int64 {
		r, w := o.StreamOffsets()
		return [2]int64{r, w}
	}
	if got := offsets(so); got != [2]int64{0, 0} {
		t.Fatalf("fresh connection offsets = %v", got)
	}

	c.Write([]byte("hello"))
	c.Write([]byte("abc"))
	buf := make([]byte, 8)
	if _, err := io.ReadFull(nc, buf); err != nil {
		t.Fatal(err)
	}
	nc.Write(make([]byte, 10))
	if got := offsets(so); got != [2]int64{8, 10} {
		t.Errorf("server offsets = %v, want [8 10]", got)
	}
	if got := offsets(co); got != [2]int64{0, 8} {
		t.Errorf("client offsets = %v, want [0 8]", got)
	}
	// A peek does not move the read offset.
	cfd := c.(*Conn).FD()
	if n, err := s.Recv(ctx, cfd, buf, MSG_PEEK|MSG_WAITALL); err != nil || n == 0 {
		t.Fatalf("peek = %d, %v", n, err)
	}
	if got := offsets(co); got != [2]int64{0, 8} {
		t.Errorf("client offsets after peek = %v, want [0 8]", got)
	}

	// They are the offsets the trace events carry: the last recv on the
	// server ended where StreamOffsets says reading stands.
	recvs := rec.find("recv", nc.(*Conn).FD())
	last := recvs[len(recvs)-1]
	if end := int64(field(last, "offset").(uint64)) + int64(field(last, "n").(int)); end != 8 {
		t.Errorf("last recv event ends at %d, want 8", end)
	}
	sends := rec.find("send", nc.(*Conn).FD())
	if off := field(sends[len(sends)-1], "offset").(uint64); off != 0 {
		t.Errorf("server send offset = %d, want 0", off)
	}
}
