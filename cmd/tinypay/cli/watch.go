package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holiman/uint256"
	ucli "github.com/urfave/cli/v3"
	"golang.org/x/term"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// rateWindow is the span the incoming rate is measured over.
const rateWindow = 10 * time.Second

func watchCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "watch",
		Usage: "a live view of money coming in: rate, totals per channel, active streams, last payments",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "outgoing", Usage: "also count payments this node makes"},
			&ucli.BoolFlag{Name: "plain", Usage: "print one summary line per second instead of redrawing the screen (the default when stdout is not a terminal)"},
			&ucli.DurationFlag{Name: "for", Usage: "exit after this long (default: until interrupted)"},
			&ucli.IntFlag{Name: "last", Usage: "show this many recent payments", Value: 8},
		},
		Description: `Watches the node's events from now on and redraws every second: the incoming
rate over the last 10 seconds (payments/s and amount/s), the totals per channel
since the watch started, the streams in progress, and the last payments. If the
connection to the node drops (or the node restarts), it reconnects and resumes
where it left off, missing nothing.

Examples:
   tinypay watch
   tinypay watch --outgoing
   tinypay watch --plain --for 1h >> income.log`,
		Action: func(ctx context.Context, cmd *ucli.Command) error {
			if _, err := args(cmd, 0, 0); err != nil {
				return err
			}
			if cmd.Int("last") < 0 {
				return usagef("--last %d: want 0 or more", cmd.Int("last"))
			}
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			w := &watcher{
				cmd: cmd, cl: c, out: cmd.Root().Writer, outgoing: cmd.Bool("outgoing"), last: int(cmd.Int("last")),
				totals: map[string]*chanTotal{}, chAsset: map[string]*apiv1.Asset{},
			}
			defer func() { w.client().Close() }()
			if f, ok := w.out.(*os.File); ok && !cmd.Bool("plain") && term.IsTerminal(int(f.Fd())) {
				w.tty = true
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
			defer stop()
			if cmd.IsSet("timeout") {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, cmd.Duration("timeout"))
				defer cancel()
			}
			if d := cmd.Duration("for"); d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			return w.run(ctx)
		},
	}
}

// watcher is the state of `tinypay watch`. Only run's goroutine touches it,
// except cl, which the subscriber replaces when it reconnects.
type watcher struct {
	cmd      *ucli.Command
	out      io.Writer
	tty      bool
	outgoing bool
	last     int

	mu sync.Mutex
	cl *client

	start      time.Time
	node       string
	assets     assets
	chAsset    map[string]*apiv1.Asset
	totals     map[string]*chanTotal // by channel, incoming
	outTotal   map[string]*sum       // by asset symbol, outgoing
	window     []arrival             // incoming in the last rateWindow
	recent     []*apiv1.Payment      // the last few, newest last
	streams    []*apiv1.Stream
	notes      []string // recent stream and channel events
	conn       string   // connection state, when not fine
	reconnects int
}

type chanTotal struct {
	peer  string
	asset *apiv1.Asset
	sum
}

type sum struct {
	n      uint64
	amount uint256.Int
}

func (s *sum) add(amount string) {
	if v, err := uint256.FromDecimal(amount); err == nil {
		s.n++
		s.amount.Add(&s.amount, v)
	}
}

type arrival struct {
	at     time.Time
	asset  *apiv1.Asset
	amount string
}

func (w *watcher) client() *client {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cl
}

func (w *watcher) setClient(c *client) {
	w.mu.Lock()
	old := w.cl
	w.cl = c
	w.mu.Unlock()
	old.Close()
}

// call runs one short request on the current connection.
func call[T any](ctx context.Context, w *watcher, f func(ctx context.Context, c *client) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return f(ctx, w.client())
}

// subEvent is what the subscriber reports: an event, or a connection
// state ("reconnecting: why", then "reconnected"), or, last, the error
// that ended it (one a retry cannot mend; see permanent).
type subEvent struct {
	ev    *apiv1.Event
	state string
	err   error
}

// permanent says whether subscribing again cannot help: the token is
// refused or was revoked, the cursor is past the node's log (it is another
// node, or its data was replaced), or the request is wrong.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied, codes.OutOfRange, codes.InvalidArgument, codes.Unimplemented:
		return true
	}
	return false
}

func (w *watcher) run(ctx context.Context) error {
	info, err := call(ctx, w, func(ctx context.Context, c *client) (*apiv1.NodeInfo, error) {
		return c.GetInfo(ctx, &apiv1.GetInfoRequest{})
	})
	if err != nil {
		return err
	}
	w.node, w.assets = info.GetAddress(), assets(info.GetAssets())
	after, err := w.lastPaymentSeq(ctx)
	if err != nil {
		return err
	}
	w.start = time.Now()
	w.outTotal = map[string]*sum{}
	w.refreshStreams(ctx)
	kinds := []string{"payment_in", "stream"}
	if w.outgoing {
		kinds = append(kinds, "payment_out")
	}
	events := make(chan subEvent, 256)
	subCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.subscribe(subCtx, after, kinds, events)
	}()
	defer wg.Wait()
	defer cancel()

	if w.tty {
		fmt.Fprint(w.out, "\x1b[?1049h\x1b[?25l") // alternate screen, no cursor
		defer func() {
			if w.tty {
				fmt.Fprint(w.out, "\x1b[?25h\x1b[?1049l")
			}
		}()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	w.draw()
	for {
		select {
		case e := <-events:
			switch {
			case e.err != nil:
				if w.tty {
					w.tty = false
					fmt.Fprint(w.out, "\x1b[?25h\x1b[?1049l")
				}
				w.draw()
				return e.err
			case e.ev != nil:
				w.apply(ctx, e.ev)
			case e.state == "reconnected":
				w.conn = ""
				w.reconnects++
			default:
				w.conn = e.state
			}
		case <-tick.C:
			w.refreshStreams(ctx)
			w.draw()
		case <-ctx.Done():
			// Take what already arrived, then the final state.
			for drained := false; !drained; {
				select {
				case e := <-events:
					if e.ev != nil {
						w.apply(context.Background(), e.ev)
					}
				default:
					drained = true
				}
			}
			if w.tty {
				w.tty = false
				fmt.Fprint(w.out, "\x1b[?25h\x1b[?1049l")
			}
			w.draw()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(ctx.Err(), context.Canceled) {
				return nil
			}
			return ctx.Err()
		}
	}
}

// lastPaymentSeq is the newest seq in the node's log, so that the watch
// starts from now.
func (w *watcher) lastPaymentSeq(ctx context.Context) (uint64, error) {
	info, err := call(ctx, w, func(ctx context.Context, c *client) (*apiv1.NodeInfo, error) {
		return c.GetInfo(ctx, &apiv1.GetInfoRequest{})
	})
	return info.GetLastSeq(), err
}

// subscribe delivers events after seq to events until ctx ends,
// resubscribing from the last seq seen whenever the stream breaks, with a
// fresh connection (the node may have restarted on another address).
func (w *watcher) subscribe(ctx context.Context, after uint64, kinds []string, events chan<- subEvent) {
	send := func(e subEvent) bool {
		select {
		case events <- e:
			return true
		case <-ctx.Done():
			return false
		}
	}
	backoff := 100 * time.Millisecond
	down := false
	for ctx.Err() == nil {
		if down {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 2*time.Second)
			c, err := dial(w.cmd)
			if err == nil {
				w.setClient(c)
				_, err = call(ctx, w, func(ctx context.Context, c *client) (*apiv1.NodeInfo, error) {
					return c.GetInfo(ctx, &apiv1.GetInfoRequest{})
				})
			}
			if permanent(err) {
				send(subEvent{err: err})
				return
			}
			if err != nil {
				if !send(subEvent{state: "reconnecting: " + errorText(err)}) {
					return
				}
				continue
			}
			down, backoff = false, 100*time.Millisecond
			if !send(subEvent{state: "reconnected"}) {
				return
			}
		}
		stream, err := w.client().SubscribeEvents(ctx, &apiv1.SubscribeEventsRequest{AfterSeq: after, Kinds: kinds})
		for err == nil {
			var ev *apiv1.Event
			if ev, err = stream.Recv(); err == nil {
				after = ev.GetSeq()
				if !send(subEvent{ev: ev}) {
					return
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		if permanent(err) {
			send(subEvent{err: err})
			return
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("the node ended the event stream")
		}
		down = true
		if !send(subEvent{state: "reconnecting: " + errorText(err)}) {
			return
		}
	}
}

func (w *watcher) assetOf(ctx context.Context, channelID string) *apiv1.Asset {
	a, ok := w.chAsset[channelID]
	if !ok {
		ch, err := call(ctx, w, func(ctx context.Context, c *client) (*apiv1.Channel, error) {
			return c.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: channelID})
		})
		if err != nil {
			return nil // ask again next time
		}
		a = ch.GetAsset()
		w.chAsset[channelID] = a
	}
	return a
}

func (w *watcher) apply(ctx context.Context, ev *apiv1.Event) {
	switch x := ev.GetEvent().(type) {
	case *apiv1.Event_Payment:
		p := x.Payment
		a := w.assetOf(ctx, p.GetChannelId())
		if p.GetDirection() == "incoming" {
			t := w.totals[p.GetChannelId()]
			if t == nil {
				t = &chanTotal{peer: p.GetPeer(), asset: a}
				w.totals[p.GetChannelId()] = t
			}
			t.add(p.GetAmount())
			w.window = append(w.window, arrival{at: time.Now(), asset: a, amount: p.GetAmount()})
		} else {
			sym := a.GetSymbol()
			if w.outTotal[sym] == nil {
				w.outTotal[sym] = &sum{}
			}
			w.outTotal[sym].add(p.GetAmount())
		}
		w.recent = append(w.recent, p)
		if len(w.recent) > max(w.last, 1) {
			w.recent = w.recent[len(w.recent)-max(w.last, 1):]
		}
	case *apiv1.Event_Stream:
		se := x.Stream
		w.note(ev, "stream "+abbrev(se.GetStream().GetId()), se.GetKind(), se.GetDetail())
	case *apiv1.Event_Channel:
		ce := x.Channel
		w.note(ev, "channel "+abbrev(ce.GetChannelId()), ce.GetKind(), ce.GetDetail())
	}
}

// note keeps the last few stream and channel events since the watch
// started, for the full-screen view.
func (w *watcher) note(ev *apiv1.Event, what, kind, detail string) {
	at := time.Unix(0, ev.GetTimeUnixNano())
	if at.Before(w.start) {
		return // from before the watch
	}
	note := fmt.Sprintf("%s  %s %s", at.Format("15:04:05"), what, kind)
	if detail != "" {
		note += ": " + detail
	}
	w.notes = append(w.notes, note)
	if len(w.notes) > 3 {
		w.notes = w.notes[len(w.notes)-3:]
	}
}

func (w *watcher) refreshStreams(ctx context.Context) {
	streams, err := call(ctx, w, func(ctx context.Context, c *client) ([]*apiv1.Stream, error) {
		var out []*apiv1.Stream
		for st, err := range apiutil.Streams(ctx, c.ListStreams, &apiv1.ListStreamsRequest{}) {
			if err != nil {
				return nil, err
			}
			if st.GetDirection() == "incoming" || w.outgoing {
				out = append(out, st)
			}
		}
		return out, nil
	})
	if err != nil {
		return // keep the last known
	}
	w.streams = streams
}

// snapshot is what one frame shows.
type snapshot struct {
	rateN   float64
	rate    []string // amount/s per asset
	totalN  uint64
	total   []string // per asset
	live    int
	elapsed time.Duration
}

func (w *watcher) snapshot() snapshot {
	now := time.Now()
	cut := 0
	for cut < len(w.window) && now.Sub(w.window[cut].at) > rateWindow {
		cut++
	}
	w.window = w.window[cut:]
	span := min(rateWindow, now.Sub(w.start))
	span = max(span, time.Second)
	var s snapshot
	s.elapsed = now.Sub(w.start).Round(time.Second)
	s.rateN = float64(len(w.window)) / span.Seconds()
	perAsset := map[string]*uint256.Int{}
	assetBy := map[string]*apiv1.Asset{}
	var order []string
	for _, a := range w.window {
		sym := a.asset.GetSymbol()
		if perAsset[sym] == nil {
			perAsset[sym], assetBy[sym] = new(uint256.Int), a.asset
			order = append(order, sym)
		}
		if v, err := uint256.FromDecimal(a.amount); err == nil {
			perAsset[sym].Add(perAsset[sym], v)
		}
	}
	slices.Sort(order)
	ms := uint256.NewInt(uint64(span / time.Millisecond))
	for _, sym := range order {
		var r uint256.Int
		r.Mul(perAsset[sym], uint256.NewInt(1000))
		r.Div(&r, ms)
		s.rate = append(s.rate, show(r.Dec(), assetBy[sym])+"/s")
	}
	totals := map[string]*uint256.Int{}
	order = order[:0]
	for _, t := range w.totals {
		sym := t.asset.GetSymbol()
		if totals[sym] == nil {
			totals[sym], assetBy[sym] = new(uint256.Int), t.asset
			order = append(order, sym)
		}
		totals[sym].Add(totals[sym], &t.amount)
		s.totalN += t.n
	}
	slices.Sort(order)
	for _, sym := range order {
		s.total = append(s.total, show(totals[sym].Dec(), assetBy[sym]))
	}
	for _, st := range w.streams {
		if st.GetStatus() == "live" {
			s.live++
		}
	}
	return s
}

// abbrev shortens an id or address to a 13-column cell.
func abbrev(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id + strings.Repeat(" ", 13-len(id))
}

func orNone(xs []string, none string) string {
	if len(xs) == 0 {
		return none
	}
	return strings.Join(xs, ", ")
}

func (w *watcher) draw() {
	s := w.snapshot()
	if !w.tty {
		line := fmt.Sprintf("%s  in %.1f payments/s %s | total %d payments %s | streams %d live, %d in all",
			time.Now().Format("15:04:05"), s.rateN, orNone(s.rate, "0/s"), s.totalN, orNone(s.total, "0"), s.live, len(w.streams))
		if w.outgoing {
			line += " | out " + w.outText()
		}
		if w.conn != "" {
			line += " | " + safe(w.conn)
		} else if w.reconnects > 0 {
			line += fmt.Sprintf(" | reconnected %d times", w.reconnects)
		}
		fmt.Fprintln(w.out, line)
		return
	}
	var b strings.Builder
	ln := func(format string, args ...any) {
		fprintf(&b, format, args...)
		b.WriteString("\x1b[K\n") // clear the rest of the line
	}
	b.WriteString("\x1b[H")
	ln("\x1b[1mtinypay watch\x1b[0m  node %s  since %s (%s)", w.node, w.start.Format("15:04:05"), s.elapsed)
	if w.conn != "" {
		ln("\x1b[33m%s\x1b[0m", w.conn)
	} else if w.reconnects > 0 {
		ln("reconnected %d times", w.reconnects)
	}
	ln("")
	ln("incoming  %6.1f payments/s   %s   (last %s)", s.rateN, orNone(s.rate, "0/s"), rateWindow)
	ln("total     %6d payments     %s", s.totalN, orNone(s.total, "0"))
	if w.outgoing {
		ln("outgoing  %s", w.outText())
	}
	ln("")
	ln("\x1b[1m%-13s %-13s %10s %22s\x1b[0m", "CHANNEL", "PEER", "PAYMENTS", "AMOUNT")
	ids := make([]string, 0, len(w.totals))
	for id := range w.totals {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return w.totals[b].amount.Cmp(&w.totals[a].amount) })
	for _, id := range ids {
		t := w.totals[id]
		ln("%s %s %10d %22s", abbrev(id), abbrev(t.peer), t.n, show(t.amount.Dec(), t.asset))
	}
	if len(ids) == 0 {
		ln("(nothing yet)")
	}
	ln("")
	ln("\x1b[1m%-13s    %-13s %18s %18s  %s\x1b[0m", "STREAM", "PEER", "RATE", "PAID", "STATUS")
	for _, st := range w.streams {
		arrow := "<-"
		if st.GetDirection() == "outgoing" {
			arrow = "->"
		}
		ln("%s %s %s %18s %18s  %s", abbrev(st.GetId()), arrow, abbrev(st.GetPeer()), show(st.GetRate(), st.GetAsset())+"/s", show(st.GetPaid(), st.GetAsset()), st.GetStatus())
	}
	if len(w.streams) == 0 {
		ln("(no streams)")
	}
	for _, n := range w.notes {
		ln("%s", n)
	}
	ln("")
	ln("\x1b[1mLAST PAYMENTS\x1b[0m")
	for i := len(w.recent) - 1; i >= 0 && i >= len(w.recent)-w.last; i-- {
		p := w.recent[i]
		arrow := "<-"
		if p.GetDirection() == "outgoing" {
			arrow = "->"
		}
		extra := ""
		if p.GetItemId() != "" {
			extra = "  item " + p.GetItemId()
		}
		if p.GetStreamId() != "" {
			extra += "  stream " + abbrev(p.GetStreamId())
		}
		ln("%s  %s %s %16s%s", time.Unix(0, p.GetTimeUnixNano()).Format("15:04:05.000"), arrow, abbrev(p.GetPeer()), show(p.GetAmount(), w.chAsset[p.GetChannelId()]), extra)
	}
	b.WriteString("\x1b[J") // clear below
	fmt.Fprint(w.out, b.String())
}

func (w *watcher) outText() string {
	var n uint64
	var parts []string
	syms := make([]string, 0, len(w.outTotal))
	for sym := range w.outTotal {
		syms = append(syms, sym)
	}
	slices.Sort(syms)
	for _, sym := range syms {
		t := w.outTotal[sym]
		n += t.n
		var a *apiv1.Asset
		for _, x := range w.assets {
			if x.GetSymbol() == sym {
				a = x
			}
		}
		parts = append(parts, show(t.amount.Dec(), a))
	}
	return fmt.Sprintf("%d payments %s", n, orNone(parts, "0"))
}
