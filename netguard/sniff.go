package netguard

import (
	"bytes"
	"mime"
	"net/http"
	"strings"
)

// DetectContentType returns the lower-case media type (without parameters)
// of data. It first recognises audio containers that matter for voice
// messages and that [http.DetectContentType] does not know or reports too
// generally — Ogg ("OggS", e.g. WhatsApp Opus voice notes), MP4 audio
// ("ftyp" with an M4A/M4B brand), AMR ("#!AMR"), WAV, MP3 (ID3 tag or MPEG
// frame sync), AAC (ADTS), FLAC ("fLaC") and WebM/Matroska (EBML) — and
// falls back to [http.DetectContentType] for everything else, which yields
// "application/octet-stream" when nothing matches.
func DetectContentType(data []byte) string {
	if mt := sniffAudio(data); mt != "" {
		return mt
	}
	ct := http.DetectContentType(data)
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return strings.ToLower(mt)
	}
	return ct
}

func sniffAudio(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("OggS")):
		return "audio/ogg"
	case bytes.HasPrefix(b, []byte("fLaC")):
		return "audio/flac"
	case bytes.HasPrefix(b, []byte("#!AMR-WB\n")):
		return "audio/amr-wb"
	case bytes.HasPrefix(b, []byte("#!AMR")):
		return "audio/amr"
	case len(b) >= 12 && bytes.Equal(b[0:4], []byte("RIFF")) && bytes.Equal(b[8:12], []byte("WAVE")):
		return "audio/wav"
	case bytes.HasPrefix(b, []byte("ID3")):
		return "audio/mpeg"
	case len(b) >= 12 && bytes.Equal(b[4:8], []byte("ftyp")) && audioBrand(string(b[8:12])):
		return "audio/mp4"
	case bytes.HasPrefix(b, []byte{0x1A, 0x45, 0xDF, 0xA3}):
		head := b[:min(len(b), 64)]
		if bytes.Contains(head, []byte("webm")) {
			return "video/webm"
		}
		return "video/x-matroska"
	case isADTS(b):
		return "audio/aac"
	case isMPEGFrame(b):
		return "audio/mpeg"
	}
	return ""
}

// audioBrand reports ISO BMFF major brands used only for audio files.
// Other "ftyp" files (video, HEIC, AVIF…) are left to http.DetectContentType.
func audioBrand(brand string) bool {
	switch brand {
	case "M4A ", "M4B ", "M4P ", "F4A ", "F4B ":
		return true
	}
	return false
}

// isMPEGFrame recognises an MPEG-1/2/2.5 audio frame header (MP3 without
// an ID3 tag): 11 sync bits, a valid version, layer, bitrate and rate.
func isMPEGFrame(b []byte) bool {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return false
	}
	version := (b[1] >> 3) & 3
	layer := (b[1] >> 1) & 3
	bitrate := b[2] >> 4
	rate := (b[2] >> 2) & 3
	return version != 1 && layer != 0 && bitrate != 0xF && rate != 3
}

// isADTS recognises an AAC ADTS frame header: 12 sync bits, layer 00.
func isADTS(b []byte) bool {
	return len(b) >= 7 && b[0] == 0xFF && b[1]&0xF6 == 0xF0
}
