package jinja

// node is a statement of a template body.
type node interface{ lineOf() int }

// expr is an expression.
type expr interface{ lineOf() int }

type pos struct{ line int }

func (p pos) lineOf() int { return p.line }

// Statements.
type (
	textNode struct {
		pos
		text string
	}
	outputNode struct {
		pos
		x expr
	}
	ifNode struct {
		pos
		conds  []expr
		bodies [][]node
		els    []node
	}
	forNode struct {
		pos
		target expr // nameExpr or tupleExpr of names
		iter   expr
		filter expr // nil: none
		body   []node
		els    []node
	}
	setNode struct {
		pos
		target expr // nameExpr, tupleExpr of names, or nsRef
		value  expr
	}
	setBlockNode struct {
		pos
		target  expr
		filters []*filterExpr // applied in order to the captured text
		body    []node
	}
	macroNode struct {
		pos
		m *macroDef
	}
	callBlockNode struct {
		pos
		caller *macroDef // the body, as the caller macro
		call   *callExpr
	}
	filterBlockNode struct {
		pos
		filters []*filterExpr
		body    []node
	}
	withNode struct {
		pos
		targets []expr
		values  []expr
		body    []node
	}
	loopControlNode struct {
		pos
		brk bool
	}
	generationNode struct {
		pos
		body []node
	}
	// noLoaderNode is {% extends %}, {% include %}, {% import %} and
	// {% from %}: jinja2 fails when it runs them (transformers gives no
	// loader).
	noLoaderNode struct{ pos }
)

// macroDef is a macro, or the body of a call block (the caller).
type macroDef struct {
	name     string
	params   []string
	defaults []expr // for the last len(defaults) params
	body     []node
	// The names the body reads, which decide whether it takes extra
	// positional and keyword arguments, as jinja2's do.
	usesVarargs, usesKwargs, usesCaller bool
}

// Expressions.
type (
	constExpr struct {
		pos
		v any
	}
	nameExpr struct {
		pos
		name string
	}
	nsRef struct { // ns.attr as an assignment target
		pos
		name, attr string
	}
	getattrExpr struct {
		pos
		obj  expr
		attr string
	}
	getitemExpr struct {
		pos
		obj expr
		key expr
	}
	sliceExpr struct {
		pos
		start, stop, step expr // nil: omitted
	}
	listExpr struct {
		pos
		items []expr
	}
	tupleExpr struct {
		pos
		items []expr
	}
	dictExpr struct {
		pos
		keys, values []expr
	}
	callExpr struct {
		pos
		fn      expr
		args    []expr
		kwNames []string
		kwargs  []expr
		star    expr // *args, nil if none
		dstar   expr // **kwargs, nil if none
	}
	filterExpr struct {
		pos
		obj     expr // nil in filter blocks and block sets
		name    string
		args    []expr
		kwNames []string
		kwargs  []expr
	}
	testExpr struct {
		pos
		obj     expr
		name    string
		args    []expr
		kwNames []string
		kwargs  []expr
	}
	binExpr struct {
		pos
		op   string // + - * / // % ** ~
		l, r expr
	}
	unaryExpr struct {
		pos
		op string // - +
		x  expr
	}
	notExpr struct {
		pos
		x expr
	}
	andExpr struct {
		pos
		l, r expr
	}
	orExpr struct {
		pos
		l, r expr
	}
	compareExpr struct {
		pos
		first expr
		ops   []string // eq ne lt lteq gt gteq in notin
		rest  []expr
	}
	condExpr struct {
		pos
		test, then, els expr // els nil: undefined
	}
)
