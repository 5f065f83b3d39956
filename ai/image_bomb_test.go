package ai

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// pngHeader is the signature and IHDR chunk of a w×h 8-bit RGBA PNG: all
// DescribeImage reads, and all an attacker needs to send to claim any size.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	copy(ihdr[12:], []byte{8, 6, 0, 0, 0}) // depth 8, RGBA, deflate, no filter, no interlace
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr))
	return b.Bytes()
}

// jpegHeader is an SOI, a JFIF APP0 segment (without it Go's decoder reads
// on past the frame header) and a baseline SOF0 segment claiming w×h.
func jpegHeader(w, h uint16) []byte {
	b := []byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	b = append(b, 0xff, 0xc0, 0x00, 0x11, 0x08)
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	return append(b, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
}

// gifHeader is a GIF89a logical screen of w×h with no colour table.
func gifHeader(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	return append(b, 0x00, 0x00, 0x00)
}

// imageBombs claim sizes beyond 50 megapixels in a few bytes.
func imageBombs() map[string][]byte {
	return map[string][]byte{
		"png 60000x60000":  pngHeader(60000, 60000),
		"png 7072x7072":    pngHeader(7072, 7072), // just over 50 megapixels
		"jpeg 60000x60000": jpegHeader(60000, 60000),
		"gif 65535x65535":  gifHeader(65535, 65535),
		// VP8X: 24-bit sizes minus one, 16384×16384.
		"webp 16384x16384": webpHeader("VP8X", []byte{0x10, 0, 0, 0, 0xff, 0x3f, 0x00, 0xff, 0x3f, 0x00}),
	}
}

// TestDescribeImageTooLarge: a header claiming more than 50 megapixels is
// refused before anything else is read; 50 megapixels exactly is fine.
func TestDescribeImageTooLarge(t *testing.T) {
	for name, data := range imageBombs() {
		t.Run(name, func(t *testing.T) {
			_, text, err := DescribeImage(data)
			if !errors.Is(err, ErrImageTooLarge) || !errors.Is(err, ErrUnsupportedMedia) {
				t.Fatalf("DescribeImage = %q, %v; want ErrImageTooLarge", text, err)
			}
		})
	}
	if _, text, err := DescribeImage(pngHeader(10000, 5000)); err != nil || text != "Image: PNG, 10000x5000" {
		t.Fatalf("50 megapixels exactly: %q, %v", text, err)
	}
}
