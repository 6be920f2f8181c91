package lab

// Must returns v, and panics when err is not nil: for notebook cells and
// short scripts, where a failed step should stop the cell with its error
// (GoNB shows the panic's message). Library code returns errors instead.
//
//	m := lab.Must(models.Load(lab.ModelPath("all-MiniLM-L6-v2"), backend))
func Must[T any](v T, err error) T {
	Check(err)
	return v
}

// Must2 is Must for calls that return two values and an error.
func Must2[A, B any](a A, b B, err error) (A, B) {
	Check(err)
	return a, b
}

// Check panics when err is not nil: Must for calls that return only an
// error.
//
//	lab.Check(viz.Show(chart))
func Check(err error) {
	if err != nil {
		panic(err)
	}
}
