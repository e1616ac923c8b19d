package driver

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// errXY is points with their (relative) error bars.
type errXY struct {
	xys plotter.XYs
	e   plotter.YErrors
}

func (p errXY) Len() int                        { return len(p.xys) }
func (p errXY) XY(i int) (float64, float64)     { return p.xys[i].X, p.xys[i].Y }
func (p errXY) YError(i int) (float64, float64) { return p.e[i].Low, p.e[i].High }

// drawChart plots tasks/s against workers (log-log): the cold-cache
// pipeline with its range and the ideal linear scaling, the warm-cache
// pipeline, and the ceiling and the peers as horizontal lines.
func drawChart(r *Results, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Throughput against workers (%s, %d cores, %s)", r.Date, r.Machine.Cores, r.Commit)
	p.X.Label.Text = "workers (processes)"
	p.Y.Label.Text = "tasks/s, published to committed (log scale)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, false
	p.Legend.XOffs = -vg.Points(4)
	p.Add(plotter.NewGrid())

	xs := map[int]bool{1: true}
	for _, c := range r.Cold {
		xs[c.Workers] = true
	}
	for _, w := range r.Warm {
		xs[w.Procs] = true
	}
	var ws []int
	for x := range xs {
		ws = append(ws, x)
	}
	slices.Sort(ws)
	var ticks []plot.Tick
	for _, x := range ws {
		ticks = append(ticks, plot.Tick{Value: float64(x), Label: fmt.Sprint(x)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	xmin, xmax := 0.9, float64(ws[len(ws)-1])*1.1
	p.X.Min, p.X.Max = xmin, xmax
	ymin, ymax := math.Inf(1), math.Inf(-1)
	see := func(v float64) {
		if v > 0 && !math.IsNaN(v) {
			ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
		}
	}

	i := 0
	series := func(name string, pts []float64, lo, hi []float64, x []int, dashed bool) error {
		var e errXY
		for k := range pts {
			e.xys = append(e.xys, plotter.XY{X: float64(x[k]), Y: pts[k]})
			e.e = append(e.e, struct{ Low, High float64 }{pts[k] - lo[k], hi[k] - pts[k]})
			see(lo[k])
			see(hi[k])
		}
		l, s, err := plotter.NewLinePoints(e.xys)
		if err != nil {
			return err
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		l.Width = vg.Points(2)
		s.Shape = plotutil.Shape(i)
		if dashed {
			l.Dashes = plotutil.Dashes(2)
		}
		eb, err := plotter.NewYErrorBars(e)
		if err != nil {
			return err
		}
		eb.Color = plotutil.Color(i)
		p.Add(l, s, eb)
		p.Legend.Add(name, l, s)
		i++
		return nil
	}
	hline := func(name string, y float64, c color.Color, dashes []vg.Length) error {
		if y <= 0 || math.IsNaN(y) {
			return nil
		}
		see(y)
		l, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: y}, {X: xmax, Y: y}})
		if err != nil {
			return err
		}
		l.Color, l.Dashes, l.Width = c, dashes, vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s: %s/s", name, fmtRate(y)), l)
		return nil
	}

	var warmX []int
	var warm, warmLo, warmHi []float64
	for _, w := range r.Warm {
		if w.Batch > 1 {
			warmX = append(warmX, w.Procs)
			warm, warmLo, warmHi = append(warm, w.Rate.Median), append(warmLo, w.Rate.Min), append(warmHi, w.Rate.Max)
		}
	}
	if len(warm) > 0 {
		if err := series("our pipeline, warm cache", warm, warmLo, warmHi, warmX, false); err != nil {
			return err
		}
	}
	var coldX []int
	var cold, coldLo, coldHi []float64
	for _, c := range r.Cold {
		coldX = append(coldX, c.Workers)
		cold, coldLo, coldHi = append(cold, c.Rate.Median), append(coldLo, c.Rate.Min), append(coldHi, c.Rate.Max)
	}
	if len(cold) > 0 {
		if err := series(fmt.Sprintf("our pipeline, cold cache, providers %s", r.ProviderLatency), cold, coldLo, coldHi, coldX, false); err != nil {
			return err
		}
		if coldX[0] == 1 {
			var ideal plotter.XYs
			for _, x := range coldX {
				ideal = append(ideal, plotter.XY{X: float64(x), Y: cold[0] * float64(x)})
				see(cold[0] * float64(x))
			}
			l, err := plotter.NewLine(ideal)
			if err != nil {
				return err
			}
			l.Color, l.Dashes = color.Gray{Y: 120}, []vg.Length{vg.Points(2), vg.Points(3)}
			p.Add(l)
			p.Legend.Add("linear scaling from 1 cold worker", l)
		}
	}
	peerColors := map[string]color.Color{
		"ceiling":         color.RGBA{R: 200, A: 255},
		"amqp-batch":      color.RGBA{G: 140, B: 60, A: 255},
		"watermill-tuned": color.RGBA{R: 120, G: 60, B: 160, A: 255},
		"watermill":       color.RGBA{R: 200, G: 120, A: 255},
	}
	for k, name := range []string{"ceiling", "amqp-batch", "watermill-tuned", "watermill"} {
		if pr := r.peer(name); pr != nil {
			label := map[string]string{"ceiling": "ceiling (consume + ack only)", "amqp-batch": "amqp091-go, 50 per transaction",
				"watermill-tuned": "watermill tuned", "watermill": "watermill as documented"}[name]
			if err := hline(label+", 1 process", pr.Rate.Median, peerColors[name], plotutil.Dashes(k+1)); err != nil {
				return err
			}
		}
	}
	if math.IsInf(ymin, 1) {
		ymin, ymax = 1, 10
	}
	p.Y.Min = math.Pow(10, math.Floor(math.Log10(ymin)))
	p.Y.Max = math.Pow(10, math.Ceil(math.Log10(ymax*1.5)))
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.ThumbnailWidth = vg.Points(24)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return p.Save(9*vg.Inch, 6*vg.Inch, path)
}
