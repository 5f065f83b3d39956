package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestIsPublicIP(t *testing.T) {
	cases := []struct {
		ip     string
		public bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"93.184.216.34", true},
		{"2606:4700:4700::1111", true},
		{"2a00:1450:4001:80b::200e", true},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", true},  // 6to4 of 8.8.8.8

		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"10.0.0.1", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"192.0.0.170", false},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"::", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.1.2.3", false},
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false}, // IPv4-compatible
		{"fc00::1", false},
		{"fd12:3456:789a::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"2001:db8::1", false},
		{"2001::1", false},           // Teredo
		{"64:ff9b::7f00:1", false},   // NAT64 of 127.0.0.1
		{"64:ff9b::a00:1", false},    // NAT64 of 10.0.0.1
		{"64:ff9b:1::1", false},      // local-use NAT64
		{"2002:7f00:1::1", false},    // 6to4 of 127.0.0.1
		{"2002:a9fe:a9fe::1", false}, // 6to4 of 169.254.169.254
		{"100::1", false},
	}
	for _, c := range cases {
		t.Run(c.ip, func(t *testing.T) {
			if got := IsPublicIP(netip.MustParseAddr(c.ip)); got != c.public {
				t.Fatalf("IsPublicIP(%s) = %v, want %v", c.ip, got, c.public)
			}
		})
	}
	if IsPublicIP(netip.Addr{}) {
		t.Fatal("the zero Addr must not be public")
	}
}

func TestCheckURL(t *testing.T) {
	cases := []struct {
		url    string
		ok     bool
		reason string // substring of the message when refused
	}{
		{"https://example.com/media/a.ogg", true, ""},
		{"http://example.com:8080/x?y=1", true, ""},
		{"https://8.8.8.8/a.png", true, ""},
		{"https://[2606:4700:4700::1111]/", true, ""},
		{"https://1e100.net/", true, ""},
		{"https://123.example.com/", true, ""},

		{"ftp://example.com/a", false, "only http and https"},
		{"file:///etc/passwd", false, "only http and https"},
		{"gopher://example.com/", false, "only http and https"},
		{"example.com/a", false, "only http and https"},
		{"", false, "only http and https"},
		{"http://", false, "no host"},
		{"http:///path", false, "no host"},
		{"http://user:pass@example.com/hook", true, ""},
		{"http://user:pass@10.0.0.1/", false, "private"},
		{"http://example.com:99999/", false, "invalid port"},
		{"http://127.0.0.1:8080/", false, "loopback"},
		{"http://10.0.0.1/", false, "private"},
		{"http://[::1]:8080/", false, "loopback"},
		{"http://169.254.169.254/latest/meta-data/", false, "link-local"},
		{"http://100.64.1.1/", false, "CGNAT"},
		{"http://0.0.0.0/", false, "unspecified"},
		{"http://[::ffff:127.0.0.1]/", false, "loopback"},
		{"http://[fe80::1%25eth0]/", false, "link-local"},
		{"http://localhost:8080/", false, "local host name"},
		{"http://LOCALHOST./", false, "local host name"},
		{"http://api.localhost/", false, "local host name"},
		{"http://printer.local/", false, "local host name"},
		{"http://metadata.google.internal/", false, "local host name"},
		{"http://2130706433/", false, "ambiguous numeric"},
		{"http://0x7f.1/", false, "ambiguous numeric"},
		{"http://0177.0.0.1/", false, "ambiguous numeric"},
		{"http://10.0.0.1./", false, "ambiguous numeric"},
		{"http://%zz/", false, "not a valid URL"},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			err := CheckURL(c.url)
			if c.ok {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want nil", c.url, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckURL(%q) = nil, want a refusal", c.url)
			}
			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("CheckURL(%q) = %v, want errors.Is ErrBlocked", c.url, err)
			}
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("CheckURL(%q) = %T, want *BlockedError", c.url, err)
			}
			if !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("CheckURL(%q) message %q does not mention %q", c.url, err, c.reason)
			}
		})
	}
}

func TestBlockedErrorMessage(t *testing.T) {
	err := CheckURL("http://10.0.0.1/x")
	want := `url "http://10.0.0.1/x" is not allowed: 10.0.0.1 is a private address`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if errors.Is(err, ErrUpstream) || errors.Is(err, ErrTooLarge) {
		t.Fatal("a refusal must match only ErrBlocked")
	}
}

func TestOptionsCheckURL(t *testing.T) {
	open := Options{AllowPrivate: true}
	for _, u := range []string{"http://127.0.0.1:8080/hook", "http://localhost/x", "https://10.0.0.1/"} {
		if err := open.CheckURL(u); err != nil {
			t.Errorf("AllowPrivate: CheckURL(%q) = %v", u, err)
		}
		if err := (Options{}).CheckURL(u); !errors.Is(err, ErrBlocked) {
			t.Errorf("guarded: CheckURL(%q) = %v, want ErrBlocked", u, err)
		}
	}
	for _, u := range []string{"ftp://127.0.0.1/", "http:///x", "javascript:alert(1)"} {
		if err := open.CheckURL(u); !errors.Is(err, ErrBlocked) {
			t.Errorf("AllowPrivate: CheckURL(%q) = %v, want ErrBlocked", u, err)
		}
	}
}
