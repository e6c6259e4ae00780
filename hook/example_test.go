package hook_test

import (
	"fmt"

	"github.com/glassnet/glassnet/hook"
)

func ExampleParseRule() {
	r, err := hook.ParseRule("tcp port 8080 and syn: drop")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r)
	_, err = hook.ParseRule("tcp and prot 80 : drop")
	fmt.Println(err)
	// Output:
	// tcp and port 8080 and syn : drop
	// rule "tcp and prot 80 : drop": at column 9: unknown word "prot"
}

func ExampleParseRules() {
	chain, err := hook.ParseRules([]string{"loss 20% seed 1", "delay 50ms jitter 10ms"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A stack would take it with SetEgress(chain); here it decides on
	// one packet.
	v := chain.Decide(&hook.Packet{Data: make([]byte, 40)})
	fmt.Println(chain.Len(), v.Action == hook.Drop || v.Action == hook.Delay)
	// Output: 2 true
}
