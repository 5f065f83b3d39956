// Package netguard is the single SSRF guard for every outbound URL Parley
// fetches or posts to: media fetched for /ai/process, postbacks and webhooks.
//
// It is its own package so that all three paths share one policy and cannot
// drift apart. The policy is enforced twice:
//
//   - at intake, without DNS, by [CheckURL] (scheme http/https, a host, and an
//     IP-literal host must be public), so that a bad URL is refused with a
//     400 that names the field;
//   - at delivery time, on the IP address actually dialed, by the transport of
//     [NewClient]. Checking the dialed address (not the host name) covers DNS
//     answers, DNS rebinding and every redirect hop, since each hop dials
//     through the same guarded transport.
//
// Errors are classified with three sentinels usable with [errors.Is]:
// [ErrBlocked] (the guard refused the destination → 400 VALIDATION_ERROR
// naming the field), [ErrTooLarge] (the body exceeded the caller's size
// cap, e.g. PARLEY_MAX_MEDIA_BYTES) and [ErrUpstream] (the remote side
// failed: connection error, timeout or non-2xx status → 502 UPSTREAM_ERROR).
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Sentinel errors. Every error returned by this package matches exactly one
// of them with [errors.Is].
var (
	// ErrBlocked reports a URL or dialed address refused by the guard.
	ErrBlocked = errors.New("destination not allowed")
	// ErrTooLarge reports a response body larger than the caller's cap.
	ErrTooLarge = errors.New("response body too large")
	// ErrUpstream reports a failed exchange with the remote server: a
	// connection error, a timeout or a non-2xx status.
	ErrUpstream = errors.New("upstream request failed")
)

// BlockedError describes why the guard refused a URL or an address. It
// matches [ErrBlocked] with [errors.Is].
type BlockedError struct {
	// URL is the refused URL, when known.
	URL string
	// Addr is the refused host or dialed IP address, when known.
	Addr string
	// Reason is a short human explanation, e.g. "loopback address".
	Reason string
}

// Error returns a human message such as
// `url "http://10.0.0.1/" is not allowed: 10.0.0.1 is a private address`.
func (e *BlockedError) Error() string {
	var b strings.Builder
	if e.URL != "" {
		fmt.Fprintf(&b, "url %q is not allowed", e.URL)
	} else {
		b.WriteString("destination is not allowed")
	}
	switch {
	case e.Addr != "" && e.Reason != "":
		fmt.Fprintf(&b, ": %s is %s", e.Addr, e.Reason)
	case e.Reason != "":
		b.WriteString(": " + e.Reason)
	}
	return b.String()
}

// Is makes a *BlockedError match [ErrBlocked].
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }

// CheckURL is the intake check, done without DNS. It accepts an absolute
// http or https URL with a host; when the host is an IP literal it must be
// public (see [IsPublicIP]). Host names that are local by definition
// ("localhost", "*.localhost", "*.local", "*.internal") and ambiguous numeric
// hosts (such as "0x7f.1" or "2130706433") are refused too. Other host
// names pass: their addresses are checked when dialed by [NewClient].
// A refusal is a *[BlockedError].
func CheckURL(raw string) error {
	return checkURL(raw, false)
}

// checkURL is CheckURL; with allowPrivate only the URL's shape is checked.
func checkURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return &BlockedError{URL: raw, Reason: "not a valid URL"}
	}
	return checkParsedURL(u, allowPrivate)
}

func checkParsedURL(u *url.URL, allowPrivate bool) error {
	shown := u.Redacted()
	if u.Scheme != "http" && u.Scheme != "https" {
		return &BlockedError{URL: shown, Reason: "only http and https URLs are allowed"}
	}
	host := u.Hostname()
	if host == "" {
		return &BlockedError{URL: shown, Reason: "the URL has no host"}
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return &BlockedError{URL: shown, Addr: host, Reason: "a URL with an invalid port"}
	}
	if allowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !addrAllowed(netip.AddrPortFrom(ip, uint16(p))) {
			return &BlockedError{URL: shown, Addr: ip.String(), Reason: describe(ip)}
		}
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if localName(name) {
		return &BlockedError{URL: shown, Addr: host, Reason: "a local host name"}
	}
	if ambiguousNumeric(name) {
		return &BlockedError{URL: shown, Addr: host, Reason: "an ambiguous numeric host"}
	}
	return nil
}

func localName(name string) bool {
	if name == "localhost" || name == "" {
		return true
	}
	for _, suffix := range []string{".localhost", ".local", ".internal", ".home.arpa"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// ambiguousNumeric reports host names that some resolvers read as IPv4
// addresses in octal, hex or integer form ("0177.1", "0x7f.1", "2130706433").
// No real DNS name has only numeric labels, so refusing them costs nothing.
func ambiguousNumeric(name string) bool {
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			continue
		}
		l := strings.TrimPrefix(label, "0x")
		if l == "" {
			return false
		}
		for _, c := range l {
			isHex := (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
			if !isHex {
				return false
			}
		}
		if l == label && strings.ContainsAny(label, "abcdef") {
			return false // a hex-looking word without 0x, e.g. "cafe"
		}
	}
	return true
}

// publicAddr decides whether a dialed or literal address is allowed when the
// guard is on. It is a variable only so that tests in this package can make
// one specific loopback port count as public (to simulate a public first hop
// with httptest); production code never changes it.
var publicAddr = func(ap netip.AddrPort) bool { return IsPublicIP(ap.Addr()) }

func addrAllowed(ap netip.AddrPort) bool { return publicAddr(ap) }

// describe names the class of a non-public address, for error messages.
func describe(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsMulticast():
		return "a multicast address"
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.Is4() && cgnat.Contains(ip):
		return "a shared (CGNAT) address"
	}
	return "not a public address"
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// blockedPrefixes are special-purpose ranges (RFC 6890 and successors) that
// are not reachable public unicast destinations, beyond what the
// netip.Addr predicates already cover.
var blockedPrefixes = mustPrefixes(
	"0.0.0.0/8",       // "this network"
	"100.64.0.0/10",   // shared address space (CGNAT)
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // TEST-NET-1
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // TEST-NET-2
	"203.0.113.0/24",  // TEST-NET-3
	"240.0.0.0/4",     // reserved, includes 255.255.255.255 broadcast
	"::/8",            // unspecified, loopback, IPv4-compatible (mapped ones are unmapped first)
	"64:ff9b:1::/48",  // local-use NAT64
	"100::/64",        // discard-only
	"2001::/23",       // IETF protocol assignments (Teredo, benchmarking, ORCHID…)
	"2001:db8::/32",   // documentation
	"3fff::/20",       // documentation
	"5f00::/16",       // SRv6 SIDs
	"fc00::/7",        // unique local
	"fec0::/10",       // deprecated site-local
)

var (
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	sixToFo = netip.MustParsePrefix("2002::/16")
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// IsPublicIP reports whether ip is a public unicast address that Parley may
// connect to. It is false for loopback, private (RFC 1918, fc00::/7),
// link-local (169.254/16, fe80::/10), multicast, unspecified, shared CGNAT
// (100.64/10), 0.0.0.0/8, broadcast and reserved ranges, documentation and
// benchmarking ranges, addresses with an IPv6 zone, and the IPv4-mapped,
// NAT64 (64:ff9b::/96) and 6to4 (2002::/16) forms of any refused IPv4
// address.
func IsPublicIP(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" {
		return false
	}
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return IsPublicIP(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFo.Contains(ip):
			return IsPublicIP(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// checkDialAddr is the dial-time check: address is the "ip:port" the
// transport is about to connect to, after DNS resolution.
func checkDialAddr(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		host, _, splitErr := net.SplitHostPort(address)
		if splitErr != nil {
			host = address
		}
		return &BlockedError{Addr: host, Reason: "not an IP address"}
	}
	if !addrAllowed(ap) {
		return &BlockedError{Addr: ap.Addr().String(), Reason: describe(ap.Addr())}
	}
	return nil
}
