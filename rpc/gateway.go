package rpc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// OpenAPI is the OpenAPI (Swagger 2.0) description of the HTTP/JSON
// control API, generated with the gateway by scripts/gen-proto.sh. The
// gateway serves it at GET /v1/openapi.json.
//
//go:embed openapi/api.swagger.json
var OpenAPI []byte

// GatewayConfig configures the HTTP/JSON gateway of the control API.
type GatewayConfig struct {
	// MaxBodyBytes bounds a request body (gRPC takes requests of up to
	// 1 MiB). A larger body is refused with 413.
	MaxBodyBytes int64
	// MaxStreamBodyBytes bounds the body of POST /v1/payments/stream
	// (PayStream): newline-delimited requests, each also bounded by the
	// gRPC server's message limit.
	MaxStreamBodyBytes int64
	// Heartbeat is how often a Server-Sent Events stream with nothing to
	// say sends a comment, so that proxies keep it open.
	Heartbeat time.Duration
	// WriteTimeout ends an event stream whose client stops reading for
	// this long.
	WriteTimeout time.Duration
	// BodyTimeout bounds how long a client may take to send the body of
	// a call that is not a stream, so that slow bodies cannot hold
	// connections for ever (the HTTP server's ReadHeaderTimeout bounds
	// the headers; it has no ReadTimeout, which would end streams).
	BodyTimeout time.Duration
	// MaxStreams bounds the calls that stay open (GET /v1/events, SSE or
	// not, GET /v1/backup, POST /v1/payments/stream) at once, and
	// MaxStreamsPerToken those of one token. Every HTTP
	// call is a stream of the gateway's one in-process connection, which
	// the API server bounds (tinypayd: 1024 concurrent streams); these
	// bounds keep most of them for ordinary calls, so that event streams
	// held open cannot starve them. A call beyond either bound is refused
	// at once with 429 RESOURCE_EXHAUSTED.
	MaxStreams, MaxStreamsPerToken int
}

// DefaultGatewayConfig returns the limits tinypayd uses.
func DefaultGatewayConfig() GatewayConfig {
	return GatewayConfig{MaxBodyBytes: 1 << 20, MaxStreamBodyBytes: 64 << 20, Heartbeat: 15 * time.Second, WriteTimeout: 30 * time.Second,
		BodyTimeout: time.Minute, MaxStreams: 256, MaxStreamsPerToken: 16}
}

// Validate reports the first setting out of range.
func (c GatewayConfig) Validate() error {
	switch {
	case c.MaxBodyBytes < 1<<10 || c.MaxStreamBodyBytes < c.MaxBodyBytes:
		return errors.New("gateway: MaxBodyBytes must be at least 1 KiB and MaxStreamBodyBytes at least MaxBodyBytes")
	case c.Heartbeat <= 0 || c.WriteTimeout <= 0 || c.BodyTimeout <= 0:
		return errors.New("gateway: Heartbeat, WriteTimeout and BodyTimeout must be positive")
	case c.MaxStreamsPerToken < 1 || c.MaxStreams < c.MaxStreamsPerToken || c.MaxStreams > maxGatewayStreams:
		return fmt.Errorf("gateway: want 1 <= MaxStreamsPerToken <= MaxStreams <= %d", maxGatewayStreams)
	}
	return nil
}

// maxGatewayStreams is the most MaxStreams may be: half of the 1024
// concurrent streams tinypayd's API server allows a connection, so that
// the other half stays for ordinary calls.
const maxGatewayStreams = 512

// InProcess serves srv (the control API's gRPC server, with its TLS
// credentials, interceptors and limits) on an in-memory listener and
// returns a client connection to it, for the gateway: every HTTP call
// then is a gRPC call to the very same server, so authentication, token
// scopes, app-token limits and message limits apply exactly as they do to
// gRPC clients. cert is the server's certificate; the connection trusts
// only it; opts are added to the connection's (credentials, say). close
// closes the connection and the listener; srv.Stop also ends them.
func InProcess(srv *grpc.Server, cert tls.Certificate, opts ...grpc.DialOption) (conn *grpc.ClientConn, close func(), err error) {
	if len(cert.Certificate) == 0 {
		return nil, nil, errors.New("in-process API connection: no certificate")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("in-process API connection: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	name := "localhost"
	if len(leaf.DNSNames) > 0 {
		name = leaf.DNSNames[0]
	}
	lis := bufconn.Listen(256 << 10)
	go srv.Serve(lis) //nolint:errcheck // ends when srv stops or lis closes
	conn, err = grpc.NewClient("passthrough:///tinypay-in-process", append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS13})),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20))}, opts...)...)
	if err != nil {
		lis.Close()
		return nil, nil, err
	}
	return conn, func() { conn.Close(); lis.Close() }, nil
}

// gatewayJSON is how the gateway reads and writes messages: field names as
// in the .proto, every field with a default value present (except unset
// optional fields, which mean something), and unknown fields refused.
var gatewayJSON = &runtime.JSONPb{
	MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true},
	UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
}

// Gateway is the control API as HTTP/JSON: the handlers grpc-gateway
// generates from the .proto (bindings in proto/tinypay/api/v1/api_http.yaml)
// in front of a gRPC client of the node's own API server (see InProcess),
// plus GET /v1/openapi.json and Server-Sent Events on GET /v1/events.
type Gateway struct {
	cfg     GatewayConfig
	ctx     context.Context // ends every event stream when done
	client  apiv1.NodeClient
	mux     *runtime.ServeMux
	streams streamSlots
}

// streamSlots counts the open streaming calls, in total and per token
// (streamKey). The count comes before the token check: a wrong token's
// calls end at once, so counting them too costs nothing.
type streamSlots struct {
	mu      sync.Mutex
	total   int
	byToken map[string]int
}

// take reserves a place for a streaming call of token, or says which
// bound is reached.
func (s *streamSlots) take(cfg GatewayConfig, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.byToken[token] >= cfg.MaxStreamsPerToken:
		return status.Errorf(codes.ResourceExhausted, "this token already has %d streams open (events, backups, payment streams), the most it may: end one first", cfg.MaxStreamsPerToken)
	case s.total >= cfg.MaxStreams:
		return status.Errorf(codes.ResourceExhausted, "the node serves %d streams (events, backups, payment streams) already, the most it does at once: try again later", cfg.MaxStreams)
	}
	if s.byToken == nil {
		s.byToken = map[string]int{}
	}
	s.byToken[token]++
	s.total++
	return nil
}

// streamKey is whose place a streaming call takes: its token, whatever
// the case of the Bearer scheme (TokenAuth takes any), or its
// Authorization headers as they are when they are no one token.
func streamKey(r *http.Request) string {
	vals := r.Header.Values("Authorization")
	if len(vals) == 1 && len(vals[0]) > 7 && strings.EqualFold(vals[0][:7], "Bearer ") {
		return vals[0][7:]
	}
	return strings.Join(vals, "\n")
}

// give frees a place take reserved.
func (s *streamSlots) give(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.byToken[token]--; s.byToken[token] == 0 {
		delete(s.byToken, token)
	}
}

// NewGateway returns the gateway of the API that conn reaches. Event
// streams end when ctx does (cancel it before shutting the HTTP server
// down).
func NewGateway(ctx context.Context, conn grpc.ClientConnInterface, cfg GatewayConfig) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, ctx: ctx, client: apiv1.NewNodeClient(conn)}
	g.mux = runtime.NewServeMux(
		// The parser is a package variable of grpc-gateway: this sets it
		// for every mux in the process, to the same strict parser.
		runtime.SetQueryParameterParser(strictQuery{}),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, gatewayJSON),
		// A form POST with X-HTTP-Method-Override is not another method's
		// call: each call has one method and path.
		runtime.WithDisablePathLengthFallback(),
		runtime.WithErrorHandler(func(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, 0, err)
		}),
		runtime.WithRoutingErrorHandler(func(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
			switch httpStatus {
			case http.StatusMethodNotAllowed:
				writeError(w, httpStatus, status.Errorf(codes.Unimplemented, "method %s is not allowed on %s", r.Method, r.URL.Path))
			case http.StatusNotFound:
				writeError(w, httpStatus, status.Errorf(codes.NotFound, "no API call at %s %s (see GET /v1/openapi.json)", r.Method, r.URL.Path))
			default:
				writeError(w, httpStatus, status.Error(codes.InvalidArgument, http.StatusText(httpStatus)))
			}
		}),
		// Only the Authorization header goes on to the API (the gateway
		// always forwards it); no other header becomes gRPC metadata.
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingTrailerMatcher(func(string) (string, bool) { return "", false }),
	)
	if err := apiv1.RegisterNodeHandlerClient(ctx, g.mux, g.client); err != nil {
		return nil, err
	}
	return g, nil
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	switch r.URL.Path {
	case "/v1/events", "/v1/backup", "/v1/payments/stream":
		token := streamKey(r)
		if err := g.streams.take(g.cfg, token); err != nil {
			writeError(w, 0, err)
			return
		}
		defer g.streams.give(token)
	}
	switch {
	case r.URL.Path == "/v1/openapi.json":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, status.Errorf(codes.Unimplemented, "method %s is not allowed on %s", r.Method, r.URL.Path))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(OpenAPI)
		return
	case r.URL.Path == "/v1/events" && r.Method == http.MethodGet && acceptsEventStream(r):
		g.events(w, r)
		return
	}
	limit := g.cfg.MaxBodyBytes
	if r.URL.Path == "/v1/payments/stream" {
		limit = g.cfg.MaxStreamBodyBytes
	}
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, status.Errorf(codes.ResourceExhausted, "request body of %d bytes: at most %d", r.ContentLength, limit))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	switch r.URL.Path {
	case "/v1/payments/stream":
		body := &payStreamBody{r: bufio.NewReader(r.Body), body: r.Body, max: int(g.cfg.MaxBodyBytes)}
		r.Body = body
		sw := &streamErrorWriter{ResponseWriter: w}
		g.mux.ServeHTTP(sw, r)
		if err := body.failure(); err != nil {
			sw.fail(err)
		}
		return
	case "/v1/events", "/v1/backup":
		w = &streamErrorWriter{ResponseWriter: w}
	default:
		apiutil.BodyDeadline(w, r, g.cfg.BodyTimeout)
	}
	g.mux.ServeHTTP(w, r)
}

// payStreamBody hands PayStream's generated decoder the body of
// POST /v1/payments/stream one checked line at a time: each line must be
// one PayRequest (or blank) of at most max bytes. The generated decoder
// ends the input in silence on an error, so at the first bad line this
// ends the input (io.EOF: the payments before it complete) and failure
// says why, for the gateway to tell the client. It also bounds what one
// request makes the decoder buffer: a line, not MaxStreamBodyBytes.
type payStreamBody struct {
	r    *bufio.Reader
	body io.Closer
	max  int
	line int
	rest []byte // what is left of the current line

	mu  sync.Mutex // the decoder reads in its own goroutine
	err error
}

func (b *payStreamBody) Read(p []byte) (int, error) {
	for len(b.rest) == 0 {
		if b.failure() != nil {
			return 0, io.EOF
		}
		line, err := b.readLine()
		if err != nil {
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				b.setFailure(status.Errorf(codes.ResourceExhausted, "line %d of the payment stream: the body is over %d bytes; send the rest in another request", b.line, tooBig.Limit))
			case !errors.Is(err, io.EOF):
				return 0, err // the client is gone
			}
			if len(line) == 0 {
				return 0, io.EOF
			}
		}
		if b.failure() != nil {
			return 0, io.EOF
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var req apiv1.PayRequest
		if err := gatewayJSON.Unmarshal(line, &req); err != nil {
			b.setFailure(status.Errorf(codes.InvalidArgument, "line %d of the payment stream is not one PayRequest (one JSON object a line): %v", b.line, err))
			return 0, io.EOF
		}
		b.rest = line
	}
	n := copy(p, b.rest)
	b.rest = b.rest[n:]
	return n, nil
}

// readLine reads the next line, of at most max bytes.
func (b *payStreamBody) readLine() ([]byte, error) {
	b.line++
	var line []byte
	for {
		chunk, err := b.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > b.max {
			b.setFailure(status.Errorf(codes.ResourceExhausted, "line %d of the payment stream is over %d bytes: one PayRequest a line", b.line, b.max))
			return nil, io.EOF
		}
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

func (b *payStreamBody) Close() error { return b.body.Close() }

func (b *payStreamBody) setFailure(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
}

// failure is why the input ended before the body did (nil: it did not).
func (b *payStreamBody) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// streamErrorWriter writes the error of a streamed call that fails before
// its first result as writeError does for any call: grpc-gateway writes
// it as a stream line, {"error": {"code": ..., "message": ...}}, after an
// error status. (An error after results stays such a line: the status has
// gone out.)
type streamErrorWriter struct {
	http.ResponseWriter
	status int  // an error status held back
	done   bool // the error was written
	wrote  bool // something went out
}

func (w *streamErrorWriter) WriteHeader(code int) {
	if code >= 400 && w.status == 0 {
		w.status = code
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

// fail ends the answer with err: as writeError does if nothing went out
// yet, else as an {"error": ...} line after the results.
func (w *streamErrorWriter) fail(err error) {
	if w.done {
		return
	}
	w.done = true
	if !w.wrote && w.status == 0 {
		writeError(w.ResponseWriter, 0, err)
		return
	}
	b, _ := json.Marshal(struct {
		Error errorJSON `json:"error"`
	}{errorBody(err)})
	w.ResponseWriter.Write(append(b, '\n'))
}

func (w *streamErrorWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.wrote = true
		return w.ResponseWriter.Write(b)
	}
	if w.done { // the line's delimiter
		return len(b), nil
	}
	w.done = true
	var line struct {
		Error json.RawMessage `json:"error"`
	}
	var st spb.Status
	if json.Unmarshal(b, &line) != nil || line.Error == nil || protojson.Unmarshal(line.Error, &st) != nil {
		w.ResponseWriter.WriteHeader(w.status) // one of writeError's own
		return w.ResponseWriter.Write(b)
	}
	writeError(w.ResponseWriter, w.status, status.FromProto(&st).Err())
	return len(b), nil
}

// Unwrap lets http.ResponseController reach the connection.
func (w *streamErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// strictQuery parses query parameters as grpc-gateway does, but refuses
// one that names no field of the request (grpc-gateway ignores it), as an
// unknown field in a JSON body is refused.
type strictQuery struct{ runtime.DefaultQueryParser }

func (q strictQuery) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	fields := msg.ProtoReflect().Descriptor().Fields()
	for k := range values {
		name, _, _ := strings.Cut(k, ".")
		if fields.ByName(protoreflect.Name(name)) == nil && fields.ByJSONName(name) == nil {
			return status.Errorf(codes.InvalidArgument, "unknown query parameter %q", k)
		}
	}
	return q.DefaultQueryParser.Parse(msg, values, filter)
}

func acceptsEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/event-stream") {
			return true
		}
	}
	return false
}

// errorJSON is an error as the gateway writes it: the gRPC status code as
// a number and a name, its message, and its details (protojson Any).
type errorJSON struct {
	Code    int32             `json:"code"`
	Status  string            `json:"status"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details,omitempty"`
}

func errorBody(err error) errorJSON {
	st := status.Convert(err)
	if errors.Is(err, context.Canceled) {
		st = status.New(codes.Canceled, err.Error())
	}
	e := errorJSON{Code: int32(st.Code()), Status: codeName(st.Code()), Message: st.Message()}
	for _, d := range st.Proto().GetDetails() {
		if b, err := gatewayJSON.Marshal(d); err == nil {
			e.Details = append(e.Details, b)
		}
	}
	return e
}

// codeName is the canonical name of a code: UNAUTHENTICATED, NOT_FOUND.
func codeName(c codes.Code) string {
	if n, ok := rpccode.Code_name[int32(c)]; ok {
		return n
	}
	return strconv.Itoa(int(c))
}

// writeError answers with err as JSON, with httpStatus or (0) the status
// grpc-gateway maps its code to.
func writeError(w http.ResponseWriter, httpStatus int, err error) {
	body := errorBody(err)
	if httpStatus == 0 {
		httpStatus = runtime.HTTPStatusFromCode(codes.Code(body.Code))
	}
	if httpStatus == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tinypay"`)
	}
	b, _ := json.Marshal(body)
	w.Header().Del("Content-Length")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	w.Write(append(b, '\n'))
}

// authContext is ctx carrying the request's Authorization headers as
// gRPC metadata, as the generated handlers forward them.
func authContext(ctx context.Context, r *http.Request) context.Context {
	var md metadata.MD
	for _, v := range r.Header.Values("Authorization") {
		md = metadata.Join(md, metadata.Pairs("authorization", v))
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// events serves GET /v1/events as Server-Sent Events: one event per log
// entry, with the entry's seq as its id and the protojson Event as its
// data. It starts after the Last-Event-ID header (what EventSource sends
// when it reconnects), else after the after_seq query parameter; kinds
// filters as in SubscribeEventsRequest. The subscription is the gRPC one,
// with its rules and bounds. Errors before the stream starts are JSON
// with an HTTP status; after, an "error" event with the same JSON ends
// the stream.
func (g *Gateway) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := &apiv1.SubscribeEventsRequest{Kinds: q["kinds"]}
	for k := range q {
		if k != "after_seq" && k != "kinds" {
			writeError(w, 0, status.Errorf(codes.InvalidArgument, "unknown query parameter %q (want after_seq, kinds)", k))
			return
		}
	}
	if v := q.Get("after_seq"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, 0, status.Errorf(codes.InvalidArgument, "after_seq %q: want a log sequence number", v))
			return
		}
		req.AfterSeq = n
	}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, 0, status.Errorf(codes.InvalidArgument, "Last-Event-ID %q: want the id of an event this stream sent", v))
			return
		}
		req.AfterSeq = n
	}
	ctx, cancel := context.WithCancel(authContext(r.Context(), r))
	defer cancel()
	stop := context.AfterFunc(g.ctx, cancel)
	defer stop()
	stream, err := g.client.SubscribeEvents(ctx, req)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	// The server sends its header once the subscription stands; a stream
	// that ended without one has its status for Recv.
	md, err := stream.Header()
	if err == nil && md == nil {
		_, err = stream.Recv()
		if err == nil || err == io.EOF {
			err = status.Error(codes.Internal, "the subscription ended at once")
		}
	}
	if err != nil {
		writeError(w, 0, err)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(s string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(g.cfg.WriteTimeout))
		if _, err := io.WriteString(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(": subscribed\n\n") {
		return
	}
	type recv struct {
		ev  *apiv1.Event
		err error
	}
	next := make(chan recv)
	go func() {
		for {
			ev, err := stream.Recv()
			select {
			case next <- recv{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	beat := time.NewTicker(g.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if !write(": keepalive\n\n") {
				return
			}
		case m := <-next:
			if m.err != nil {
				if ctx.Err() == nil && m.err != io.EOF {
					b, _ := json.Marshal(errorBody(m.err))
					write("event: error\ndata: " + string(b) + "\n\n")
				}
				return
			}
			data, err := gatewayJSON.Marshal(m.ev)
			if err != nil {
				return
			}
			if !write(fmt.Sprintf("id: %d\ndata: %s\n\n", m.ev.GetSeq(), data)) {
				return
			}
		}
	}
}
