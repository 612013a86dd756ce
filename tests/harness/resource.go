package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Usage is a process's resource use, read from /proc (Linux).
type Usage struct {
	// CPU is user plus system time of every thread so far (10 ms ticks).
	CPU time.Duration
	// RSS is the resident set now; PeakRSS its high-water mark (VmHWM).
	RSS, PeakRSS int64
	// Anon and File split RSS: anonymous memory (heap, stacks) and pages
	// of mapped files (the executable's code and data).
	Anon, File int64
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// it is 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// ReadUsage reads pid's CPU time from /proc/<pid>/stat and its memory from
// /proc/<pid>/status.
func ReadUsage(pid int) (Usage, error) {
	var u Usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name (field 2) may hold spaces; fields after its ")"
	// start at field 3 (state). utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return u, fmt.Errorf("harness: unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return u, fmt.Errorf("harness: short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return u, fmt.Errorf("harness: bad utime/stime in /proc/%d/stat", pid)
	}
	u.CPU = time.Duration(utime+stime) * clockTick

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb := func() int64 {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
		switch k {
		case "VmRSS":
			u.RSS = kb()
		case "VmHWM":
			u.PeakRSS = kb()
		case "RssAnon":
			u.Anon = kb()
		case "RssFile":
			u.File = kb()
		}
	}
	return u, nil
}

// Usage reads the running process's resource use.
func (p *Proc) Usage() (Usage, error) {
	if !p.Alive() {
		return Usage{}, fmt.Errorf("harness: process %d has exited", p.Pid())
	}
	return ReadUsage(p.Pid())
}

// ResetPeakRSS resets the process's VmHWM to its current RSS (writing 5 to
// /proc/<pid>/clear_refs), so a later PeakRSS covers only what follows.
// It needs to own the process (or CAP_SYS_RESOURCE); the error says when
// the kernel refused.
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// MB formats bytes as mebibytes.
func MB(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
