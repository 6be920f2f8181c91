package tokenizer

// template places special tokens around one sequence or a pair, like
// Hugging Face's post-processors (TemplateProcessing, BertProcessing …).
// The zero template adds nothing.
type template struct {
	single, pair []templateItem
}

// templateItem is either special token ids (seq < 0) or one of the
// sequences (seq 0 is the first, 1 the second), with its token type id.
type templateItem struct {
	ids    []int
	seq    int
	typeID int
}

// special returns a template item of special token ids.
func special(typeID int, ids ...int) templateItem {
	return templateItem{ids: ids, seq: -1, typeID: typeID}
}

// sequence returns a template item standing for sequence seq.
func sequence(seq, typeID int) templateItem {
	return templateItem{seq: seq, typeID: typeID}
}

// wrapTemplate returns the template that puts prefix before each sequence
// and suffix after it, the second sequence getting token type 1: BERT's
// [CLS] A [SEP] B [SEP] is wrapTemplate([CLS], [SEP], false) with the
// second [CLS] left out through pairPrefix false.
func wrapTemplate(prefix, suffix []int, pairPrefix bool) template {
	var t template
	if len(prefix) > 0 {
		t.single = append(t.single, special(0, prefix...))
		t.pair = append(t.pair, special(0, prefix...))
	}
	t.single = append(t.single, sequence(0, 0))
	t.pair = append(t.pair, sequence(0, 0))
	if len(suffix) > 0 {
		t.single = append(t.single, special(0, suffix...))
		t.pair = append(t.pair, special(0, suffix...))
	}
	if pairPrefix && len(prefix) > 0 {
		t.pair = append(t.pair, special(1, prefix...))
	}
	t.pair = append(t.pair, sequence(1, 1))
	if len(suffix) > 0 {
		t.pair = append(t.pair, special(1, suffix...))
	}
	return t
}

// items returns the items for one sequence or a pair. A template without a
// pair form puts the second sequence after the first one's form.
func (t template) items(pair bool) []templateItem {
	if !pair {
		if len(t.single) == 0 {
			return []templateItem{sequence(0, 0)}
		}
		return t.single
	}
	if len(t.pair) > 0 {
		return t.pair
	}
	return append(append([]templateItem{}, t.items(false)...), sequence(1, 1))
}

// numSpecial returns how many special tokens the template adds.
func (t template) numSpecial(pair bool) int {
	n := 0
	for _, it := range t.items(pair) {
		n += len(it.ids)
	}
	return n
}

// apply returns the ids and token type ids of seqs (one or two sequences)
// with the template's special tokens.
func (t template) apply(seqs [][]int) (ids, typeIDs []int) {
	items := t.items(len(seqs) == 2)
	ids = make([]int, 0, len(seqs[0])+t.numSpecial(len(seqs) == 2)+8)
	for _, it := range items {
		part := it.ids
		if it.seq >= 0 {
			if it.seq >= len(seqs) {
				continue
			}
			part = seqs[it.seq]
		}
		ids = append(ids, part...)
		for range part {
			typeIDs = append(typeIDs, it.typeID)
		}
	}
	return ids, typeIDs
}
