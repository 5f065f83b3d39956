package store

import (
	"encoding/json"
	"time"
)

// Time is a moment stored as unix milliseconds and shown as RFC 3339 UTC with
// exactly three fractional digits (API.md §1: never micro or nanoseconds).
type Time int64

// TimeLayout is the wire format of every timestamp.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// TimeOf converts a time.Time.
func TimeOf(t time.Time) Time { return Time(t.UnixMilli()) }

// Std returns the time.Time in UTC.
func (t Time) Std() time.Time { return time.UnixMilli(int64(t)).UTC() }

// String formats the time for the wire.
func (t Time) String() string { return t.Std().Format(TimeLayout) }

// MarshalJSON writes the wire format.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.Std().AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts any RFC 3339 time.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*t = TimeOf(v)
	return nil
}

// Meta is a free-form JSON object attached to leads and conversations.
type Meta map[string]any

// merge applies a JSON merge patch at the top level: a null value deletes a key.
func (m Meta) merge(patch Meta) Meta {
	out := make(Meta, len(m)+len(patch))
	for k, v := range m {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func (m Meta) encode() string {
	if len(m) == 0 {
		return "{}"
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "{}" // values came from json.Unmarshal, so this cannot happen
	}
	return string(b)
}

func decodeMeta(s string) Meta {
	m := Meta{}
	if s == "{}" { // most conversations have none: skip the decoder
		return m
	}
	_ = json.Unmarshal([]byte(s), &m)
	return m
}
