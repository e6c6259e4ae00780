// Package app holds what the glassnet command does, so that cmd/glassnet
// stays flag parsing and wiring and tests can drive the same code: Serve
// (glassnet serve: a stack on a TUN or an Ethernet interface, the HTTP,
// WebSocket, UDP and TCP services, the control socket), Demo (glassnet
// demo: two stacks on an in-memory pair, one WebSocket exchange, traced or
// stepped), Lab (glassnet lab: a throwaway network namespace wired to a
// stack), Handlers (the chat page, /echo and /chat) and Rules (the
// --egress and --ingress rules, packet and frame).
//
// What app is not: a library. It is internal because its API is the
// command line's; programs that embed a stack use tun, netstack, sockets
// and ws directly (see examples/). The rule syntax is hook's (ParseRule)
// and ws's (ParseFrameRule); app only sorts rules between them. What
// `glassnet ss` shows is gathered by sockets and served by ctl.
package app
