// Chat shows a broadcast chat server on a userspace TCP/IP stack. By
// default it runs a scripted conversation: two stacks over an in-memory link
// (tun.Pipe), the chat server on 10.0.0.2, and three clients (alice, bob and
// carol, each a goroutine on the 10.0.0.1 stack) that join, talk and leave;
// it prints every line each client sees and exits 0 when everyone saw what
// they should have. It needs no privileges:
//
//	go run ./examples/chat
//
// With --tun and --addr it serves the same chat on a kernel TUN interface
// instead, so that a browser on the host can join (needs CAP_NET_ADMIN; the
// kernel side gets the first host address of the prefix):
//
//	sudo go run ./examples/chat --tun glass0 --addr 10.200.0.2/24
//	# then open http://10.200.0.2:8080/ in a browser; Ctrl-C to stop
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

func main() {
	tunName := flag.String("tun", "", "serve the chat on this TUN interface instead of running the scripted conversation")
	addr := flag.String("addr", "10.200.0.2/24", "with --tun: the stack's address and prefix")
	port := flag.Int("port", 8080, "with --tun: the HTTP port")
	flag.Parse()

	var err error
	if *tunName == "" {
		err = run(context.Background(), os.Stdout)
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = serveTUN(ctx, os.Stdout, *tunName, *addr, *port)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// hub is the chat server: every line a member sends goes to every member.
type hub struct {
	handlers sync.WaitGroup

	mu      sync.Mutex // held for a whole broadcast, so all see one order
	members map[*ws.Conn]string
	closing bool
}

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/chat" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
		return
	}
	h.handlers.Add(1)
	defer h.handlers.Done()
	// A member's outgoing lines wait in a bounded queue (ws Send); one
	// that lets 256 KiB pile up without reading is closed with 1008, so a
	// slow member neither stalls the broadcast nor grows the server.
	c, err := ws.Accept(w, r, &ws.AcceptOptions{ConnOptions: ws.ConnOptions{WriteQueueLimit: 256 << 10, WriteQueueFull: ws.QueueFailConn}})
	if err != nil {
		return
	}
	defer c.CloseNow()
	name := r.URL.Query().Get("name")
	if name == "" {
		name = r.RemoteAddr
	}

	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		c.Close(ws.StatusGoingAway, "server shutting down")
		return
	}
	if h.members == nil {
		h.members = make(map[*ws.Conn]string)
	}
	h.members[c] = name
	h.mu.Unlock()
	h.broadcast("* " + name + " joined")

	for {
		typ, msg, err := c.ReadMessage(context.Background())
		if err != nil {
			break
		}
		if typ != ws.MessageText {
			c.Close(ws.StatusUnsupportedData, "text only")
			break
		}
		h.broadcast(name + ": " + string(msg))
	}
	h.mu.Lock()
	delete(h.members, c)
	h.mu.Unlock()
	h.broadcast("* " + name + " left")
}

// broadcast queues line for every member without waiting for any of them.
// A member whose queue is full is failed with 1008 by Send; its own reader
// then sees the connection end.
func (h *hub) broadcast(line string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.members {
		c.Send(ws.MessageText, []byte(line))
	}
}

// shutdown sends close 1001 to every member and waits for the handlers.
func (h *hub) shutdown() {
	h.mu.Lock()
	h.closing = true
	conns := make([]*ws.Conn, 0, len(h.members))
	for c := range h.members {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		go c.Close(ws.StatusGoingAway, "server shutting down")
	}
	h.handlers.Wait()
}

// serve runs an HTTP server with the hub on l until stop is called.
func serve(l net.Listener, h *hub) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	return func() {
		srv.Close() // closes the listener; the WebSocket handlers go on
		<-done
		h.shutdown()
	}
}

// client is one scripted chat member on the client stack.
type client struct {
	name  string
	conn  *ws.Conn
	lines chan string
	ended chan error // the reader's final error
}

// The conversation run plays, in order.
var script = []struct{ who, says string }{
	{"alice", "hi everyone"},
	{"bob", "hello alice, hello carol"},
	{"carol", "hi! my packets never touch the kernel"},
	{"alice", "neither do ours: two gVisor stacks, one in-memory wire"},
	{"bob", "gotta go, bye"},
}

// run plays the scripted conversation and checks that every client saw
// every line it should have, in order.
func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	clientDev, serverDev := tun.Pipe(tun.PipeOptions{MTU: 1280})
	server, err := netstack.New(netstack.Options{Device: serverDev, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}})
	if err != nil {
		clientDev.Close()
		return err
	}
	defer server.Close()
	cstack, err := netstack.New(netstack.Options{Device: clientDev, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	if err != nil {
		return err
	}
	defer cstack.Close()

	l, err := sockets.New(server.Stack(), sockets.Options{}).Listener("tcp", "10.0.0.2:80")
	if err != nil {
		return err
	}
	stop := serve(l, &hub{})
	defer stop()
	fmt.Fprintln(out, "chat server listening on 10.0.0.2:80; clients on 10.0.0.1")

	csocks := sockets.New(cstack.Stack(), sockets.Options{})
	var members []*client
	defer func() {
		for _, c := range members {
			c.conn.CloseNow()
		}
	}()
	// expect waits until each of cs has received line.
	expect := func(cs []*client, line string) error {
		for _, c := range cs {
			select {
			case got, ok := <-c.lines:
				if !ok {
					return fmt.Errorf("%s: connection ended (%v) while waiting for %q", c.name, <-c.ended, line)
				}
				if got != line {
					return fmt.Errorf("%s saw %q, want %q", c.name, got, line)
				}
				fmt.Fprintf(out, "  [%s] %s\n", c.name, got)
			case <-ctx.Done():
				return fmt.Errorf("%s: waiting for %q: %w", c.name, line, ctx.Err())
			}
		}
		return nil
	}

	// Join one at a time; everyone already in sees each arrival.
	for _, name := range []string{"alice", "bob", "carol"} {
		conn, _, err := ws.Dial(ctx, "ws://10.0.0.2/chat?name="+name, &ws.DialOptions{NetDial: csocks.DialContext})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		c := &client{name: name, conn: conn, lines: make(chan string, 16), ended: make(chan error, 1)}
		go func() {
			defer close(c.lines)
			for {
				_, msg, err := conn.ReadMessage(ctx)
				if err != nil {
					c.ended <- err
					return
				}
				select {
				case c.lines <- string(msg):
				case <-ctx.Done():
					c.ended <- ctx.Err()
					return
				}
			}
		}()
		members = append(members, c)
		fmt.Fprintf(out, "%s joins from %v\n", name, conn.LocalAddr())
		if err := expect(members, "* "+name+" joined"); err != nil {
			return err
		}
	}

	for _, line := range script {
		fmt.Fprintf(out, "%s says %q\n", line.who, line.says)
		if err := byName(members, line.who).conn.WriteMessage(ctx, ws.MessageText, []byte(line.says)); err != nil {
			return fmt.Errorf("%s: %w", line.who, err)
		}
		if err := expect(members, line.who+": "+line.says); err != nil {
			return err
		}
	}

	// Leave one at a time; those still there see each departure.
	for _, name := range []string{"bob", "alice", "carol"} {
		c := byName(members, name)
		fmt.Fprintf(out, "%s leaves\n", name)
		if err := c.conn.Close(ws.StatusNormalClosure, "bye"); err != nil {
			return fmt.Errorf("%s: close: %w", name, err)
		}
		for range c.lines {
			return fmt.Errorf("%s: message after its close", name)
		}
		if err := <-c.ended; ws.CloseStatus(err) != ws.StatusNormalClosure {
			return fmt.Errorf("%s: reader ended with %v, want a normal closure", name, err)
		}
		members = remove(members, c)
		if err := expect(members, "* "+name+" left"); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "everyone saw the whole conversation")
	return nil
}

func byName(cs []*client, name string) *client {
	for _, c := range cs {
		if c.name == name {
			return c
		}
	}
	panic("no client " + name)
}

func remove(cs []*client, c *client) []*client {
	out := cs[:0]
	for _, x := range cs {
		if x != c {
			out = append(out, x)
		}
	}
	return out
}

// serveTUN serves the chat on a kernel TUN interface until ctx is done.
func serveTUN(ctx context.Context, out io.Writer, name, addr string, port int) error {
	prefix, err := netip.ParsePrefix(addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	host := tun.HostAddrFor(prefix)
	if !host.IsValid() {
		return fmt.Errorf("--addr %v leaves no room for the kernel's address", prefix)
	}
	dev, err := tun.Open(tun.Config{Name: name, HostAddr: host})
	if err != nil {
		return err
	}
	st, err := netstack.New(netstack.Options{Device: dev, Addrs: []netip.Prefix{prefix}})
	if err != nil {
		return err
	}
	defer st.Close()
	hostPort := net.JoinHostPort(prefix.Addr().String(), strconv.Itoa(port))
	l, err := sockets.New(st.Stack(), sockets.Options{}).Listener("tcp", hostPort)
	if err != nil {
		return err
	}
	stop := serve(l, &hub{})
	fmt.Fprintf(out, "chat: open http://%s/ (the kernel side of %s is %v); Ctrl-C to stop\n", hostPort, dev.Name(), host)
	<-ctx.Done()
	fmt.Fprintln(out, "chat: closing every member with 1001")
	stop()
	return nil
}

// page is the browser client.
const page = `<!doctype html>
<meta charset="utf-8">
<title>glassnet chat</title>
<style>body{font:14px sans-serif;max-width:40em;margin:2em auto}#log{white-space:pre-wrap;border:1px solid #ccc;height:20em;overflow:auto;padding:.5em}</style>
<h1>glassnet chat</h1>
<div id="log"></div>
<form id="f"><input id="msg" autocomplete="off" size="50" autofocus> <button>send</button></form>
<script>
const log = document.getElementById("log");
const show = s => { log.textContent += s + "\n"; log.scrollTop = log.scrollHeight; };
const name = prompt("Your name?") || "browser";
const sock = new WebSocket("ws://" + location.host + "/chat?name=" + encodeURIComponent(name));
sock.onmessage = e => show(e.data);
sock.onclose = e => show("* disconnected (" + e.code + " " + e.reason + ")");
document.getElementById("f").onsubmit = e => {
  e.preventDefault();
  const m = document.getElementById("msg");
  if (m.value) { sock.send(m.value); m.value = ""; }
};
</script>
`
