package main

// openSysCounts counts the system calls of process pid (0: this one) with
// the kinds of sysKinds by name.
func openSysCounts(pid int) (*perfSet, error) {
	names := make([]string, len(sysKinds))
	for i, k := range sysKinds {
		names[i] = "sys_enter_" + k
	}
	return openPerf(pid, names...)
}
