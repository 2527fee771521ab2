//go:build unix

package main

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// selfUsage is this process's CPU time (user and system) and peak RSS.
func selfUsage() (cpu time.Duration, maxRSS int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	// Linux's ru_maxrss keeps, across exec, the peak of the process that
	// started this one (here the parent, emulator and all): the peak of
	// this program's own memory is VmHWM.
	if hwm, ok := vmHWM(); ok {
		return cpu, hwm
	}
	maxRSS = int64(ru.Maxrss)
	if runtime.GOOS != "darwin" {
		maxRSS *= 1024 // kilobytes everywhere but macOS
	}
	return cpu, maxRSS
}

// vmHWM reads the peak resident set from /proc/self/status (Linux).
func vmHWM() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			f := bytes.Fields(v) // "123456 kB"
			if len(f) == 2 && string(f[1]) == "kB" {
				if kb, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
					return kb * 1024, true
				}
			}
		}
	}
	return 0, false
}
