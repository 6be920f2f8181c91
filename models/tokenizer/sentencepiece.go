package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gomlx/go-huggingface/tokenizers/sentencepiece/private/protos"
	"google.golang.org/protobuf/proto"
)

// sentencePiece is a SentencePiece model (BPE or Unigram) read from a
// tokenizer.model file, following Google's C++ library step for step:
// normalizer (precompiled character map, dummy prefix, whitespace folding,
// "▁"), then BPE merges by score or the Unigram Viterbi path, then byte
// fallback or merged <unk> runs.
//
// It is our own rather than go-huggingface's tokenizers/sentencepiece (which
// wraps github.com/eliben/go-sentencepiece v0.7.0): that library refuses any
// model whose normalizer adds a dummy prefix or folds whitespace — LLaMA 2's
// tokenizer.model among them — handles BPE only, looks special tokens up
// under Gemma's names (<bos>, <eos>), and can panic on out-of-range ids in
// Decode. go-huggingface's generated protobuf types are reused to read the
// file.
type sentencePiece struct {
	pieces []*protos.ModelProto_SentencePiece
	// normal maps NORMAL, USER_DEFINED and UNUSED pieces to their ids;
	// reserved maps CONTROL, UNKNOWN and BYTE pieces.
	normal, reserved map[string]int
	unigram          bool
	unkID            int
	byteFallback     bool
	byteIDs          [256]int // ids of <0x00> … <0xFF> when byteFallback
	maxPieceLen      int
	userDefined      map[string]bool
	maxUserDefined   int
	norm             spNormalizer
	unkSurface       string
	minScore         float32 // Unigram: lowest NORMAL score
	maxScore         float32 // Unigram: highest NORMAL score, at least FLT_MIN as in C++
}

// spSpace is SentencePiece's visible space, U+2581.
const spSpace = "\u2581"

// loadSentencePiece parses a tokenizer.model file's bytes.
func loadSentencePiece(file string, data []byte) (*sentencePiece, SpecialTokens, error) {
	special := noSpecialTokens
	var mp protos.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, special, fmt.Errorf("%s: not a SentencePiece model (protobuf): %w", file, err)
	}
	if len(mp.GetPieces()) == 0 {
		return nil, special, fmt.Errorf("%s: not a SentencePiece model: field pieces is empty", file)
	}
	ts, ns := mp.GetTrainerSpec(), mp.GetNormalizerSpec()
	m := &sentencePiece{
		pieces:       mp.GetPieces(),
		normal:       map[string]int{},
		reserved:     map[string]int{},
		unkID:        -1,
		byteFallback: ts.GetByteFallback(),
		userDefined:  map[string]bool{},
		unkSurface:   " \u2047 ",
		minScore:     math.MaxFloat32,
		maxScore:     1.17549435e-38, // FLT_MIN
	}
	if ts != nil && ts.UnkSurface != nil {
		m.unkSurface = ts.GetUnkSurface()
	}
	switch ts.GetModelType() {
	case protos.TrainerSpec_BPE:
	case protos.TrainerSpec_UNIGRAM:
		m.unigram = true
	default:
		return nil, special, fmt.Errorf("%s: trainer_spec.model_type %s is not supported (BPE and UNIGRAM are)", file, ts.GetModelType())
	}
	for i := range m.byteIDs {
		m.byteIDs[i] = -1
	}
	if err := m.indexPieces(file); err != nil {
		return nil, special, err
	}
	var err error
	if m.norm, err = newSPNormalizer(ns, m.userDefined, m.maxUserDefined); err != nil {
		return nil, special, fmt.Errorf("%s: normalizer_spec: %w", file, err)
	}
	m.norm.treatWSAsSuffix = ts.GetTreatWhitespaceAsSuffix()

	valid := func(id int32) int32 {
		if id >= 0 && int(id) < len(m.pieces) {
			return id
		}
		return -1
	}
	special.UNK = int32(m.unkID)
	special.BOS, special.EOS, special.PAD = valid(ts.GetBosId()), valid(ts.GetEosId()), valid(ts.GetPadId())
	return m, special, nil
}

// indexPieces indexes the model's pieces by kind — normal and user-defined
// pieces by their text, the unknown piece, the byte pieces — and finds the
// score range, checking what encoding relies on.
func (m *sentencePiece) indexPieces(file string) error {
	for id, p := range m.pieces {
		s := p.GetPiece()
		switch p.GetType() {
		case protos.ModelProto_SentencePiece_NORMAL, protos.ModelProto_SentencePiece_USER_DEFINED, protos.ModelProto_SentencePiece_UNUSED:
			if _, dup := m.normal[s]; dup {
				return fmt.Errorf("%s: pieces[%d]: piece %q appears twice", file, id, s)
			}
			m.normal[s] = id
			m.maxPieceLen = max(m.maxPieceLen, len(s))
		default:
			m.reserved[s] = id
		}
		switch p.GetType() {
		case protos.ModelProto_SentencePiece_NORMAL:
			m.minScore = min(m.minScore, p.GetScore())
			m.maxScore = max(m.maxScore, p.GetScore())
		case protos.ModelProto_SentencePiece_USER_DEFINED:
			m.userDefined[s] = true
			m.maxUserDefined = max(m.maxUserDefined, len(s))
		case protos.ModelProto_SentencePiece_UNKNOWN:
			m.unkID = id
		case protos.ModelProto_SentencePiece_BYTE:
			if b, ok := parseBytePiece(s); ok {
				m.byteIDs[b] = id
			}
		}
	}
	if m.unkID < 0 {
		return fmt.Errorf("%s: pieces: no piece of type UNKNOWN", file)
	}
	if m.byteFallback {
		for b, id := range m.byteIDs {
			if id < 0 {
				return fmt.Errorf("%s: trainer_spec.byte_fallback is set but byte piece <0x%02X> is missing", file, b)
			}
		}
	}
	return nil
}

// parseBytePiece parses "<0xAB>".
func parseBytePiece(s string) (byte, bool) {
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[3:5], 16, 8)
	return byte(v), err == nil
}

// pieceID returns the id of a piece as the C++ PieceToId does: reserved
// pieces first, then normal ones, else <unk>.
func (m *sentencePiece) pieceID(s string) int {
	if id, ok := m.reserved[s]; ok {
		return id
	}
	if id, ok := m.normal[s]; ok {
		return id
	}
	return m.unkID
}

func (m *sentencePiece) isType(id int, typ protos.ModelProto_SentencePiece_Type) bool {
	return id >= 0 && id < len(m.pieces) && m.pieces[id].GetType() == typ
}

// controlIDs returns the ids of the CONTROL pieces (<s>, </s> …).
func (m *sentencePiece) controlIDs() map[int]bool {
	ids := map[int]bool{}
	for id := range m.pieces {
		if m.isType(id, protos.ModelProto_SentencePiece_CONTROL) {
			ids[id] = true
		}
	}
	return ids
}

func (m *sentencePiece) encode(text string) []int {
	normalized := m.norm.normalize(text)
	if normalized == "" {
		return nil
	}
	var pieces []string
	if m.unigram {
		pieces = m.unigramPieces(normalized)
	} else {
		pieces = m.bpePieces(normalized)
	}
	// Byte fallback, or runs of unknown pieces merged into one <unk>, as
	// SentencePieceProcessor::Encode does.
	ids := make([]int, 0, len(pieces))
	prevUnk := false
	for _, p := range pieces {
		id := m.pieceID(p)
		unk := id == m.unkID
		switch {
		case unk && m.byteFallback:
			for i := range len(p) {
				ids = append(ids, m.byteIDs[p[i]])
			}
		case unk && prevUnk:
			// merged into the previous <unk>
		default:
			ids = append(ids, id)
		}
		prevUnk = unk && !m.byteFallback
	}
	return ids
}

// symbolLen returns the length of the symbol at the start of s: a
// user-defined piece (frozen: never merged) or one UTF-8 character.
func (m *sentencePiece) symbolLen(s string) (n int, frozen bool) {
	if n := longestPrefix(s, m.userDefined, m.maxUserDefined); n > 0 {
		return n, true
	}
	_, n = utf8.DecodeRuneInString(s)
	return n, false
}

// longestPrefix returns the length of the longest key of set that s starts
// with, or 0.
func longestPrefix(s string, set map[string]bool, maxLen int) int {
	for n := min(maxLen, len(s)); n > 0; n-- {
		if set[s[:n]] {
			return n
		}
	}
	return 0
}

// bpePieces segments normalized text as bpe_model.cc does: start from
// symbols, repeatedly merge the adjacent pair whose merged piece has the
// highest score (leftmost on ties), then split merged UNUSED pieces back.
func (m *sentencePiece) bpePieces(text string) []string {
	type symbol struct {
		prev, next int
		frozen     bool
		s          string
	}
	var syms []symbol
	for i := 0; i < len(text); {
		n, frozen := m.symbolLen(text[i:])
		syms = append(syms, symbol{prev: len(syms) - 1, next: len(syms) + 1, frozen: frozen, s: text[i : i+n]})
		i += n
	}
	syms[len(syms)-1].next = -1

	type pair struct {
		left, right int
		score       float32
		size        int
	}
	var agenda pairHeap[pair]
	agenda.less = func(a, b pair) bool { // a is popped before b
		return a.score > b.score || (a.score == b.score && a.left < b.left)
	}
	revMerge := map[string][2]string{}
	maybeAdd := func(l, r int) {
		if l < 0 || r < 0 || syms[l].frozen || syms[r].frozen {
			return
		}
		merged := syms[l].s + syms[r].s
		id, ok := m.normal[merged]
		if !ok {
			return
		}
		agenda.push(pair{l, r, m.pieces[id].GetScore(), len(merged)})
		if m.isType(id, protos.ModelProto_SentencePiece_UNUSED) {
			revMerge[merged] = [2]string{syms[l].s, syms[r].s}
		}
	}
	for i := 1; i < len(syms); i++ {
		maybeAdd(i-1, i)
	}
	for agenda.len() > 0 {
		top := agenda.pop()
		l, r := &syms[top.left], &syms[top.right]
		if l.s == "" || r.s == "" || len(l.s)+len(r.s) != top.size {
			continue // stale: one side was merged since
		}
		l.s += r.s
		r.s = ""
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = top.left
		}
		maybeAdd(l.prev, top.left)
		maybeAdd(top.left, l.next)
	}
	var out []string
	var resegment func(s string)
	resegment = func(s string) {
		if id, ok := m.normal[s]; ok && m.isType(id, protos.ModelProto_SentencePiece_UNUSED) {
			if p, ok := revMerge[s]; ok {
				resegment(p[0])
				resegment(p[1])
				return
			}
		}
		out = append(out, s)
	}
	for i := 0; i >= 0; i = syms[i].next {
		resegment(syms[i].s)
	}
	return out
}

// unigramPieces segments normalized text along the best-scoring path, as
// unigram_model.cc's EncodeOptimized does (the same float/double
// arithmetic and tie order, unknown characters scored minScore-10,
// user-defined pieces favoured).
func (m *sentencePiece) unigramPieces(text string) []string {
	path := viterbi(text, m.maxPieceLen, func(piece string) (int, float64, bool) {
		id, ok := m.normal[piece]
		if !ok || m.isType(id, protos.ModelProto_SentencePiece_UNUSED) {
			return 0, 0, false
		}
		// As in C++, the score is a double (the user-defined branch of the
		// ternary makes it one) and the sum is taken in double, then stored
		// as a float: exact ties and long texts depend on this.
		if m.isType(id, protos.ModelProto_SentencePiece_USER_DEFINED) {
			return id, float64(len(piece))*float64(m.maxScore) - 0.1, true
		}
		return id, float64(m.pieces[id].GetScore()), true
	}, m.unkID, float64(m.minScore-unkPenalty), roundFloat32)
	out := make([]string, len(path))
	for i, n := range path {
		out[i] = text[n.start:n.end]
	}
	return out
}

// decode follows SentencePieceProcessor::Decode: control pieces vanish,
// <unk> shows as unk_surface (" ⁇ "), byte pieces are joined into raw bytes,
// "▁" becomes a space, and the dummy-prefix space of the first piece is
// dropped.
func (m *sentencePiece) decode(ids []int) []byte {
	var out []byte
	bosWS := true // still expecting the dummy-prefix space to remove
	for _, id := range ids {
		if id < 0 || id >= len(m.pieces) {
			continue
		}
		p := m.pieces[id]
		switch p.GetType() {
		case protos.ModelProto_SentencePiece_CONTROL:
			continue
		case protos.ModelProto_SentencePiece_BYTE:
			if b, ok := parseBytePiece(p.GetPiece()); ok {
				out = append(out, b)
				bosWS = false
			}
			continue
		case protos.ModelProto_SentencePiece_UNKNOWN:
			out = append(out, m.unkSurface...)
			bosWS = false
			continue
		}
		piece := p.GetPiece()
		hadWS := false
		if bosWS && !m.norm.treatWSAsSuffix && (m.norm.addDummyPrefix || m.norm.removeExtraWS) {
			piece, hadWS = strings.CutPrefix(piece, spSpace)
			if m.norm.removeExtraWS {
				hadWS = false // strip every leading space piece
			}
		}
		piece = strings.ReplaceAll(piece, spSpace, " ")
		if hadWS || piece != "" {
			bosWS = false
		}
		out = append(out, piece...)
	}
	return out
}

func (m *sentencePiece) vocabSize() int { return len(m.pieces) }

func (m *sentencePiece) idToToken(id int) (string, bool) {
	if id < 0 || id >= len(m.pieces) {
		return "", false
	}
	return m.pieces[id].GetPiece(), true
}

func (m *sentencePiece) tokenToID(tok string) (int, bool) {
	if id, ok := m.reserved[tok]; ok {
		return id, true
	}
	id, ok := m.normal[tok]
	return id, ok
}

func (m *sentencePiece) tokenBytes(id int) ([]byte, bool) {
	if id < 0 || id >= len(m.pieces) {
		return nil, false
	}
	p := m.pieces[id]
	switch p.GetType() {
	case protos.ModelProto_SentencePiece_CONTROL:
		return []byte{}, true
	case protos.ModelProto_SentencePiece_BYTE:
		b, ok := parseBytePiece(p.GetPiece())
		return []byte{b}, ok
	case protos.ModelProto_SentencePiece_UNKNOWN:
		return []byte(m.unkSurface), true
	}
	return []byte(strings.ReplaceAll(p.GetPiece(), spSpace, " ")), true
}

// spNormalizer is SentencePiece's normalizer (normalizer.cc).
type spNormalizer struct {
	charsMap        *charsMap // precompiled_charsmap, nil when empty
	addDummyPrefix  bool
	removeExtraWS   bool
	escapeWS        bool
	treatWSAsSuffix bool
	userDefined     map[string]bool
	maxUserDefined  int
}

func newSPNormalizer(ns *protos.NormalizerSpec, userDefined map[string]bool, maxUserDefined int) (spNormalizer, error) {
	n := spNormalizer{
		addDummyPrefix: ns.GetAddDummyPrefix(),
		removeExtraWS:  ns.GetRemoveExtraWhitespaces(),
		escapeWS:       ns.GetEscapeWhitespaces(),
		userDefined:    userDefined,
		maxUserDefined: maxUserDefined,
	}
	if ns.GetNormalizationRuleTsv() != "" {
		return n, fmt.Errorf("field normalization_rule_tsv is not supported")
	}
	var err error
	if n.charsMap, err = parseCharsMap(ns.GetPrecompiledCharsmap()); err != nil {
		return n, fmt.Errorf("field precompiled_charsmap: %w", err)
	}
	return n, nil
}

// normalize returns text as the model sees it.
func (n *spNormalizer) normalize(text string) string {
	if text == "" {
		return ""
	}
	if n.removeExtraWS { // drop leading spaces
		for text != "" {
			out, used := n.prefix(text)
			if out != " " {
				break
			}
			text = text[used:]
		}
		if text == "" {
			return ""
		}
	}
	space := " "
	if n.escapeWS {
		space = spSpace
	}
	var b strings.Builder
	if !n.treatWSAsSuffix && n.addDummyPrefix {
		b.WriteString(space)
	}
	prevSpace := n.removeExtraWS
	for text != "" {
		out, used := n.prefix(text)
		text = text[used:]
		if prevSpace {
			out = strings.TrimLeft(out, " ")
		}
		if out != "" {
			if n.escapeWS {
				out = strings.ReplaceAll(out, " ", spSpace)
			}
			b.WriteString(out)
			prevSpace = strings.HasSuffix(out, space)
		}
		if !n.removeExtraWS {
			prevSpace = false
		}
	}
	s := b.String()
	if n.removeExtraWS {
		for strings.HasSuffix(s, space) {
			s = s[:len(s)-len(space)]
		}
	}
	if n.treatWSAsSuffix && n.addDummyPrefix {
		s += space
	}
	return s
}

// prefix normalizes the start of s: a user-defined piece unchanged, else
// the longest precompiled-map rule, else one character (U+FFFD for a byte
// that is not UTF-8).
func (n *spNormalizer) prefix(s string) (out string, used int) {
	if l := longestPrefix(s, n.userDefined, n.maxUserDefined); l > 0 {
		return s[:l], l
	}
	if l, out := n.charsMap.match(s, false); l > 0 {
		return out, l
	}
	r, l := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && l <= 1 {
		return "\uFFFD", 1
	}
	return s[:l], l
}

// charsMap is SentencePiece's precompiled character map: a Darts-clone
// double-array trie over UTF-8 keys whose values point into a block of
// NUL-terminated replacement strings. Hugging Face's Precompiled normalizer
// reads the same bytes.
type charsMap struct {
	trie         []uint32
	replacements []byte
}

// parseCharsMap reads a precompiled_charsmap blob: the trie's size in
// bytes (uint32, little-endian), the trie, then the replacements. An empty
// blob gives nil (no map).
func parseCharsMap(blob []byte) (*charsMap, error) {
	if len(blob) == 0 {
		return nil, nil
	}
	if len(blob) < 4 {
		return nil, fmt.Errorf("truncated to %d bytes", len(blob))
	}
	size := int(binary.LittleEndian.Uint32(blob))
	if size%4 != 0 || size > len(blob)-4 || size == 0 {
		return nil, fmt.Errorf("trie size %d does not fit its %d bytes", size, len(blob))
	}
	c := &charsMap{trie: make([]uint32, size/4), replacements: blob[4+size:]}
	for i := range c.trie {
		c.trie[i] = binary.LittleEndian.Uint32(blob[4+4*i:])
	}
	return c, nil
}

// match returns the length of the longest key that s starts with — or,
// with shortest, of the first (shortest) one, as Hugging Face's
// Precompiled takes it — and its replacement; length 0 when no key
// matches (or c is nil).
func (c *charsMap) match(s string, shortest bool) (length int, replacement string) {
	if c == nil {
		return 0, ""
	}
	unit := func(pos uint32) (uint32, bool) {
		if int(pos) >= len(c.trie) {
			return 0, false
		}
		return c.trie[pos], true
	}
	offset := func(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }
	u, ok := unit(0)
	if !ok {
		return 0, ""
	}
	pos, value := offset(u), 0
	for i := 0; i < len(s); i++ {
		ch := uint32(s[i])
		pos ^= ch
		if u, ok = unit(pos); !ok || u&((1<<31)|0xFF) != ch {
			break
		}
		pos ^= offset(u)
		if u>>8&1 == 1 { // has a leaf: a key ends here
			leaf, ok := unit(pos)
			if !ok {
				break
			}
			length, value = i+1, int(leaf&(1<<31-1))
			if shortest {
				break
			}
		}
	}
	if length == 0 {
		return 0, ""
	}
	value = min(value, len(c.replacements)) // a corrupt value gives ""
	end := value
	for end < len(c.replacements) && c.replacements[end] != 0 {
		end++
	}
	return length, string(c.replacements[value:end])
}

// pairHeap is a binary heap ordered by less (the least pops first).
type pairHeap[T any] struct {
	items []T
	less  func(a, b T) bool
}

func (h *pairHeap[T]) len() int { return len(h.items) }

func (h *pairHeap[T]) push(x T) {
	h.items = append(h.items, x)
	for i := len(h.items) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *pairHeap[T]) pop() T {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && h.less(h.items[l], h.items[m]) {
			m = l
		}
		if r < last && h.less(h.items[r], h.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
	return top
}
