package money

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Amount
		err  error
	}{
		{"500", Rub(500), nil},
		{"500,50", 500_50, nil},
		{"500.5", 500_50, nil},
		{"500,05", 500_05, nil},
		{"1 500 ₽", Rub(1500), nil},
		{"1\u00a0500,00\u00a0₽", Rub(1500), nil},
		{"1\u202f500", Rub(1500), nil},
		{"1500 руб", Rub(1500), nil},
		{"1500 руб.", Rub(1500), nil},
		{"1500р", Rub(1500), nil},
		{"1500 р.", Rub(1500), nil},
		{"300 рублей", Rub(300), nil},
		{"1 РУБЛЬ", Rub(1), nil},
		{"₽ 700", Rub(700), nil},
		{"700 RUB", Rub(700), nil},
		{"  +250  ", Rub(250), nil},
		{"1,500.50", 1500_50, nil},
		{"1.500,50", 1500_50, nil},
		{"1.000.000", 0, ErrOverLimit},
		{"10 000", Rub(10000), nil},
		{"15 000", Rub(15000), nil},
		{"15 000,01", 0, ErrOverLimit},
		{"0,01", 1, nil},
		{",50", 50, nil},
		{"500.", Rub(500), nil},
		{"007", Rub(7), nil},

		{"", 0, ErrInvalid},
		{"   ", 0, ErrInvalid},
		{"abc", 0, ErrInvalid},
		{"пятьсот", 0, ErrInvalid},
		{"500$", 0, ErrInvalid},
		{"5..0", 0, ErrInvalid},
		{"500,555", 0, ErrInvalid},
		{"1.500", 0, ErrInvalid}, // ambiguous: 1,50 or 1500?
		{"1,50,00", 0, ErrInvalid},
		{"1,500.50.1", 0, ErrInvalid},
		{"12e3", 0, ErrInvalid},
		{"0x10", 0, ErrInvalid},
		{".", 0, ErrInvalid},
		{"₽", 0, ErrInvalid},
		{"--5", 0, ErrInvalid},
		{"50 0 0 0 0", 0, ErrOverLimit},

		{"0", 0, ErrZero},
		{"0,00", 0, ErrZero},
		{"000 ₽", 0, ErrZero},
		{"-0", 0, ErrZero},

		{"-500", 0, ErrNegative},
		{"−500,00 ₽", 0, ErrNegative},
		{"-99999999999999999999", 0, ErrNegative},

		{"15001", 0, ErrOverLimit},
		{"99999999999999999999999", 0, ErrOverLimit},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseMaxFollowsTheSetting(t *testing.T) {
	if _, err := ParseMax("20 000", Rub(30000)); err != nil {
		t.Errorf("20 000 under a 30 000 limit: %v", err)
	}
	if _, err := ParseMax("1000", Rub(999)); !errors.Is(err, ErrOverLimit) {
		t.Errorf("1000 under a 999 limit: %v, want ErrOverLimit", err)
	}
}

// TestParseReadsWhatFormatWrites: a sum the bot showed, copied back into
// the chat, means the same sum.
func TestParseReadsWhatFormatWrites(t *testing.T) {
	for _, a := range []Amount{1, 99, 100, 50_05, 1234_56, DefaultLimit} {
		for _, lang := range []string{"ru", "en"} {
			got, err := Parse(a.Format(lang))
			if err != nil || got != a {
				t.Errorf("Parse(%q) = %d, %v; want %d", a.Format(lang), got, err, a)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"500", "500,50", "1 500 ₽", "500.5", "1500 руб", "-5", "0", "1.500", "1,500.50", "abc", "₽"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if a != 0 {
				t.Fatalf("Parse(%q) = %d with error %v", s, a, err)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrZero) && !errors.Is(err, ErrNegative) && !errors.Is(err, ErrOverLimit) {
				t.Fatalf("Parse(%q): unexpected error %v", s, err)
			}
			return
		}
		if a <= 0 || a > DefaultLimit {
			t.Fatalf("Parse(%q) = %d, outside (0, limit]", s, a)
		}
		for _, lang := range []string{"ru", "en"} {
			if b, err := Parse(a.Format(lang)); err != nil || b != a {
				t.Fatalf("Parse(%q) = %d, but Parse(%q) = %d, %v", s, a, a.Format(lang), b, err)
			}
		}
	})
}
