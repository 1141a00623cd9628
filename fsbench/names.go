package fsbench

import (
	"math/rand/v2"

	"github.com/cgscale/cgscale/layout"
)

// accountNames returns the deterministic source of account names for a
// run with the given seed: the names cgscale gen gives accounts, so the
// benchmark measures directories whose entries are shaped like a real
// store's (the spread of name lengths decides how many fit in a block).
func accountNames(seed uint64) *layout.AccountNames {
	return layout.NewAccountNames(rand.New(rand.NewPCG(seed, 0x6367736361)))
}
