// Package demo generates a small eZ Publish var/ tree with real files (PNG and JPEG images, a
// stylesheet, a text file, a large file, a binary file that must stay private) so `ezdfsd demo`
// can show the daemon serving real bytes with no database or S3 to set up.
package demo

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"
)

// Sample is one generated file and what the daemon is expected to answer for it.
type Sample struct {
	// Name is the cluster name (path relative to the demo root).
	Name string
	// Status is the HTTP status a GET should get.
	Status int
	// Note says what the sample demonstrates.
	Note string
	// Deleted samples get a row with a negative mtime, as eZ leaves them after a delete.
	Deleted bool
}

// Samples lists the files Generate writes.
func Samples() []Sample {
	const img = "var/ezdemo_site/storage/images/demo/"
	return []Sample{
		{Name: img + "1-1-eng-GB/ezdfsd.png", Status: 200, Note: "a PNG image"},
		{Name: img + "2-1-eng-GB/photo.jpg", Status: 200, Note: "a JPEG image (try Range: bytes=0-99)"},
		{Name: img + "3-1-eng-GB/name with spaces & it's.png", Status: 200, Note: "a name that needs %-encoding"},
		{Name: "var/ezdemo_site/storage/images-versioned/demo/large.bin", Status: 200, Note: "a 64 MiB file, streamed"},
		{Name: "var/ezdemo_site/cache/public/stylesheets/demo.css", Status: 200, Note: "a stylesheet from the cache table (text/css;charset=UTF-8)"},
		{Name: "var/ezdemo_site/cache/public/readme.txt", Status: 200, Note: "a text file"},
		{Name: img + "4-1-eng-GB/deleted.png", Status: 404, Note: "deleted in eZ (negative mtime): 404", Deleted: true},
		{Name: "var/ezdemo_site/storage/original/application/private.pdf", Status: 404, Note: "binary file: stays behind eZ's permission checks (404)"},
	}
}

// LargeSize is the size of the large sample.
const LargeSize = 64 << 20

// Generate writes every sample below root, creating directories as needed, with a fixed mtime so
// ETags are stable across runs. Existing files are overwritten.
func Generate(root string) ([]Sample, error) {
	mtime := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)
	for _, s := range Samples() {
		p := filepath.Join(root, filepath.FromSlash(s.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		if err := writeSample(p, s.Name); err != nil {
			return nil, fmt.Errorf("demo: write %s: %w", s.Name, err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	}
	return Samples(), nil
}

func writeSample(p, name string) (err error) {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriter(f)
	switch filepath.Ext(name) {
	case ".png":
		err = png.Encode(w, picture(640, 400))
	case ".jpg":
		err = jpeg.Encode(w, picture(800, 500), &jpeg.Options{Quality: 85})
	case ".css":
		_, err = io.WriteString(w, "/* served by ezdfsd from ezdfsfile_cache */\nbody { font-family: sans-serif; color: #224; }\n")
	case ".txt":
		_, err = io.WriteString(w, "Hello from ezdfsd: this file lives in var/ezdemo_site/cache/public.\n")
	case ".pdf":
		_, err = io.WriteString(w, "%PDF-1.4\n% a private binary file\n")
	default:
		err = writeLarge(w, LargeSize)
	}
	if err != nil {
		return err
	}
	return w.Flush()
}

// picture draws a colourful interference pattern: real image data, visibly an image.
func picture(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			v := math.Sin(fx*18) + math.Sin(fy*12) + math.Sin((fx+fy)*9)
			img.Set(x, y, color.RGBA{
				R: uint8(128 + 127*math.Sin(v*math.Pi/3)),
				G: uint8(255 * fx),
				B: uint8(128 + 127*math.Cos(v)),
				A: 255,
			})
		}
	}
	return img
}

// writeLarge writes n deterministic bytes (a counter pattern, so corruption is detectable).
func writeLarge(w io.Writer, n int64) error {
	buf := make([]byte, 64<<10)
	for off := int64(0); off < n; off += int64(len(buf)) {
		for i := range buf {
			buf[i] = byte((off + int64(i)) * 31 >> 8)
		}
		chunk := buf
		if rem := n - off; rem < int64(len(chunk)) {
			chunk = chunk[:rem]
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}
