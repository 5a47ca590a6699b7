package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat. It is 100
// on every Linux architecture Go supports.
const clockTicks = 100

type procStat struct {
	pid, ppid int
	// utime+stime of the process itself, and cutime+cstime of its
	// reaped children, in clock ticks.
	self, children uint64
}

// parseProcStat parses the contents of /proc/PID/stat.
func parseProcStat(s string) (procStat, error) {
	// comm (field 2) may contain spaces and parentheses; it ends at the last ')'.
	open := strings.IndexByte(s, '(')
	closeIdx := strings.LastIndexByte(s, ')')
	if open < 0 || closeIdx < open {
		return procStat{}, errors.New("malformed stat")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return procStat{}, err
	}
	// Fields after comm start at field 3 (state).
	f := strings.Fields(s[closeIdx+1:])
	// state=3 ppid=4 ... utime=14 stime=15 cutime=16 cstime=17
	if len(f) < 15 {
		return procStat{}, errors.New("short stat")
	}
	field := func(n int) (uint64, error) { return strconv.ParseUint(f[n-3], 10, 64) }
	ppid, err := strconv.Atoi(f[4-3])
	if err != nil {
		return procStat{}, err
	}
	var v [4]uint64
	for i := range v {
		if v[i], err = field(14 + i); err != nil {
			// cutime/cstime are signed in the kernel ABI; treat negatives as 0.
			if i >= 2 {
				v[i] = 0
				continue
			}
			return procStat{}, err
		}
	}
	return procStat{pid: pid, ppid: ppid, self: v[0] + v[1], children: v[2] + v[3]}, nil
}

func readAllProcs() (map[int]procStat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	procs := make(map[int]procStat, len(ents))
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		ps, err := parseProcStat(string(b))
		if err != nil {
			continue
		}
		procs[ps.pid] = ps
	}
	return procs, nil
}

// treeTicks sums, over every live process in the trees rooted at roots, its
// own CPU time plus the CPU time of its already-reaped children. That counts
// each descendant exactly once whether it is still running or has exited and
// been waited for (e.g. sshd's per-connection processes).
func treeTicks(procs map[int]procStat, roots []int) (ticks uint64, n int) {
	kids := make(map[int][]int)
	for pid, p := range procs {
		kids[p.ppid] = append(kids[p.ppid], pid)
	}
	seen := make(map[int]bool)
	stack := append([]int(nil), roots...)
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		p, ok := procs[pid]
		if !ok {
			continue
		}
		n++
		ticks += p.self + p.children
		stack = append(stack, kids[pid]...)
	}
	return ticks, n
}

type cpuResult struct {
	Roots      []int   `json:"roots"`
	Procs      int     `json:"procs"`
	CPUSeconds float64 `json:"cpu_seconds"`
}

func runCPUTime(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: burrow-bench cputime PID...")
	}
	var roots []int
	for _, a := range args {
		for _, s := range strings.FieldsFunc(a, func(r rune) bool { return r == ',' || r == ' ' }) {
			pid, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("bad pid %q", s)
			}
			roots = append(roots, pid)
		}
	}
	procs, err := readAllProcs()
	if err != nil {
		return err
	}
	ticks, n := treeTicks(procs, roots)
	if n == 0 {
		return fmt.Errorf("none of the processes %v exist", roots)
	}
	return printJSON(cpuResult{Roots: roots, Procs: n, CPUSeconds: float64(ticks) / clockTicks})
}
