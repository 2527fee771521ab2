package money

import (
	"errors"
	"strings"
	"unicode"
)

// DefaultLimit is the largest single payment the bot offers a link for
// unless the provider sets another (PAY_LIMIT): 15 000 ₽, as the seed's
// payment page allows.
const DefaultLimit = Amount(15_000_00)

// The ways a typed amount can be wrong. Each one is a different hint to the
// person, so the dialogs match them with errors.Is.
var (
	// ErrInvalid: not a sum of money at all ("abc", "5..0", "500,555").
	ErrInvalid = errors.New("money: not an amount")
	// ErrZero: a sum of nothing ("0", "0,00").
	ErrZero = errors.New("money: zero amount")
	// ErrNegative: a sum below zero ("-500").
	ErrNegative = errors.New("money: negative amount")
	// ErrOverLimit: more than the limit allows for one payment.
	ErrOverLimit = errors.New("money: amount over the limit")
)

// currencyWords are the suffixes people add after a number, lower case.
// Longer words come first so that "рублей" is not cut down to "ей".
var currencyWords = []string{
	"рублей", "рубля", "рубль", "руб.", "руб", "р.", "р", "₽", "rub.", "rub", "rur", "r",
}

// Parse reads an amount of roubles as people type it ("500", "500,50",
// "1 500 ₽", "500.5", "1500 руб") and rejects anything that is not a
// positive sum up to DefaultLimit. See ParseMax for the rules.
func Parse(s string) (Amount, error) {
	return ParseMax(s, DefaultLimit)
}

// ParseMax is Parse with the provider's own limit for one payment.
//
// The rules, chosen so that a misunderstanding never costs money:
//   - spaces of any kind group thousands ("1 500", "1 500");
//   - one "," or "." followed by one or two digits separates kopecks;
//   - when both "," and "." occur, the last one separates kopecks and the
//     other groups thousands ("1,500.50", "1.500,50"), as in Format's output;
//   - a single "," or "." followed by exactly three digits ("1.500") is
//     rejected as ambiguous: guessing wrong would be a thousandfold error;
//   - a currency word or sign may follow ("₽", "руб", "р.") or lead ("₽500");
//   - a leading "-" or "−" makes the sum negative, which is refused.
func ParseMax(s string, max Amount) (Amount, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "₽")
	s = strings.TrimSpace(s)
	for _, w := range currencyWords {
		if rest, ok := strings.CutSuffix(s, w); ok {
			s = strings.TrimSpace(rest)
			break
		}
	}
	negative := false
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		negative, s = true, rest
	} else if rest, ok := strings.CutPrefix(s, "−"); ok {
		negative, s = true, rest
	} else if rest, ok := strings.CutPrefix(s, "+"); ok {
		s = rest
	}
	s = strings.TrimSpace(s)

	// Drop the spaces between digit groups; any other character than a
	// digit, "," or "." makes the text nonsense.
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r == ',', r == '.':
			b.WriteRune(r)
		case unicode.IsSpace(r) || r == '\u202f' || r == '\u2009':
		default:
			return 0, ErrInvalid
		}
	}
	digits := b.String()
	if digits == "" {
		return 0, ErrInvalid
	}

	whole, frac, err := split(digits)
	if err != nil {
		return 0, err
	}
	whole = strings.TrimLeft(whole, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	// More than 12 digits of roubles is over any limit, and would overflow
	// int64 kopecks long before it meant anything.
	if len(whole) > 12 {
		if negative {
			return 0, ErrNegative
		}
		return 0, ErrOverLimit
	}
	var v int64
	for _, c := range whole + frac {
		v = v*10 + int64(c-'0')
	}
	switch {
	case v == 0:
		return 0, ErrZero
	case negative:
		return 0, ErrNegative
	case Amount(v) > max:
		return 0, ErrOverLimit
	}
	return Amount(v), nil
}

// split separates the roubles from the kopecks in a string of digits, "," and
// ".", checking that grouping separators stand between groups of three.
func split(s string) (whole, frac string, err error) {
	last := strings.LastIndexAny(s, ",.")
	if last < 0 {
		return s, "", nil
	}
	sep := s[last]
	other := byte(',')
	if sep == ',' {
		other = '.'
	}
	hasOther := strings.IndexByte(s, other) >= 0
	count := strings.Count(s, string(sep))
	tail := s[last+1:]

	switch {
	case hasOther:
		// Both kinds: the last one separates kopecks, the other groups.
		if count != 1 || len(tail) < 1 || len(tail) > 2 {
			return "", "", ErrInvalid
		}
		whole, err := ungroup(s[:last], other)
		return whole, tail, err
	case count > 1:
		// "1.500.000": only grouping.
		whole, err := ungroup(s, sep)
		return whole, "", err
	case tail == "" && last > 0:
		// "500." ends a sentence, not a number.
		return s[:last], "", nil
	case len(tail) == 1 || len(tail) == 2:
		if last == 0 {
			// ",50" is fifty kopecks.
			return "0", tail, nil
		}
		return s[:last], tail, nil
	}
	return "", "", ErrInvalid
}

// ungroup removes sep from "1,234,567", requiring groups of three after the
// first group of one to three digits.
func ungroup(s string, sep byte) (string, error) {
	groups := strings.Split(s, string(sep))
	if len(groups[0]) < 1 || len(groups[0]) > 3 {
		return "", ErrInvalid
	}
	for _, g := range groups[1:] {
		if len(g) != 3 {
			return "", ErrInvalid
		}
	}
	return strings.Join(groups, ""), nil
}
