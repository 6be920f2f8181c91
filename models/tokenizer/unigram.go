package tokenizer

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"
)

// latticeNode is one piece on a Unigram segmentation path: text[start:end]
// with vocabulary id id (the unknown id for a character no piece covers).
type latticeNode struct {
	start, end, id int
}

// viterbi returns the best-scoring segmentation of text into pieces, the
// search both SentencePiece (unigram_model.cc, EncodeOptimized) and Hugging
// Face (models/unigram, encode_optimized) run: moving forward one character
// at a time, every piece that starts there (lookup, for lengths up to
// maxLen bytes in increasing order) extends the best path ending there, and
// a character that no single piece covers gets the unknown piece with
// unkScore. On equal scores the first candidate stays, so the path whose
// last piece starts earliest wins.
//
// round is applied to each path score before it is stored: SentencePiece
// keeps them as float32 (its piece candidates are summed and compared in
// double, its unknown candidates in float, as the caller arranges), Hugging
// Face as float64 (round is the identity).
func viterbi(text string, maxLen int, lookup func(piece string) (id int, score float64, ok bool), unkID int, unkScore float64, round func(float64) float64) []latticeNode {
	type best struct {
		node   latticeNode
		score  float64
		filled bool
	}
	ends := make([]best, len(text)+1)
	relax := func(start, end, id int, score float64) {
		if b := &ends[end]; !b.filled || score > b.score {
			*b = best{node: latticeNode{start, end, id}, score: round(score), filled: true}
		}
	}
	for start := 0; start < len(text); {
		here := ends[start].score
		_, charLen := utf8.DecodeRuneInString(text[start:])
		single := false
		for end := start + 1; end <= len(text) && end-start <= maxLen; end++ {
			id, score, ok := lookup(text[start:end])
			if !ok {
				continue
			}
			relax(start, end, id, score+here)
			if end-start == charLen {
				single = true
			}
		}
		if !single {
			relax(start, start+charLen, unkID, round(unkScore+here))
		}
		start += charLen
	}
	var path []latticeNode
	for end := len(text); end > 0; end = ends[end].node.start {
		path = append(path, ends[end].node)
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return path
}

// roundFloat32 rounds x to float32 precision, as SentencePiece stores scores.
func roundFloat32(x float64) float64 { return float64(float32(x)) }

// unigram is Hugging Face's Unigram model (tokenizers' models/unigram), the
// model of tokenizer.json files converted from SentencePiece Unigram models
// (T5, ALBERT, XLNet, mBART …): the Viterbi path over every vocabulary
// piece with float64 scores, consecutive unknown pieces fused into one,
// then byte fallback or the unknown id for strings outside the vocabulary.
//
// It replaces go-huggingface's hftokenizer, whose Unigram is a greedy
// longest match rather than the best-scoring path. It differs from this
// package's SentencePiece Unigram in what Hugging Face does differently:
// every piece, control and unknown ones included, can match the text,
// scores are float64 throughout, and user-defined pieces get no bonus.
type unigram struct {
	vocabulary
	scores       []float64 // by id
	unkID        int       // -1 without unk_id
	byteFallback bool
	minScore     float64
	maxLen       int // longest piece in bytes
}

// unkPenalty is subtracted from the lowest piece score to score an unknown
// character, in SentencePiece and Hugging Face alike.
const unkPenalty = 10

// newUnigram reads a Unigram model's vocab ([["piece", score], …], the id
// being the position), unk_id and byte_fallback. file names the source in
// errors.
func newUnigram(file string, rawVocab json.RawMessage, unkID *int, byteFallback bool) (*unigram, error) {
	var entries [][2]json.RawMessage
	if err := json.Unmarshal(rawVocab, &entries); err != nil {
		return nil, fmt.Errorf("%s: field model.vocab: want [[\"piece\", score], …] for a Unigram model: %w", file, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s: field model.vocab is empty", file)
	}
	m := &unigram{
		vocabulary:   vocabulary{vocab: make(map[string]int, len(entries)), tokens: make(map[int]string, len(entries))},
		scores:       make([]float64, len(entries)),
		unkID:        -1,
		byteFallback: byteFallback,
		minScore:     math.Inf(1),
	}
	for id, e := range entries {
		var piece string
		if err := json.Unmarshal(e[0], &piece); err != nil {
			return nil, fmt.Errorf("%s: field model.vocab[%d]: want [\"piece\", score]: %w", file, id, err)
		}
		if err := json.Unmarshal(e[1], &m.scores[id]); err != nil {
			return nil, fmt.Errorf("%s: field model.vocab[%d]: want [\"piece\", score]: %w", file, id, err)
		}
		m.vocab[piece], m.tokens[id] = id, piece // a repeated piece keeps its last id, as in Hugging Face
		m.minScore = min(m.minScore, m.scores[id])
		m.maxLen = max(m.maxLen, len(piece))
	}
	if unkID != nil {
		if *unkID < 0 || *unkID >= len(entries) {
			return nil, fmt.Errorf("%s: field model.unk_id: %d is outside the vocab (%d pieces)", file, *unkID, len(entries))
		}
		m.unkID = *unkID
	}
	return m, nil
}

// tokenize appends the ids of one pre-token.
func (m *unigram) tokenize(ids []int, word string) []int {
	path := viterbi(word, m.maxLen, func(piece string) (int, float64, bool) {
		id, ok := m.vocab[piece]
		if !ok {
			return 0, 0, false
		}
		return id, m.scores[id], true
	}, m.unkID, m.minScore-unkPenalty, func(x float64) float64 { return x })
	for i := 0; i < len(path); {
		// Runs of unknown pieces are fused into one string, as Hugging Face
		// does (fuse_unk is always on for Unigram).
		j := i + 1
		for path[i].id == m.unkID && j < len(path) && path[j].id == m.unkID {
			j++
		}
		s := word[path[i].start:path[j-1].end]
		i = j
		if id, ok := m.vocab[s]; ok {
			ids = append(ids, id)
			continue
		}
		if m.byteFallback {
			if byteIDs, ok := byteTokenIDs(m.vocab, s); ok {
				ids = append(ids, byteIDs...)
				continue
			}
		}
		if m.unkID >= 0 {
			ids = append(ids, m.unkID)
		}
		// Without unk_id Hugging Face fails to encode the text; the
		// characters are left out here.
	}
	return ids
}

// byteTokenIDs returns the ids of the byte tokens <0x00> … <0xFF> that
// spell s, or false when one is missing from vocab.
func byteTokenIDs(vocab map[string]int, s string) ([]int, bool) {
	ids := make([]int, len(s))
	for i := range len(s) {
		id, ok := vocab[fmt.Sprintf("<0x%02X>", s[i])]
		if !ok {
			return nil, false
		}
		ids[i] = id
	}
	return ids, true
}
