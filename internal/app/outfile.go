package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// OutFile is an output file (--trace, --calls, --pcap) that keeps its
// first write error: the trace and call-log writers, called for each
// event, have no one to tell it to, and a full disk would otherwise end a
// run with status 0 and a file cut short.
//
// A FIFO or pipe (anything that takes a write deadline) gets at most
// outStall per write: the trace, the call log and the capture are written
// from the stack's packet and socket paths, so a reader that stopped
// reading (a paused Wireshark, a stopped tail) held every connection and
// serve's shutdown for as long as it stayed stopped. Past it the file
// takes nothing more, and Close says why.
type OutFile struct {
	f    *os.File
	path string
	flag string // "--trace"; "" for standard output
	// failed counts the writes that failed (a full disk) or were
	// refused after the file ended (its reader stopped), which glassnet
	// ss shows while the run goes on. A writer that stops at its first
	// error (the capture) makes one.
	failed atomic.Uint64
	stall  time.Duration // 0: a regular file, no deadline
	mu     sync.Mutex
	err    error
	ended  bool // a write missed its deadline: nothing more is written
}

// outStall bounds one write to a FIFO or pipe.
const outStall = 5 * time.Second

// CreateOutFile creates path, which flag ("--trace") named, for writing.
// Its error names the flag and says what to do.
func CreateOutFile(flag, path string) (*OutFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, outFileError(flag, path, err)
	}
	o := &OutFile{f: f, path: path, flag: flag}
	// A regular file says os.ErrNoDeadline.
	if f.SetWriteDeadline(time.Time{}) == nil {
		o.stall = outStall
	}
	return o, nil
}

// outFileError says why path could not be created, and what to do.
func outFileError(flag, path string, err error) error {
	var perr *fs.PathError
	if errors.As(err, &perr) {
		err = perr.Err // the path is said already
	}
	var hint string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		hint = "; the directory " + filepath.Dir(path) + " must exist: create it first, or name a file in one that does"
	case errors.Is(err, syscall.EISDIR):
		hint = "; name a file, not a directory"
	case errors.Is(err, fs.ErrPermission):
		hint = "; name a file you may write"
	}
	return fmt.Errorf("%s %s: %w%s", flag, path, err, hint)
}

func (o *OutFile) Write(p []byte) (int, error) {
	if o.stall > 0 {
		o.mu.Lock()
		ended, err := o.ended, o.err
		o.mu.Unlock()
		if ended {
			o.failed.Add(1)
			return 0, err
		}
		o.f.SetWriteDeadline(time.Now().Add(o.stall))
	}
	n, err := o.f.Write(p)
	if err != nil {
		o.failed.Add(1)
		o.mu.Lock()
		if o.stall > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			o.ended = true
			err = fmt.Errorf("its reader took no data for %v, so nothing more was written: %w", o.stall, err)
		}
		if o.err == nil {
			o.err = err
		}
		o.mu.Unlock()
	}
	return n, err
}

// FailedCounter is the name and value of the counter glassnet ss shows
// for o: the writes that failed (a full disk) or were refused after the
// file ended (its reader stopped), which Close reports only when the run
// ends.
func (o *OutFile) FailedCounter() (string, uint64) {
	what := o.flag + " " + o.path
	if o.flag == "" {
		what = o.path
	}
	return "output writes failed: " + what, o.failed.Load()
}

// SetWriteDeadline bounds the writes to a pipe or FIFO (os.File's); a
// regular file says os.ErrNoDeadline. The --pcap capture uses it so that a
// reader that stops reading does not hold the stack (netstack.Options.PCAPStall).
func (o *OutFile) SetWriteDeadline(t time.Time) error { return o.f.SetWriteDeadline(t) }

// Close closes the file; its error names the file when a write failed.
func (o *OutFile) Close() error {
	cerr := o.f.Close()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return fmt.Errorf("%s is incomplete: %w", o.path, o.err)
	}
	return cerr
}
