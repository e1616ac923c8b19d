package driver

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clkTck is USER_HZ (100 on Linux).
const clkTck = 100

// procCPU is the user+system CPU seconds of pid.
func procCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// After the command: state is field 3, utime 14, stime 15.
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / clkTck
}

// serviceGroups are the shared services' processes by command name.
var serviceGroups = map[string]string{"beam.smp": "rabbitmq", "postgres": "postgres", "redis-server": "redis"}

// cpuSnapshot reads the CPU seconds of the services' processes, of the given
// processes (by group), and of the whole machine.
type cpuSnapshot struct {
	byPid   map[int]float64
	group   map[int]string
	machine float64 // busy seconds, all CPUs
	total   float64 // all seconds, all CPUs
}

func takeCPU(own map[int]string) cpuSnapshot {
	s := cpuSnapshot{byPid: map[int]float64{}, group: map[int]string{}}
	ents, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, e := range ents {
		b, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		g, ok := serviceGroups[strings.TrimSpace(string(b))]
		if !ok {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(e)))
		s.group[pid] = g
	}
	for pid, g := range own {
		s.group[pid] = g
	}
	for pid := range s.group {
		s.byPid[pid] = procCPU(pid)
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, v := range f[1:] {
			x, _ := strconv.ParseFloat(v, 64)
			s.total += x / clkTck
			if i != 3 && i != 4 { // idle, iowait
				s.machine += x / clkTck
			}
		}
	}
	return s
}

// cpuDelta is the CPU seconds each group used between two snapshots
// (processes present in both), and the machine's busy share.
func cpuDelta(a, b cpuSnapshot) (map[string]float64, float64) {
	out := map[string]float64{}
	for pid, g := range a.group {
		if v, ok := b.byPid[pid]; ok && v >= a.byPid[pid] {
			out[g] += v - a.byPid[pid]
		}
	}
	busy := 0.0
	if d := b.total - a.total; d > 0 {
		busy = (b.machine - a.machine) / d
	}
	return out, busy
}
