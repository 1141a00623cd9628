// Package plural writes counts with the noun in the right number, so that
// reports say "1 finding" and "2 findings", "1 directory" and "3 directories".
package plural

import (
	"math"
	"strconv"
	"strings"
)

// Number is any count a report prints: whole numbers, or rates such as
// 4.6 messages per second.
type Number interface {
	~int | ~int32 | ~int64 | ~uint32 | ~uint64 | ~float64
}

// N returns n followed by one when n is exactly 1 (or -1), else by many.
// An empty many is made from one by the regular English rule (Regular).
func N[T Number](n T, one, many string) string {
	return format(n) + " " + Noun(n, one, many)
}

// Noun returns the noun alone, in the number n calls for.
func Noun[T Number](n T, one, many string) string {
	if n == 1 || float64(n) == -1 {
		return one
	}
	if many == "" {
		return Regular(one)
	}
	return many
}

// Regular makes the plural of a regular noun: "file" → "files",
// "directory" → "directories", "process" → "processes".
func Regular(noun string) string {
	switch {
	case strings.HasSuffix(noun, "y") && len(noun) > 1 && !strings.ContainsRune("aeiou", rune(noun[len(noun)-2])):
		return noun[:len(noun)-1] + "ies"
	case strings.HasSuffix(noun, "s"), strings.HasSuffix(noun, "x"), strings.HasSuffix(noun, "ch"), strings.HasSuffix(noun, "sh"):
		return noun + "es"
	}
	return noun + "s"
}

func format[T Number](n T) string {
	switch v := any(n).(type) {
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case uint64:
		return strconv.FormatUint(v, 10)
	case uint32:
		return strconv.FormatUint(uint64(v), 10)
	}
	f := float64(n)
	if f != math.Trunc(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatInt(int64(n), 10)
}
