package hook

import (
	"strconv"
	"time"
)

// Action is what a hook decided.
type Action uint8

const (
	// Pass lets the unit go on unchanged (or as modified in place).
	Pass Action = iota
	// Drop discards the unit; Verdict.Reason says why.
	Drop
	// Modify says the hook changed the unit in place; the layer fixes
	// what depends on it (IP and TCP checksums, frame lengths).
	Modify
	// Delay holds the unit for Verdict.Delay, then lets it go on.
	Delay
	// Duplicate lets the unit go on and sends Verdict.Copies more.
	Duplicate
	// Inject lets the unit go on and sends Verdict.Inject after it.
	Inject
	// Hold keeps the unit until it is released (the stepper).
	Hold
)

func (a Action) String() string {
	switch a {
	case Pass:
		return "pass"
	case Drop:
		return "drop"
	case Modify:
		return "modify"
	case Delay:
		return "delay"
	case Duplicate:
		return "duplicate"
	case Inject:
		return "inject"
	case Hold:
		return "hold"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Verdict is a hook's answer for one unit. The zero value passes.
type Verdict struct {
	Action Action
	// Reason explains a drop (or any other action) in traces and counters.
	Reason string
	// Delay is how long to hold the unit (Delay).
	Delay time.Duration
	// Copies is how many extra copies to send (Duplicate).
	Copies int
	// Inject holds units to send after this one (Inject), in the layer's
	// own form: IP packets at link and IP level, frames at ws level.
	Inject [][]byte
	// Reply holds units to send the other way, back toward where this one
	// came from: at link egress they are delivered to the local stack as
	// if received, at link ingress they are written to the device.
	Reply [][]byte
	// KeepChecksums, with Modify, tells the layer to leave checksums as
	// the hook left them (corrupt does this, so that the receiver drops
	// the packet).
	KeepChecksums bool
	// Unsent, when not nil, takes back what the hook counted as sent:
	// the layer calls it when none of a unit it delayed could be queued
	// (the delay queue was full), so that a rate, which charges a
	// packet's bytes when it lets the packet through, charges only what
	// it sends, as netem's does.
	Unsent func()
	// Rule names the hook or rule that decided, for the trace.
	Rule string
}

// Passed reports whether v lets the unit go on unchanged.
func (v Verdict) Passed() bool { return v.Action == Pass }
