package app

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestOutFileFIFODeadline: an --pcap FIFO whose reader stopped reading
// takes a write deadline through OutFile, which netstack uses to end the
// capture instead of holding the stack (and serve's shutdown) for as long
// as the reader stays stopped; a regular file says it has none.
func TestOutFileFIFODeadline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "capture")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// A reader that never reads.
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := CreateOutFile("--pcap", fifo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dl, ok := any(f).(interface{ SetWriteDeadline(time.Time) error })
	if !ok {
		t.Fatal("OutFile takes no write deadline: a capture into a FIFO whose reader stops holds the stack")
	}
	if err := dl.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatalf("SetWriteDeadline on a FIFO: %v", err)
	}
	if _, err := f.Write(make([]byte, 1<<20)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write of 1 MiB into a FIFO nobody reads: %v, want the deadline", err)
	}
	if err := f.Close(); err == nil {
		t.Error("Close after a write that missed its deadline says nothing")
	}

	g, err := CreateOutFile("--pcap", filepath.Join(dir, "regular"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := any(g).(interface{ SetWriteDeadline(time.Time) error }).SetWriteDeadline(time.Now()); !errors.Is(err, os.ErrNoDeadline) {
		t.Errorf("SetWriteDeadline on a regular file: %v, want os.ErrNoDeadline", err)
	}
}
