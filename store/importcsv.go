package store

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// Reading the files people export (CSV import): UTF-8 with or without a byte
// order mark, UTF-16 with one (Excel's "Unicode text"), Windows-1252 (Excel's
// "CSV" on Windows in Western Europe and the Americas); comma, semicolon or
// tab between cells; quoted cells with line breaks.
//
// The encoding is decided from the first 64 KiB: valid UTF-8 is UTF-8,
// anything else Windows-1252. A byte that is not UTF-8 further on in a file
// read as UTF-8 is read as Windows-1252 too, so one odd cell never fails a
// file. The delimiter is the one of the three that the header line holds most
// of (outside quotes); none of them: comma.
//
// Quoting is read leniently (encoding/csv's LazyQuotes): a quote inside an
// unquoted cell is kept as text (`Jane "JJ" Doe`). A row whose quoting breaks
// its cells shows up as a row with the wrong number of cells or an over-long
// cell, an error of that row; a quote opened and never closed takes the rest
// of the file into one cell, which is then that row's error.

// sniffSize is how much of a file decides its encoding and is checked for
// binary content.
const sniffSize = 64 << 10

// Why a file cannot be read at all.
var (
	errImportEmpty  = errors.New("the file is empty: it needs a header row naming the columns and a row per lead")
	errImportBinary = errors.New("the file is not text: save the spreadsheet as CSV (comma or semicolon separated) and import that")
	errImportXLSX   = errors.New("the file is an Excel workbook (.xlsx), not CSV: in Excel choose File > Save As > CSV UTF-8, then import that file")
)

// csvFile is a CSV file being read: its encoding, delimiter and header, and
// the reader of its records.
type csvFile struct {
	Encoding  string
	Delimiter rune
	Header    []string
	r         *csv.Reader
}

// openCSV starts reading a CSV file from r: it decides the encoding and the
// delimiter and reads the header row. The errors above, as *ValidationError
// on "file", say why a file is no CSV at all.
func openCSV(r io.Reader) (*csvFile, error) {
	br := bufio.NewReaderSize(r, sniffSize)
	head, err := br.Peek(sniffSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	f := &csvFile{}
	var text io.Reader
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
		head = head[3:]
		f.Encoding = "utf-8"
		text = &utf8Fallback{r: br}
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		f.Encoding = "utf-16"
		dec := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewDecoder()
		text = dec.Reader(br)
		b, _ := dec.Bytes(head[:len(head)&^1])
		head = b
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return nil, fieldError("file", errImportXLSX.Error())
	default:
		f.Encoding = "utf-8"
		if !validUTF8Prefix(head) {
			f.Encoding = "windows-1252"
			text = charmap.Windows1252.NewDecoder().Reader(br)
			head, _ = charmap.Windows1252.NewDecoder().Bytes(head)
		} else {
			text = &utf8Fallback{r: br}
		}
	}
	if bytes.IndexByte(head, 0) >= 0 || controlBytes(head) > len(head)/100+1 {
		return nil, fieldError("file", errImportBinary.Error())
	}
	if len(bytes.TrimSpace(head)) == 0 {
		return nil, fieldError("file", errImportEmpty.Error())
	}
	if bytes.IndexByte(head, '\r') >= 0 && bytes.IndexByte(head, '\n') < 0 {
		// Old Mac line ends (a carriage return alone): read as line feeds.
		text = &crReader{r: text}
		head = bytes.ReplaceAll(head, []byte{'\r'}, []byte{'\n'})
	}
	f.Delimiter = sniffDelimiter(head)
	// Excel's "sep=;" first line names the delimiter; it is not the header.
	if l, _, _ := bytes.Cut(head, []byte{'\n'}); len(bytes.TrimRight(l, "\r")) == 5 && bytes.HasPrefix(bytes.ToLower(l), []byte("sep=")) {
		f.Delimiter = rune(l[4])
		br2 := bufio.NewReader(text)
		if _, err := br2.ReadString('\n'); err != nil {
			return nil, fieldError("file", errImportEmpty.Error())
		}
		text = br2
	}
	f.r = csv.NewReader(text)
	f.r.Comma = f.Delimiter
	f.r.LazyQuotes = true
	f.r.FieldsPerRecord = -1
	header, err := f.r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fieldError("file", errImportEmpty.Error())
	}
	if err != nil {
		return nil, fieldError("file", "the header row cannot be read: "+err.Error())
	}
	for i, h := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
	}
	f.Header = header
	return f, nil
}

// DelimiterName is how the import names its delimiter.
func delimiterName(d rune) string {
	switch d {
	case ';':
		return "semicolon"
	case '\t':
		return "tab"
	}
	return "comma"
}

// each calls fn with every data row's number (the first is 1) and record, or
// the error of a row that could not be read (next's), until the end of the
// file or an error of fn or of the file itself.
func (f *csvFile) each(fn func(n int, rec []string, rerr error) error) error {
	for n := 1; ; n++ {
		rec, err := f.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csvParseError
		if err != nil && !errors.As(err, &pe) {
			return err
		}
		if err := fn(n, rec, err); err != nil {
			return err
		}
	}
}

// next returns the next record; io.EOF at the end. A record holding a
// control character (NUL and the other C0 codes but tab, line feed, form feed
// and carriage return; DEL) comes with an error of its own, its cells cleaned
// of them (each becomes U+FFFD) so that the row can still be stored and shown
// among the failed ones: one bad row never stops a file.
func (f *csvFile) next() ([]string, error) {
	rec, err := f.r.Read()
	if err != nil {
		return rec, err
	}
	for i, c := range rec {
		j := strings.IndexFunc(c, isControl)
		if j < 0 {
			continue
		}
		bad := c[j]
		for k := range rec {
			rec[k] = strings.Map(func(r rune) rune {
				if isControl(r) {
					return utf8.RuneError
				}
				return r
			}, rec[k])
		}
		line, col := f.r.FieldPos(i)
		return rec, &csv.ParseError{StartLine: line, Line: line, Column: col,
			Err: fmt.Errorf("cell %d holds a control character (byte 0x%02X), which no text has: was the file saved as CSV?", i+1, bad)}
	}
	return rec, nil
}

// isControl says whether r is a control character no text file holds.
func isControl(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' || r == 0x7f
}

// validUTF8Prefix says whether b is UTF-8, but for a rune cut off at its end.
func validUTF8Prefix(b []byte) bool {
	for i := 0; i < 3 && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return true
		}
		if r, _ := utf8.DecodeLastRune(b); r != utf8.RuneError {
			return false
		}
		b = b[:len(b)-1]
	}
	return utf8.Valid(b)
}

// controlBytes counts the bytes of b that no text file holds (control
// characters other than tab, line feed, form feed and carriage return).
func controlBytes(b []byte) int {
	n := 0
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' {
			n++
		}
	}
	return n
}

// sniffDelimiter picks the delimiter the first line of head holds most of,
// outside quotes.
func sniffDelimiter(head []byte) rune {
	counts := map[rune]int{}
	quoted := false
	for _, r := range string(head) {
		if r == '"' {
			quoted = !quoted
			continue
		}
		if quoted {
			continue
		}
		if r == '\n' || r == '\r' {
			break
		}
		if r == ',' || r == ';' || r == '\t' {
			counts[r]++
		}
	}
	best := ','
	for _, d := range []rune{';', '\t'} {
		if counts[d] > counts[best] {
			best = d
		}
	}
	return best
}

// crReader reads carriage returns as line feeds.
type crReader struct{ r io.Reader }

func (c *crReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := range p[:n] {
		if p[i] == '\r' {
			p[i] = '\n'
		}
	}
	return n, err
}

// utf8Fallback passes UTF-8 through and reads any byte that is not part of
// valid UTF-8 as Windows-1252.
type utf8Fallback struct {
	r    io.Reader
	in   []byte // read, not yet passed on
	out  []byte // decoded, not yet returned
	eof  bool
	rerr error
}

func (u *utf8Fallback) Read(p []byte) (int, error) {
	for len(u.out) == 0 {
		if u.eof && len(u.in) == 0 {
			return 0, u.rerr
		}
		if !u.eof {
			buf := make([]byte, 32<<10)
			n, err := u.r.Read(buf)
			u.in = append(u.in, buf[:n]...)
			if err != nil {
				u.eof = true
				if !errors.Is(err, io.EOF) {
					u.rerr = err
				} else {
					u.rerr = io.EOF
				}
			}
		}
		u.decode()
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}

// decode moves what can be decoded from in to out: a rune cut off at the end
// of in waits for more, unless the input has ended.
func (u *utf8Fallback) decode() {
	i := 0
	for i < len(u.in) {
		c := u.in[i]
		if c < utf8.RuneSelf {
			u.out = append(u.out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(u.in[i:])
		if r != utf8.RuneError || size > 1 {
			u.out = append(u.out, u.in[i:i+size]...)
			i += size
			continue
		}
		if !u.eof && !utf8.FullRune(u.in[i:]) {
			break // the rest of the rune is still to come
		}
		u.out = utf8.AppendRune(u.out, charmap.Windows1252.DecodeByte(c))
		i++
	}
	u.in = append(u.in[:0], u.in[i:]...)
}
