package main

import (
	"fmt"
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

// medianSender is the medians of the transfers' reports that have one.
func medianSender(v []senderInfo) (senderInfo, int) {
	var mins, srtts, rwnd []float64
	for _, s := range v {
		if s.OK {
			mins = append(mins, float64(s.MinRTT))
			srtts = append(srtts, float64(s.SRTT))
			rwnd = append(rwnd, s.RwndLimited)
		}
	}
	if len(mins) == 0 {
		return senderInfo{}, 0
	}
	return senderInfo{OK: true, MinRTT: time.Duration(median(mins)), SRTT: time.Duration(median(srtts)), RwndLimited: median(rwnd)}, len(mins)
}

// String is "min / smoothed µs, rwnd-limited %", or "-".
func (s senderInfo) String() string {
	if !s.OK {
		return "-"
	}
	return fmt.Sprintf("%.0f / %.0f µs, %.0f%%", float64(s.MinRTT)/1e3, float64(s.SRTT)/1e3, s.RwndLimited*100)
}
