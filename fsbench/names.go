package fsbench

import (
	"math/rand/v2"
	"strconv"
)

// AccountSuffix is the suffix of a multi-mailbox account directory.
const AccountSuffix = ".macnt"

// Given names and family names that account names are built from. Real
// stores name accounts after people and roles; what matters for the
// benchmark is the spread of name lengths (4 to about 24 bytes before the
// suffix), which decides how many entries fit in one directory block.
var (
	givenNames = []string{
		"anna", "ben", "carla", "dmitri", "elena", "frank", "grace", "hans",
		"ines", "jack", "kate", "liam", "maria", "nils", "olga", "peter",
		"quinn", "rosa", "sam", "tanja", "ulrich", "vera", "walter", "xenia",
		"yusuf", "zoe", "alexander", "bernadette", "christopher", "jo",
	}
	familyNames = []string{
		"smith", "meyer", "garcia", "rossi", "novak", "kowalski", "dubois",
		"jensen", "silva", "ivanova", "tanaka", "oconnor", "schmidt", "berg",
		"lindqvist", "papadopoulos", "fernandez", "nguyen", "kim", "li",
		"andersson", "vandermeer", "horvath", "moreau", "fischer", "costa",
	}
	roleNames = []string{
		"info", "sales", "support", "billing", "admin", "postmaster", "hr",
		"office", "noreply", "newsletter", "helpdesk", "accounts",
	}
)

// nameSource hands out account names that were never handed out before,
// shaped like real ones. It is deterministic for a given seed.
type nameSource struct {
	rng  *rand.Rand
	used map[string]struct{}
}

func newNameSource(seed uint64) *nameSource {
	return &nameSource{rng: rand.New(rand.NewPCG(seed, 0x6367736361)), used: make(map[string]struct{})}
}

// next returns a fresh account name without the suffix.
func (s *nameSource) next() string {
	for {
		n := s.candidate()
		if _, dup := s.used[n]; !dup {
			s.used[n] = struct{}{}
			return n
		}
	}
}

func (s *nameSource) candidate() string {
	g := givenNames[s.rng.IntN(len(givenNames))]
	f := familyNames[s.rng.IntN(len(familyNames))]
	var n string
	switch s.rng.IntN(8) {
	case 0, 1:
		n = g + "." + f
	case 2, 3:
		n = g[:1] + f
	case 4:
		n = g + "_" + f
	case 5:
		n = g + f[:1]
	case 6:
		n = roleNames[s.rng.IntN(len(roleNames))]
	default:
		n = f + "." + g[:1]
	}
	// Most large stores disambiguate with digits; the digits also make
	// the space of names big enough for millions of accounts.
	if s.rng.IntN(4) == 0 {
		return n
	}
	return n + strconv.Itoa(s.rng.IntN(100000))
}
