package kedaload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// serveGRPC serves srv with grpc-go on a loopback port until the test ends.
func serveGRPC(t testing.TB, srv externalscaler.ExternalScalerServer, opts ...grpc.ServerOption) string {
	t.Helper()
	gs := grpc.NewServer(opts...)
	externalscaler.RegisterExternalScalerServer(gs, srv)
	return listenGRPC(t, gs)
}

// listenGRPC serves gs on a loopback port until the test ends.
func listenGRPC(t testing.TB, gs *grpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// runWire is RunWire bounded in time, so that a stalled run fails the
// test instead of hanging it.
func runWire(t *testing.T, ctx context.Context, addr string, opts Options) (Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return RunWire(ctx, addr, opts)
}

func TestRunWire(t *testing.T) {
	srv := &counting{}
	addr := serveGRPC(t, srv)
	objects := []*externalscaler.ScaledObjectRef{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "broken"}}
	res, err := runWire(t, context.Background(), addr, Options{Objects: objects, Rate: 400, Duration: 500 * time.Millisecond, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if res.Polls != 200 || srv.calls.Load() != 600 || res.Errors != 50 {
		t.Errorf("%d polls, %d calls, %d errors; want 200, 600, 50", res.Polls, srv.calls.Load(), res.Errors)
	}
	if res.FirstError == nil || res.FirstError.Error() != "IsActive: rpc error: code = Unavailable desc = broken" || status.Code(errors.Unwrap(res.FirstError)) != codes.Unavailable {
		t.Errorf("first error %v", res.FirstError)
	}
	if res.P50 > res.P90 || res.P90 > res.P99 || res.P99 > res.P999 || res.P999 > res.Max || res.Max <= 0 || res.Elapsed < 450*time.Millisecond {
		t.Errorf("result %s", res)
	}
	for _, opts := range []Options{
		{},
		{Objects: objects, Rate: 2e9, Duration: time.Second},
		{Objects: objects, Rate: 1, Duration: time.Millisecond},
	} {
		if _, err := RunWire(context.Background(), addr, opts); err == nil {
			t.Errorf("%+v: no error", opts)
		}
	}
}

// echo checks that each request arrived whole, and answers
// GetMetricSpec with the object's query as the metric name, so that
// responses are as large as requests.
type echo struct {
	externalscaler.UnimplementedExternalScalerServer
	calls atomic.Int64
	// inFlight and most count the calls being answered.
	inFlight, most atomic.Int64
	// hold, if set, is how long each call takes.
	hold time.Duration
}

func (e *echo) check(ref *externalscaler.ScaledObjectRef) error {
	e.calls.Add(1)
	if n := e.inFlight.Add(1); n > e.most.Load() {
		e.most.Store(n) // racy between callers, but only ever low
	}
	defer e.inFlight.Add(-1)
	if e.hold > 0 {
		time.Sleep(e.hold)
	}
	if q := ref.GetScalerMetadata()["query"]; q != query(ref.GetName()) {
		return status.Errorf(codes.InvalidArgument, "%s: a query of %d bytes, want %d", ref.GetName(), len(q), len(query(ref.GetName())))
	}
	return nil
}

func (e *echo) GetMetricSpec(_ context.Context, ref *externalscaler.ScaledObjectRef) (*externalscaler.GetMetricSpecResponse, error) {
	if err := e.check(ref); err != nil {
		return nil, err
	}
	return &externalscaler.GetMetricSpecResponse{MetricSpecs: []*externalscaler.MetricSpec{{MetricName: ref.GetScalerMetadata()["query"], TargetSize: 1}}}, nil
}

func (e *echo) GetMetrics(_ context.Context, req *externalscaler.GetMetricsRequest) (*externalscaler.GetMetricsResponse, error) {
	if err := e.check(req.GetScaledObjectRef()); err != nil {
		return nil, err
	}
	if req.GetMetricName() != "s0-foresight" {
		return nil, status.Errorf(codes.InvalidArgument, "metric %q", req.GetMetricName())
	}
	return &externalscaler.GetMetricsResponse{MetricValues: []*externalscaler.MetricValue{{MetricName: req.GetMetricName(), MetricValue: 1}}}, nil
}

func (e *echo) IsActive(_ context.Context, ref *externalscaler.ScaledObjectRef) (*externalscaler.IsActiveResponse, error) {
	if err := e.check(ref); err != nil {
		return nil, err
	}
	return &externalscaler.IsActiveResponse{Result: true}, nil
}

// query is object name's query: 1 KB, or 100 KB for "big", which is
// more than a stream's window and several frames.
func query(name string) string {
	n := 1 << 10
	if name == "big" {
		n = 100 << 10
	}
	return strings.Repeat(name+" ", n/(len(name)+1))
}

func refs(names ...string) []*externalscaler.ScaledObjectRef {
	out := make([]*externalscaler.ScaledObjectRef, len(names))
	for i, n := range names {
		out[i] = &externalscaler.ScaledObjectRef{Name: n, ScalerMetadata: map[string]string{"query": query(n)}}
	}
	return out
}

// The server's small windows stall the client's requests, and the
// responses (3 MB of them) use the client's connection window many
// times over: the client must wait for window, and return it.
func TestRunWireFlowControl(t *testing.T) {
	srv := &echo{}
	addr := serveGRPC(t, srv, grpc.InitialWindowSize(64<<10), grpc.InitialConnWindowSize(64<<10))
	objects := refs("big", "a", "b", "c", "d", "e", "f", "g", "h", "i")
	res, err := runWire(t, context.Background(), addr, Options{Objects: objects, Rate: 2000, Duration: 500 * time.Millisecond, Concurrency: 64, MetricName: "s0-foresight"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Polls != 1000 || srv.calls.Load() != 3000 || res.Errors != 0 {
		t.Errorf("%d polls, %d calls, %d errors (first %v); want 1000, 3000, 0", res.Polls, srv.calls.Load(), res.Errors, res.FirstError)
	}
}

// A server that takes 4 calls at a time gets no more, though 64 polls
// may be in flight.
func TestRunWireMaxConcurrentStreams(t *testing.T) {
	srv := &echo{hold: time.Millisecond}
	addr := serveGRPC(t, srv, grpc.MaxConcurrentStreams(4))
	res, err := runWire(t, context.Background(), addr, Options{Objects: refs("a", "b"), Rate: 1000, Duration: 300 * time.Millisecond, Concurrency: 64, MetricName: "s0-foresight"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Polls != 300 || srv.calls.Load() != 900 || res.Errors != 0 {
		t.Errorf("%d polls, %d calls, %d errors (first %v); want 300, 900, 0", res.Polls, srv.calls.Load(), res.Errors, res.FirstError)
	}
	if most := srv.most.Load(); most > 4 || most < 2 {
		t.Errorf("%d calls at once, want at most 4 (and the run to need more than 1)", most)
	}
}

// cancelling answers until its nth call, which cancels the run's context.
type cancelling struct {
	externalscaler.UnimplementedExternalScalerServer
	calls  atomic.Int64
	n      int64
	cancel context.CancelFunc
}

func (c *cancelling) GetMetricSpec(context.Context, *externalscaler.ScaledObjectRef) (*externalscaler.GetMetricSpecResponse, error) {
	if c.calls.Add(1) == c.n {
		c.cancel()
	}
	return &externalscaler.GetMetricSpecResponse{}, nil
}

func (c *cancelling) GetMetrics(context.Context, *externalscaler.GetMetricsRequest) (*externalscaler.GetMetricsResponse, error) {
	return &externalscaler.GetMetricsResponse{}, nil
}

func (c *cancelling) IsActive(context.Context, *externalscaler.ScaledObjectRef) (*externalscaler.IsActiveResponse, error) {
	return &externalscaler.IsActiveResponse{}, nil
}

func TestRunWireCancel(t *testing.T) {
	t.Run("running", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		addr := serveGRPC(t, &cancelling{n: 100, cancel: cancel})
		checkCancelled(t, ctx, addr)
	})
	t.Run("handshake", func(t *testing.T) {
		// A server that accepts the connection and never answers.
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer lis.Close()
		go func() {
			conn, err := lis.Accept()
			if err == nil {
				_, _ = io.Copy(io.Discard, conn)
			}
		}()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		checkCancelled(t, ctx, lis.Addr().String())
	})
}

func checkCancelled(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := RunWire(ctx, addr, Options{Objects: refs("a"), Rate: 1000, Duration: time.Minute})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunWire did not return after its context was cancelled")
	}
}

// grpc-go's graceful stop sends GOAWAY: the run ends with an error that
// says so, since it can make no more calls.
func TestRunWireGoAway(t *testing.T) {
	gs := grpc.NewServer()
	srv := &cancelling{n: 50, cancel: func() { go gs.GracefulStop() }}
	externalscaler.RegisterExternalScalerServer(gs, srv)
	_, err := runWire(t, context.Background(), listenGRPC(t, gs), Options{Objects: refs("a"), Rate: 1000, Duration: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "sent GOAWAY (NO_ERROR") {
		t.Errorf("error %v, want the server's GOAWAY", err)
	}
}

// h2server is a raw HTTP/2 server that answers each request with
// answer(s, stream ID) and counts the requests it reads whole.
type h2server struct {
	conn net.Conn
	fw   *http2.Framer
	enc  *hpack.Encoder
	buf  bytes.Buffer
}

// headers sends a header block of name, value pairs.
func (s *h2server) headers(id uint32, end bool, kv ...string) {
	s.buf.Reset()
	for i := 0; i < len(kv); i += 2 {
		_ = s.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	_ = s.fw.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: s.buf.Bytes(), EndHeaders: true, EndStream: end})
}

var (
	okHeaders  = []string{":status", "200", "content-type", "application/grpc"}
	okTrailers = []string{"grpc-status", "0"}
)

// respond sends headers, one DATA frame of msg and trailers: a whole
// gRPC response.
func (s *h2server) respond(id uint32, msg []byte, trailers ...string) {
	s.headers(id, false, okHeaders...)
	_ = s.fw.WriteData(id, false, msg)
	s.headers(id, true, trailers...)
}

func serveRaw(t *testing.T, answer func(s *h2server, id uint32)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		lis.Close()
		wg.Wait()
	})
	wg.Go(func() {
		conn, err := lis.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		go func() { // the connection ends with the test
			<-t.Context().Done()
			conn.Close()
		}()
		br := bufio.NewReader(conn)
		if _, err := io.ReadFull(br, make([]byte, len(http2.ClientPreface))); err != nil {
			return
		}
		s := &h2server{conn: conn, fw: http2.NewFramer(conn, br)}
		s.enc = hpack.NewEncoder(&s.buf)
		s.fw.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		_ = s.fw.WriteSettings()
		for {
			f, err := s.fw.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					_ = s.fw.WriteSettingsAck()
				}
			case *http2.DataFrame:
				if f.StreamEnded() {
					answer(s, f.StreamID)
				}
			}
		}
	})
	return lis.Addr().String()
}

// The client turns every kind of bad response into an error, counted
// for its poll or ending the run, and never panics.
func TestRunWireBadResponses(t *testing.T) {
	valid := []byte{0, 0, 0, 0, 0} // an empty message decodes as every response type
	for _, tc := range []struct {
		name   string
		answer func(s *h2server, id uint32)
		// counted is in the first error of a run where every poll
		// failed; fatal in the run's error.
		counted, fatal string
	}{
		{name: "valid", answer: func(s *h2server, id uint32) { s.respond(id, valid, okTrailers...) }},
		{
			name: "grpc error",
			answer: func(s *h2server, id uint32) {
				s.respond(id, nil, "grpc-status", "14", "grpc-message", "down%20for%20repair")
			},
			counted: "GetMetricSpec: rpc error: code = Unavailable desc = down for repair",
		},
		{
			name: "trailers only",
			answer: func(s *h2server, id uint32) {
				s.headers(id, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "5")
			},
			counted: "code = NotFound",
		},
		{name: "no message", answer: func(s *h2server, id uint32) { s.respond(id, nil, okTrailers...) }, counted: "no response message"},
		{name: "undecodable", answer: func(s *h2server, id uint32) { s.respond(id, []byte{0, 0, 0, 0, 2, 0xff, 0xff}, okTrailers...) }, counted: "does not decode"},
		{name: "compressed", answer: func(s *h2server, id uint32) { s.respond(id, []byte{1, 0, 0, 0, 0}, okTrailers...) }, counted: "compressed"},
		{name: "cut short", answer: func(s *h2server, id uint32) { s.respond(id, []byte{0, 0, 0}, okTrailers...) }, counted: "cut short"},
		{name: "truncated", answer: func(s *h2server, id uint32) { s.respond(id, []byte{0, 0, 0, 0, 100, 1, 2, 3}, okTrailers...) }, counted: "prefix says 100"},
		{name: "two messages", answer: func(s *h2server, id uint32) { s.respond(id, append(valid, valid...), okTrailers...) }, counted: "prefix says 0"},
		{name: "no grpc-status", answer: func(s *h2server, id uint32) { s.respond(id, valid, "grpc-message", "hm") }, counted: "without grpc-status"},
		{name: "bad grpc-status", answer: func(s *h2server, id uint32) { s.respond(id, valid, "grpc-status", "x") }, counted: `grpc-status "x"`},
		{name: "http status", answer: func(s *h2server, id uint32) { s.headers(id, true, ":status", "503") }, counted: `HTTP status "503"`},
		{name: "content type", answer: func(s *h2server, id uint32) { s.headers(id, true, ":status", "200", "content-type", "text/html") }, counted: "text/html"},
		{
			name: "no trailers",
			answer: func(s *h2server, id uint32) {
				s.headers(id, false, okHeaders...)
				_ = s.fw.WriteData(id, true, valid)
			},
			counted: "without trailers",
		},
		{name: "data first", answer: func(s *h2server, id uint32) { _ = s.fw.WriteData(id, false, valid) }, counted: "before the response headers"},
		{
			name: "headers twice",
			answer: func(s *h2server, id uint32) {
				s.headers(id, false, okHeaders...)
				s.headers(id, false, okHeaders...)
			},
			counted: "second HEADERS",
		},
		{name: "reset", answer: func(s *h2server, id uint32) { _ = s.fw.WriteRSTStream(id, http2.ErrCodeRefusedStream) }, counted: "reset the stream (REFUSED_STREAM)"},
		{name: "bad header", answer: func(s *h2server, id uint32) { s.headers(id, true, ":status", "200", "Upper-Case", "x") }, counted: "malformed response"},
		{name: "goaway", answer: func(s *h2server, _ uint32) { _ = s.fw.WriteGoAway(0, http2.ErrCodeNo, []byte("bye")) }, fatal: `GOAWAY (NO_ERROR, "bye")`},
		{name: "unopened stream", answer: func(s *h2server, id uint32) { _ = s.fw.WriteData(id+100, false, valid) }, fatal: "never opened"},
		{name: "server stream", answer: func(s *h2server, _ uint32) { s.headers(2, false, okHeaders...) }, fatal: "never opened"},
		{name: "push", answer: func(s *h2server, id uint32) {
			_ = s.fw.WritePushPromise(http2.PushPromiseParam{StreamID: id, PromiseID: 2, EndHeaders: true})
		}, fatal: "PUSH_PROMISE"},
		{name: "bad settings", answer: func(s *h2server, _ uint32) {
			_ = s.fw.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 10})
		}, fatal: "invalid SETTINGS"},
		{name: "window overflow", answer: func(s *h2server, _ uint32) { _ = s.fw.WriteWindowUpdate(0, 1<<31-1) }, fatal: "overflowed"},
		{name: "frame too large", answer: func(s *h2server, id uint32) { _ = s.fw.WriteData(id, false, make([]byte, 20000)) }, fatal: "frame too large"},
		{name: "hung up", answer: func(s *h2server, _ uint32) { s.conn.Close() }, fatal: "closed the connection"},
		{name: "bad hpack", answer: func(s *h2server, id uint32) {
			_ = s.fw.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, id, []byte{0xff, 0xff, 0xff})
		}, fatal: "reading from the scaler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runWire(t, context.Background(), serveRaw(t, tc.answer), Options{Objects: refs("a"), Rate: 200, Duration: 50 * time.Millisecond})
			switch {
			case tc.fatal != "":
				if err == nil || !strings.Contains(err.Error(), tc.fatal) {
					t.Errorf("error %v, want one with %q", err, tc.fatal)
				}
			case err != nil:
				t.Fatal(err)
			case tc.counted == "":
				if res.Polls != 10 || res.Errors != 0 {
					t.Errorf("%d polls, %d errors (first %v); want 10, 0", res.Polls, res.Errors, res.FirstError)
				}
			default:
				if res.Polls != 10 || res.Errors != 10 || res.FirstError == nil || !strings.Contains(res.FirstError.Error(), tc.counted) {
					t.Errorf("%d polls, %d errors, first %v; want 10, 10 and one with %q", res.Polls, res.Errors, res.FirstError, tc.counted)
				}
			}
		})
	}
}

// Random bytes from the server, framed or not, give an error or pass
// unnoticed (a PRIORITY frame), and never a panic or a hang: after them,
// the server answers the call properly.
func TestRunWireNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var errs int
	for i := range 40 {
		noise := make([]byte, 1+rng.IntN(64))
		for j := range noise {
			noise[j] = byte(rng.Uint32())
		}
		framed := i%2 == 0
		addr := serveRaw(t, func(s *h2server, id uint32) {
			if framed {
				_ = s.fw.WriteRawFrame(http2.FrameType(noise[0]%10), http2.Flags(noise[0]>>4), id, noise[1:])
			} else {
				_, _ = s.conn.Write(noise)
			}
			s.respond(id, []byte{0, 0, 0, 0, 0}, okTrailers...)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := RunWire(ctx, addr, Options{Objects: refs("a"), Rate: 200, Duration: 10 * time.Millisecond})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("noise %d (%x, framed %t): the run hung", i, noise, framed)
		}
		if err != nil || res.Errors > 0 {
			errs++
		}
	}
	if errs < 30 {
		t.Errorf("only %d of 40 noises gave an error", errs)
	}
}
