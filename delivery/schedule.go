package delivery

import (
	"fmt"
	"strings"
	"time"
)

// ParseSchedule reads PARLEY_DELIVERY_RETRY_SCHEDULE: comma-separated Go
// durations such as "1m,5m,30m", one per retry after the first attempt.
// Blanks around items are ignored. "" (or only blanks) means no retries and
// returns an empty, non-nil slice, which Options.Schedule keeps as "no
// retries" rather than the default. An empty, malformed or negative item is
// an error that names it.
func ParseSchedule(s string) ([]time.Duration, error) {
	out := []time.Duration{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		d, err := time.ParseDuration(item)
		switch {
		case item == "":
			return nil, fmt.Errorf("delivery: retry schedule item %d is empty", i+1)
		case err != nil:
			return nil, fmt.Errorf("delivery: retry schedule item %d %q is not a duration such as 5m", i+1, item)
		case d < 0:
			return nil, fmt.Errorf("delivery: retry schedule item %d %q is negative", i+1, item)
		}
		out = append(out, d)
	}
	return out, nil
}
