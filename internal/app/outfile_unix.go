//go:build unix

package app

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// PipeOutFile returns f, a command's standard output, as an OutFile when it
// is a pipe or FIFO (`--trace - | jq`), so that its writes are bounded as a
// FIFO's are: a reader that stops reading (a paused less) does not hold
// the stack, whose paths write the trace and the call log. It returns nil
// for anything else (a terminal, a regular file), which is written to as
// it is. The OutFile writes through a descriptor of its own, made
// nonblocking so that the runtime's poller can time its writes; nothing
// else in the process writes to f afterwards but through it.
func PipeOutFile(f *os.File) *OutFile {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	nfd := -1
	rc.Control(func(fd uintptr) {
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		if d, err := syscall.Dup(int(fd)); err == nil {
			syscall.CloseOnExec(d)
			nfd = d
		}
	})
	if nfd < 0 {
		return nil
	}
	if err := syscall.SetNonblock(nfd, true); err != nil {
		syscall.Close(nfd)
		return nil
	}
	nf := os.NewFile(uintptr(nfd), f.Name())
	if nf.SetWriteDeadline(time.Time{}) != nil {
		nf.Close()
		return nil
	}
	return &OutFile{f: nf, path: "standard output", stall: outStall}
}
