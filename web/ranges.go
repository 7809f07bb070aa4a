package web

import "time"

// rangePresets are the time-range presets of the timeline and the mutations list, with
// their lengths, shortest first; "all" (no bound) is not among them.
func rangePresets() []struct {
	name string
	d    time.Duration
} {
	const day = 24 * time.Hour
	return []struct {
		name string
		d    time.Duration
	}{{"24h", day}, {"7d", 7 * day}, {"30d", 30 * day}, {"90d", 90 * day}}
}

// SinceRanges are the presets a mutation list's since takes ("detected within").
func SinceRanges() []string {
	var out []string
	for _, p := range rangePresets() {
		out = append(out, p.name)
	}
	return out
}

// Ranges are the timeline's range presets: SinceRanges and all.
func Ranges() []string { return append(SinceRanges(), "all") }

// RangeDuration is a preset's length; 0 for all or anything else.
func RangeDuration(r string) time.Duration {
	for _, p := range rangePresets() {
		if p.name == r {
			return p.d
		}
	}
	return 0
}
