// Package money holds amounts of roubles as whole kopecks and formats them for
// people. Money is never a float anywhere in Kabinet.
package money

import (
	"strconv"
	"strings"
)

// Amount is a sum of money in kopecks (1 rouble = 100 kopecks).
type Amount int64

// Rub makes an Amount from whole roubles.
func Rub(roubles int64) Amount { return Amount(roubles * 100) }

// Format writes the amount the way people read it in lang: Russian
// "1 234,50 ₽" (a narrow no-break space groups thousands, a comma separates
// kopecks), English "1,234.50 ₽".
func (a Amount) Format(lang string) string {
	group, decimal := "\u00a0", ","
	if lang == "en" {
		group, decimal = ",", "."
	}
	neg := a < 0
	v := int64(a)
	if neg {
		v = -v
	}
	rub := strconv.FormatInt(v/100, 10)
	kop := v % 100
	var b strings.Builder
	if neg {
		b.WriteString("−")
	}
	for i, r := range rub {
		if i > 0 && (len(rub)-i)%3 == 0 {
			b.WriteString(group)
		}
		b.WriteRune(r)
	}
	b.WriteString(decimal)
	if kop < 10 {
		b.WriteByte('0')
	}
	b.WriteString(strconv.FormatInt(kop, 10))
	b.WriteString("\u00a0₽")
	return b.String()
}
