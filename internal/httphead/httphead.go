// Package httphead bounds the request heads net/http's server reads.
package httphead

// slack is what net/http reads of a request head beyond its
// Server.MaxHeaderBytes before it answers 431 Request Header Fields Too
// Large (room for the request line, in net/http's words "bufio slop").
const slack = 4 << 10

// MaxHeaderBytes returns the http.Server.MaxHeaderBytes under which a
// request head (its request line, its fields and the blank line after
// them) of up to head bytes is read and a longer one is answered 431.
// With MaxHeaderBytes set to head itself, heads up to 4 KiB longer pass.
func MaxHeaderBytes(head int) int { return head - slack }
