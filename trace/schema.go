package trace

import (
	"encoding/json"
	"reflect"
	"time"
)

// SchemaVersion is the version of the event schema: the keys each kind of
// event has, as NewJSON writes them (key "v") and schema.json documents
// them. It changes when a key is removed or changes type; keys may be added
// without a new version, and readers ignore keys they do not know.
const SchemaVersion = 1

// Header holds what every event object carries, whatever its kind.
type Header struct {
	V       int    `json:"v" doc:"schema version (SchemaVersion)"`
	ID      uint64 `json:"id" doc:"unique per Tracer, increasing"`
	T       int64  `json:"t" doc:"nanoseconds since the Tracer was created, on the stacks' clock when it can pause (a run stepped through the view: time paused at a step does not count)"`
	Node    string `json:"node" doc:"the stack or program that emitted it"`
	Layer   Layer  `json:"layer" schema:"enum=link,ip,tcp,socket,ws,app"`
	Dir     Dir    `json:"dir" schema:"enum=in,out,"`
	Event   string `json:"event" doc:"the step"`
	Conn    string `json:"conn,omitempty" doc:"the connection, src->dst as on its packets (ws and socket events: local->remote)"`
	Summary string `json:"summary,omitempty" doc:"one readable line"`
}

// The structs below are the fields of each kind of event, one struct per
// (layer, event); Kinds lists them. A field without omitempty or omitzero
// is present in every event of its kind; Opt marks numbers and booleans
// that are optional but meaningful when zero. Durations are nanoseconds.

// LinkPacket is a packet the device read (in) or wrote (out): link
// "packet". The TCP, UDP, ICMP, ARP and offload fields appear for packets
// that have them.
type LinkPacket struct {
	Src        string      `json:"src,omitempty" doc:"IP source (ARP: absent)"`
	Dst        string      `json:"dst,omitempty"`
	Len        int         `json:"len" doc:"bytes of the IP packet or frame"`
	Proto      string      `json:"proto,omitempty" doc:"tcp, udp, icmp, icmp6, arp or a protocol number"`
	Sport      Opt[int]    `json:"sport,omitzero"`
	Dport      Opt[int]    `json:"dport,omitzero"`
	Flags      string      `json:"flags,omitempty" doc:"TCP flags as tcpdump writes them: S, S., ., P., F., R"`
	Seq        Opt[uint32] `json:"seq,omitzero" doc:"TCP sequence number, or ICMP echo sequence"`
	Ack        Opt[uint32] `json:"ack,omitzero"`
	RelSeq     Opt[uint32] `json:"rel_seq,omitzero" doc:"seq minus the initial sequence number, when the handshake was seen"`
	RelAck     Opt[uint32] `json:"rel_ack,omitzero"`
	Win        Opt[int]    `json:"win,omitzero" doc:"TCP window field, unscaled"`
	PayloadLen Opt[int]    `json:"payload_len,omitzero" doc:"TCP or UDP payload bytes, as the IP header's length gives them (tcpdump's length)"`
	Options    string      `json:"options,omitempty" doc:"TCP options, tcpdump style"`
	Type       Opt[int]    `json:"type,omitzero" doc:"ICMP type"`
	Code       Opt[int]    `json:"code,omitzero" doc:"ICMP code"`
	ICMPID     Opt[int]    `json:"icmp_id,omitzero" doc:"ICMP echo identifier"`
	GSO        string      `json:"gso,omitempty" doc:"offload type of a super-packet"`
	GSOSize    Opt[int]    `json:"gso_size,omitzero"`
	GSOSegs    Opt[int]    `json:"gso_segs,omitzero"`
	SrcMAC     string      `json:"src_mac,omitempty"`
	DstMAC     string      `json:"dst_mac,omitempty"`
	EtherType  Opt[int]    `json:"ethertype,omitzero"`
	Sender     string      `json:"sender,omitempty" doc:"ARP sender protocol address"`
	Target     string      `json:"target,omitempty" doc:"ARP target protocol address"`
	Op         any         `json:"op,omitempty" schema:"type=string,integer" doc:"ARP operation: request, reply or a number"`
	Frames     []uint64    `json:"frames,omitempty" doc:"IDs of the ws frames whose bytes it carried (Correlate)"`
	LinkType   Opt[int]    `json:"link_type,omitzero" doc:"a frame that holds no IP packet (ARP, say), traced on an Ethernet link or read from a capture: its link type (1, Ethernet); its bytes are the whole frame's"`
	OrigLen    Opt[int]    `json:"orig_len,omitzero" doc:"the IP packet's length in a capture that kept fewer of its bytes (snapshot length): len and the bytes are of what it kept, payload_len of the packet as its IP header gives it"`
	FragID     Opt[uint32] `json:"frag_id,omitzero" doc:"a fragment's identification (IPv4: 16 bits; IPv6: 32, in its fragment header)"`
	FragOffset Opt[int]    `json:"frag_offset,omitzero" doc:"a fragment's offset in the packet it is part of, in bytes"`
	FragMore   Opt[bool]   `json:"frag_more,omitzero" doc:"a fragment with more after it (the MF flag)"`
	PcapNumber Opt[uint64] `json:"pcap_number,omitzero" doc:"its number in a capture read back whose packets were numbered again, as Wireshark counts them"`
	Time       string      `json:"time,omitempty" doc:"a packet read from a capture: the time the capture gave it, RFC 3339 in UTC to the nanosecond (t counts from the capture's earliest packet)"`
	Notes      string      `json:"notes,omitempty" doc:"a packet read from a pcapng glassnet wrote: what its comment says besides the ws frames it carried, such as what a link hook did to it (duplicated at link-egress by rule ...), in the comment's words, separated by '; '"`
}

// LinkDrop is a packet the link endpoint dropped: link "drop".
type LinkDrop struct {
	Reason string `json:"reason"`
	Len    int    `json:"len"`
}

// Verdict is a hook's verdict other than pass on a packet: link or ip
// "verdict".
type Verdict struct {
	Hook   string   `json:"hook"`
	Action string   `json:"action"`
	Reason string   `json:"reason"`
	Rule   string   `json:"rule" doc:"the rule that gave it, empty for Go hooks"`
	Len    int      `json:"len"`
	Delay  string   `json:"delay,omitempty" doc:"for delay, as Go writes a duration"`
	Copies Opt[int] `json:"copies,omitzero" doc:"for duplicate"`
	// The TCP segment's fields as the packet event gives them, so that a
	// copy a rule dropped is known by its sequence range.
	Flags      string      `json:"flags,omitempty" doc:"TCP flags, as on link packet events"`
	RelSeq     Opt[uint32] `json:"rel_seq,omitzero" doc:"as on link packet events"`
	PayloadLen Opt[int]    `json:"payload_len,omitzero" doc:"TCP or UDP payload bytes"`
}

// LinkHeld is a packet a hook took out of the path to wait: link "held".
type LinkHeld struct {
	Hook   string `json:"hook"`
	Reason string `json:"reason"`
	Rule   string `json:"rule"`
	Len    int    `json:"len"`
}

// LinkCarried completes a packet's frames list: link "carried".
type LinkCarried struct {
	Packet uint64   `json:"packet"`
	Frames []uint64 `json:"frames"`
}

// IPStep is a packet at a netfilter hook: ip "receive" (PREROUTING),
// "deliver" (INPUT), "output" (POSTROUTING).
type IPStep struct {
	Src   string   `json:"src"`
	Dst   string   `json:"dst"`
	Proto string   `json:"proto"`
	TTL   Opt[int] `json:"ttl,omitzero" doc:"IPv4"`
	ID    Opt[int] `json:"ip_id,omitzero" doc:"IPv4 identification"`
	HLim  Opt[int] `json:"hlim,omitzero" doc:"IPv6 hop limit"`
	Len   int      `json:"len"`
}

// TCPSegment is a segment TCP hands to IP: tcp "segment" (out).
type TCPSegment struct {
	Src        string      `json:"src"`
	Dst        string      `json:"dst"`
	Len        int         `json:"len"`
	Proto      string      `json:"proto" schema:"enum=tcp"`
	Sport      int         `json:"sport"`
	Dport      int         `json:"dport"`
	Flags      string      `json:"flags"`
	Seq        uint32      `json:"seq"`
	Ack        uint32      `json:"ack"`
	RelSeq     Opt[uint32] `json:"rel_seq,omitzero"`
	RelAck     Opt[uint32] `json:"rel_ack,omitzero"`
	Win        int         `json:"win"`
	PayloadLen int         `json:"payload_len"`
	Options    string      `json:"options,omitempty"`
}

// TCPState is the TCP endpoint's state after a segment it received, from
// gVisor's TCP probe: tcp "state".
type TCPState struct {
	State      string        `json:"state" doc:"ESTABLISHED, FIN-WAIT1, ..."`
	SndUna     uint32        `json:"snd_una"`
	SndNxt     uint32        `json:"snd_nxt"`
	RcvNxt     uint32        `json:"rcv_nxt"`
	SndWnd     Opt[int]      `json:"snd_wnd,omitzero" doc:"the peer's window, scaled; absent in SYN-SENT, before the peer has sent one"`
	RcvWnd     uint32        `json:"rcv_wnd" doc:"the window last advertised"`
	Cwnd       int           `json:"cwnd" doc:"segments"`
	Ssthresh   int           `json:"ssthresh"`
	SRTT       time.Duration `json:"srtt"`
	RTO        time.Duration `json:"rto"`
	Outstand   int           `json:"outstanding" doc:"segments in flight"`
	RcvBufUsed int           `json:"rcv_buf_used"`
	SndBufUsed int           `json:"snd_buf_used"`
	RelSndUna  Opt[uint32]   `json:"rel_snd_una,omitzero"`
	RelSndNxt  Opt[uint32]   `json:"rel_snd_nxt,omitzero"`
	RelRcvNxt  Opt[uint32]   `json:"rel_rcv_nxt,omitzero"`
}

// SocketCall is one finished call of the socket API, as strace shows it:
// socket "call".
type SocketCall struct {
	Call  string        `json:"call"`
	Args  string        `json:"args"`
	Ret   int           `json:"ret"`
	Errno string        `json:"errno"`
	Dur   time.Duration `json:"dur"`
	Err   string        `json:"err,omitempty"`
}

// SocketFD is a socket event that names only its descriptor: socket
// "close", "bind".
type SocketFD struct {
	FD int `json:"fd"`
}

// SocketListen is socket "listen".
type SocketListen struct {
	FD      int `json:"fd"`
	Backlog int `json:"backlog"`
}

// SocketShutdown is socket "shutdown".
type SocketShutdown struct {
	FD  int    `json:"fd"`
	How string `json:"how"`
}

// SocketConnect is socket "connect": started, done or failed.
type SocketConnect struct {
	FD   int    `json:"fd"`
	Peer string `json:"peer"`
	Err  string `json:"err,omitempty"`
}

// SocketAccept is socket "accept": a connection taken from the queue, or
// the error.
type SocketAccept struct {
	FD     int        `json:"fd"`
	NewFD  Opt[int]   `json:"newfd,omitzero"`
	Peer   string     `json:"peer,omitempty"`
	Waited Opt[bool]  `json:"waited,omitzero" doc:"the call slept first"`
	Depth  Opt[int64] `json:"depth,omitzero" doc:"left in the queue"`
	Err    string     `json:"err,omitempty"`
}

// SocketAcceptQueue is a connection made ready in a listener's accept
// queue: socket "accept-queue".
type SocketAcceptQueue struct {
	FD     int    `json:"fd"`
	Depth  int64  `json:"depth"`
	Events string `json:"events"`
}

// SocketIO is bytes copied by send or recv: socket "send", "recv".
type SocketIO struct {
	FD     int         `json:"fd"`
	N      Opt[int]    `json:"n,omitzero"`
	Offset Opt[uint64] `json:"offset,omitzero" doc:"stream offset of the first byte"`
	EOF    Opt[bool]   `json:"eof,omitzero"`
	Err    string      `json:"err,omitempty"`
}

// SocketWake is a wait-queue notification: socket "wake".
type SocketWake struct {
	FD     int    `json:"fd"`
	Events string `json:"events"`
	Mask   uint64 `json:"mask"`
}

// SocketWouldBlock is a call going to sleep: socket "would-block".
type SocketWouldBlock struct {
	FD   int    `json:"fd"`
	Op   string `json:"op"`
	Wait string `json:"wait" doc:"the events it waits for"`
}

// SocketWoken is a sleeping call woken: socket "woken".
type SocketWoken struct {
	FD       int       `json:"fd"`
	Op       string    `json:"op"`
	Events   string    `json:"events"`
	Spurious Opt[bool] `json:"spurious,omitzero"`
}

// SocketNotified is a NotifyReadable callback run: socket "notified".
type SocketNotified struct {
	FD     int    `json:"fd"`
	Events string `json:"events"`
	Wait   string `json:"wait"`
}

// SocketReleased is a held call released by its hook: socket "released".
type SocketReleased struct {
	FD   int    `json:"fd"`
	Call string `json:"call"`
}

// SocketVerdict is a call hook's verdict: socket "verdict".
type SocketVerdict struct {
	Action string `json:"action"`
	Reason string `json:"reason"`
	Rule   string `json:"rule"`
	Call   string `json:"call"`
	FD     int    `json:"fd"`
	Effect string `json:"effect"`
}

// WSFrame is a WebSocket frame header read or written: ws "frame".
type WSFrame struct {
	Fin        bool     `json:"fin"`
	Rsv        uint8    `json:"rsv" doc:"RSV1-3 in the low three bits"`
	Opcode     string   `json:"opcode" doc:"continuation, text, binary, close, ping, pong or a number"`
	Masked     bool     `json:"masked"`
	Len        int64    `json:"len" doc:"payload length"`
	HeaderLen  int      `json:"header_len"`
	Offset     int64    `json:"offset" doc:"stream offset of the header's first byte"`
	OffsetFrom string   `json:"offset_from" schema:"enum=tcp,handshake"`
	WSOffset   int64    `json:"ws_offset" doc:"offset since the handshake"`
	Packets    []uint64 `json:"packets,omitempty" doc:"IDs of the packets that carried it (Correlate)"`
}

// WSCarried completes a frame's packets list: ws "carried".
type WSCarried struct {
	Frame   uint64   `json:"frame"`
	Packets []uint64 `json:"packets"`
}

// WSMessage is a whole message read or written: ws "message".
type WSMessage struct {
	Type      string `json:"type" doc:"text or binary"`
	Len       int    `json:"len"`
	Fragments int    `json:"fragments"`
}

// WSUnmask is a frame payload unmasked: ws "unmask".
type WSUnmask struct {
	Len int64  `json:"len"`
	Key string `json:"key" doc:"masking key, hex"`
}

// WSClose is the close handshake or the end of the connection: ws
// "close". Code and reason are there for a close frame.
type WSClose struct {
	Code   Opt[uint16] `json:"code,omitzero"`
	Reason string      `json:"reason,omitempty"`
}

// WSHandshake is the opening handshake: the request (method, uri, host)
// or the response (status); a client's request has neither.
type WSHandshake struct {
	Method string   `json:"method,omitempty"`
	URI    string   `json:"uri,omitempty"`
	Host   string   `json:"host,omitempty"`
	Status Opt[int] `json:"status,omitzero"`
}

// WSDrop is a message the send queue dropped, or a ping or pong frame
// whose write ended before the transport took a byte of it: ws "drop".
type WSDrop struct {
	Reason string `json:"reason"`
	Len    int    `json:"len"`
}

// WSVerdict is a frame hook's verdict: ws "verdict".
type WSVerdict struct {
	Action string `json:"action"`
	Reason string `json:"reason"`
	Rule   string `json:"rule"`
	Opcode string `json:"opcode"`
	Len    int64  `json:"len"`
	Effect string `json:"effect"`
}

// AppStep is a line of narration from a program: app "step".
type AppStep struct{}

// Kind is one kind of event: its layer and step name and the struct of
// its fields.
type Kind struct {
	Layer  Layer
	Event  string
	Fields reflect.Type
}

func kind(l Layer, event string, v any) Kind {
	return Kind{Layer: l, Event: event, Fields: reflect.TypeOf(v)}
}

// Kinds lists every kind of event glassnet emits, in schema order.
var Kinds = []Kind{
	kind(LayerLink, "packet", LinkPacket{}),
	kind(LayerLink, "drop", LinkDrop{}),
	kind(LayerLink, "verdict", Verdict{}),
	kind(LayerLink, "held", LinkHeld{}),
	// a held packet sent on into the stack (Stack.Continue at the link's
	// ingress): the packet as it went, edits and all
	kind(LayerLink, "continued", LinkPacket{}),
	kind(LayerLink, "carried", LinkCarried{}),
	kind(LayerIP, "receive", IPStep{}),
	kind(LayerIP, "deliver", IPStep{}),
	kind(LayerIP, "output", IPStep{}),
	kind(LayerIP, "verdict", Verdict{}),
	kind(LayerTCP, "segment", TCPSegment{}),
	kind(LayerTCP, "state", TCPState{}),
	kind(LayerSocket, "call", SocketCall{}),
	kind(LayerSocket, "bind", SocketFD{}),
	kind(LayerSocket, "close", SocketFD{}),
	kind(LayerSocket, "listen", SocketListen{}),
	kind(LayerSocket, "shutdown", SocketShutdown{}),
	kind(LayerSocket, "connect", SocketConnect{}),
	kind(LayerSocket, "accept", SocketAccept{}),
	kind(LayerSocket, "accept-queue", SocketAcceptQueue{}),
	kind(LayerSocket, "send", SocketIO{}),
	kind(LayerSocket, "recv", SocketIO{}),
	kind(LayerSocket, "wake", SocketWake{}),
	kind(LayerSocket, "would-block", SocketWouldBlock{}),
	kind(LayerSocket, "woken", SocketWoken{}),
	kind(LayerSocket, "notified", SocketNotified{}),
	kind(LayerSocket, "released", SocketReleased{}),
	kind(LayerSocket, "verdict", SocketVerdict{}),
	kind(LayerWS, "frame", WSFrame{}),
	kind(LayerWS, "carried", WSCarried{}),
	kind(LayerWS, "message", WSMessage{}),
	kind(LayerWS, "unmask", WSUnmask{}),
	kind(LayerWS, "close", WSClose{}),
	kind(LayerWS, "handshake", WSHandshake{}),
	kind(LayerWS, "drop", WSDrop{}),
	kind(LayerWS, "verdict", WSVerdict{}),
	kind(LayerApp, "step", AppStep{}),
}

// Opt is an optional value of an event field: present when Set, even if
// V is zero (a sequence number 0, a false flag).
type Opt[T any] struct {
	V   T
	Set bool
}

// Some returns an Opt holding v.
func Some[T any](v T) Opt[T] { return Opt[T]{V: v, Set: true} }

// IsZero reports whether o is unset, for the omitzero JSON option.
func (o Opt[T]) IsZero() bool { return !o.Set }

// MarshalJSON writes V.
func (o Opt[T]) MarshalJSON() ([]byte, error) { return json.Marshal(o.V) }

// UnmarshalJSON reads V and marks o set.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &o.V); err != nil {
		return err
	}
	o.Set = true
	return nil
}

// orEmpty is ids, or an empty list for nil, so that JSON has a list.
func orEmpty(ids []uint64) []uint64 {
	if ids == nil {
		return []uint64{}
	}
	return ids
}

// KindOf returns the kind of events of layer l named event.
func KindOf(l Layer, event string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Layer == l && k.Event == event {
			return k, true
		}
	}
	return Kind{}, false
}
