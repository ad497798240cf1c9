// etcdlockbench: closed-loop lock-then-unlock load on an etcd 3.4 cluster on
// 127.0.0.1, with etcd's own Go client (clientv3, clientv3/concurrency from
// Debian's golang-etcd-server-dev). Built and run by bench/compare/run in
// GOPATH mode, offline (GO111MODULE=off, GOPATH=/usr/share/gocode).
//
// One goroutine = one client = one clientv3.Client (its own gRPC connection,
// to endpoint number client % len(endpoints)) = one concurrency.Session (one
// lease, granted before the clock starts and kept alive by the session).
//
// Uncontended (default): client c locks "/paxbench/c<c>-n<j % locks>" with
// concurrency.NewMutex(session, name).Lock(), then Unlock(): one Txn (put my
// key if absent + get the first-created key under the prefix) and one Delete,
// i.e. two raft writes per cycle, exactly what the Mutex does.
//
// --v3lock: the uncontended cycle goes through etcd's server-side lock API
// instead (v3lockpb.Lock with the session's lease, then Unlock): the same
// two writes, run inside the server.
//
// Contended (--contended): every client picks one of --locks shared names at
// random and tries once. etcd 3.4's Mutex has no TryLock, so tryLock below is
// the same Txn the Mutex sends (and that etcd 3.5's Mutex.TryLock sends); if
// the first-created key under the prefix is not ours, we delete our key at
// once (no waiting on the predecessor) and back off exponentially with
// jitter (200 us doubling up to 100 ms, uniform in [b/2, b]), as paxlock
// bench does. The cycle time counts from the first try to the unlock's
// answer, back-offs included; acquire time from the first try to the
// successful one.
//
// Prints one JSON object shaped like `paxlock --json bench`. Bounded: the
// run ends at warm-up + duration, and after --max-cycles cycles in total.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	"go.etcd.io/etcd/etcdserver/api/v3lock/v3lockpb"
)

type percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

type result struct {
	System     string           `json:"system"`
	Clients    int              `json:"clients"`
	Locks      int              `json:"locks"`
	Contended  bool             `json:"contended"`
	Endpoints  string           `json:"endpoints"`
	Seconds    float64          `json:"seconds"`
	Cycles     int              `json:"cycles"`
	CyclesPerS float64          `json:"cycles_per_s"`
	CycleMs    percentiles      `json:"cycle_ms"`
	AcquireMs  percentiles      `json:"acquire_ms"`
	Retries    int64            `json:"retries"`
	Errors     map[string]int64 `json:"errors"`
	FirstError string           `json:"first_error,omitempty"`
}

func summarize(v []time.Duration) percentiles {
	if len(v) == 0 {
		return percentiles{}
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	at := func(p float64) float64 { return float64(v[int(p*float64(len(v)-1))]) / 1e6 }
	return percentiles{at(0.5), at(0.9), at(0.99), at(0.999)}
}

// tryLock sends the Mutex's Txn once: put <pfx><lease> if absent, and read
// the first-created key under pfx. Held if that key is ours; otherwise our
// key is deleted again before returning.
func tryLock(ctx context.Context, cli *clientv3.Client, s *concurrency.Session, name string) (string, bool, error) {
	pfx := name + "/"
	myKey := fmt.Sprintf("%s%x", pfx, s.Lease())
	cmp := clientv3.Compare(clientv3.CreateRevision(myKey), "=", 0)
	put := clientv3.OpPut(myKey, "", clientv3.WithLease(s.Lease()))
	get := clientv3.OpGet(myKey)
	owner := clientv3.OpGet(pfx, clientv3.WithFirstCreate()...)
	resp, err := cli.Txn(ctx).If(cmp).Then(put, owner).Else(get, owner).Commit()
	if err != nil {
		return "", false, err
	}
	myRev := resp.Header.Revision
	if !resp.Succeeded {
		myRev = resp.Responses[0].GetResponseRange().Kvs[0].CreateRevision
	}
	kvs := resp.Responses[1].GetResponseRange().Kvs
	if len(kvs) == 0 || kvs[0].CreateRevision == myRev {
		return myKey, true, nil
	}
	_, err = cli.Delete(ctx, myKey)
	return "", false, err
}

func main() {
	endpoints := flag.String("endpoints", "127.0.0.1:32379", "comma-separated host:port, 127.0.0.1 only")
	clients := flag.Int("clients", 1, "concurrent clients")
	locks := flag.Int("locks", 100, "lock names per client, or shared names with --contended")
	contended := flag.Bool("contended", false, "all clients on --locks shared names, try-lock with back-off")
	v3lock := flag.Bool("v3lock", false, "uncontended cycles through the server-side v3 lock API instead of concurrency.Mutex")
	duration := flag.Float64("duration", 10, "seconds measured")
	warmup := flag.Float64("warmup", 2, "seconds before measuring")
	maxCycles := flag.Int64("max-cycles", 5000000, "stop after this many cycles in total")
	compact := flag.Bool("compact", true, "compact the history after the run (not timed)")
	cacert := flag.String("cacert", "", "TLS: the cluster's CA certificate (PEM); with --cert and --key, the endpoints are https")
	certFile := flag.String("cert", "", "TLS: this client's certificate (PEM)")
	keyFile := flag.String("key", "", "TLS: its key (PEM)")
	flag.Parse()
	eps := strings.Split(*endpoints, ",")
	for _, e := range eps {
		if !strings.HasPrefix(e, "127.0.0.1:") {
			fmt.Fprintln(os.Stderr, "refusing endpoint that is not on 127.0.0.1:", e)
			os.Exit(2)
		}
	}
	if *clients < 1 || *clients > 4096 || *locks < 1 || *duration <= 0 || *duration > 3600 || *warmup < 0 {
		fmt.Fprintln(os.Stderr, "bad --clients, --locks, --duration or --warmup")
		os.Exit(2)
	}
	// TLS 1.3 with a client certificate, as paxlock's clients do under [tls].
	var tlsConfig *tls.Config
	scheme := "http://"
	if *cacert != "" {
		pem, err := os.ReadFile(*cacert)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintln(os.Stderr, "--cacert: no certificate in", *cacert, err)
			os.Exit(2)
		}
		pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "--cert/--key:", err)
			os.Exit(2)
		}
		tlsConfig = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair},
			MinVersion: tls.VersionTLS13}
		scheme = "https://"
	}
	ctx := context.Background()
	clis := make([]*clientv3.Client, *clients)
	sessions := make([]*concurrency.Session, *clients)
	for c := range clis {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints: []string{scheme + eps[c%len(eps)]}, DialTimeout: 10 * time.Second,
			TLS: tlsConfig,
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "connect:", err)
			os.Exit(1)
		}
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(60))
		if err != nil {
			fmt.Fprintln(os.Stderr, "session:", err)
			os.Exit(1)
		}
		clis[c], sessions[c] = cli, s
	}

	t0 := time.Now()
	warmEnd := t0.Add(time.Duration(*warmup * 1e9))
	end := warmEnd.Add(time.Duration(*duration * 1e9))
	cycleLat := make([][]time.Duration, *clients)
	acqLat := make([][]time.Duration, *clients)
	var cycles, retries int64
	var mu sync.Mutex
	errs := map[string]int64{}
	firstErr := ""
	var errCount int64
	record := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		k := "error"
		if err == context.DeadlineExceeded {
			k = "deadline"
		}
		errs[k]++
		if firstErr == "" {
			firstErr = err.Error()
		}
	}
	var wg sync.WaitGroup
	for c := range clis {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			cli, s := clis[c], sessions[c]
			rng := rand.New(rand.NewSource(int64(c) + time.Now().UnixNano()))
			for j := 0; ; j++ {
				start := time.Now()
				if !start.Before(end) || atomic.LoadInt64(&cycles) >= *maxCycles {
					return
				}
				var acquired time.Time
				var err error
				if *v3lock && !*contended {
					lc := v3lockpb.NewLockClient(cli.ActiveConnection())
					name := fmt.Sprintf("/paxbench/c%d-n%d", c, j%*locks)
					var r *v3lockpb.LockResponse
					r, err = lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte(name), Lease: int64(s.Lease())})
					if err == nil {
						acquired = time.Now()
						_, err = lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: r.Key})
					}
				} else if !*contended {
					m := concurrency.NewMutex(s, fmt.Sprintf("/paxbench/c%d-n%d", c, j%*locks))
					if err = m.Lock(ctx); err == nil {
						acquired = time.Now()
						err = m.Unlock(ctx)
					}
				} else {
					name := fmt.Sprintf("/paxbench/shared-%d", rng.Intn(*locks))
					backoff := time.Duration(0)
					for {
						var key string
						var held bool
						key, held, err = tryLock(ctx, cli, s, name)
						if err != nil || held {
							if held {
								acquired = time.Now()
								_, err = cli.Delete(ctx, key)
							}
							break
						}
						if !time.Now().Before(end) {
							return // the window is over while backing off: not a cycle
						}
						atomic.AddInt64(&retries, 1)
						backoff *= 2
						if backoff < 200*time.Microsecond {
							backoff = 200 * time.Microsecond
						}
						if backoff > 100*time.Millisecond {
							backoff = 100 * time.Millisecond
						}
						time.Sleep(backoff/2 + time.Duration(rng.Int63n(int64(backoff/2)+1)))
					}
				}
				done := time.Now()
				if err != nil {
					record(err)
					if atomic.AddInt64(&errCount, 1) > 1000 {
						return
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if !done.Before(warmEnd) && done.Before(end) {
					cycleLat[c] = append(cycleLat[c], done.Sub(start))
					acqLat[c] = append(acqLat[c], acquired.Sub(start))
					atomic.AddInt64(&cycles, 1)
				}
			}
		}(c)
	}
	wg.Wait()
	seconds := *duration
	if atomic.LoadInt64(&cycles) >= *maxCycles {
		seconds = time.Since(warmEnd).Seconds()
	}
	if *compact {
		if r, err := clis[0].Get(ctx, "/paxbench/none"); err == nil {
			clis[0].Compact(ctx, r.Header.Revision, clientv3.WithCompactPhysical())
		}
	}
	for c := range clis {
		sessions[c].Close()
		clis[c].Close()
	}
	system := "etcd"
	if *v3lock && !*contended {
		system = "etcd-v3lock"
	}
	var all, acq []time.Duration
	for c := range clis {
		all = append(all, cycleLat[c]...)
		acq = append(acq, acqLat[c]...)
	}
	res := result{
		System: system, Clients: *clients, Locks: *locks, Contended: *contended,
		Endpoints: *endpoints, Seconds: seconds, Cycles: len(all),
		CyclesPerS: float64(len(all)) / seconds, CycleMs: summarize(all), AcquireMs: summarize(acq),
		Retries: retries, Errors: errs, FirstError: firstErr,
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if len(all) == 0 {
		os.Exit(3)
	}
}
