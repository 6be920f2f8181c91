package training

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/trustformers/trustformers-go/files"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

// WriteTokenFile writes ids as raw little-endian integers of width bytes
// (2: uint16, as nanoGPT's prepare.py writes train.bin and val.bin; 4:
// uint32 for vocabularies over 65,536), to a temporary name then renamed.
func WriteTokenFile(path string, ids []int32, width int) error {
	if width != 2 && width != 4 {
		return fmt.Errorf("%s: token width %d, want 2 or 4 bytes", path, width)
	}
	buf := make([]byte, len(ids)*width)
	for i, id := range ids {
		if id < 0 || (width == 2 && id > 0xffff) {
			return fmt.Errorf("%s: token %d at %d does not fit %d bytes", path, id, i, width)
		}
		if width == 2 {
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(id))
		} else {
			binary.LittleEndian.PutUint32(buf[4*i:], uint32(id))
		}
	}
	return files.WriteFile(path, buf)
}

// TokenFile is a token file mapped into memory: windows are read from the
// page cache, so a corpus larger than memory trains as well as a small one.
type TokenFile struct {
	path  string
	data  []byte
	width int
}

// OpenTokenFile maps a file written by WriteTokenFile (width 2 or 4).
func OpenTokenFile(path string, width int) (*TokenFile, error) {
	if width != 2 && width != 4 {
		return nil, fmt.Errorf("%s: token width %d, want 2 or 4 bytes", path, width)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.Size()%int64(width) != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of %d-byte tokens", path, info.Size(), width)
	}
	if info.Size() == 0 {
		return &TokenFile{path: path, width: width}, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(info.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	return &TokenFile{path: path, data: data, width: width}, nil
}

// Len returns the number of tokens.
func (t *TokenFile) Len() int { return len(t.data) / t.width }

// Window returns the n tokens from start.
func (t *TokenFile) Window(start, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		off := (start + i) * t.width
		if t.width == 2 {
			out[i] = int32(binary.LittleEndian.Uint16(t.data[off:]))
		} else {
			out[i] = int32(binary.LittleEndian.Uint32(t.data[off:]))
		}
	}
	return out
}

// Close unmaps the file.
func (t *TokenFile) Close() error {
	if t.data == nil {
		return nil
	}
	err := syscall.Munmap(t.data)
	t.data = nil
	return err
}

// PrepareTokens encodes the text file at textPath with tok (GPT-2's BPE, for
// nanoGPT's shakespeare and openwebtext preparations), splits it 90/10 and
// writes train.bin and val.bin into outDir: uint16 when the vocabulary fits,
// uint32 otherwise. It returns the width used.
func PrepareTokens(textPath string, tok *tokenizer.Tokenizer, outDir string) (width int, err error) {
	data, err := readText(textPath)
	if err != nil {
		return 0, err
	}
	ids := tok.EncodeWith(string(data), tokenizer.EncodeOptions{NoSpecialTokens: true})
	width = 2
	if tok.VocabSize() > 1<<16 {
		width = 4
	}
	n := len(ids) * 9 / 10
	if err := WriteTokenFile(filepath.Join(outDir, "train.bin"), ids[:n], width); err != nil {
		return 0, err
	}
	return width, WriteTokenFile(filepath.Join(outDir, "val.bin"), ids[n:], width)
}

// LoadTokenFiles maps outDir's train.bin and val.bin.
func LoadTokenFiles(dir string, width int) (*Dataset, error) {
	train, err := OpenTokenFile(filepath.Join(dir, "train.bin"), width)
	if err != nil {
		return nil, err
	}
	val, err := OpenTokenFile(filepath.Join(dir, "val.bin"), width)
	if err != nil {
		train.Close()
		return nil, err
	}
	return &Dataset{Train: train, Val: val}, nil
}
