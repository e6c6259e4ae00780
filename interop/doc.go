// Package interop holds tests, and only tests, in which third-party peers
// talk to a running `glassnet serve` through the kernel: curl, the kernel's
// own TCP stack, Debian's python3-websockets, headless Debian chromium and
// Node's ws package (npm). Node's ws also runs as a server there, for
// glassnet's ws client to dial over kernel loopback and from a userspace
// glassnet stack on the TUN; node/ pins it with package-lock.json, and the
// tests run npm ci when node/node_modules is missing.
//
// Every test runs in a fresh network namespace (internal/netnstest), where
// the glassnet binary creates its TUN and the peers reach it at 10.200.0.2
// over the kernel's routing; nothing is configured in the host's namespace.
// The module is separate so that the library's go.mod stays free of test
// dependencies.
//
// Run as root (or with CAP_SYS_ADMIN and CAP_NET_ADMIN) with /dev/net/tun:
//
//	cd interop && GLASSNET_REQUIRE_PRIVILEGED=1 go test -count=1 -v ./...
//
// Without privileges or a peer program the tests skip, naming what is
// missing; with GLASSNET_REQUIRE_PRIVILEGED=1 they fail instead.
package interop
