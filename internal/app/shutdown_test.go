package app

import (
	"io"
	"testing"
	"time"
)

// TestShutdownHalfSentHead: a client that has sent part of a request head
// does not hold serve's shutdown for net/http's header timeout: serve
// stops within its grace (a second) and a little, and closes the
// connection. It took more than 5 s before (the whole shutdown budget).
func TestShutdownHalfSentHead(t *testing.T) {
	t.Parallel()
	m := startMemServe(t, "halfhead0", ServeConfig{})
	c := m.dial(t, DefaultPort)
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHo")); err != nil {
		t.Fatal(err)
	}
	m.waitCounter(t, "conns held by services", 1)
	start := time.Now()
	if err := m.stop(); err != nil {
		t.Fatal(err)
	}
	// Far below the 5 s it took, far above the second it may take.
	if d := time.Since(start); d > shutdownGrace+3*time.Second {
		t.Errorf("serve took %v to stop with a half-sent request head, want about %v", d, shutdownGrace)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the half-sent head's connection: read %d, %v; want the server's FIN", n, err)
	}
}
