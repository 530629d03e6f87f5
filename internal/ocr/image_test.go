package ocr

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

func encodePNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCheckImage(t *testing.T) {
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, image.NewGray(image.Rect(0, 0, 40, 30)), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr string // empty: accepted
	}{
		{"png", encodePNG(t, 64, 32), ""},
		{"jpeg", jpg.Bytes(), ""},
		{"largest", encodePNG(t, MaxSide, 1), ""},
		{"empty", nil, "bad image: empty"},
		{"text", []byte("hello"), "bad image: image: unknown format"},
		{"too wide", encodePNG(t, MaxSide+1, 1), "bad image: png of 8193x1 pixels exceeds 8192x8192"},
		{"too tall", encodePNG(t, 1, MaxSide+1), "bad image: png of 1x8193 pixels exceeds 8192x8192"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckImage(tt.data)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrBadImage) || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want ErrBadImage starting %q", err, tt.wantErr)
			}
		})
	}
}
