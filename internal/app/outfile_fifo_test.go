package app

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
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
	f.stall = 50 * time.Millisecond
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

// TestOutFileStalledReader: a --trace, --calls or --pcap FIFO whose reader
// stopped reading takes a write for at most the stall bound, then nothing
// more (each write would wait the bound again), and Close says why. The
// trace and call log are written from the stack's paths, so a write that
// blocked held every connection and serve's shutdown.
func TestOutFileStalledReader(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "trace")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := CreateOutFile("--trace", fifo)
	if err != nil {
		t.Fatal(err)
	}
	// Lets a write blocked without the bound go, so that a failing test ends.
	defer r.Close()
	f.stall = 50 * time.Millisecond
	written := make(chan error, 1)
	go func() {
		_, err := f.Write(make([]byte, 1<<20)) // the FIFO holds 64 KiB
		written <- err
	}()
	select {
	case err := <-written:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write into a FIFO nobody reads: %v, want its deadline", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a write into a FIFO nobody reads blocked for 20s")
	}
	if n, err := f.Write([]byte("more\n")); n != 0 || err == nil {
		t.Errorf("write after the stall: %d, %v; want nothing written and the error", n, err)
	}
	want := "is incomplete: its reader took no data for 50ms, so nothing more was written"
	if err := f.Close(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Close = %v, want %q", err, want)
	}
}
