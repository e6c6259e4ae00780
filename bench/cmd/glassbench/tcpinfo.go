package main

import (
	"fmt"
	"slices"
	"time"
)

// senderInfo is what a client's kernel TCP socket reports of itself at the
// end of a bulk transfer (TCP_INFO): the lowest round-trip time it saw, its
// smoothed round-trip time, and the part of its busy time (data in flight)
// it was held by the receiver's window. A congestion control that sizes
// its window from the lowest round trip, as BBR does, keeps less in flight
// where the smoothed round trip is many times the lowest.
type senderInfo struct {
	OK          bool
	MinRTT      time.Duration
	SRTT        time.Duration
	RwndLimited float64 // share of busy time, 0 to 1
}

// rtt formats a round trip in µs below a millisecond, else in ms.
func rtt(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
	return fmt.Sprintf("%.1f ms", float64(d)/1e6)
}

// rttSpread sums up what the client's sockets reported at the end of
// their transfers, over every transfer that reported: the medians of the
// lowest and of the smoothed round trip and of the receive-window-limited
// share, and the 99th percentile of the smoothed round trip.
type rttSpread struct {
	N                    int // sockets that reported
	MinRTT, SRTT, SRTT99 time.Duration
	RwndLimited          float64
}

func spreadOf(v []senderInfo) rttSpread {
	var mins, srtts, rwnd []float64
	for _, s := range v {
		if s.OK {
			mins = append(mins, float64(s.MinRTT))
			srtts = append(srtts, float64(s.SRTT))
			rwnd = append(rwnd, s.RwndLimited)
		}
	}
	if len(srtts) == 0 {
		return rttSpread{}
	}
	slices.Sort(srtts)
	return rttSpread{
		N:           len(srtts),
		MinRTT:      time.Duration(median(mins)),
		SRTT:        time.Duration(median(srtts)),
		SRTT99:      time.Duration(srtts[(len(srtts)*99)/100]),
		RwndLimited: median(rwnd),
	}
}

// String is "lowest / smoothed, p99 smoothed", or "-".
func (r rttSpread) String() string {
	if r.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s, p99 %s", rtt(r.MinRTT), rtt(r.SRTT), rtt(r.SRTT99))
}

// windowString is "lowest / smoothed, receive-window-limited %", or "-".
func (r rttSpread) windowString() string {
	if r.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s, %.0f%%", rtt(r.MinRTT), rtt(r.SRTT), r.RwndLimited*100)
}
