package main

import (
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	s := "1234 (sshd: root (x)) S 1000 1234 1234 0 -1 4194560 100 0 0 0 250 75 10 5 20 0 1 0 100 1000 100 18446744073709551615\n"
	ps, err := parseProcStat(s)
	if err != nil {
		t.Fatal(err)
	}
	if ps.pid != 1234 || ps.ppid != 1000 || ps.self != 325 || ps.children != 15 {
		t.Fatalf("got %+v", ps)
	}
}

func TestTreeTicks(t *testing.T) {
	procs := map[int]procStat{
		1:  {pid: 1, ppid: 0, self: 1000},
		10: {pid: 10, ppid: 1, self: 5, children: 7},
		11: {pid: 11, ppid: 10, self: 3},
		12: {pid: 12, ppid: 11, self: 2},
		20: {pid: 20, ppid: 1, self: 100},
	}
	ticks, n := treeTicks(procs, []int{10, 11})
	if ticks != 17 || n != 3 {
		t.Fatalf("ticks=%d n=%d, want 17 3", ticks, n)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {0, 1}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
}
