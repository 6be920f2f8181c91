package jinja

import (
	"testing"
	"time"
)

// TestStrftimeMatchesPython compares strftime_now's formatting with what
// Python's datetime.strftime (glibc, C locale) printed for the same time.
func TestStrftimeMatchesPython(t *testing.T) {
	at := time.Date(2026, 3, 5, 14, 7, 9, 0, time.UTC)
	format := "%a %A %b %h %B %d %-d %e %m %-m %y %Y %H %I %M %S %p %j %w %u %z %F %T %D %c %x %X %% %Q"
	// python3 -c 'import datetime; print(datetime.datetime(2026,3,5,14,7,9,tzinfo=datetime.timezone.utc).strftime(FORMAT))'
	want := "Thu Thursday Mar Mar March 05 5  5 03 3 26 2026 14 02 07 09 PM 064 4 4 +0000 2026-03-05 14:07:09 03/05/26 Thu Mar  5 14:07:09 2026 03/05/26 14:07:09 % %Q"
	if got := strftime(at, format); got != want {
		t.Errorf("strftime(%q)\n got %q\nwant %q", format, got, want)
	}
}
