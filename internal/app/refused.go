package app

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// refusedRequests counts the requests net/http ended itself, without a
// handler: a malformed request line or header (400), an Expect other than
// 100-continue (417), a head larger than the server takes (431), a
// Transfer-Encoding other than chunked (501), an HTTP version it does not
// speak (505), a head not complete within ReadHeaderTimeout or cut short
// by the client.
// Without it `glassnet ss` would show nothing of a client that sends such
// requests. (One that came in the same read as a good request before it
// is not seen: net/http reports a connection active only when it reads
// from the wire.)
type refusedRequests struct {
	n     atomic.Uint64
	conns sync.Map // net.Conn -> *atomic.Bool: a request is being read and no handler has it
}

type pendingKey struct{}

// watch makes srv count its refused requests in r: a connection that
// closes after it began to read a request (http.StateActive) and before a
// handler ran for it. It wraps srv's ConnContext, ConnState and Handler,
// so it is called after anything else sets them.
func (r *refusedRequests) watch(srv *http.Server) {
	nextCtx, nextState, next := srv.ConnContext, srv.ConnState, srv.Handler
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		pending := new(atomic.Bool)
		r.conns.Store(c, pending)
		ctx = context.WithValue(ctx, pendingKey{}, pending)
		if nextCtx != nil {
			ctx = nextCtx(ctx, c)
		}
		return ctx
	}
	srv.ConnState = func(c net.Conn, state http.ConnState) {
		if nextState != nil {
			nextState(c, state)
		}
		switch state {
		case http.StateActive:
			if v, ok := r.conns.Load(c); ok {
				v.(*atomic.Bool).Store(true)
			}
		case http.StateHijacked, http.StateClosed:
			if v, ok := r.conns.LoadAndDelete(c); ok && state == http.StateClosed && v.(*atomic.Bool).Load() {
				r.n.Add(1)
			}
		}
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if pending, ok := req.Context().Value(pendingKey{}).(*atomic.Bool); ok {
			pending.Store(false)
		}
		next.ServeHTTP(w, req)
	})
}

func (r *refusedRequests) counters(m map[string]uint64) {
	m["http requests refused (400, 417, 431, 501, 505) or cut short"] = r.n.Load()
}
