// Package archtest keeps README's table of package imports true: the table
// lists, for each library package, the packages of this module it imports,
// and its test compares it with what `go list` reports. It has no code of
// its own.
package archtest
