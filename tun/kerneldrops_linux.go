package tun

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// KernelDrops returns the packets the kernel dropped on their way to the
// stack because the TUN's queue was full, since Open: the interface's
// tx_dropped (the kernel transmits into a TUN what the stack reads).
func (t *TUN) KernelDrops() (DropReason, uint64, error) {
	n, err := t.txDropped()
	if err != nil {
		return DropTUNQueueFull, 0, err
	}
	if n < t.kdropBase {
		return DropTUNQueueFull, n, nil // the counters were reset
	}
	return DropTUNQueueFull, n - t.kdropBase, nil
}

// txDropped reads the interface's tx_dropped over netlink, in the
// network namespace of the process (where the interface is).
func (t *TUN) txDropped() (uint64, error) {
	link, err := netlink.LinkByName(t.name)
	if err != nil {
		return 0, fmt.Errorf("tun: %s: %w", t.name, err)
	}
	s := link.Attrs().Statistics
	if s == nil {
		return 0, errors.New("tun: " + t.name + ": the kernel gave no statistics")
	}
	return s.TxDropped, nil
}

// KernelDrops returns the frames the kernel dropped at the socket because
// its receive buffer was full, since OpenPacketSocket: PACKET_STATISTICS'
// tp_drops, which each read resets, summed here.
func (p *PacketSocket) KernelDrops() (DropReason, uint64, error) {
	p.kdropMu.Lock()
	defer p.kdropMu.Unlock()
	var st *unix.TpacketStats
	var gerr error
	if err := p.rc.Control(func(fd uintptr) {
		st, gerr = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	}); err != nil {
		return DropPacketSocketFull, p.kdrops, err
	}
	if gerr != nil {
		return DropPacketSocketFull, p.kdrops, fmt.Errorf("tun: %s: PACKET_STATISTICS: %w", p.name, gerr)
	}
	p.kdrops += uint64(st.Drops)
	return DropPacketSocketFull, p.kdrops, nil
}
