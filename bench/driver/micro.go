package driver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// microPackages hold the bench_test.go files.
var microPackages = []string{"./internal/match", "./internal/task", "./internal/cache"}

// MicroRow is one micro-benchmark's medians over -count runs.
type MicroRow struct {
	Pkg      string  `json:"pkg"`
	Name     string  `json:"name"`
	NsOp     float64 `json:"ns_per_op"`
	BOp      float64 `json:"bytes_per_op"`
	AllocsOp float64 `json:"allocs_per_op"`
}

// benchMicro runs the Go micro-benchmarks in benchstat's input format,
// saves the output to docs/bench/micro.txt and keeps the medians.
func benchMicro(ctx context.Context, o Options, res *Results) error {
	bt := o.MicroTime
	if o.Quick {
		bt = "200ms"
	}
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", bt, "-count", strconv.Itoa(o.MicroCount)}, microPackages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = o.Root
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	path := filepath.Join(o.Root, "docs/bench/micro.txt")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		return err
	}
	type acc struct{ ns, b, allocs []float64 }
	vals := map[string]*acc{}
	var order []string
	pkg := ""
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "github.com/djmeta/enrichment/")
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		key := pkg + " " + f[0]
		a := vals[key]
		if a == nil {
			a = &acc{}
			vals[key] = a
			order = append(order, key)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				a.ns = append(a.ns, v)
			case "B/op":
				a.b = append(a.b, v)
			case "allocs/op":
				a.allocs = append(a.allocs, v)
			}
		}
	}
	med := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return median(s) }
	for _, k := range order {
		p, n, _ := strings.Cut(k, " ")
		a := vals[k]
		res.Micro = append(res.Micro, MicroRow{Pkg: p, Name: n, NsOp: med(a.ns), BOp: med(a.b), AllocsOp: med(a.allocs)})
	}
	logf("micro-benchmarks: %d results in docs/bench/micro.txt", len(res.Micro))
	return nil
}
