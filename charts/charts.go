// Package charts draws the pictures Kabinet sends a subscriber: the
// traffic of a month as a bar chart in PNG. It implements dialogs.Charts
// with gonum.org/v1/plot, a well-kept pure-Go plotting library whose
// default font (Liberation) has Cyrillic, so no font file or C library is
// needed on the server.
package charts

import (
	"bytes"
	"fmt"
	"image/color"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// Size of the picture: 1200 × 675 pixels (16:9) at 96 dpi, sharp on a
// phone and well under Telegram's limits for a photo (10 MB, width and
// height together at most 10,000).
const (
	width  = 12.5 * vg.Inch
	height = 7.03125 * vg.Inch
)

// Drawer draws the charts; the zero value is ready to use.
type Drawer struct{}

// UsageChart draws one bar a day, labelled with the day of the month.
func (Drawer) UsageChart(c dialogs.UsageChart) ([]byte, error) {
	if len(c.Days) != len(c.Values) || len(c.Days) == 0 {
		return nil, fmt.Errorf("charts: %d days and %d values", len(c.Days), len(c.Values))
	}
	p := plot.New()
	p.Title.Text = c.Title
	p.Title.TextStyle.Font.Size = vg.Points(18)
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Y.Min = 0
	for _, v := range c.Values {
		p.Y.Max = max(p.Y.Max, v*1.1) // room above the highest bar
	}
	bars, err := plotter.NewBarChart(plotter.Values(c.Values), vg.Points(18))
	if err != nil {
		return nil, fmt.Errorf("charts: %w", err)
	}
	bars.Color = color.RGBA{R: 0x2e, G: 0x9e, B: 0x4f, A: 0xff} // the provider's green
	bars.LineStyle.Width = 0
	p.Add(bars, plotter.NewGrid())
	names := make([]string, len(c.Days))
	for i, d := range c.Days {
		// Every other day is labelled, so that 31 labels do not overlap.
		if i%2 == 0 {
			names[i] = strconv.Itoa(d)
		}
	}
	p.NominalX(names...)
	// Half a bar of room on either side, so that the first and the last
	// day are whole.
	p.X.Min, p.X.Max = -0.5, float64(len(c.Days))-0.5
	w, err := p.WriterTo(width, height, "png")
	if err != nil {
		return nil, fmt.Errorf("charts: %w", err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("charts: %w", err)
	}
	return buf.Bytes(), nil
}
