package apps

import (
	"testing"
	"time"
)

// TestBucketStarts: hours and days are the time zone's, including zones
// off the hour and the days clocks change.
func TestBucketStarts(t *testing.T) {
	load := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Skipf("no time zone %s here: %v", name, err)
		}
		return loc
	}
	kolkata, ny := load("Asia/Kolkata"), load("America/New_York")
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name      string
		t         string
		loc       *time.Location
		hour, day string // RFC 3339 instants
	}{
		// UTC: the plain case.
		{"utc", "2026-03-10T13:45:10Z", time.UTC, "2026-03-10T13:00:00Z", "2026-03-10T00:00:00Z"},
		// +05:30: hours start at :30 in UTC, days at 18:30 UTC the day before.
		{"kolkata", "2026-03-10T13:45:10Z", kolkata, "2026-03-10T13:30:00Z", "2026-03-09T18:30:00Z"},
		{"kolkata before the half hour", "2026-03-10T13:15:00Z", kolkata, "2026-03-10T12:30:00Z", "2026-03-09T18:30:00Z"},
		// New York falls back on 2026-11-01 at 2 a.m. EDT: the two 1 a.m.
		// hours are two buckets, and the day is 25 hours long.
		{"first 1 a.m.", "2026-11-01T05:30:00Z", ny, "2026-11-01T05:00:00Z", "2026-11-01T04:00:00Z"},
		{"second 1 a.m.", "2026-11-01T06:30:00Z", ny, "2026-11-01T06:00:00Z", "2026-11-01T04:00:00Z"},
		{"late that day", "2026-11-02T04:30:00Z", ny, "2026-11-02T04:00:00Z", "2026-11-01T04:00:00Z"},
		// Springs forward on 2026-03-08: a day of 23 hours.
		{"after spring forward", "2026-03-09T03:59:00Z", ny, "2026-03-09T03:00:00Z", "2026-03-08T05:00:00Z"},
	} {
		tt := at(tc.t)
		if got := hourStart(tt, tc.loc); !got.Equal(at(tc.hour)) {
			t.Errorf("%s: hour of %s is %s, want %s", tc.name, tc.t, got.UTC().Format(time.RFC3339), tc.hour)
		}
		if got := dayStart(tt, tc.loc); !got.Equal(at(tc.day)) {
			t.Errorf("%s: day of %s is %s, want %s", tc.name, tc.t, got.UTC().Format(time.RFC3339), tc.day)
		}
	}
}
