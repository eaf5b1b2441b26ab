package kedaload

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuMeter measures the CPU time this process spends during a run: the
// generator shares the machine with the scaler it measures, so what it
// takes is reported beside the latencies.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	t, ok := processCPU()
	return cpuMeter{t, ok}
}

// used is the CPU time since startCPU, and whether it is known.
func (m cpuMeter) used() (time.Duration, bool) {
	t, ok := processCPU()
	if !ok || !m.ok {
		return 0, false
	}
	return t - m.start, true
}

// processCPU is the user and system CPU time of this process so far, from
// /proc/self/stat (Linux; false elsewhere), counted in USER_HZ ticks,
// which Linux fixes at 100 a second for user space.
func processCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The fields after the command name (in parentheses, which may hold
	// spaces) are state, ppid, ...; utime and stime are the 12th and 13th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}
