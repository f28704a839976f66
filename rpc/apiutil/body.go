package apiutil

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// BodyDeadline makes r's body readable for timeout from now: a client that
// sends its body slower than that gets an error from the body's Read (and
// holds no connection or goroutine longer). The deadline is lifted once
// the body is read to its end, so that it cannot end a call that takes
// long to answer (net/http then reads the connection in the background to
// notice a client that goes away). For calls that are not streams; w must
// reach the connection through http.ResponseController (an Unwrap method).
func BodyDeadline(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	b := &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), timeout: timeout}
	_ = b.rc.SetReadDeadline(time.Now().Add(timeout))
	r.Body = b
}

// deadlineBody is a body read under a deadline.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	done    bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	// Only at the end: after a timeout, net/http still tries to read the
	// rest of the body before it answers, and must not wait.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return n, fmt.Errorf("the request body did not arrive within %s", b.timeout)
	}
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
