// Package human formats figures for the text reports of every command.
package human

import "fmt"

// Bytes formats a byte count in binary units: "512 B", "64 KiB" when
// the count is a whole number of the unit, "1.5 GiB" (one decimal)
// otherwise. Negative counts keep their sign.
func Bytes(n int64) string {
	if n < 0 {
		if n == -n { // the most negative int64 has no positive counterpart
			return "-8 EiB"
		}
		return "-" + Bytes(-n)
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for n/div >= unit && exp < 5 {
		div *= unit
		exp++
	}
	if float64(n)/float64(div) >= 1023.95 && exp < 5 { // would print as 1024.0
		div *= unit
		exp++
	}
	if n%div == 0 {
		return fmt.Sprintf("%d %ciB", n/div, "KMGTPE"[exp])
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
