package delivery_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-dev/parley/delivery"
)

func TestParseSchedule(t *testing.T) {
	m := time.Minute
	cases := []struct {
		in      string
		want    []time.Duration
		wantErr string // a piece of the error; "" means no error
	}{
		{in: "1m,5m,30m", want: []time.Duration{m, 5 * m, 30 * m}},
		{in: " 10s , 1h30m ", want: []time.Duration{10 * time.Second, 90 * m}},
		{in: "250ms", want: []time.Duration{250 * time.Millisecond}},
		{in: "0s,1m", want: []time.Duration{0, m}},
		{in: "", want: []time.Duration{}},
		{in: "   ", want: []time.Duration{}},
		{in: "1m,abc,5m", wantErr: `item 2 "abc"`},
		{in: "5", wantErr: `item 1 "5"`},
		{in: "1m,,5m", wantErr: "item 2 is empty"},
		{in: "1m,", wantErr: "item 2 is empty"},
		{in: "-1m", wantErr: `item 1 "-1m" is negative`},
	}
	for _, c := range cases {
		got, err := delivery.ParseSchedule(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseSchedule(%q) error = %v, want one containing %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) || got == nil {
			t.Errorf("ParseSchedule(%q) = %v, %v; want %v (non-nil)", c.in, got, err, c.want)
		}
	}
}

func TestSignKnownVector(t *testing.T) {
	// Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
	body := []byte(`{"a":1}`)
	if got, want := delivery.Sign("whsec_test", 1700000000, body),
		"sha256=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	// printf '{"a":1}' | openssl dgst -sha256 -hmac whsec_test
	if got, want := delivery.SignLeavo("whsec_test", body),
		"51426af50a41dd7ff2cd3f116594734766d4018d15d6fb07169aee5d2959adf5"; got != want {
		t.Errorf("SignLeavo = %s, want %s", got, want)
	}
}
