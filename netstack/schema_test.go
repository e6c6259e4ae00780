package netstack

import (
	"bytes"
	"sync"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/trace"
)

// schemaCheck is a sink that checks every event, as NewJSON writes it,
// against trace/schema.json.
type schemaCheck struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	js    trace.Sink
	kinds map[string]int
	errs  []string
}

func newSchemaCheck() *schemaCheck {
	c := &schemaCheck{kinds: map[string]int{}}
	c.js = trace.NewJSON(&c.buf)
	return c
}

func (c *schemaCheck) Emit(e *trace.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Reset()
	c.js.Emit(e)
	if err := trace.ValidateJSON(c.buf.Bytes()); err != nil && len(c.errs) < 10 {
		c.errs = append(c.errs, err.Error()+": "+c.buf.String())
	}
	c.kinds[string(e.Layer)+" "+e.Name]++
}

// TestTraceMatchesSchema: the events of an Ethernet pair (ARP, TCP over
// IPv4, link, IP and TCP layers) and of malformed and ICMP packets on a
// TUN-like link all validate against trace/schema.json.
func TestTraceMatchesSchema(t *testing.T) {
	t.Parallel()
	check := newSchemaCheck()
	tr := trace.New(check)
	a, b := newEtherPair(t, func(which string, o *Options) {
		o.Tracer = tr
		o.Node = which
	})
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	exchange(t, client, server, 3000)

	_, dev := newSolo(t, func(o *Options) { o.Tracer = tr; o.Node = "solo" })
	bad := [][]byte{
		{0x45, 0, 0},                 // truncated IPv4
		{0x60, 0, 0, 0},              // truncated IPv6
		{0x75, 0, 0, 20, 0, 0, 0, 0}, // IP version 7
	}
	if _, err := dev.Write(bad); err != nil {
		t.Fatal(err)
	}
	ping4(t, dev, 2)
	tr.Flush()

	check.mu.Lock()
	defer check.mu.Unlock()
	for _, e := range check.errs {
		t.Error(e)
	}
	for _, k := range []string{"link packet", "link drop", "ip receive", "ip deliver", "ip output", "tcp segment", "tcp state"} {
		if check.kinds[k] == 0 {
			t.Errorf("no %q event checked; saw %v", k, check.kinds)
		}
	}
}
