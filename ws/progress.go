package ws

import "io"

// progressPiece is how much of a long frame goes to the transport in one
// write when a keepalive runs: the bytes count in wprog as each piece
// is taken, so that a ping waiting behind the frame sees whether the
// peer still reads (keepalive.go). A client's masked frames go out in
// pieces of this size anyway (bigWriteBufSize).
const progressPiece = bigWriteBufSize

// out returns where a frame with n bytes of payload is written: the
// transport, or, when a keepalive runs and the frame is longer than a
// piece, the transport a piece at a time.
func (c *Conn) out(n int) io.Writer {
	if c.cfg.keepAlive <= 0 || n <= progressPiece {
		return c.nc
	}
	return progressWriter{c}
}

// progressWriter writes to the connection's transport a piece at a time,
// counting each piece in wprog once it is taken.
type progressWriter struct{ c *Conn }

func (w progressWriter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := w.c.nc.Write(p[done:min(len(p), done+progressPiece)])
		done += n
		w.c.wprog.Add(int64(n))
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
