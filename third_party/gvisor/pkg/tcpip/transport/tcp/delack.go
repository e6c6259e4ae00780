// Copyright 2026 The glassnet Authors.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

package tcp

import (
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// glassnet patch 9: delayed acknowledgments (RFC 1122 4.2.3.2, RFC 5681
// 4.2), after Linux's tcp_input.c (__tcp_ack_snd_check,
// tcp_send_delayed_ack, tcp_event_data_recv) and tcp_output.c
// (tcp_event_ack_sent, tcp_event_data_sent).
//
// Upstream gVisor acknowledges every batch of received data at once, before
// the application has been woken, so in request/response traffic every
// request costs a pure ACK and then the reply. Here the end of a batch of
// in-order data arms a timer instead when nothing asks for an ACK at once;
// any segment sent before it fires (the reply) carries the ACK and stops it.
// A FIN that moves the connection to CLOSE-WAIT makes it interactive and
// its ACK waits the same way, for the FIN of the application's close (Linux's
// tcp_fin). An ACK goes at once, as before, when more than one full-sized
// segment is unacknowledged, for out-of-order data, a segment that fills a
// hole or starts below RCV.NXT, a FIN in FIN-WAIT-1 or FIN-WAIT-2, a window
// under one MSS, in quickack mode, in a state other than ESTABLISHED or
// CLOSE-WAIT, and on a socket whose SocketOptions' QuickAck is set (the
// default when the stack's tcpip.TCPDelayedACKEnabled is off). TCP_QUICKACK
// itself (tcpip.TCPQuickAckOption) has Linux's meaning: it moves the
// connection out of interactive mode, or into it.

const (
	// delAckTimeout is the shortest wait of an acknowledgment for a
	// segment to carry it, and the estimate it starts from: Linux's
	// TCP_DELACK_MIN and TCP_ATO_MIN (40 ms). The estimate (ato) grows
	// when data arrives further apart, as Linux's does; the wait is the
	// estimate bounded by the smoothed RTT (at least 40 ms), and by
	// delAckMax in interactive mode, half a second otherwise.
	delAckTimeout = 40 * time.Millisecond

	// delAckMax bounds the wait in interactive mode, or after a segment
	// shorter than the receive MSS: Linux's TCP_DELACK_MAX (200 ms), and
	// the default of its per-socket bound (icsk_delack_max).
	delAckMax = 200 * time.Millisecond

	// delAckMaxBulk bounds the wait otherwise: Linux's HZ/2.
	delAckMaxBulk = 500 * time.Millisecond

	// maxQuickAcks bounds the immediate ACKs of quickack mode: Linux's
	// TCP_MAX_QUICKACKS.
	maxQuickAcks = 16

	// defaultRcvMSS is the receive MSS assumed before a segment says
	// otherwise: Linux's TCP_MSS_DEFAULT.
	defaultRcvMSS = 536
)

// delayedACK is the receiver's delayed-ACK state (Linux's icsk_ack).
type delayedACK struct {
	// quick is how many more ACKs of new data go at once (quickack
	// mode), unless pingpong is set.
	quick int

	// pingpong is Linux's interactive mode: data was sent within
	// delAckTimeout of data received, so the next reply is expected to
	// carry the ACK. It ends when the delayed-ACK timer fires.
	pingpong bool

	// now asks for an ACK at the end of this batch of segments.
	now bool

	// rcvMSS is the largest segment received, at most the MSS this end
	// advertised (Linux's icsk_ack.rcv_mss); 0 until data arrives.
	rcvMSS int

	// lastData is when in-order data last arrived (icsk_ack.lrcvtime).
	lastData tcpip.MonotonicTime

	// ato is the estimate of the interval at which data arrives, the
	// wait of a delayed ACK before its bounds (icsk_ack.ato); 0 until
	// data arrives.
	ato time.Duration

	// pushed is set when a segment shorter than the receive MSS came
	// since the last ACK: the sender has no more to send for now
	// (ICSK_ACK_PUSHED).
	pushed bool
}

// incrQuickAck makes the next ACKs go at once: as many as half the
// window in full segments, between 2 and maxQuickAcks (tcp_incr_quickack).
//
// +checklocks:r.ep.mu
func (r *receiver) incrQuickAck() {
	n := int(r.rcvWnd) / (2 * r.da.rcvMSS)
	n = max(2, min(n, maxQuickAcks))
	// Linux's tcp_enter_quickack_mode for a retransmission asks for
	// TCP_MAX_QUICKACKS, bounded by the window the same way.
	r.da.quick = max(r.da.quick, n)
}

// enterQuickAck is incrQuickAck that also resets the estimate of the
// arrival interval (tcp_enter_quickack_mode).
//
// +checklocks:r.ep.mu
func (r *receiver) enterQuickAck() {
	r.incrQuickAck()
	r.da.ato = delAckTimeout
}

// retransmitted notes data the peer sent again: it has had a
// retransmission timeout or a probe, and restarts from a small window, so
// the next ACKs go at once and the connection is no longer taken for
// interactive (Linux's tcp_enter_quickack_mode for a retransmitted segment
// in tcp_data_queue).
//
// +checklocks:r.ep.mu
func (r *receiver) retransmitted() {
	r.da.pingpong = false
	r.da.now = true
	if r.da.rcvMSS != 0 {
		r.enterQuickAck()
	}
}

// dataReceived notes an in-order segment of segLen bytes that started at
// seq, when RCV.NXT was rcvNxt, and whether out-of-order segments were
// waiting (tcp_event_data_recv, tcp_data_queue).
//
// +checklocks:r.ep.mu
func (r *receiver) dataReceived(s *segment, seq, rcvNxt seqnum.Value, segLen seqnum.Size, ofo bool) {
	amss := max(int(r.ep.amss), defaultRcvMSS)
	first := r.da.rcvMSS == 0
	if first {
		r.da.rcvMSS = min(defaultRcvMSS, amss)
	}
	r.da.rcvMSS = max(r.da.rcvMSS, min(int(segLen), amss))
	if int(segLen) < r.da.rcvMSS {
		r.da.pushed = true
	}
	if first {
		// The first data of the connection: acknowledge at once for a
		// while, so that the peer's slow start is not held back.
		r.incrQuickAck()
		r.da.ato = delAckTimeout
	} else {
		// The estimate of the arrival interval (tcp_event_data_recv):
		// it moves towards the interval when that is shorter than it,
		// and never under delAckTimeout.
		switch m := s.rcvdTime.Sub(r.da.lastData); {
		case m <= delAckTimeout/2:
			r.da.ato = r.da.ato/2 + delAckTimeout/2
		case m < r.da.ato:
			r.da.ato = min(r.da.ato/2+m, r.ep.snd.RTO)
		case m > r.ep.snd.RTO:
			// The peer was idle for longer than an RTO: it
			// restarts from a small window, as at the start.
			r.incrQuickAck()
		}
	}
	r.da.lastData = s.rcvdTime
	switch {
	case seq.LessThan(rcvNxt):
		// Part of it was received before: the peer retransmits.
		r.retransmitted()
	case ofo:
		// RFC 5681 4.2: an ACK at once when a segment fills all or
		// part of a gap, so the peer's recovery moves on.
		r.da.now = true
	}
}

// ackNow reports whether an ACK owed at the end of a batch goes at once
// rather than after delAckTimeout (__tcp_ack_snd_check).
//
// +checklocks:r.ep.mu
func (r *receiver) ackNow() bool {
	switch {
	case r.ep.ops.GetQuickAck(), r.da.now, r.da.rcvMSS == 0:
		return true
	case r.ep.EndpointState() != StateEstablished && r.ep.EndpointState() != StateCloseWait:
		return true
	case r.da.quick > 0 && !r.da.pingpong:
		return true
	case int(r.ep.snd.MaxSentAck.Size(r.RcvNxt)) > r.da.rcvMSS:
		// More than one full-sized segment unacknowledged (RFC 5681
		// 4.2: at least every second one; GRO super-packets count by
		// their bytes).
		return true
	}
	// A window that has shrunk under one segment: the peer learns of it
	// at once (it may have to probe).
	return int(r.ep.selectWindow()) < r.da.rcvMSS
}

// sendOwedAck sends the ACK owed at the end of a batch of segments, at once
// or when the delayed-ACK timer fires.
//
// +checklocks:s.ep.mu
func (s *sender) sendOwedAck() {
	if s.ep.rcv.ackNow() {
		s.sendAck()
		return
	}
	ato := s.ep.rcv.delAckWait()
	now := s.ep.stack.Clock().NowMonotonic()
	if s.delAckTimer.enabled() {
		// tcp_send_delayed_ack: a timer about to fire sends the ACK
		// now; an earlier deadline stays.
		if !s.delAckTimer.target.After(now.Add(ato / 4)) {
			s.sendAck()
			return
		}
		if !now.Add(ato).Before(s.delAckTimer.target) {
			return
		}
	}
	// glassnet patch 52: one reading; glassnet patch 55: the clock timer,
	// left running when the last ACK went, moves to the new deadline.
	s.delAckTimer.moveAt(now, ato)
}

// delAckWait is how long an ACK owed now waits for a segment to carry it:
// the arrival interval estimate, bounded by the smoothed RTT (at least
// delAckTimeout) and by delAckMax in interactive mode or after a short
// segment, delAckMaxBulk otherwise (tcp_send_delayed_ack).
//
// +checklocks:r.ep.mu
func (r *receiver) delAckWait() time.Duration {
	ato := max(r.da.ato, delAckTimeout)
	if ato > delAckTimeout {
		bound := delAckMaxBulk
		if r.da.pingpong || r.da.pushed {
			bound = delAckMax
		}
		snd := r.ep.snd
		snd.rtt.Lock()
		if snd.rtt.TCPRTTState.SRTTInited {
			bound = min(bound, max(snd.rtt.TCPRTTState.SRTT, delAckTimeout))
		}
		snd.rtt.Unlock()
		ato = min(ato, bound)
	}
	return min(ato, delAckMax)
}

// ackSent notes that a segment carrying the ACK field is about to go out:
// owed says it acknowledges data not acknowledged before, data that it
// carries data (tcp_event_ack_sent, tcp_event_data_sent).
//
// +checklocks:s.ep.mu
func (s *sender) ackSent(owed, data bool) {
	r := s.ep.rcv
	if r == nil {
		return
	}
	r.da.now = false
	r.da.pushed = false
	if owed && r.da.quick > 0 {
		r.da.quick--
	}
	if s.delAckTimer.enabled() {
		// glassnet patch 55: the clock timer keeps running, for the
		// next segment received to move (moveAt) or to expire once
		// for nothing.
		s.delAckTimer.disable()
	}
	if data && r.da.rcvMSS != 0 && s.LastSendTime.Sub(r.da.lastData) < delAckTimeout {
		r.da.pingpong = true
	}
}

// ackAfterRead sends a delayed ACK when the application has read everything
// received and the connection is not interactive: no reply is expected to
// carry it (tcp_cleanup_rbuf). A sender with small segments in flight then
// has its ACK as soon as the data is consumed, not after delAckTimeout.
//
// +checklocks:e.mu
func (e *Endpoint) ackAfterRead() {
	if e.snd == nil || e.rcv == nil || !e.snd.delAckTimer.enabled() || e.rcv.da.pingpong {
		return
	}
	e.rcvQueueMu.Lock()
	empty := e.RcvBufUsed == 0
	e.rcvQueueMu.Unlock()
	if empty && e.EndpointState().connected() {
		e.snd.sendAck()
	}
}

// setQuickAck is TCP_QUICKACK set to v (tcpip.TCPQuickAckOption), as in
// Linux's do_tcp_setsockopt: nonzero leaves interactive mode and, in
// ESTABLISHED or CLOSE-WAIT with an ACK being delayed, sends it now (an
// even value then enters interactive mode again); zero enters interactive
// mode. Before the connection exists it sets the mode it starts in.
//
// +checklocks:e.mu
func (e *Endpoint) setQuickAck(v int) {
	r := e.rcv
	if r == nil {
		e.pingpongAtStart = v == 0
		return
	}
	if v == 0 {
		r.da.pingpong = true
		return
	}
	r.da.pingpong = false
	if st := e.EndpointState(); (st == StateEstablished || st == StateCloseWait) && e.snd != nil && e.snd.delAckTimer.enabled() {
		e.snd.sendAck()
		if v&1 == 0 {
			r.da.pingpong = true
		}
	}
}

// quickAck is TCP_QUICKACK as Linux reads it: 1 outside interactive mode;
// always 1 on a socket whose delayed ACKs are off.
//
// +checklocks:e.mu
func (e *Endpoint) quickAck() int {
	if e.ops.GetQuickAck() {
		return 1
	}
	pingpong := e.pingpongAtStart
	if e.rcv != nil {
		pingpong = e.rcv.da.pingpong
	}
	if pingpong {
		return 0
	}
	return 1
}

// delAckTimerExpired sends the ACK that no segment carried. In interactive
// mode the expected reply did not come, so the connection leaves it and the
// estimate of the arrival interval starts again from delAckTimeout;
// otherwise the wait was too short, and the estimate doubles, up to the
// RTO (Linux's tcp_delack_timer_handler).
//
// +checklocks:s.ep.mu
func (s *sender) delAckTimerExpired() tcpip.Error {
	if s.delAckTimer.isUninitialized() || !s.delAckTimer.checkExpiration() {
		return nil
	}
	if r := s.ep.rcv; r != nil {
		owed := s.ep.EndpointState().connected() && r.RcvNxt != s.MaxSentAck
		if owed && r.da.pingpong {
			r.da.ato = delAckTimeout
		} else if owed {
			r.da.ato = min(2*max(r.da.ato, delAckTimeout), s.RTO)
		}
		r.da.pingpong = false
		if owed {
			s.ep.stack.Stats().TCP.DelayedACKTimeouts.Increment()
			s.sendAck()
		}
	}
	return nil
}
