package main

import "errors"

type perfSet struct{}

func openSysCounts(pid int) (*perfSet, error) { return nil, errors.New("perf counters not built yet") }

func (p *perfSet) Read() (sysCounts, error) { return sysCounts{}, errors.New("no") }
func (p *perfSet) Close()                   {}
