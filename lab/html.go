package lab

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/viz"
)

// SaveHTML writes charts as one standalone page to path (a run's report,
// a comparison, a chart to share). A copy of the local echarts library is
// written beside it as echarts.min.js, so the folder works offline and can
// be moved; without a local copy the page loads the CDN (viz.CDN) and a
// one-line notice says so. Files are written to a temporary name and
// renamed.
func SaveHTML(path, title string, charts ...viz.Chart) error {
	src := viz.CDN
	if lib, err := viz.EChartsJS(); err == nil {
		dst := filepath.Join(filepath.Dir(path), "echarts.min.js")
		if info, err := os.Stat(dst); err != nil || !info.Mode().IsRegular() {
			data, err := os.ReadFile(lib)
			if err != nil {
				return fmt.Errorf("lab.SaveHTML: reading %s: %w", lib, err)
			}
			if err := files.WriteFile(dst, data); err != nil {
				return fmt.Errorf("lab.SaveHTML: %w", err)
			}
		}
		src = "echarts.min.js"
	} else {
		fmt.Fprintf(os.Stderr, "lab: %v; %s loads echarts from %s\n", err, path, viz.CDN)
	}
	if err := files.WriteFile(path, []byte(viz.PageOf(title, src, charts...))); err != nil {
		return fmt.Errorf("lab.SaveHTML: %w", err)
	}
	return nil
}
