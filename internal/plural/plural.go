// Package plural writes counts with the noun in the right number, so that
// reports say "1 finding" and "2 findings", "1 directory" and "3 directories".
package plural

import "strconv"

// N returns n followed by one when n is 1 (or -1), else by many; an empty
// many is one with an "s" added.
func N[T ~int | ~int32 | ~int64 | ~uint64](n T, one, many string) string {
	return strconv.FormatInt(int64(n), 10) + " " + Noun(n, one, many)
}

// Noun returns the noun alone, in the number n calls for.
func Noun[T ~int | ~int32 | ~int64 | ~uint64](n T, one, many string) string {
	if n == 1 || int64(n) == -1 {
		return one
	}
	if many == "" {
		return one + "s"
	}
	return many
}
