package tun

import "encoding/binary"

// The virtio_net_hdr that precedes every packet on a TUN opened with
// IFF_VNET_HDR and on a packet socket with PACKET_VNET_HDR
// (include/uapi/linux/virtio_net.h). Its fields are in the host's byte
// order (a legacy virtio header; TUNSETVNETLE is never set).
const (
	vnetHdrLen = 10

	vnetFlagsOff      = 0
	vnetGSOTypeOff    = 1
	vnetHdrLenOff     = 2
	vnetGSOSizeOff    = 4
	vnetCsumStartOff  = 6
	vnetCsumOffsetOff = 8

	vnetFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
	vnetFlagDataValid = 2 // VIRTIO_NET_HDR_F_DATA_VALID

	vnetGSONone  = 0    // VIRTIO_NET_HDR_GSO_NONE
	vnetGSOTCPv4 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	vnetGSOUDP   = 3    // VIRTIO_NET_HDR_GSO_UDP (UFO, never offered)
	vnetGSOTCPv6 = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	vnetGSOUDPL4 = 5    // VIRTIO_NET_HDR_GSO_UDP_L4 (USO)
	vnetGSOECN   = 0x80 // VIRTIO_NET_HDR_GSO_ECN, or'ed into the type
)

// vnetHdr is a view of a virtio_net_hdr. Accessors assume the length was
// checked (parseVnetHdr does).
type vnetHdr []byte

func (h vnetHdr) Flags() uint8       { return h[vnetFlagsOff] }
func (h vnetHdr) GSOType() uint8     { return h[vnetGSOTypeOff] }
func (h vnetHdr) HdrLen() uint16     { return binary.NativeEndian.Uint16(h[vnetHdrLenOff:]) }
func (h vnetHdr) GSOSize() uint16    { return binary.NativeEndian.Uint16(h[vnetGSOSizeOff:]) }
func (h vnetHdr) CsumStart() uint16  { return binary.NativeEndian.Uint16(h[vnetCsumStartOff:]) }
func (h vnetHdr) CsumOffset() uint16 { return binary.NativeEndian.Uint16(h[vnetCsumOffsetOff:]) }

func (h vnetHdr) SetFlags(v uint8)       { h[vnetFlagsOff] = v }
func (h vnetHdr) SetGSOType(v uint8)     { h[vnetGSOTypeOff] = v }
func (h vnetHdr) SetHdrLen(v uint16)     { binary.NativeEndian.PutUint16(h[vnetHdrLenOff:], v) }
func (h vnetHdr) SetGSOSize(v uint16)    { binary.NativeEndian.PutUint16(h[vnetGSOSizeOff:], v) }
func (h vnetHdr) SetCsumStart(v uint16)  { binary.NativeEndian.PutUint16(h[vnetCsumStartOff:], v) }
func (h vnetHdr) SetCsumOffset(v uint16) { binary.NativeEndian.PutUint16(h[vnetCsumOffsetOff:], v) }

// Reasons a packet read with a virtio_net_hdr is dropped before it reaches
// the caller (see OffloadStats).
const (
	// DropVnetShort: fewer bytes than the virtio header itself.
	DropVnetShort DropReason = "vnet-short"
	// DropVnetGSOType: a segmentation type this device did not offer
	// (UFO, or a type unknown to the virtio spec).
	DropVnetGSOType DropReason = "vnet-gso-type"
	// DropVnetGSOSize: a segmentation type with a segment size of 0.
	DropVnetGSOSize DropReason = "vnet-gso-size"
	// DropVnetCsum: NEEDS_CSUM with a checksum field outside the packet.
	DropVnetCsum DropReason = "vnet-csum"
	// DropGSOHeaders: a super-packet whose IP and transport headers do
	// not match its segmentation type (wrong version or protocol, IP
	// options or extension headers, fragments, bad lengths).
	DropGSOHeaders DropReason = "gso-headers"
)

// parseVnetHdr reads the virtio header h of the packet pkt into a GSO. It
// returns the drop reason instead when the header is malformed or
// inconsistent with pkt's length. It does not allocate.
func parseVnetHdr(h []byte, pkt []byte) (GSO, DropReason) { return parseVnetHdrSize(h, len(pkt)) }

// parseVnetHdrSize is parseVnetHdr for a packet of size bytes.
func parseVnetHdrSize(h []byte, size int) (GSO, DropReason) {
	if len(h) < vnetHdrLen {
		return GSO{}, DropVnetShort
	}
	v := vnetHdr(h)
	var g GSO
	flags := v.Flags()
	g.NeedsCsum = flags&vnetFlagNeedsCsum != 0
	g.DataValid = flags&vnetFlagDataValid != 0
	switch v.GSOType() &^ vnetGSOECN {
	case vnetGSONone:
	case vnetGSOTCPv4:
		g.Type = GSOTCPv4
	case vnetGSOTCPv6:
		g.Type = GSOTCPv6
	case vnetGSOUDPL4:
		g.Type = GSOUDP
	default:
		return GSO{}, DropVnetGSOType
	}
	g.HdrLen = v.HdrLen()
	g.Size = v.GSOSize()
	if g.Type != GSONone && g.Size == 0 {
		return GSO{}, DropVnetGSOSize
	}
	if g.NeedsCsum {
		g.CsumStart, g.CsumOffset = v.CsumStart(), v.CsumOffset()
		if int(g.CsumStart)+int(g.CsumOffset)+2 > size {
			return GSO{}, DropVnetCsum
		}
	}
	return g, ""
}

// putVnetHdr writes g as a virtio header into h (vnetHdrLen bytes).
func putVnetHdr(h []byte, g GSO) {
	v := vnetHdr(h[:vnetHdrLen])
	var flags uint8
	if g.NeedsCsum {
		flags |= vnetFlagNeedsCsum
	}
	if g.DataValid {
		flags |= vnetFlagDataValid
	}
	v.SetFlags(flags)
	var t uint8
	switch g.Type {
	case GSOTCPv4:
		t = vnetGSOTCPv4
	case GSOTCPv6:
		t = vnetGSOTCPv6
	case GSOUDP:
		t = vnetGSOUDPL4
	}
	v.SetGSOType(t)
	v.SetHdrLen(g.HdrLen)
	if g.Type == GSONone {
		v.SetGSOSize(0)
	} else {
		v.SetGSOSize(g.Size)
	}
	if g.NeedsCsum {
		v.SetCsumStart(g.CsumStart)
		v.SetCsumOffset(g.CsumOffset)
	} else {
		v.SetCsumStart(0)
		v.SetCsumOffset(0)
	}
}
