package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// The scale scenarios: many channels between the two nodes (--channels),
// many concurrent streams (--streams), and both at once for a while
// (--soak).

// openInFlight is how many channel opens the bench keeps in flight; bob
// runs with --max-proposals-per-peer above it in the scale scenarios.
const openInFlight = 256

// openMany opens n more channels from alice to bob in ETH, openInFlight at
// a time, and returns their ids.
func (b *bench) openMany(n int, deposit string) ([]string, error) {
	ids := make([]string, 0, n)
	var mu sync.Mutex
	var first error
	var next atomic.Int64
	began := time.Now()
	var wg sync.WaitGroup
	for range min(openInFlight, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				ch, err := b.alice.OpenChannel(context.Background(), &apiv1.OpenChannelRequest{Peer: b.bobAddr, Asset: "ETH", Deposit: deposit})
				mu.Lock()
				if err != nil {
					if first == nil {
						first = fmt.Errorf("open channel %d: %w", len(ids)+1, err)
					}
					mu.Unlock()
					return
				}
				ids = append(ids, ch.GetId())
				if k := len(ids); k%1000 == 0 {
					fmt.Fprintf(os.Stderr, "  %d channels open (%.0f/s)\n", k, float64(k)/time.Since(began).Seconds())
				}
				stop := first != nil
				mu.Unlock()
				if stop {
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	fmt.Fprintf(os.Stderr, "opened %d channels in %s\n", n, time.Since(began).Round(time.Second))
	// Every channel must be open on bob's side too before payments.
	return ids, b.waitReady("bob", b.bob, len(ids)+1, 10*time.Minute)
}

// waitReady waits until node counts want channels open and ready to pay.
// It says on stderr, once a second, how many are ready (and where a
// restart's time goes: until the node answers, then reestablishing).
// It asks GetInfo every 100 ms.
func (b *bench) waitReady(who string, c apiv1.NodeClient, want int, limit time.Duration) error {
	began := time.Now()
	deadline, said := began.Add(limit), began
	for {
		info, err := c.GetInfo(context.Background(), &apiv1.GetInfoRequest{})
		if err == nil && int(info.GetChannelsOpen()) >= want && int(info.GetChannelsReady()) >= want {
			fmt.Fprintf(os.Stderr, "  %5.1fs %s: all %d channels ready\n", time.Since(began).Seconds(), who, want)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d of %d channels open, %d ready after %s (%v)", who, info.GetChannelsOpen(), want, info.GetChannelsReady(), limit, err)
		}
		if time.Since(said) >= time.Second {
			said = time.Now()
			fmt.Fprintf(os.Stderr, "  %5.1fs %s: %d of %d channels ready\n", time.Since(began).Seconds(), who, info.GetChannelsReady(), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// payAcross makes n payments of 1 spread over channels, round robin, on
// streams PayStreams with window payments in flight on each.
func (b *bench) payAcross(channels []string, n, streams, window int) ([]time.Duration, error) {
	lists, ks := make([][]string, streams), make([][]string, streams)
	for w := range streams {
		for i := w; i < n; i += streams {
			lists[w] = append(lists[w], channels[i%len(channels)])
		}
		ks[w] = keys(len(lists[w]))
	}
	return b.payLists(lists, ks, window)
}

// payLists runs payList on each list (under the matching keys) at once,
// each on its own PayStream, and returns every payment's latency and the
// first error.
func (b *bench) payLists(lists, keys [][]string, window int) ([]time.Duration, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []time.Duration
	var first error
	for i := range lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, err := b.payList(lists[i], window, keys[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			all = append(all, lat...)
		}()
	}
	wg.Wait()
	return all, first
}

// payList pays 1 on each channel of list, in order, under the matching
// keys, over one PayStream with window in flight, and returns each
// payment's latency.
func (b *bench) payList(list []string, window int, keys []string) ([]time.Duration, error) {
	s, err := b.alice.PayStream(context.Background())
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	sent := make(map[string]time.Time, len(list))
	lat := make([]time.Duration, 0, len(list))
	slots := make(chan struct{}, window)
	errc := make(chan error, 1)
	go func() {
		for {
			r, err := s.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				errc <- err
				return
			}
			if r.GetError() != "" {
				errc <- errors.New(r.GetError())
				return
			}
			mu.Lock()
			lat = append(lat, time.Since(sent[r.GetIdempotencyKey()]))
			mu.Unlock()
			b.paid.Add(1)
			<-slots
		}
	}()
	for i, ch := range list {
		slots <- struct{}{}
		mu.Lock()
		sent[keys[i]] = time.Now()
		mu.Unlock()
		if err := s.Send(&apiv1.PayRequest{ChannelId: ch, Amount: "1", IdempotencyKey: keys[i]}); err != nil {
			return nil, err
		}
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	if err := <-errc; err != nil {
		return nil, err
	}
	return lat, nil
}

// restartBob stops bob (SIGTERM), starts it again and returns the time
// from the start until alice counts every channel ready to pay again, and
// the time bob took to stop.
func (b *bench) restartBob(want int) (took, stop time.Duration, err error) {
	p := b.procs[b.bobProc]
	stopping := time.Now()
	if err := p.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		p.Process.Kill()
		return 0, 0, errors.New("bob did not stop within a minute of SIGTERM")
	}
	stop = time.Since(stopping)
	os.Remove(b.bobAPIAddr)
	began := time.Now()
	// At info level: its log (bob-restarted.log, kept with --keep) then
	// times the start's steps (store opened, node started).
	args := slices.Clone(b.bobArgs)
	if i := slices.Index(args, "--log-level"); i >= 0 && i+1 < len(args) {
		args[i+1] = "info"
	}
	if *pprofFlag { // where the start's time goes, until bob runs
		args = append(args, "--profile-start", filepath.Join(b.dir, "bob-start.pprof"))
	}
	cmd, err := b.start("bob-restarted", args...)
	if err != nil {
		return 0, stop, err
	}
	b.procs[b.bobProc], b.pids[1] = cmd, cmd.Process.Pid
	go func() { // when bob has loaded its channels and answers
		if err := wait(b.bobAPIAddr); err == nil {
			fmt.Fprintf(os.Stderr, "  %5.1fs bob answers (its channels are loaded)\n", time.Since(began).Seconds())
		}
	}()
	var profiles sync.WaitGroup
	if *pprofFlag {
		// Where the restart's time goes: both nodes' CPU for its first
		// seconds (bob's profile starts once its metrics listener is up).
		for i, who := range []string{"alice", "bob"} {
			profiles.Go(func() { b.profile(who, "restart", b.metrics[i], 8*time.Second) })
			if *traceFlag {
				profiles.Go(func() { b.fetchProfile(who, "restart", "trace", b.metrics[i], 8*time.Second) })
			}
		}
	}
	err = b.waitReady("alice", b.alice, want, 10*time.Minute)
	took = time.Since(began)
	profiles.Wait()
	return took, stop, err
}

// profile saves a CPU profile of d from the node whose profiles are at
// addr (waiting for it to listen) into the work directory as
// who-phase.pprof, and says where.
func (b *bench) profile(who, phase, addr string, d time.Duration) {
	b.fetchProfile(who, phase, "profile", addr, d)
}

// fetchProfile saves the profile of kind ("profile" for CPU, or "trace"
// for an execution trace) of d from addr as who-phase.pprof or
// who-phase.trace.
func (b *bench) fetchProfile(who, phase, kind, addr string, d time.Duration) {
	url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", addr, kind, int(d.Seconds()))
	what, ext := "CPU profile", ".pprof"
	if kind == "trace" {
		what, ext = "execution trace", ".trace"
	}
	for range 200 {
		resp, err := http.Get(url)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		defer resp.Body.Close()
		path := filepath.Join(b.dir, who+"-"+phase+ext)
		f, err := os.Create(path)
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			f.Close()
		}
		fmt.Fprintf(os.Stderr, "%s's %s of the %s: %s (%v)\n", who, what, phase, path, err)
		return
	}
}

// progress prints, every second until stop is called, how many payments
// payList has had answered since it was called, and the rate of that
// second: where a scenario's time goes (a slow start, a long tail).
func (b *bench) progress(what string, total int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		began, from := time.Now(), b.paid.Load()
		last := from
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			now := b.paid.Load()
			fmt.Fprintf(os.Stderr, "  %5.1fs %s %d of %d (%d/s)\n", time.Since(began).Seconds(), what, now-from, total, now-last)
			last = now
		}
	})
	return func() { close(done); wg.Wait() }
}

// scaleChannels opens n channels, pays across all of them, and restarts
// bob, timed to "every channel pays again".
func (b *bench) scaleChannels(n, payments int) ([]result, error) {
	ids, err := b.openMany(n, "1000000000000")
	if err != nil {
		return nil, err
	}
	ids = append(ids, b.channel)
	settled := b.settle(2 * time.Minute)
	fmt.Fprintf(os.Stderr, "both nodes idle %.1fs after the channels opened\n", settled.Seconds())
	var profiles sync.WaitGroup
	if *pprofFlag {
		// Where the payments' time goes: both nodes' CPU for 8 s, from 2 s
		// into the payments (the first are still warming up).
		for i, who := range []string{"alice", "bob", "devchain"} {
			addr := b.chainProfiles
			if i < len(b.metrics) {
				addr = b.metrics[i]
			}
			profiles.Go(func() {
				time.Sleep(2 * time.Second)
				b.profile(who, "payments", addr, 8*time.Second)
			})
		}
	}
	r, err := b.measure(fmt.Sprintf("%d channels, payments across all", n+1), payments, func() ([]time.Duration, error) {
		stop := b.progress("paid", payments)
		defer stop()
		return b.payAcross(ids, payments, 64, 16)
	})
	profiles.Wait()
	if err != nil {
		return nil, err
	}
	took, stop, err := b.restartBob(len(ids))
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	_, rss := usage(b.pids[1])
	r.RestartSeconds, r.StopSeconds, r.SettleSeconds = took.Seconds(), stop.Seconds(), settled.Seconds()
	r.RSSMB[1] = max(r.RSSMB[1], rss)
	// And they do pay: one payment on a sample of the channels.
	sample := ids
	if len(sample) > 1000 {
		sample = sample[len(sample)-1000:]
	}
	if _, err := b.payAcross(sample, len(sample), 16, 8); err != nil {
		return nil, fmt.Errorf("paying after the restart: %w", err)
	}
	return []result{r}, nil
}

// scaleStreams opens s channels and runs one stream of one tick a second
// on each for window after warm-up, and reports the share of the ticks
// due in the window that bob received.
func (b *bench) scaleStreams(s int, warm, window time.Duration) (result, error) {
	ids, err := b.openMany(s, "1000000000000")
	if err != nil {
		return result{}, err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	began := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(ids)); i = next.Add(1) - 1 {
				if _, err := b.alice.StartStream(context.Background(), &apiv1.StartStreamRequest{ChannelId: ids[i], Rate: "1000", TickMs: 1000, ItemId: "bench"}); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return result{}, fmt.Errorf("start stream: %w", *e)
	}
	fmt.Fprintf(os.Stderr, "started %d streams in %s; warming up for %s\n", s, time.Since(began).Round(time.Millisecond), warm)
	time.Sleep(warm)
	ticks := func() (sum uint64, stalled int, err error) {
		for st, err := range apiutil.Streams(context.Background(), b.bob.ListStreams, &apiv1.ListStreamsRequest{PageSize: 1000}) {
			if err != nil {
				return 0, 0, err
			}
			sum += st.GetTicks()
			if st.GetStatus() == "stalled" {
				stalled++
			}
		}
		return sum, stalled, nil
	}
	var got uint64
	var stalled int
	r, err := b.measure(fmt.Sprintf("%d streams, 1 tick/s each", s), s*int(window/time.Second), func() ([]time.Duration, error) {
		t0, _, err := ticks()
		if err != nil {
			return nil, err
		}
		time.Sleep(window)
		t1, st, err := ticks()
		got, stalled = t1-t0, st
		return nil, err
	})
	if err != nil {
		return result{}, err
	}
	due := float64(s) * window.Seconds()
	r.OnTimePercent = 100 * float64(got) / due
	r.Stalled = stalled
	r.PerSecond = float64(got) / window.Seconds()
	r.Payments = int(got)
	for i := range r.CPU {
		if got > 0 {
			r.CPUPerTickUs[i] = r.CPU[i] * window.Seconds() / float64(got) * 1e6
		}
	}
	return r, nil
}

// soak opens n channels, runs a stream of a tick a second on each and
// payments across all of them for d, and samples each node's resident
// memory every interval: after warm-up it must not grow (by more than 5 %),
// and nothing may fail.
func (b *bench) soak(n int, d, warm, interval time.Duration) (soakResult, error) {
	ids, err := b.openMany(n, "1000000000000")
	if err != nil {
		return soakResult{}, err
	}
	for _, id := range ids {
		if _, err := b.alice.StartStream(context.Background(), &apiv1.StartStreamRequest{ChannelId: id, Rate: "1000", TickMs: 1000, ItemId: "soak"}); err != nil {
			return soakResult{}, fmt.Errorf("start stream: %w", err)
		}
	}
	r := soakResult{Channels: n, Seconds: d.Seconds()}
	stop := make(chan struct{})
	var paid atomic.Int64
	var payErr atomic.Pointer[error]
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // payments across all channels, in rounds, until stopped
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			lat, err := b.payAcross(ids, len(ids), 16, 8)
			paid.Add(int64(len(lat)))
			if err != nil {
				payErr.CompareAndSwap(nil, &err)
				return
			}
		}
	}()
	began := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for time.Since(began) < d {
		<-t.C
		var s soakSample
		s.Second = time.Since(began).Seconds()
		for i, pid := range b.pids {
			s.RSSMB[i], s.AnonMB[i] = currentMemory(pid)
		}
		r.Samples = append(r.Samples, s)
		fmt.Fprintf(os.Stderr, "  %4.0fs  rss alice %.0f MB (%.0f anonymous), bob %.0f MB (%.0f anonymous), %d payments\n",
			s.Second, s.RSSMB[0], s.AnonMB[0], s.RSSMB[1], s.AnonMB[1], paid.Load())
	}
	close(stop)
	wg.Wait()
	r.Payments = paid.Load()
	if e := payErr.Load(); e != nil {
		r.Errors = append(r.Errors, (*e).Error())
	}
	for st, err := range apiutil.Streams(context.Background(), b.bob.ListStreams, &apiv1.ListStreamsRequest{PageSize: 1000}) {
		if err != nil {
			return r, err
		}
		r.Ticks += st.GetTicks()
		if st.GetStatus() != "live" {
			r.Errors = append(r.Errors, fmt.Sprintf("stream %s is %s", st.GetId(), st.GetStatus()))
		}
	}
	r.GrowthPercent = soakGrowth(r.Samples, warm, func(s soakSample) [2]float64 { return s.RSSMB })
	r.AnonGrowthPercent = soakGrowth(r.Samples, warm, func(s soakSample) [2]float64 { return s.AnonMB })
	return r, nil
}

// soakGrowth compares each node's mean memory (as mb reads it from a
// sample) over the last quarter of the samples after warm-up with its mean
// over the first quarter, in percent. Means, not single samples: resident
// memory swings by a hundred megabytes or more as the collector and the
// store's memtables come and go, and one sample at a peak or a trough
// says nothing about a leak.
func soakGrowth(samples []soakSample, warm time.Duration, mb func(soakSample) [2]float64) (growth [2]float64) {
	var after []soakSample
	for _, s := range samples {
		if s.Second >= warm.Seconds() {
			after = append(after, s)
		}
	}
	q := len(after) / 4
	if q == 0 {
		return growth
	}
	mean := func(ss []soakSample, i int) float64 {
		var sum float64
		for _, s := range ss {
			sum += mb(s)[i]
		}
		return sum / float64(len(ss))
	}
	for i := range growth {
		if base := mean(after[:q], i); base > 0 {
			growth[i] = 100 * (mean(after[len(after)-q:], i) - base) / base
		}
	}
	return growth
}

type soakSample struct {
	Second float64    `json:"second"`
	RSSMB  [2]float64 `json:"rss_mb"`
	// AnonMB is the anonymous part of RSSMB: the heap and stacks, without
	// the pages of the store's memory-mapped files, which grow with the
	// data on disk and which the kernel takes back when it needs them.
	AnonMB [2]float64 `json:"anon_mb"`
}

type soakResult struct {
	Channels      int        `json:"channels"`
	Seconds       float64    `json:"seconds"`
	Payments      int64      `json:"payments"`
	Ticks         uint64     `json:"ticks"`
	GrowthPercent [2]float64 `json:"rss_growth_percent_after_warmup"`
	// AnonGrowthPercent is the growth of anonymous memory (see AnonMB).
	AnonGrowthPercent [2]float64   `json:"anon_growth_percent_after_warmup"`
	Errors            []string     `json:"errors"`
	Samples           []soakSample `json:"samples"`
}

// currentMemory is a process's resident memory now, and its anonymous
// part (MB).
func currentMemory(pid int) (rss, anon float64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "RssAnon:":
			anon = kb / 1024
		}
	}
	return rss, anon
}
