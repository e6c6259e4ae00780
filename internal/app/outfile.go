package app

import (
	"fmt"
	"os"
	"sync"
)

// OutFile is an output file (--trace, --calls, --pcap) that keeps its
// first write error: the trace and call-log writers, called for each
// event, have no one to tell it to, and a full disk would otherwise end a
// run with status 0 and a file cut short.
type OutFile struct {
	f    *os.File
	path string
	mu   sync.Mutex
	err  error
}

// CreateOutFile creates path for writing.
func CreateOutFile(path string) (*OutFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &OutFile{f: f, path: path}, nil
}

func (o *OutFile) Write(p []byte) (int, error) {
	n, err := o.f.Write(p)
	if err != nil {
		o.mu.Lock()
		if o.err == nil {
			o.err = err
		}
		o.mu.Unlock()
	}
	return n, err
}

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
