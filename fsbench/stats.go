package fsbench

import (
	"slices"
	"time"
)

// Latency summarises the timed operations of one kind at one directory
// size: every sample of every repetition together, plus the median of
// each repetition on its own so the spread between repetitions shows.
type Latency struct {
	N        int     `json:"n"`
	P50ns    int64   `json:"p50_ns"`
	P99ns    int64   `json:"p99_ns"`
	Meanns   int64   `json:"mean_ns"`
	PerSec   float64 `json:"per_sec"`
	RepP50ns []int64 `json:"rep_p50_ns"`
}

// samples collects durations of one operation across repetitions.
type samples struct {
	all  []time.Duration
	reps []int64
}

// addRep records one repetition's durations.
func (s *samples) addRep(d []time.Duration) {
	if len(d) == 0 {
		return
	}
	s.all = append(s.all, d...)
	c := slices.Clone(d)
	slices.Sort(c)
	s.reps = append(s.reps, int64(percentile(c, 50)))
}

func (s *samples) summary() Latency {
	if len(s.all) == 0 {
		return Latency{}
	}
	c := slices.Clone(s.all)
	slices.Sort(c)
	var sum time.Duration
	for _, d := range c {
		sum += d
	}
	mean := sum / time.Duration(len(c))
	l := Latency{
		N:        len(c),
		P50ns:    int64(percentile(c, 50)),
		P99ns:    int64(percentile(c, 99)),
		Meanns:   int64(mean),
		RepP50ns: s.reps,
	}
	if mean > 0 {
		l.PerSec = float64(time.Second) / float64(mean)
	}
	return l
}

// percentile returns the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// Nearest rank: the smallest value with at least p% of samples at or below it.
	rank := (p*len(sorted) + 99) / 100
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}
