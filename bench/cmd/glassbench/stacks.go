package main

import (
	"fmt"
	"net/netip"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

var (
	serverPrefix = netip.MustParsePrefix("10.77.0.2/16")
	clientPrefix = netip.MustParsePrefix("10.77.0.1/16")
)

// pair is two userspace stacks wired back to back over tun.Pipe; with
// offload, the pipe carries TCP super-packets whole with their GSO
// metadata (tun.PipeOptions.Offload), as a veth pair with GSO and GRO does.
type pair struct {
	server, client   *netstack.Stack
	ssocks, csocks   *sockets.Sockets
	serverAddr       netip.Addr
	clientClosedOnce bool
}

func newPair(mtu int, offload bool) (*pair, error) {
	da, db := tun.Pipe(tun.PipeOptions{MTU: mtu, NameA: "srv", NameB: "cli", Offload: offload})
	srv, err := netstack.New(netstack.Options{Device: da, Addrs: []netip.Prefix{serverPrefix}, Node: "server"})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("server stack: %w", err)
	}
	cli, err := netstack.New(netstack.Options{Device: db, Addrs: []netip.Prefix{clientPrefix}, Node: "client"})
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("client stack: %w", err)
	}
	return &pair{
		server: srv, client: cli,
		ssocks:     sockets.New(srv.Stack(), sockets.Options{Node: "server"}),
		csocks:     sockets.New(cli.Stack(), sockets.Options{Node: "client"}),
		serverAddr: serverPrefix.Addr(),
	}, nil
}

// dropClient silences the client stack (every packet it would send is
// dropped, so the server sees no FIN or RST) and closes it, leaving the
// server's connections established and idle.
func (p *pair) dropClient() {
	if p.clientClosedOnce {
		return
	}
	p.clientClosedOnce = true
	p.client.SetEgress(hook.NewChain(hook.PacketFunc(func(*hook.Packet) hook.Verdict {
		return hook.Verdict{Action: hook.Drop, Reason: "client-gone"}
	})))
	p.client.Close()
	p.client, p.csocks = nil, nil
}

func (p *pair) Close() {
	if p.client != nil {
		p.client.Close()
	}
	p.server.Close()
}
