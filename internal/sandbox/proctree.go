//go:build linux

package sandbox

import (
	"bytes"
	"os"
	"strconv"
)

// proc is one process as seen in /proc. start (in clock ticks since boot)
// tells a process from a later one that reused its pid.
type proc struct {
	pid, ppid, pgid int
	start           uint64
	state           byte
}

// readProc reads /proc/<pid>/stat. The command name may hold spaces and
// parentheses, so fields are counted from the last ')'.
func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return proc{}, false
	}
	f := bytes.Fields(b[i+2:])
	// After the name: state(0) ppid(1) pgrp(2) ... starttime(19).
	if len(f) < 20 {
		return proc{}, false
	}
	ppid, _ := strconv.Atoi(string(f[1]))
	pgid, _ := strconv.Atoi(string(f[2]))
	start, _ := strconv.ParseUint(string(f[19]), 10, 64)
	return proc{pid: pid, ppid: ppid, pgid: pgid, start: start, state: f[0][0]}, true
}

// alive reports whether the process still exists, is the same process, and
// is not a zombie waiting to be reaped.
func (p proc) alive() bool {
	now, ok := readProc(p.pid)
	return ok && now.start == p.start && now.state != 'Z' && now.state != 'X'
}

// descendants lists every live process below root, in no order.
func descendants(root int) []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := make(map[int][]proc)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			children[p.ppid] = append(children[p.ppid], p)
		}
	}
	var out []proc
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}
