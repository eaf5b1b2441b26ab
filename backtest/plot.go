package backtest

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Plot draws the backtest in two panels sharing the time axis: above, the
// actual load, the upper band of the forecast made one start-up earlier and
// the capacity of the predictive autoscaler's ready pods; below, the
// replicas of the three autoscalers. The format is "png" or "svg".
func Plot(w io.Writer, res *Result, format, title string) error {
	top := plot.New()
	top.Title.Text = title
	top.Y.Label.Text = "load"
	bottom := plot.New()
	bottom.Y.Label.Text = "replicas"
	bottom.X.Label.Text = "time (UTC)"
	for _, p := range []*plot.Plot{top, bottom} {
		p.X.Tick.Marker = plot.TimeTicks{Format: "01-02\n15:04"}
		p.Legend.Top = true
		p.Legend.Left = true
		p.Add(plotter.NewGrid())
	}

	n := len(res.Rows)
	actual, upper, capacity := make(plotter.XYs, n), make(plotter.XYs, n), make(plotter.XYs, n)
	var replicas [3]plotter.XYs
	for i := range replicas {
		replicas[i] = make(plotter.XYs, n)
	}
	for i, r := range res.Rows {
		x := float64(r.Time.Unix())
		actual[i] = plotter.XY{X: x, Y: r.Actual}
		upper[i] = plotter.XY{X: x, Y: r.Upper}
		capacity[i] = plotter.XY{X: x, Y: float64(r.Ready[1]) * res.Config.Capacity}
		for a := range replicas {
			replicas[a][i] = plotter.XY{X: x, Y: float64(r.Replicas[a])}
		}
	}
	blue := color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange := color.RGBA{R: 255, G: 127, B: 14, A: 255}
	green := color.RGBA{R: 44, G: 160, B: 44, A: 255}
	grey := color.RGBA{R: 120, G: 120, B: 120, A: 255}
	if err := addLine(top, "actual load", actual, blue, false); err != nil {
		return err
	}
	band := fmt.Sprintf("forecast q=%.2g, %s ahead", res.Config.Quantile, res.Config.Startup)
	if err := addLine(top, band, dropNaN(upper), orange, true); err != nil {
		return err
	}
	if err := addLine(top, "Foresight capacity (ready pods)", capacity, green, false); err != nil {
		return err
	}
	for a, c := range []color.Color{grey, green, orange} {
		if err := addLine(bottom, Arms[a], replicas[a], c, a == 2); err != nil {
			return err
		}
	}

	width, height := 30*vg.Centimeter, 18*vg.Centimeter
	var canvas interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch strings.ToLower(format) {
	case "png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(width, height)}
	case "svg":
		canvas = vgsvg.New(width, height)
	default:
		return fmt.Errorf("plot format %q: use png or svg", format)
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Millimeter, PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: 4 * vg.Millimeter}
	plots := [][]*plot.Plot{{top}, {bottom}}
	canvases := plot.Align(plots, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	_, err := canvas.WriteTo(w)
	return err
}

// PlotFormat returns the plot format implied by a file name.
func PlotFormat(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".png", ".svg":
		return ext[1:], nil
	default:
		return "", fmt.Errorf("plot file %q: name it .png or .svg", path)
	}
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashed bool) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("plotting %s: %w", name, err)
	}
	l.Color = c
	l.Width = vg.Points(0.8)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
	}
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func dropNaN(xys plotter.XYs) plotter.XYs {
	out := xys[:0:0]
	for _, p := range xys {
		if !math.IsNaN(p.Y) && !math.IsInf(p.Y, 0) {
			out = append(out, p)
		}
	}
	return out
}
