package kedaload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The client's side of the connection.
const (
	// wireConnWindow is the connection's receive window announced at the
	// start; the client returns what it consumed once half of it is used.
	wireConnWindow = 1 << 20
	// wireStreamWindow is each stream's receive window: the protocol's
	// default, so the client's SETTINGS need not carry it. A unary
	// response is far smaller, so a stream rarely needs a WINDOW_UPDATE.
	wireStreamWindow = 65535
	// wireMaxMessage bounds a response message, as grpc-go's default
	// largest received message (4 MiB).
	wireMaxMessage = 4 << 20
	// wireHandshake bounds the wait for the server's SETTINGS.
	wireHandshake = 10 * time.Second
	// wireUserAgent names the client in the server's logs.
	wireUserAgent = "foresight-loadtest-wire"
)

// wireMethods are the calls of a poll, in order: step i of a poll calls
// wireMethods[i].
var wireMethods = [3]string{"GetMetricSpec", "GetMetrics", "IsActive"}

var wirePaths = [3]string{
	externalscaler.ExternalScaler_GetMetricSpec_FullMethodName,
	externalscaler.ExternalScaler_GetMetrics_FullMethodName,
	externalscaler.ExternalScaler_IsActive_FullMethodName,
}

// RunWire polls the scaler at addr (plaintext gRPC) as Run does, with
// the same Options and Result: each poll is GetMetricSpec, GetMetrics and
// IsActive in turn, its latency is measured from when it was due, and a
// failed call ends its poll and counts one error. It speaks gRPC's wire
// protocol itself over one HTTP/2 connection, with x/net/http2's Framer.
//
// It exists because the load generator shares the machine's cores with
// the scaler it measures, whereas in a cluster KEDA's operator runs on
// other nodes: the CPU the generator spends, and the wake-ups it needs,
// are taken from the scaler and show up in the latencies it reports. Run,
// on grpc-go (KEDA's own client library), is the faithful client but the
// heavier one. RunWire marshals every request once up front, encodes
// each method's header block once (never-indexed literals, so it keeps
// no HPACK state of its own), and runs no goroutine per poll or per call:
// the caller's goroutine starts polls as they fall due, one reader
// goroutine parses the server's frames and starts each poll's next call
// as soon as the previous one's trailers arrive, and one writer goroutine
// sends all the frames queued meanwhile in one write.
//
// It keeps the protocol's rules: it honours the server's SETTINGS (at most
// MAX_CONCURRENT_STREAMS calls in flight, and at most opts.Concurrency
// polls), its connection and stream send windows and its largest frame
// size; it acknowledges SETTINGS and PING, and returns receive window as
// it consumes response data. A call the server resets (RST_STREAM), or
// does not process because of a GOAWAY, counts as an error; after a
// GOAWAY, the run ends with an error as soon as it needs a new call.
// Malformed frames end the run with an error; a malformed response ends
// its call with one. Cancelling ctx ends the run at once with ctx.Err().
func RunWire(ctx context.Context, addr string, opts Options) (Result, error) {
	interval, total, err := opts.schedule()
	if err != nil {
		return Result{}, err
	}
	c, err := newWireConn(addr, opts, interval, total)
	if err != nil {
		return Result{}, err
	}
	if err := c.dial(ctx); err != nil {
		return Result{}, err
	}
	var wg sync.WaitGroup
	cpu := startCPU()
	c.start = time.Now()
	wg.Go(c.readLoop)
	wg.Go(c.writeLoop)
	c.dispatch(ctx)
	select {
	case <-c.finished:
	case <-c.dead:
	case <-ctx.Done():
		c.mu.Lock()
		c.fail(ctx.Err())
		c.mu.Unlock()
	}
	c.close()
	wg.Wait()
	select {
	case <-c.finished:
		return summarize(c.lat, c.errs, c.firstErr, c.elapsed, cpu), nil
	default:
		return Result{}, c.err
	}
}

// wireConn is one run's connection and the state of its polls. The
// fields below mu are guarded by it.
type wireConn struct {
	addr        string
	objects     int
	total       int
	concurrency int
	interval    time.Duration
	start       time.Time
	// headerBlocks[i] is step i's HPACK-encoded request headers;
	// requests[i][k] its length-prefixed request message for object k.
	headerBlocks [3][]byte
	requests     [3][][]byte

	conn net.Conn
	br   *bufio.Reader
	fr   *http2.Framer // reads; the reader goroutine's alone once running

	kick     chan struct{} // wakes the writer (capacity 1)
	finished chan struct{} // closed when the last poll ends
	dead     chan struct{} // closed when the run fails (err)

	mu  sync.Mutex
	err error
	out frameBuf
	fw  *http2.Framer // writes into out
	// responses[i] receives step i's response, to check that it decodes.
	responses [3]proto.Message

	// The server's settings, and the client's send windows.
	maxStreams  uint32
	peerWindow  int64
	maxFrame    int64
	connSendWin int64
	// Received but not yet returned connection window.
	connUnacked uint32
	goaway      error
	nextID      uint32
	streams     map[uint32]*wireStream
	free        []*wireStream
	// blocked are streams with request bytes waiting for send window.
	blocked []*wireStream

	// Polls [0, due) are due; [0, started) started; inFlight of them
	// have not ended; done have.
	due, started, inFlight, done int
	// next are polls whose next call waits for a free stream.
	next     []wireStep
	nextHead int
	lat      []time.Duration
	errs     int
	firstErr error
	elapsed  time.Duration
}

// wireStep is a poll's next call.
type wireStep struct{ poll, step int }

// wireStream is a call in flight.
type wireStream struct {
	id         uint32
	poll, step int
	// body is the request not yet sent; sendWin the stream's send window.
	body    []byte
	sendWin int64
	blocked bool
	// headers is whether the response headers arrived; msg holds the
	// response bytes so far; unacked is receive window not yet returned.
	headers bool
	msg     []byte
	unacked uint32
}

// frameBuf collects the frames the Framer writes, for the writer.
type frameBuf struct{ b []byte }

func (w *frameBuf) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func newWireConn(addr string, opts Options, interval time.Duration, total int) (*wireConn, error) {
	c := &wireConn{
		addr: addr, objects: len(opts.Objects), total: total, concurrency: opts.Concurrency, interval: interval,
		kick: make(chan struct{}, 1), finished: make(chan struct{}), dead: make(chan struct{}),
		responses:  [3]proto.Message{&externalscaler.GetMetricSpecResponse{}, &externalscaler.GetMetricsResponse{}, &externalscaler.IsActiveResponse{}},
		maxStreams: ^uint32(0), peerWindow: 65535, maxFrame: 16384, connSendWin: 65535,
		nextID: 1, streams: make(map[uint32]*wireStream), lat: make([]time.Duration, total),
	}
	c.fw = http2.NewFramer(&c.out, nil)
	for i, path := range wirePaths {
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		for _, f := range [][2]string{
			{":method", "POST"},
			{":scheme", "http"},
			{":path", path},
			{":authority", addr},
			{"content-type", "application/grpc"},
			{"user-agent", wireUserAgent},
			{"te", "trailers"},
		} {
			// Sensitive fields are never-indexed literals: the encoder
			// adds nothing to its dynamic table, so the block can be sent
			// on any stream in any order.
			if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1], Sensitive: true}); err != nil {
				return nil, fmt.Errorf("encoding the request headers: %w", err)
			}
		}
		c.headerBlocks[i] = buf.Bytes()
	}
	for i := range c.requests {
		c.requests[i] = make([][]byte, len(opts.Objects))
	}
	for k, ref := range opts.Objects {
		b, err := proto.Marshal(ref)
		if err != nil {
			return nil, fmt.Errorf("encoding ScaledObject %d: %w", k, err)
		}
		m, err := proto.Marshal(&externalscaler.GetMetricsRequest{ScaledObjectRef: ref, MetricName: opts.MetricName})
		if err != nil {
			return nil, fmt.Errorf("encoding ScaledObject %d: %w", k, err)
		}
		c.requests[0][k], c.requests[1][k] = grpcMessage(b), grpcMessage(m)
		c.requests[2][k] = c.requests[0][k]
	}
	return c, nil
}

// grpcMessage prefixes a message as gRPC frames it on a stream: a byte
// saying it is not compressed, then its length in 4 bytes, big-endian.
func grpcMessage(b []byte) []byte {
	out := make([]byte, 5, 5+len(b))
	binary.BigEndian.PutUint32(out[1:], uint32(len(b)))
	return append(out, b...)
}

// dial connects and exchanges the connection prefaces: the client's
// preface, SETTINGS and connection WINDOW_UPDATE, then the server's
// SETTINGS, acknowledged.
func (c *wireConn) dial(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("connecting to the scaler at %s: %w", c.addr, err)
	}
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, 64<<10)
	c.fr = http2.NewFramer(nil, c.br)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 1 << 20
	c.fr.SetMaxReadFrameSize(16384) // the default, which the client keeps
	c.fr.SetReuseFrames()

	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	_ = conn.SetDeadline(time.Now().Add(wireHandshake))
	err = c.handshake()
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("starting HTTP/2 with %s (is it a plaintext gRPC server?): %w", c.addr, err)
	}
	return conn.SetDeadline(time.Time{})
}

func (c *wireConn) handshake() error {
	_ = c.fw.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0})
	_ = c.fw.WriteWindowUpdate(0, wireConnWindow-65535)
	if _, err := c.conn.Write(append([]byte(http2.ClientPreface), c.out.b...)); err != nil {
		return err
	}
	c.out.b = c.out.b[:0]
	f, err := c.fr.ReadFrame()
	if err != nil {
		return fmt.Errorf("reading the server's SETTINGS: %w", err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		return fmt.Errorf("the server's first frame is %v, not its SETTINGS", f.Header())
	}
	c.settings(sf)
	if c.err != nil {
		return c.err
	}
	_, err = c.conn.Write(c.out.b)
	c.out.b = c.out.b[:0]
	return err
}

// dispatch marks polls due as time passes, until all are or the run ends.
// It wakes when the next poll falls due (the runtime's timers are not
// finer than about a millisecond) and hands out every poll due by then.
func (c *wireConn) dispatch(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for due := 0; ; {
		if n := min(c.total, int(time.Since(c.start)/c.interval)+1); n > due {
			due = n
			c.mu.Lock()
			c.due = n
			c.startCalls()
			c.mu.Unlock()
			c.flush()
		}
		if due == c.total {
			return
		}
		timer.Reset(time.Until(c.dueAt(due)))
		select {
		case <-ctx.Done():
			return
		case <-c.dead:
			return
		case <-timer.C:
		}
	}
}

func (c *wireConn) dueAt(poll int) time.Time { return c.start.Add(time.Duration(poll) * c.interval) }

// flush wakes the writer.
func (c *wireConn) flush() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// writeLoop sends the queued frames, all of them in one write.
func (c *wireConn) writeLoop() {
	var out []byte
	for {
		select {
		case <-c.kick:
		case <-c.dead:
			return
		case <-c.finished:
			return
		}
		c.mu.Lock()
		out, c.out.b = c.out.b, out[:0]
		c.mu.Unlock()
		if len(out) == 0 {
			continue
		}
		if _, err := c.conn.Write(out); err != nil {
			c.mu.Lock()
			c.fail(fmt.Errorf("writing to the scaler at %s: %w", c.addr, err))
			c.mu.Unlock()
			return
		}
	}
}

// readLoop handles the server's frames until the connection closes.
func (c *wireConn) readLoop() {
	for {
		f, err := c.fr.ReadFrame()
		c.mu.Lock()
		if err != nil {
			var se http2.StreamError
			if !errors.As(err, &se) || se.StreamID == 0 {
				c.fail(c.readError(err))
				c.mu.Unlock()
				return
			}
			if st := c.streams[se.StreamID]; st != nil {
				c.abort(st, se.Code, fmt.Errorf("a malformed response: %w", err))
			}
		} else {
			c.handle(f)
		}
		c.mu.Unlock()
		// Answer once the frames that already arrived are handled, so
		// that the writer sends them all at once.
		if c.br.Buffered() == 0 {
			c.flush()
		}
	}
}

func (c *wireConn) readError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the scaler at %s closed the connection: is it still running? (%w)", c.addr, err)
	}
	if detail := c.fr.ErrorDetail(); detail != nil {
		err = fmt.Errorf("%w: %w", err, detail)
	}
	return fmt.Errorf("reading from the scaler at %s: %w", c.addr, err)
}

// fail ends the run with err, unless it has already ended.
func (c *wireConn) fail(err error) {
	if c.err != nil || c.done == c.total {
		return
	}
	c.err = err
	close(c.dead)
}

// close says goodbye to the server if the run succeeded, and closes the
// connection, which stops the reader.
func (c *wireConn) close() {
	c.mu.Lock()
	ok := c.err == nil
	c.out.b = c.out.b[:0]
	if ok {
		// The last stream the server opened, which is none.
		_ = c.fw.WriteGoAway(0, http2.ErrCodeNo, nil)
	}
	goodbye := c.out.b
	c.mu.Unlock()
	if ok {
		_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.conn.Write(goodbye)
	}
	c.conn.Close()
}

func (c *wireConn) handle(f http2.Frame) {
	switch f := f.(type) {
	case *http2.DataFrame:
		c.data(f)
	case *http2.MetaHeadersFrame:
		c.headers(f)
	case *http2.RSTStreamFrame:
		if st := c.streams[f.StreamID]; st != nil {
			c.endCall(st, fmt.Errorf("the server reset the stream (%v)", f.ErrCode))
		}
	case *http2.SettingsFrame:
		if !f.IsAck() {
			c.settings(f)
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			_ = c.fw.WritePing(true, f.Data)
		}
	case *http2.WindowUpdateFrame:
		c.windowUpdate(f)
	case *http2.GoAwayFrame:
		c.goAway(f)
	case *http2.PushPromiseFrame:
		c.fail(fmt.Errorf("the scaler at %s sent PUSH_PROMISE, which the client disabled", c.addr))
	}
}

// stream returns the open stream id, or nil if it has closed; a frame on
// a stream the client never opened ends the run.
func (c *wireConn) stream(id uint32) *wireStream {
	if st := c.streams[id]; st != nil {
		return st
	}
	if id%2 == 0 || id >= c.nextID {
		c.fail(fmt.Errorf("the scaler at %s sent a frame on stream %d, which the client never opened", c.addr, id))
	}
	return nil
}

func (c *wireConn) data(f *http2.DataFrame) {
	n := f.Header().Length // padding included: it counts against the window
	c.connUnacked += n
	if c.connUnacked >= wireConnWindow/2 {
		_ = c.fw.WriteWindowUpdate(0, c.connUnacked)
		c.connUnacked = 0
	}
	st := c.stream(f.StreamID)
	if st == nil {
		return
	}
	d := f.Data()
	switch {
	case !st.headers:
		c.abort(st, http2.ErrCodeProtocol, errors.New("response DATA before the response headers"))
		return
	case len(st.msg)+len(d) > 5+wireMaxMessage:
		c.abort(st, http2.ErrCodeCancel, fmt.Errorf("a response of more than %d bytes", wireMaxMessage))
		return
	}
	st.msg = append(st.msg, d...)
	if f.StreamEnded() {
		c.endCall(st, errors.New("the response ended without trailers (grpc-status)"))
		return
	}
	st.unacked += n
	if st.unacked >= wireStreamWindow/2 {
		_ = c.fw.WriteWindowUpdate(st.id, st.unacked)
		st.unacked = 0
	}
}

func (c *wireConn) headers(f *http2.MetaHeadersFrame) {
	st := c.stream(f.StreamID)
	if st == nil {
		return
	}
	if !st.headers {
		st.headers = true
		if err := responseHeaders(f); err != nil {
			if f.StreamEnded() {
				c.endCall(st, err)
			} else {
				c.abort(st, http2.ErrCodeCancel, err)
			}
			return
		}
		if !f.StreamEnded() {
			return
		}
	} else if !f.StreamEnded() {
		c.abort(st, http2.ErrCodeProtocol, errors.New("a second HEADERS frame that does not end the response"))
		return
	}
	c.endCall(st, c.trailers(st, f.Fields))
}

// responseHeaders checks the response's HTTP status and content type.
func responseHeaders(f *http2.MetaHeadersFrame) error {
	if s := f.PseudoValue("status"); s != "200" {
		return fmt.Errorf("HTTP status %q, not 200", s)
	}
	for _, hf := range f.Fields {
		if hf.Name == "content-type" {
			if !strings.HasPrefix(hf.Value, "application/grpc") {
				return fmt.Errorf("content-type %q is not gRPC's", hf.Value)
			}
			return nil
		}
	}
	return errors.New("a response without content-type")
}

// trailers returns the call's outcome: its grpc-status, and then whether
// one response message arrived and decodes.
func (c *wireConn) trailers(st *wireStream, fields []hpack.HeaderField) error {
	code, msg := "", ""
	for _, hf := range fields {
		switch hf.Name {
		case "grpc-status":
			code = hf.Value
		case "grpc-message":
			msg = hf.Value
			if m, err := url.PathUnescape(msg); err == nil {
				msg = m
			}
		}
	}
	n, err := strconv.ParseUint(code, 10, 32)
	switch {
	case code == "":
		return errors.New("trailers without grpc-status")
	case err != nil:
		return fmt.Errorf("grpc-status %q is not a number", code)
	case n != 0:
		return status.Error(codes.Code(n), msg)
	}
	b := st.msg
	switch {
	case len(b) == 0:
		return errors.New("grpc-status 0 but no response message")
	case len(b) < 5:
		return fmt.Errorf("a response message cut short at %d bytes", len(b))
	case b[0] != 0:
		return fmt.Errorf("a response message flagged %d (compressed), though the call asked for no compression", b[0])
	}
	if size := binary.BigEndian.Uint32(b[1:5]); uint64(size) != uint64(len(b)-5) {
		return fmt.Errorf("%d bytes of response where the message's prefix says %d (a unary call answers one message)", len(b)-5, size)
	}
	if err := proto.Unmarshal(b[5:], c.responses[st.step]); err != nil {
		return fmt.Errorf("the response does not decode as %T: %w", c.responses[st.step], err)
	}
	return nil
}

func (c *wireConn) settings(f *http2.SettingsFrame) {
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return fmt.Errorf("%v: %w", s, err)
		}
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			c.maxStreams = s.Val
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - c.peerWindow
			c.peerWindow = int64(s.Val)
			for _, st := range c.streams {
				st.sendWin += delta
			}
		case http2.SettingMaxFrameSize:
			c.maxFrame = int64(s.Val)
		}
		// SETTINGS_HEADER_TABLE_SIZE needs nothing: the client's header
		// blocks never use the dynamic table.
		return nil
	})
	if err != nil {
		c.fail(fmt.Errorf("the scaler at %s sent invalid SETTINGS: %w", c.addr, err))
		return
	}
	_ = c.fw.WriteSettingsAck()
	c.unblock()
	c.startCalls()
}

func (c *wireConn) windowUpdate(f *http2.WindowUpdateFrame) {
	const maxWindow = 1<<31 - 1
	if f.StreamID == 0 {
		c.connSendWin += int64(f.Increment)
		if c.connSendWin > maxWindow {
			c.fail(fmt.Errorf("the scaler at %s overflowed the connection's send window", c.addr))
			return
		}
	} else if st := c.stream(f.StreamID); st != nil {
		st.sendWin += int64(f.Increment)
		if st.sendWin > maxWindow {
			c.abort(st, http2.ErrCodeFlowControl, errors.New("the server overflowed the stream's send window"))
		}
	}
	c.unblock()
}

func (c *wireConn) goAway(f *http2.GoAwayFrame) {
	c.goaway = fmt.Errorf("the scaler at %s sent GOAWAY (%v, %q) and takes no new calls: is it shutting down?", c.addr, f.ErrCode, f.DebugData())
	for id, st := range c.streams {
		if id > f.LastStreamID {
			c.endCall(st, c.goaway)
		}
	}
	c.startCalls() // ends the run if calls remain to be made
}

// startCalls starts calls while streams are free: first the next calls of
// polls in flight, then polls that are due, up to opts.Concurrency polls.
func (c *wireConn) startCalls() {
	if c.err != nil {
		return
	}
	if c.goaway != nil {
		if c.nextHead < len(c.next) || c.started < c.total {
			c.fail(c.goaway)
		}
		return
	}
	for uint32(len(c.streams)) < c.maxStreams && c.err == nil {
		switch {
		case c.nextHead < len(c.next):
			n := c.next[c.nextHead]
			if c.nextHead++; c.nextHead == len(c.next) {
				c.next, c.nextHead = c.next[:0], 0
			}
			c.startCall(n.poll, n.step)
		case c.started < c.due && c.inFlight < c.concurrency:
			c.started++
			c.inFlight++
			c.startCall(c.started-1, 0)
		default:
			return
		}
	}
}

func (c *wireConn) startCall(poll, step int) {
	if c.nextID > 1<<31-1 {
		c.fail(fmt.Errorf("the connection to %s ran out of stream IDs; run for less time", c.addr))
		return
	}
	var st *wireStream
	if n := len(c.free); n > 0 {
		st, c.free = c.free[n-1], c.free[:n-1]
	} else {
		st = &wireStream{}
	}
	st.id, c.nextID = c.nextID, c.nextID+2
	st.poll, st.step = poll, step
	st.body, st.sendWin = c.requests[step][poll%c.objects], c.peerWindow
	st.headers, st.msg, st.unacked = false, st.msg[:0], 0
	c.streams[st.id] = st
	_ = c.fw.WriteHeaders(http2.HeadersFrameParam{StreamID: st.id, BlockFragment: c.headerBlocks[step], EndHeaders: true})
	if !c.send(st) {
		st.blocked = true
		c.blocked = append(c.blocked, st)
	}
}

// send writes as much of the stream's request as the send windows and the
// largest frame allow, and reports whether it is all sent.
func (c *wireConn) send(st *wireStream) bool {
	for len(st.body) > 0 {
		n := min(int64(len(st.body)), c.connSendWin, st.sendWin, c.maxFrame)
		if n <= 0 {
			return false
		}
		_ = c.fw.WriteData(st.id, n == int64(len(st.body)), st.body[:n])
		st.body = st.body[n:]
		c.connSendWin -= n
		st.sendWin -= n
	}
	return true
}

// unblock sends what the send windows now allow of blocked requests.
func (c *wireConn) unblock() {
	kept := c.blocked[:0]
	for _, st := range c.blocked {
		if c.send(st) {
			st.blocked = false
		} else {
			kept = append(kept, st)
		}
	}
	clear(c.blocked[len(kept):])
	c.blocked = kept
}

// abort resets a stream the client gives up on, and ends its call.
func (c *wireConn) abort(st *wireStream, code http2.ErrCode, err error) {
	_ = c.fw.WriteRSTStream(st.id, code)
	c.endCall(st, err)
}

// endCall closes a call's stream and ends its poll if err is not nil or
// the call was the poll's last; otherwise it queues the poll's next call.
func (c *wireConn) endCall(st *wireStream, err error) {
	poll, step := st.poll, st.step
	delete(c.streams, st.id)
	if st.blocked {
		st.blocked = false
		for i, b := range c.blocked {
			if b == st {
				c.blocked = append(c.blocked[:i], c.blocked[i+1:]...)
				break
			}
		}
	}
	st.body = nil
	if cap(st.msg) > 64<<10 {
		st.msg = nil
	}
	c.free = append(c.free, st)
	switch {
	case err != nil:
		c.endPoll(poll, fmt.Errorf("%s: %w", wireMethods[step], err))
	case step == len(wireMethods)-1:
		c.endPoll(poll, nil)
	default:
		c.next = append(c.next, wireStep{poll, step + 1})
	}
	c.startCalls()
}

func (c *wireConn) endPoll(poll int, err error) {
	c.lat[poll] = time.Since(c.dueAt(poll))
	c.inFlight--
	c.done++
	if err != nil {
		c.errs++
		if c.firstErr == nil {
			c.firstErr = err
		}
	}
	if c.done == c.total && c.err == nil {
		c.elapsed = time.Since(c.start)
		close(c.finished)
	}
}
