package netstack

import (
	"errors"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/tun"
)

// failingDevice is one end of a pipe whose Read returns the errors in errs
// first, one per call, then reads as the pipe does.
type failingDevice struct {
	*tun.PipeEnd
	mu    sync.Mutex
	errs  []error
	calls chan struct{} // a value per failed Read
}

func (d *failingDevice) Read(bufs [][]byte, sizes []int) (int, error) {
	d.mu.Lock()
	if len(d.errs) > 0 {
		err := d.errs[0]
		d.errs = d.errs[1:]
		d.mu.Unlock()
		d.calls <- struct{}{}
		return 0, err
	}
	d.mu.Unlock()
	return d.PipeEnd.Read(bufs, sizes)
}

func newFailing(t *testing.T, errs ...error) (*Stack, *failingDevice) {
	t.Helper()
	da, db := tun.Pipe(tun.PipeOptions{})
	t.Cleanup(func() { db.Close() })
	d := &failingDevice{PipeEnd: da, errs: errs, calls: make(chan struct{}, len(errs))}
	st := mustNew(t, Options{Device: d, Addrs: []netip.Prefix{addrA4}})
	return st, d
}

// TestDeviceReadErrorsCounted: read errors that are not the device going
// away are counted under their reason and the stack keeps reading.
func TestDeviceReadErrorsCounted(t *testing.T) {
	t.Parallel()
	st, d := newFailing(t, syscall.EIO, syscall.EIO, syscall.EIO, errors.New("odd"))
	for range 4 {
		<-d.calls
	}
	// The read after the last failure reaches the pipe: wait for the
	// counters to show all four, then prove the loop still reads.
	for deadline := time.Now().Add(10 * time.Second); ; {
		s := st.Stats()
		if s.DeviceErrors["read: EIO"] == 3 && s.DeviceErrors["read: odd"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("device errors %v, want 3 EIO and 1 odd", s.DeviceErrors)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-st.Done():
		t.Fatalf("stack stopped on transient errors: %v", st.Err())
	default:
	}
	if st.Err() != nil {
		t.Fatalf("Err = %v while running", st.Err())
	}
}

// TestDeviceGoneStopsStack: an error that says the device is gone stops
// the stack; Done is closed and Err says why.
func TestDeviceGoneStopsStack(t *testing.T) {
	t.Parallel()
	for _, gone := range []error{syscall.ENODEV, syscall.EBADFD, syscall.EBADF} {
		st, _ := newFailing(t, syscall.EIO, gone)
		select {
		case <-st.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: stack still running", gone)
		}
		err := st.Err()
		if !errors.Is(err, ErrDeviceGone) || !errors.Is(err, gone) {
			t.Errorf("Err = %v, want ErrDeviceGone and %v", err, gone)
		}
		if s := st.Stats(); s.DeviceErrors["read: EIO"] != 1 || s.DeviceErrors["read: "+tun.ErrorReason(gone)] != 1 {
			t.Errorf("device errors %v", s.DeviceErrors)
		}
		if err := st.Continue("out", synPacket4()); err == nil {
			t.Errorf("Continue on a stopped stack succeeded")
		}
	}
}

// TestCloseErrNil: an ordinary Close closes Done and leaves Err nil.
func TestCloseErrNil(t *testing.T) {
	t.Parallel()
	st, _ := newSolo(t, nil)
	st.Close()
	select {
	case <-st.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if err := st.Err(); err != nil {
		t.Fatalf("Err after Close = %v", err)
	}
}
