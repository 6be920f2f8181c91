// Package jinja renders chat templates: the Jinja dialect that Hugging Face
// transformers' apply_chat_template runs, with Python jinja2's semantics as
// transformers configures it — an ImmutableSandboxedEnvironment with
// trim_blocks, lstrip_blocks and the loopcontrols extension, the
// {% generation %} block of its AssistantTracker, and the globals
// raise_exception, strftime_now, namespace and dict, and its tojson.
//
// Templates come from downloaded files, so they are hostile input: every
// rendering is bounded (see Limits) in the number of evaluation steps, the
// depth of macro calls and of nested values, the size of every string and
// list, the total bytes created and the output, and ends with an *Error
// naming the template and the bound instead of running away. Where jinja2
// raises (ZeroDivisionError, UndefinedError on an attribute of an undefined
// value, TypeError on bad operands, SecurityError for what the sandbox
// refuses), Render fails with an *Error whose Class is that exception's
// name; where jinja2 renders an undefined value as empty text, so does
// Render.
//
// What is not implemented is an error rather than a guess: recursive for
// loops, template inheritance and includes (which need a loader
// transformers does not give), and the filters jinja2 has that chat
// templates do not use (urlize, wordwrap, xmlattr, …). Integers are 64-bit:
// arithmetic past that range is an OverflowError, where Python's integers
// would grow. Markup strings are plain strings: safe is the identity and
// escape escapes its argument whatever it is.
package jinja

import (
	"fmt"
	"strings"
)

// Limits bound one rendering. A zero field takes DefaultLimits' value.
type Limits struct {
	// Steps bounds the work: every expression and statement evaluated,
	// every loop iteration, and every element a filter or method goes
	// through (long strings count one step per 256 bytes scanned).
	Steps int64
	// Depth bounds nested macro calls (jinja2 ends with a RecursionError)
	// and the nesting of values that tojson, repr or comparisons walk.
	Depth int
	// Value bounds the size in bytes of any one string or list (16 bytes
	// per list or dict entry).
	Value int64
	// Output bounds the rendered text, in bytes.
	Output int64
	// Alloc bounds the bytes of all the strings and lists created while
	// rendering, which bounds the memory the rendering can hold.
	Alloc int64
}

// DefaultLimits are far above what real chat templates need: of 20 real
// templates (tool-calling ones of 4–25 KB, rendered byte for byte as jinja2
// does), the costliest took 2.3 million steps over a conversation of 1,100
// messages with tool calls (it is quadratic in the messages); the others
// under 1.4 million.
var DefaultLimits = Limits{
	Steps:  30_000_000,
	Depth:  200,
	Value:  64 << 20,
	Output: 64 << 20,
	Alloc:  1 << 30,
}

// maxRange is jinja2's sandbox MAX_RANGE: range() of more items is an
// OverflowError.
const maxRange = 100_000

// Error is a template that does not parse or fails while rendering.
type Error struct {
	// Template names the template: its file, or where it came from.
	Template string
	// Line is the template's line where it failed (1-based; 0 unknown).
	Line int
	// Class is the name of the exception Python's jinja2 raises in the
	// same place (TemplateSyntaxError, UndefinedError, TypeError,
	// ZeroDivisionError, SecurityError, TemplateError for raise_exception,
	// RecursionError, OverflowError …), or LimitError for a bound of
	// Limits, or Unsupported for what this package does not implement.
	Class string
	// Msg says what went wrong.
	Msg string
}

func (e *Error) Error() string {
	where := e.Template
	if e.Line > 0 {
		where = fmt.Sprintf("%s, line %d", where, e.Line)
	}
	return fmt.Sprintf("chat template %s: %s: %s", where, e.Class, e.Msg)
}

// Span is a byte range [Start, End) of a rendered text.
type Span struct{ Start, End int }

// Result is a rendered template.
type Result struct {
	// Text is the rendered text.
	Text string
	// Generation holds, in order, the byte ranges of Text that each
	// {% generation %} block rendered (transformers' assistant masks are
	// built from them). As in transformers, a block's range starts where the
	// top-level text stood when the block ran, which is right for blocks
	// outside macros and set blocks.
	Generation []Span
	// Steps is the work the rendering took, counted as Limits.Steps
	// counts it.
	Steps int64
}

// Template is a parsed template, safe for concurrent rendering.
type Template struct {
	name string
	body []node
}

// Compile parses source; name says where it came from in errors.
func Compile(name, source string) (*Template, error) {
	toks, err := lex(name, source)
	if err != nil {
		return nil, err
	}
	p := &parser{name: name, toks: toks}
	body, err := p.parseTemplate()
	if err != nil {
		return nil, err
	}
	return &Template{name: name, body: body}, nil
}

// Name returns the name the template was compiled with.
func (t *Template) Name() string { return t.name }

// Render renders the template with vars (Go values: see fromGo) under
// DefaultLimits.
func (t *Template) Render(vars map[string]any) (*Result, error) {
	return t.RenderLimited(vars, Limits{})
}

// RenderLimited renders the template with vars under limits (zero fields
// take DefaultLimits' values).
func (t *Template) RenderLimited(vars map[string]any, limits Limits) (res *Result, err error) {
	ev := newEvaluator(t.name, limits.withDefaults())
	for name, v := range vars {
		val, err := fromGo(v)
		if err != nil {
			return nil, &Error{Template: t.name, Class: "TypeError", Msg: fmt.Sprintf("variable %q: %v", name, err)}
		}
		ev.root.set(name, val)
	}
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, ev.asError(r)
		}
	}()
	ev.execBody(t.body, ev.root)
	return &Result{Text: ev.out.String(), Generation: ev.spans, Steps: ev.steps}, nil
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.Steps > 0 {
		d.Steps = l.Steps
	}
	if l.Depth > 0 {
		d.Depth = l.Depth
	}
	if l.Value > 0 {
		d.Value = l.Value
	}
	if l.Output > 0 {
		d.Output = l.Output
	}
	if l.Alloc > 0 {
		d.Alloc = l.Alloc
	}
	return d
}

// errorf makes an *Error of class for the template name at line.
func errorf(name string, line int, class, format string, args ...any) *Error {
	return &Error{Template: name, Line: line, Class: class, Msg: strings.TrimSpace(fmt.Sprintf(format, args...))}
}
