package netstack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Classic pcap, one record per IP packet with no link header
// (LINKTYPE_RAW), or per Ethernet frame (LINKTYPE_ETHERNET) on an Ethernet
// device, as described in
// https://www.tcpdump.org/manpages/pcap-savefile.5.html.
const (
	pcapMagic            = 0xa1b23c4d // nanosecond timestamps
	pcapVersionMajor     = 2
	pcapVersionMinor     = 4
	pcapSnapLen          = 262144 // as tcpdump: a 64 KiB super-packet fits whole
	pcapLinkTypeRaw      = 101
	pcapLinkTypeEthernet = 1
	pcapFileHdrLen       = 24
	pcapRecordHdrLen     = 16
)

// DefaultPCAPStall bounds how long one capture record may take to write to
// a pipe, a FIFO or a socket (a writer with SetWriteDeadline): the record
// is written from the packet path, under the locks of the connection it
// belongs to, so a reader that stopped reading (a paused Wireshark, a
// stopped tcpdump -r -) held every connection, and serve's shutdown, for
// as long as it stayed stopped. Past it the capture ends, with an error
// that says why (Stack.Close returns it), and the stack goes on without
// it. A regular file has no deadline and is written as before.
const DefaultPCAPStall = 5 * time.Second

// writeDeadliner is a writer whose writes can be given a deadline
// (*os.File on a pipe or FIFO, net.Conn).
type writeDeadliner interface {
	SetWriteDeadline(time.Time) error
}

// pcapWriter writes a capture file. Writes are serialized; after the first
// error it writes nothing more and keeps the error.
type pcapWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
	err error
	// dl is w when its writes take a deadline, stall from now.
	dl    writeDeadliner
	stall time.Duration
}

// newPCAPWriter writes the file header to w and returns a writer of
// records after it.
func newPCAPWriter(w io.Writer, linkType uint32) (*pcapWriter, error) {
	return newPCAPWriterStall(w, linkType, DefaultPCAPStall)
}

// newPCAPWriterStall is newPCAPWriter with the bound on one write, for
// writers that take a deadline.
func newPCAPWriterStall(w io.Writer, linkType uint32, stall time.Duration) (*pcapWriter, error) {
	p := &pcapWriter{w: w, stall: stall}
	// A regular file says os.ErrNoDeadline.
	if dl, ok := w.(writeDeadliner); ok && dl.SetWriteDeadline(time.Time{}) == nil {
		p.dl = dl
	}
	var h [pcapFileHdrLen]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagic)
	binary.LittleEndian.PutUint16(h[4:], pcapVersionMajor)
	binary.LittleEndian.PutUint16(h[6:], pcapVersionMinor)
	// h[8:16]: thiszone and sigfigs, both zero.
	binary.LittleEndian.PutUint32(h[16:], pcapSnapLen)
	binary.LittleEndian.PutUint32(h[20:], linkType)
	if err := p.put(h[:]); err != nil {
		return nil, err
	}
	return p, nil
}

// put writes b within the stall bound, when w takes a deadline.
func (p *pcapWriter) put(b []byte) error {
	if p.dl != nil {
		// The wall clock: the stack's may stand still.
		p.dl.SetWriteDeadline(time.Now().Add(p.stall))
	}
	_, err := p.w.Write(b)
	if err != nil && p.dl != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("its reader took no data for %v, so the capture stops there (a record may be cut short): %w", p.stall, err)
	}
	return err
}

// write appends a record of pkt stamped with the clock's time, and
// returns that time. The time is read in turn, under the lock, so that
// records follow each other in the order of their times when the device's
// reader and a sender capture at once; a stamp read before waiting could
// be older than the record written while it waited.
func (p *pcapWriter) write(clock tcpip.Clock, pkt []byte) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := clock.Now()
	if p.err != nil {
		return now
	}
	capLen := len(pkt)
	if capLen > pcapSnapLen {
		capLen = pcapSnapLen
	}
	p.buf = p.buf[:0]
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(now.Unix()))
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(now.Nanosecond()))
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(capLen))
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(pkt)))
	p.buf = append(p.buf, pkt[:capLen]...)
	p.err = p.put(p.buf)
	return now
}

func (p *pcapWriter) error() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
