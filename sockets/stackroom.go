package sockets

// A Conn's first Read or Write (or ReadFrom or WriteTo, io.Copy's) makes
// room on its goroutine's stack for everything below it, once, where the
// stack is still short.
//
// net/http (and most servers) start a goroutine per connection, and the
// runtime starts a goroutine with a small stack (the average its
// goroutines used at the last collection, rounded up: 4 KiB in
// glassbench's server). On the kernel's sockets a Read or Write is a
// system call a few frames down, but here it runs the stack itself: a
// Write that sends a segment goes through TCP, IP, netstack's link
// endpoints and the device's write, about 13 KiB of frames below
// Conn.Write, and a Read that processes the segments queued behind it can
// send one the same way. A new connection's goroutine outgrew its stack
// on the way down, more than once, and each time the runtime copied the
// stack and adjusted every frame on it: 7.7 µs of server CPU per
// connection, 6 %, in glassbench's connections-per-second row through the
// TUN (1.4 µs for the same server on the kernel's sockets).
//
// growStack has a frame of stackRoom bytes. Called at Conn's first Read or
// Write, about 2.5 KiB down a net/http connection's goroutine, it makes
// the runtime grow the stack once, straight to the size the frame needs
// (16 KiB there), while only a dozen frames are on it; the path below then
// fits. In the same row that leaves 3.1 µs per connection, all of it in
// this one growth. A goroutine whose stack already has the room pays one
// call; one that is more than about 4 KiB deep at its first call gets 32
// KiB.
const stackRoom = 11 << 10

// growStack reads and writes its frame so that the compiler keeps it.
//
//go:noinline
func growStack(i int) byte {
	var room [stackRoom]byte
	room[i] = 1
	return room[len(room)-1-i]
}

// roomOnce calls growStack on c's first Read, Write, ReadFrom or WriteTo.
func (c *Conn) roomOnce() {
	if !c.roomMade.Load() && !c.roomMade.Swap(true) {
		growStack(0)
	}
}

// roomEarly calls growStack from RemoteAddr until a Read or Write has
// made the room. net/http's connection goroutine asks for the remote
// address first thing, two frames down, before it reads the request: a
// growth there copies two frames where one at the first Read copies a
// dozen. In glassbench's connections-per-second row through the TUN,
// growStack's share of the server's CPU went from 3.4 % to 1.4 % (one
// profiled run each, alternating). RemoteAddr does not take the room for
// itself: if another goroutine asks first (an accept loop that logs the
// peer), the one that reads still makes its room at its first Read, and
// the one that asked pays a call that finds room from then on.
func (c *Conn) roomEarly() {
	if !c.roomMade.Load() {
		growStack(0)
	}
}
