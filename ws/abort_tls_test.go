package ws

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// TestAbortUnderTLSResets: a wss connection failed because its peer
// takes nothing is reset like a plain one. The TCP connection under the
// TLS one gets SO_LINGER 0 and is closed directly, without the
// close_notify alert a peer that reads nothing would never take.
func TestAbortUnderTLSResets(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	opts := &AcceptOptions{ConnOptions: ConnOptions{Tracer: trace.New(rec), Node: "server"}}
	errs := make(chan error, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			errs <- err
			return
		}
		if _, ok := c.NetConn().(*tls.Conn); !ok {
			errs <- errors.New("the server's transport is not TLS")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		errs <- c.WriteMessage(ctx, MessageBinary, make([]byte, 16<<20))
	}))
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	dial(t, "wss"+strings.TrimPrefix(srv.URL, "https"), &DialOptions{TLSConfig: &tls.Config{RootCAs: roots}}) // and never read
	if err := recvErr(t, errs); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WriteMessage: %v, want a timeout", err)
	}
	var how []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		how = how[:0]
		for _, e := range rec.find(trace.Out, "close") {
			if strings.HasPrefix(e.Summary, "tcp ") {
				how = append(how, e.Summary)
			}
		}
		if len(how) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(how) != 1 || !strings.HasPrefix(how[0], "tcp reset: ") {
		t.Fatalf("TCP ended with %q, want a reset", how)
	}
}
