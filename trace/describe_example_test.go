package trace_test

import (
	"encoding/hex"
	"fmt"

	"github.com/glassnet/glassnet/trace"
)

// DescribePacket reads a packet's headers as tcpdump prints them. Without
// SeqBases, sequence numbers are shown as they are.
func ExampleDescribePacket() {
	syn, _ := hex.DecodeString("4500003c00004000400600000a0000010a000002" + // IPv4, 10.0.0.1 > 10.0.0.2
		"9c4000500000006400000000a002ffff00000000" + // TCP 40000 > 80, SYN, seq 100
		"020405b4" + "0402" + "080a0000000100000000" + "01030307") // mss, sackOK, TS, nop, wscale
	p := trace.DescribePacket(syn, nil)
	fmt.Println(p.Summary)
	fmt.Println(p.Conn, p.Flags, p.Options)
	// Output:
	// IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 100, win 65535, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0
	// 10.0.0.1:40000->10.0.0.2:80 S mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7
}
