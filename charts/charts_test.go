package charts

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// A month's chart is a PNG picture of the promised size, with Cyrillic
// titles, small enough for Telegram's photo limit.
func TestUsageChartIsAPNG(t *testing.T) {
	c := dialogs.UsageChart{Title: "Трафик счёта 1000000001, декабрь 2026", XLabel: "день месяца", YLabel: "принято, ГБ"}
	for d := 1; d <= 31; d++ {
		c.Days, c.Values = append(c.Days, d), append(c.Values, float64(d%7)+0.5)
	}
	b, err := Drawer{}.UsageChart(c)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if got := img.Bounds().Size(); got.X != 1200 || got.Y != 675 {
		t.Errorf("size %v, want 1200×675", got)
	}
	if len(b) > 10<<20 {
		t.Errorf("%d bytes: over Telegram's 10 MB for a photo", len(b))
	}
}

func TestUsageChartRefusesMismatchedData(t *testing.T) {
	if _, err := (Drawer{}).UsageChart(dialogs.UsageChart{Days: []int{1, 2}, Values: []float64{1}}); err == nil {
		t.Error("two days with one value drew a chart")
	}
}

// BenchmarkUsageChart prints what drawing a month's chart costs: it runs
// at send time, once per press of "Статистика".
func BenchmarkUsageChart(b *testing.B) {
	c := dialogs.UsageChart{Title: "Трафик счёта 1000000001, декабрь 2026", XLabel: "день месяца", YLabel: "принято, ГБ"}
	for d := 1; d <= 31; d++ {
		c.Days, c.Values = append(c.Days, d), append(c.Values, float64(d%7)+0.5)
	}
	var size int
	for b.Loop() {
		png, err := Drawer{}.UsageChart(c)
		if err != nil {
			b.Fatal(err)
		}
		size = len(png)
	}
	b.ReportMetric(float64(size), "bytes/chart")
}
