package ui

import (
	"fmt"
	"net/http"

	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
)

// statesJS is the page's module states.js: the names glassnet ss gives
// the TCP states the trace reports (sockets.SSState), so that the page
// writes a state as ss does from the one mapping, not a copy of it.
var statesJS = func() []byte {
	names := map[string]string{}
	for st := tcp.StateEstablished; st <= tcp.StateError; st++ {
		for _, n := range []string{st.String(), netstack.TCPStateName(st)} {
			names[n] = sockets.SSState(sockets.SOCK_STREAM, n)
		}
	}
	return fmt.Appendf(nil, `// Made by the server (ui/states.go) from sockets.SSState, the names
// glassnet ss gives TCP states: the trace's name of a state -> ss's.
export const SS_STATE = %s;

// ssState writes a TCP state (as the trace and the socket table name it)
// as glassnet ss does: ESTAB, SYN-RECV, FIN-WAIT-1, UNCONN ...
export const ssState = (s) => (s && Object.hasOwn(SS_STATE, s) ? SS_STATE[s] : s || "");
`, appendJSON(nil, names))
}()

func serveStatesJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Write(statesJS)
}
