package tokenizer

import "fmt"

// Padding says how EncodeBatch pads the encodings of a batch.
type Padding int

const (
	// NoPadding leaves each encoding its own length.
	NoPadding Padding = iota
	// PadLongest pads every encoding to the longest one in the batch.
	PadLongest
	// PadMaxLength pads every encoding to MaxLength (or, when that is 0,
	// to the tokenizer's ModelMaxLength).
	PadMaxLength
)

// BatchOptions changes how EncodeBatch works. The zero value encodes like
// Encode, without padding.
type BatchOptions struct {
	EncodeOptions
	Padding Padding
	// PadLeft puts the padding before the ids, as generation needs: the
	// last position of every row is then a real token.
	PadLeft bool
	// PadID, when set, is the id to pad with instead of Special.PAD (for a
	// tokenizer without one, say), for this call only.
	PadID *int32
}

// Batch is the encoding of several texts.
type Batch struct {
	// IDs holds one row of token ids per text.
	IDs [][]int32
	// AttentionMask is 1 for real tokens and 0 for padding.
	AttentionMask [][]int32
	// TypeIDs holds the token type ids (all 0 for single texts).
	TypeIDs [][]int32
}

// EncodeBatch encodes texts with opts, truncating each to opts.MaxLength
// when set and padding with Special.PAD as opts.Padding says. It fails when
// padding is asked for and the tokenizer has no PAD token (set Special.PAD,
// for example to Special.EOS, first) or PadMaxLength has no length to pad to.
func (t *Tokenizer) EncodeBatch(texts []string, opts BatchOptions) (*Batch, error) {
	b := &Batch{IDs: make([][]int32, len(texts)), AttentionMask: make([][]int32, len(texts)), TypeIDs: make([][]int32, len(texts))}
	for i, text := range texts {
		b.IDs[i], b.TypeIDs[i] = t.encode(text, nil, opts.EncodeOptions)
	}
	width := 0
	switch opts.Padding {
	case NoPadding:
	case PadLongest:
		for _, ids := range b.IDs {
			width = max(width, len(ids))
		}
	case PadMaxLength:
		width = opts.MaxLength
		if width <= 0 {
			width = t.ModelMaxLength
		}
		if width <= 0 {
			return nil, fmt.Errorf("tokenizer: EncodeBatch: PadMaxLength needs MaxLength (the tokenizer has no model_max_length)")
		}
	default:
		return nil, fmt.Errorf("tokenizer: EncodeBatch: unknown Padding %d", opts.Padding)
	}
	padID := t.Special.PAD
	if opts.PadID != nil {
		padID = *opts.PadID
	}
	if width > 0 && padID < 0 {
		return nil, fmt.Errorf("tokenizer: EncodeBatch: %s has no PAD token to pad with; set Special.PAD (for example to Special.EOS) or BatchOptions.PadID", t.path)
	}
	for i, ids := range b.IDs {
		n := len(ids)
		pad := max(width-n, 0)
		row, mask, types := make([]int32, 0, n+pad), make([]int32, 0, n+pad), make([]int32, 0, n+pad)
		if opts.PadLeft {
			row, mask, types = appendN(row, padID, pad), appendN(mask, 0, pad), appendN(types, 0, pad)
		}
		row, mask, types = append(row, ids...), appendN(mask, 1, n), append(types, b.TypeIDs[i]...)
		if !opts.PadLeft {
			row, mask, types = appendN(row, padID, pad), appendN(mask, 0, pad), appendN(types, 0, pad)
		}
		b.IDs[i], b.AttentionMask[i], b.TypeIDs[i] = row, mask, types
	}
	return b, nil
}

func appendN(s []int32, v int32, n int) []int32 {
	for range n {
		s = append(s, v)
	}
	return s
}
