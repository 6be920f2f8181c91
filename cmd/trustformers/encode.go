package main

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/trustformers/trustformers-go/lab"
	"github.com/trustformers/trustformers-go/models/tokenizer"
)

func init() {
	commands["encode"] = command{"print the token ids (or tokens) of text", runEncode}
}

// runEncode implements `trustformers encode --tokenizer PATH [--no-special]
// [--tokens] (TEXT... | - | --text-file PATH)`: it prints the ids of the
// texts, joined by spaces (or of standard input's text, or of the file's),
// space-separated on one line (or the token strings, quoted, with --tokens).
func runEncode(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("encode", "--tokenizer PATH [--no-special] [--tokens] (TEXT... | - | --text-file PATH)", stderr)
	path := fs.String("tokenizer", "", "tokenizer folder or file (tokenizer.json, vocab.json+merges.txt, encoder.json+vocab.bpe, vocab.txt, tokenizer.model)")
	noSpecial := fs.Bool("no-special", false, "leave out the special tokens the format adds ([CLS]/[SEP], BOS)")
	tokens := fs.Bool("tokens", false, "print the token strings instead of the ids")
	textFile := fs.String("text-file", "", "encode the text of this file (for long texts); - as the only TEXT reads standard input")
	if err := fs.Parse(args); err != nil {
		return &lab.FlagError{Err: err}
	}
	if *path == "" || (fs.NArg() == 0) == (*textFile == "") {
		fs.Usage()
		return errUsage
	}
	text := strings.Join(fs.Args(), " ")
	if *textFile != "" || text == "-" {
		var err error
		if text, err = readText("text-file", cmp.Or(*textFile, "-")); err != nil {
			return err
		}
	}
	tok, err := tokenizer.Load(*path)
	if err != nil {
		return err
	}
	ids := tok.EncodeWith(text, tokenizer.EncodeOptions{NoSpecialTokens: *noSpecial})
	out := make([]string, len(ids))
	for i, id := range ids {
		if *tokens {
			s, _ := tok.IDToToken(id)
			out[i] = strconv.Quote(s)
		} else {
			out[i] = strconv.Itoa(int(id))
		}
	}
	fmt.Fprintln(stdout, strings.Join(out, " "))
	return nil
}
