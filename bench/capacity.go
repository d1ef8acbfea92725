package bench

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrBadCapacityConfig wraps every CapacityConfig.Validate failure.
var ErrBadCapacityConfig = errors.New("bench: bad capacity search config")

// CapacityConfig steers the capacity search: offer open-loop rates from
// StartRatePerSec upwards, ×StepFactor each probe, until one is not
// sustained; then bisect between the best sustained rate and the lowest
// failed one BisectSteps times.
type CapacityConfig struct {
	// StartRatePerSec is the first offered rate in records/s. The driver
	// replaces 0 with half a closed-loop run's throughput.
	StartRatePerSec float64
	// StepFactor multiplies the rate while probes pass (> 1).
	StepFactor float64
	// MinSentRatio is the least acknowledged/offered rate ratio a probe
	// must reach: below it the broker (or the client) fell behind.
	MinSentRatio float64
	// P99Bound is the highest produce p99 latency a probe may show. Open
	// loop latency runs from the intended send time, so a broker that falls
	// behind blows through this bound within seconds.
	P99Bound time.Duration
	// BisectSteps is how many probes narrow the bracket after the first
	// failure; each halves it.
	BisectSteps int
	// ResolutionRatio ends the bisection early once the bracket is this
	// narrow relative to its top (0.01 = within 1 %).
	ResolutionRatio float64
	// MaxRatePerSec caps the offered rate (0 = no cap): a search that
	// reaches it reports the cap as sustainable.
	MaxRatePerSec float64
	// MaxProbes bounds the whole search.
	MaxProbes int
}

// DefaultCapacityConfig steps by 25 % (the bracket after the first failure
// is 25 % wide, and four bisections narrow it to under 2 %), judges by
// 99.5 % of the offered rate and a 200 ms p99, and gives up after 30
// probes.
func DefaultCapacityConfig() CapacityConfig {
	return CapacityConfig{
		StepFactor:      1.25,
		MinSentRatio:    0.995,
		P99Bound:        200 * time.Millisecond,
		BisectSteps:     4,
		ResolutionRatio: 0.01,
		MaxProbes:       30,
	}
}

// Validate reports every problem at once.
func (c CapacityConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !(c.StartRatePerSec >= 0) || math.IsInf(c.StartRatePerSec, 0) {
		bad("start rate %v: want a finite rate >= 0", c.StartRatePerSec)
	}
	if !(c.StepFactor > 1) || math.IsInf(c.StepFactor, 0) {
		bad("step factor %v: want > 1", c.StepFactor)
	}
	if !(c.MinSentRatio > 0 && c.MinSentRatio <= 1) {
		bad("min sent ratio %v: want in (0, 1]", c.MinSentRatio)
	}
	if c.P99Bound <= 0 {
		bad("p99 bound %v <= 0", c.P99Bound)
	}
	if c.BisectSteps < 0 {
		bad("bisect steps %d < 0", c.BisectSteps)
	}
	if !(c.ResolutionRatio >= 0 && c.ResolutionRatio < 1) {
		bad("resolution ratio %v: want in [0, 1)", c.ResolutionRatio)
	}
	if !(c.MaxRatePerSec >= 0) || math.IsInf(c.MaxRatePerSec, 0) {
		bad("max rate %v: want a finite rate >= 0 (0 = none)", c.MaxRatePerSec)
	}
	if c.MaxProbes < 1 {
		bad("max probes %d < 1", c.MaxProbes)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadCapacityConfig, errors.Join(errs...))
	}
	return nil
}

// Probe is one offered rate and what came of it.
type Probe struct {
	RatePerSec float64 `json:"ratePerSec"` // offered, records/s
	// SentPerSec is the acknowledged rate over the measured window;
	// SentRatio is SentPerSec/RatePerSec.
	SentPerSec float64 `json:"sentPerSec"`
	SentRatio  float64 `json:"sentRatio"`
	MBPerSec   float64 `json:"mbPerSec"`
	P99Ms      float64 `json:"p99Ms"`
	Errors     int64   `json:"errors"`
	// WallSeconds and BrokerCPUSeconds cover the whole produce phase,
	// warm-up and the last acknowledgements included, so that their ratio
	// is the broker's busy cores; Measured is false when the broker is not
	// a local process.
	WallSeconds      float64 `json:"wallSeconds"`
	BrokerCPUSeconds float64 `json:"brokerCpuSeconds"`
	Measured         bool    `json:"measured"`
	// Err is a probe that could not run at all; it counts as a failure.
	Err string `json:"error,omitempty"`
	// Pass and Reason are the search's verdict.
	Pass   bool   `json:"pass"`
	Reason string `json:"reason,omitempty"`
}

// ProbeFromProduce fills a probe from one open-loop produce run at rate.
func ProbeFromProduce(rate float64, r ProduceResult) Probe {
	p := Probe{RatePerSec: rate, SentPerSec: r.RecordsPerSec, MBPerSec: r.MBPerSec, P99Ms: r.Latency.P99Ms, Errors: r.Errors}
	if rate > 0 {
		p.SentRatio = r.RecordsPerSec / rate
	}
	return p
}

// CapacitySearch is the search as a pure state machine: Next proposes the
// rate to offer, Observe judges what that rate did. It holds no clock and
// does no I/O; FindCapacity drives it against a broker.
type CapacitySearch struct {
	cfg      CapacityConfig
	probes   []Probe
	best     int     // index of the highest passing probe, -1 = none
	failRate float64 // lowest failed rate, 0 = none yet
	bisects  int
	capped   bool // the last passing probe ran at MaxRatePerSec
}

// NewCapacitySearch starts a search; cfg.StartRatePerSec must be > 0.
func NewCapacitySearch(cfg CapacityConfig) (*CapacitySearch, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StartRatePerSec <= 0 {
		return nil, fmt.Errorf("%w: the search needs a start rate > 0", ErrBadCapacityConfig)
	}
	return &CapacitySearch{cfg: cfg, best: -1}, nil
}

// minRatePerSec is where a search that never passes gives up.
const minRatePerSec = 1

// Next is the rate to probe next, or false when the search is over.
func (s *CapacitySearch) Next() (float64, bool) {
	if len(s.probes) >= s.cfg.MaxProbes || s.capped {
		return 0, false
	}
	if len(s.probes) == 0 {
		return s.capRate(s.cfg.StartRatePerSec), true
	}
	if s.failRate == 0 {
		// Every probe so far passed: step up.
		return s.capRate(s.probes[s.best].RatePerSec * s.cfg.StepFactor), true
	}
	if s.best < 0 {
		// Nothing passed yet: halve until something does.
		next := s.failRate / 2
		return next, next >= minRatePerSec
	}
	lo := s.probes[s.best].RatePerSec
	if s.bisects >= s.cfg.BisectSteps || (s.failRate-lo) <= s.failRate*s.cfg.ResolutionRatio {
		return 0, false
	}
	return (lo + s.failRate) / 2, true
}

func (s *CapacitySearch) capRate(r float64) float64 {
	if s.cfg.MaxRatePerSec > 0 && r > s.cfg.MaxRatePerSec {
		return s.cfg.MaxRatePerSec
	}
	return r
}

// Judge gives p's verdict under cfg without recording it.
func (c CapacityConfig) Judge(p Probe) Probe {
	p.Pass, p.Reason = false, ""
	switch {
	case p.Err != "":
		p.Reason = "probe failed: " + p.Err
	case p.Errors > 0:
		p.Reason = fmt.Sprintf("%d records failed", p.Errors)
	case !(p.SentRatio >= c.MinSentRatio):
		p.Reason = fmt.Sprintf("sent/requested %.4f < %.4f", p.SentRatio, c.MinSentRatio)
	case !(p.P99Ms <= float64(c.P99Bound)/float64(time.Millisecond)):
		p.Reason = fmt.Sprintf("p99 %.1f ms > %v", p.P99Ms, c.P99Bound)
	default:
		p.Pass = true
	}
	return p
}

// Observe records the outcome of probing p.RatePerSec and returns p with
// its verdict.
func (s *CapacitySearch) Observe(p Probe) Probe {
	p = s.cfg.Judge(p)
	bisecting := s.failRate > 0 && s.best >= 0
	s.probes = append(s.probes, p)
	if bisecting {
		s.bisects++
	}
	if p.Pass {
		if s.best < 0 || p.RatePerSec > s.probes[s.best].RatePerSec {
			s.best = len(s.probes) - 1
		}
		s.capped = s.failRate == 0 && s.cfg.MaxRatePerSec > 0 && p.RatePerSec >= s.cfg.MaxRatePerSec
	} else if s.failRate == 0 || p.RatePerSec < s.failRate {
		s.failRate = p.RatePerSec
	}
	return p
}

// Best is the highest sustained probe, false when none passed.
func (s *CapacitySearch) Best() (Probe, bool) {
	if s.best < 0 {
		return Probe{}, false
	}
	return s.probes[s.best], true
}

// Probes is every probe so far, in order, with verdicts.
func (s *CapacitySearch) Probes() []Probe { return append([]Probe(nil), s.probes...) }

// LimitedBy says what ended the search: the first failure's reason at the
// lowest failed rate, or the cap or probe budget.
func (s *CapacitySearch) LimitedBy() string {
	switch {
	case s.capped:
		return fmt.Sprintf("reached the rate cap %.0f records/s", s.cfg.MaxRatePerSec)
	case s.failRate > 0:
		for _, p := range s.probes {
			if !p.Pass && p.RatePerSec == s.failRate {
				return fmt.Sprintf("at %.0f records/s: %s", p.RatePerSec, p.Reason)
			}
		}
	case len(s.probes) >= s.cfg.MaxProbes:
		return fmt.Sprintf("probe budget (%d) spent while still passing", s.cfg.MaxProbes)
	}
	return ""
}

// SearchCapacity runs a whole search with probe as the target: pure when
// probe is. It stops early when probe returns an error (a cancelled
// context), returning what it has.
func SearchCapacity(cfg CapacityConfig, probe func(ratePerSec float64) (Probe, error)) (*CapacitySearch, error) {
	s, err := NewCapacitySearch(cfg)
	if err != nil {
		return nil, err
	}
	for {
		rate, ok := s.Next()
		if !ok {
			return s, nil
		}
		p, err := probe(rate)
		if err != nil {
			return s, err
		}
		p.RatePerSec = rate
		s.Observe(p)
	}
}
