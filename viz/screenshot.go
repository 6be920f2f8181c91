package viz

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Chromium returns the path of a Chromium (or Chrome) binary: $CHROMIUM, else
// the first of chromium, chromium-browser, google-chrome on PATH.
func Chromium() (string, error) {
	if env := os.Getenv("CHROMIUM"); env != "" {
		return env, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found on PATH (make setup installs Debian's chromium; or set $CHROMIUM)")
}

// Screenshot renders the HTML file htmlPath in headless Chromium, offline,
// and writes a width×height PNG to pngPath. The browser gets a fresh profile
// and no background networking, so a page that needs the network stays blank.
func Screenshot(htmlPath, pngPath string, width, height int) error {
	chromium, err := Chromium()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(htmlPath)
	if err != nil {
		return err
	}
	pngAbs, err := filepath.Abs(pngPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(pngAbs), 0o755); err != nil {
		return err
	}
	profile, err := os.MkdirTemp("", "viz-chromium-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir="+profile,
		"--virtual-time-budget=5000", fmt.Sprintf("--window-size=%d,%d", width, height),
		"--screenshot="+pngAbs, "file://"+abs)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("chromium screenshot of %s: %w\n%s", htmlPath, err, out)
	}
	if !isFile(pngAbs) {
		return fmt.Errorf("chromium wrote no screenshot of %s:\n%s", htmlPath, out)
	}
	return nil
}

// PixelStdDev returns the standard deviation of the grey levels (0–255) of
// the PNG at path: about 0 for a blank page, well above it for a drawn chart.
func PixelStdDev(path string) (float64, error) {
	img, err := readPNG(path)
	if err != nil {
		return 0, err
	}
	return greyStdDev(img), nil
}

func readPNG(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

func greyStdDev(img image.Image) float64 {
	var sum, sumSq, n float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			v := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
			sum += v
			sumSq += v * v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	mean := sum / n
	return math.Sqrt(math.Max(0, sumSq/n-mean*mean))
}

// ColouredFraction returns the fraction of the PNG's pixels that are clearly
// coloured (not white, grey or black). Chart series are coloured; a blank
// page, or one holding only an error message, is not.
func ColouredFraction(path string) (float64, error) {
	img, err := readPNG(path)
	if err != nil {
		return 0, err
	}
	var coloured, n float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			hi := max(r, g, bl) >> 8
			lo := min(r, g, bl) >> 8
			if hi-lo > 40 {
				coloured++
			}
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	return coloured / n, nil
}
