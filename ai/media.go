package ai

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // registers GIF for image.DecodeConfig
	_ "image/jpeg"
	_ "image/png"
	"mime"
	"net/http"
	"strings"

	"github.com/parley-dev/parley/netguard"
)

// ErrUnsupportedMedia reports media whose type the helpers cannot read,
// e.g. a non-image given to DescribeImage.
var ErrUnsupportedMedia = errors.New("ai: unsupported media type")

// maxImagePixels bounds the dimensions an image may claim. Its header is
// all Parley reads, but the bytes go on to a vision model, and a decoder
// there (or anywhere later) would need width×height×4 bytes: a 60000×60000
// header in a file of a few KB claims 14 GB.
const maxImagePixels = 50_000_000

// ErrImageTooLarge reports an image whose header claims more than 50
// megapixels; it matches ErrUnsupportedMedia too.
var ErrImageTooLarge = fmt.Errorf("%w: the image is larger than 50 megapixels", ErrUnsupportedMedia)

// DescribeImage reads the format and size of an image without decoding its
// pixels and returns its media type with a one-line description, e.g.
// ("image/png", "Image: PNG, 640x480"). PNG, JPEG, GIF and WebP headers
// are read (a corrupt one fails, and one claiming more than 50 megapixels
// fails with ErrImageTooLarge); other image types (BMP, ICO…) get a
// description without size; anything else fails with ErrUnsupportedMedia.
func DescribeImage(data []byte) (mimeType string, text string, err error) {
	if w, h, ok := webpSize(data); ok {
		if int64(w)*int64(h) > maxImagePixels {
			return "", "", fmt.Errorf("%w (%dx%d)", ErrImageTooLarge, w, h)
		}
		return "image/webp", fmt.Sprintf("Image: WEBP, %dx%d", w, h), nil
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err == nil {
		if int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
			return "", "", fmt.Errorf("%w (%dx%d)", ErrImageTooLarge, cfg.Width, cfg.Height)
		}
		return "image/" + format, fmt.Sprintf("Image: %s, %dx%d", strings.ToUpper(format), cfg.Width, cfg.Height), nil
	}
	ct, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	switch ct {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return "", "", fmt.Errorf("%w: corrupt %s image", ErrUnsupportedMedia, strings.TrimPrefix(ct, "image/"))
	}
	if sub, ok := strings.CutPrefix(ct, "image/"); ok {
		sub = strings.TrimPrefix(strings.TrimPrefix(sub, "x-"), "vnd.")
		return ct, "Image: " + strings.ToUpper(sub), nil
	}
	return "", "", fmt.Errorf("%w: not a readable image (%s)", ErrUnsupportedMedia, ct)
}

// webpSize reads the canvas size from a WebP header (VP8, VP8L or VP8X).
func webpSize(b []byte) (w, h int, ok bool) {
	if len(b) < 30 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return 0, 0, false
	}
	d := b[20:]
	switch string(b[12:16]) {
	case "VP8 ": // lossy: frame tag (3 bytes), start code 9d 01 2a, sizes
		if d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a {
			return 0, 0, false
		}
		w = int(binary.LittleEndian.Uint16(d[6:8]) & 0x3fff)
		h = int(binary.LittleEndian.Uint16(d[8:10]) & 0x3fff)
	case "VP8L": // lossless: signature 0x2f, 14-bit sizes minus one
		if d[0] != 0x2f {
			return 0, 0, false
		}
		bits := binary.LittleEndian.Uint32(d[1:5])
		w = int(bits&0x3fff) + 1
		h = int((bits>>14)&0x3fff) + 1
	case "VP8X": // extended: 24-bit canvas sizes minus one
		w = 1 + int(uint32(d[4])|uint32(d[5])<<8|uint32(d[6])<<16)
		h = 1 + int(uint32(d[7])|uint32(d[8])<<8|uint32(d[9])<<16)
	default:
		return 0, 0, false
	}
	return w, h, w > 0 && h > 0
}

// SniffAudio returns the media type and the file extension (with its dot)
// of an audio recording from its first bytes: Ogg/Opus (WhatsApp ".oga"
// voice notes) → ("audio/ogg", ".ogg"), MP3 → ".mp3", WAV → ".wav",
// WebM/Matroska → ".webm", MP4/M4A → ".m4a", FLAC → ".flac", AMR → ".amr",
// AAC (ADTS) → ".aac". It returns ("", "") when the type is not recognised.
func SniffAudio(data []byte) (mimeType, ext string) {
	if len(data) >= 12 && string(data[4:8]) == "ftyp" {
		return "audio/mp4", ".m4a" // any ISO BMFF brand: audio in an MP4 container
	}
	return audioTypeFromMIME(netguard.DetectContentType(data))
}

// audioTypeFromMIME maps a declared or sniffed media type to the canonical
// audio type and extension; ("", "") when it is not audio Parley knows.
func audioTypeFromMIME(m string) (mimeType, ext string) {
	if mt, _, err := mime.ParseMediaType(m); err == nil {
		m = mt
	}
	switch strings.ToLower(m) {
	case "audio/ogg", "audio/opus", "application/ogg", "audio/x-ogg", "video/ogg":
		return "audio/ogg", ".ogg"
	case "audio/mpeg", "audio/mp3", "audio/x-mp3", "audio/mpeg3", "audio/x-mpeg":
		return "audio/mpeg", ".mp3"
	case "audio/wav", "audio/wave", "audio/x-wav", "audio/vnd.wave":
		return "audio/wav", ".wav"
	case "audio/webm", "video/webm", "video/x-matroska", "audio/x-matroska":
		return "audio/webm", ".webm"
	case "audio/mp4", "audio/m4a", "audio/x-m4a", "video/mp4":
		return "audio/mp4", ".m4a"
	case "audio/flac", "audio/x-flac":
		return "audio/flac", ".flac"
	case "audio/amr", "audio/amr-wb":
		return strings.ToLower(m), ".amr"
	case "audio/aac", "audio/x-aac":
		return "audio/aac", ".aac"
	}
	return "", ""
}
