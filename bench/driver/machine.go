package driver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Machine describes where the numbers were measured.
type Machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	MemGiB   string `json:"memory"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	RabbitMQ string `json:"rabbitmq"`
	Postgres string `json:"postgres"`
	Redis    string `json:"redis"`
}

func (r *Results) describe(ctx context.Context, s *Servers) {
	r.Date = time.Now().UTC().Format("2006-01-02 15:04 UTC")
	if out, err := exec.Command("git", "-C", s.Root, "describe", "--always", "--dirty").Output(); err == nil {
		r.Commit = strings.TrimSpace(string(out))
	}
	m := &r.Machine
	m.Cores = runtime.NumCPU()
	m.Go = runtime.Version()
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		var n float64
		fmt.Sscanf(kb, "%f", &n)
		m.MemGiB = fmt.Sprintf("%.1f GiB", n/1024/1024)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := s.mgmtGet(ctx, "/api/overview"); err == nil {
		var ov struct {
			RabbitMQ string `json:"rabbitmq_version"`
			Erlang   string `json:"erlang_version"`
		}
		if json.Unmarshal(b, &ov) == nil {
			m.RabbitMQ = fmt.Sprintf("%s (Erlang %s)", ov.RabbitMQ, ov.Erlang)
		}
	}
	if c, err := pgx.Connect(ctx, s.PGAdmin); err == nil {
		var v, fsync, sc string
		_ = c.QueryRow(ctx, "SHOW server_version").Scan(&v)
		_ = c.QueryRow(ctx, "SHOW fsync").Scan(&fsync)
		_ = c.QueryRow(ctx, "SHOW synchronous_commit").Scan(&sc)
		m.Postgres = fmt.Sprintf("%s (fsync %s, synchronous_commit %s)", v, fsync, sc)
		_ = c.Close(ctx)
	}
	if opts, err := redis.ParseURL(s.RedisURL); err == nil {
		rdb := redis.NewClient(opts)
		if info, err := rdb.Info(ctx, "server").Result(); err == nil {
			for _, l := range strings.Split(info, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
					m.Redis = v
				}
			}
		}
		_ = rdb.Close()
	}
	r.LoadBefore = loadavg()
}

func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadavg is the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
