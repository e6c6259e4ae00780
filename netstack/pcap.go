package netstack

import (
	"encoding/binary"
	"io"
	"sync"

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

// pcapWriter writes a capture file. Writes are serialized; after the first
// error it writes nothing more and keeps the error.
type pcapWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
	err error
}

func newPCAPWriter(w io.Writer, linkType uint32) (*pcapWriter, error) {
	var h [pcapFileHdrLen]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagic)
	binary.LittleEndian.PutUint16(h[4:], pcapVersionMajor)
	binary.LittleEndian.PutUint16(h[6:], pcapVersionMinor)
	// h[8:16]: thiszone and sigfigs, both zero.
	binary.LittleEndian.PutUint32(h[16:], pcapSnapLen)
	binary.LittleEndian.PutUint32(h[20:], linkType)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &pcapWriter{w: w}, nil
}

// write appends a record of pkt stamped with the clock's time. The time
// is read in turn, under the lock, so that records follow each other in
// the order of their times when the device's reader and a sender capture
// at once; a stamp read before waiting could be older than the record
// written while it waited.
func (p *pcapWriter) write(clock tcpip.Clock, pkt []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	now := clock.Now()
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
	_, p.err = p.w.Write(p.buf)
}

func (p *pcapWriter) error() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
