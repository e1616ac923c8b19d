package enrichctl

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	amqp "github.com/rabbitmq/amqp091-go"
)

// pubRecord is one record of a publish input: a message to publish, or the
// reason it cannot be.
type pubRecord struct {
	line          int // its line (1-based)
	exchange, key string
	msg           amqp.Publishing
	// err: the record is invalid; it is reported with its line and not
	// published.
	err error
	// warnings are reported but do not stop the record (a dropped hint).
	warnings []string
}

// inputPos is where a reader stands: after line, offset bytes into the
// input, and (when the input is hashed) the SHA-256 of those bytes.
type inputPos struct {
	line   int
	offset int64
	sum    []byte
}

// recordSource reads the records of one input.
type recordSource interface {
	// next returns the next record; io.EOF at the end. Any other error
	// means the input could not be read, and stops the run.
	next() (pubRecord, error)
	// pos is the position after the record next last returned.
	pos() inputPos
	close()
}

// lineReader reads lines of any length without holding more than max bytes
// of one: a longer line is consumed and reported by its length only. It
// counts lines and bytes and, if asked, hashes every byte it consumes, so
// that a resumed run can check that its input is the same up to a cursor.
type lineReader struct {
	r      *bufio.Reader
	closer io.Closer
	max    int
	line   int
	off    int64
	h      hash.Hash
	buf    []byte
}

func newLineReader(r io.Reader, closer io.Closer, maxLine int, hashed bool) *lineReader {
	lr := &lineReader{r: bufio.NewReaderSize(r, 64<<10), closer: closer, max: maxLine}
	if hashed {
		lr.h = sha256.New()
	}
	return lr
}

// openInput opens path, or stdin for "-".
func openInput(path string, stdin io.Reader, maxLine int, hashed bool) (*lineReader, error) {
	if path == "-" {
		return newLineReader(stdin, nil, maxLine, hashed), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return newLineReader(f, f, maxLine, hashed), nil
}

// errLineTooLong is the error of a line longer than the reader keeps.
var errLineTooLong = errors.New("line too long")

// next returns the next line without its terminator (\n or \r\n), or
// errLineTooLong (with the line consumed and counted); io.EOF at the end.
// The slice is valid until the next call.
func (l *lineReader) next() ([]byte, int64, error) {
	l.buf = l.buf[:0]
	var n int64
	over := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		n += int64(len(chunk))
		if l.h != nil {
			l.h.Write(chunk)
		}
		if !over && len(l.buf)+len(chunk) <= l.max+2 {
			l.buf = append(l.buf, chunk...)
		} else {
			over = true
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return nil, 0, io.EOF
			}
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read line %d: %w", l.line+1, err)
		}
		break
	}
	l.line++
	l.off += n
	if over {
		return nil, n, errLineTooLong
	}
	return bytes.TrimSuffix(bytes.TrimSuffix(l.buf, []byte("\n")), []byte("\r")), n, nil
}

func (l *lineReader) pos() inputPos {
	p := inputPos{line: l.line, offset: l.off}
	if l.h != nil {
		p.sum = l.h.Sum(nil)
	}
	return p
}

func (l *lineReader) close() {
	if l.closer != nil {
		_ = l.closer.Close()
	}
}

// countLines counts the non-blank lines of path, for a progress bar; -1
// when unknown.
func countLines(path string) int64 {
	if path == "-" {
		return -1
	}
	lr, err := openInput(path, nil, 0, false)
	if err != nil {
		return -1
	}
	defer lr.close()
	var n int64
	for {
		text, _, err := lr.next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if errors.Is(err, errLineTooLong) || (err == nil && len(bytes.TrimSpace(text)) > 0) {
			n++
			continue
		}
		if err != nil {
			return -1
		}
	}
}

// utf8BOM starts some files written on Windows.
var utf8BOM = []byte("\ufeff")
