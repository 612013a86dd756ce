// Command floor is the benchmark's floor: the least a program must do to
// contain a risky app, measured the same way as the handler. It uses only
// the standard library.
//
//	floor serve    listen on FUNCTIONS_CUSTOMHANDLER_PORT and answer GET /
//	               (the floor of start-up time and binary size)
//	floor client   read a job (JSON) on stdin: get one token from the
//	               managed identity endpoint, then for each appId make the
//	               two essential calls, GET /servicePrincipals(appId='...')
//	               and PATCH /servicePrincipals/{id} {"accountEnabled":false},
//	               with the given concurrency; write the result (JSON) on
//	               stdout: when each app's work started, CPU time, peak RSS.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Job is what the client is asked to do.
type Job struct {
	Graph          string   `json:"graph"` // service root; requests go to <graph>/v1.0
	TokenURL       string   `json:"tokenURL"`
	IdentityHeader string   `json:"identityHeader"`
	AppIDs         []string `json:"appIds"`
	Concurrency    int      `json:"concurrency"`
}

// Result is what it did.
type Result struct {
	Starts      []int64 `json:"starts"` // unix ns when each app's work started
	Ends        []int64 `json:"ends"`   // unix ns when its PATCH was answered
	CPU         int64   `json:"cpuNs"`  // user+system time spent on the job
	PeakRSS     int64   `json:"peakRSS"`
	Errors      int     `json:"errors"`
	RoundTrips  int64   `json:"roundTrips"`
	FirstError  string  `json:"firstError,omitempty"`
	ElapsedNs   int64   `json:"elapsedNs"`
	TokenMillis float64 `json:"tokenMs"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: floor serve | floor client < job.json")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		os.Exit(serve())
	case "client":
		os.Exit(client())
	}
	fmt.Fprintln(os.Stderr, "floor: unknown mode", os.Args[1])
	os.Exit(2)
}

func serve() int {
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 2
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ready\n")
	})}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return 2
	}
	return 0
}

func cpuNow() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func peakRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}

func client() int {
	var job Job
	if err := json.NewDecoder(os.Stdin).Decode(&job); err != nil {
		fmt.Fprintln(os.Stderr, "floor: reading the job:", err)
		return 2
	}
	if job.Concurrency <= 0 {
		job.Concurrency = 1
	}
	hc := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        job.Concurrency * 2,
			MaxIdleConnsPerHost: job.Concurrency * 2,
		},
	}
	cpu0 := cpuNow()
	t0 := time.Now()
	token, err := getToken(hc, job)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor: token:", err)
		return 2
	}
	res := Result{Starts: make([]int64, len(job.AppIDs)), Ends: make([]int64, len(job.AppIDs)), TokenMillis: float64(time.Since(t0).Microseconds()) / 1000}
	var next, trips atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < job.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(job.AppIDs) {
					return
				}
				res.Starts[i] = time.Now().UnixNano()
				n, err := contain(hc, job.Graph+"/v1.0", token, job.AppIDs[i])
				res.Ends[i] = time.Now().UnixNano()
				trips.Add(int64(n))
				if err != nil {
					mu.Lock()
					res.Errors++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	res.ElapsedNs = int64(time.Since(start))
	res.CPU = cpuNow() - cpu0
	res.PeakRSS = peakRSS()
	res.RoundTrips = trips.Load()
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 2
	}
	return 0
}

func getToken(hc *http.Client, job Job) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, job.TokenURL+"?api-version=2019-08-01&resource="+job.Graph, nil)
	req.Header.Set("X-IDENTITY-HEADER", job.IdentityHeader)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.AccessToken == "" {
		return "", fmt.Errorf("HTTP %d: %v", resp.StatusCode, err)
	}
	return v.AccessToken, nil
}

// do sends one request, retrying 429/503 after Retry-After as any Graph
// client must.
func do(hc *http.Client, method, url, token string, body []byte, out any) (int, error) {
	trips := 0
	for attempt := 1; ; attempt++ {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		trips++
		resp, err := hc.Do(req)
		if err != nil {
			return trips, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if (resp.StatusCode == 429 || resp.StatusCode == 503) && attempt < 10 {
			s, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			time.Sleep(max(time.Duration(s)*time.Second, 100*time.Millisecond))
			continue
		}
		if resp.StatusCode >= 300 {
			return trips, fmt.Errorf("%s %s: HTTP %d: %.200s", method, url, resp.StatusCode, b)
		}
		if out != nil {
			return trips, json.Unmarshal(b, out)
		}
		return trips, nil
	}
}

// contain makes the two essential calls.
func contain(hc *http.Client, base, token, appID string) (int, error) {
	var sp struct {
		ID string `json:"id"`
	}
	n1, err := do(hc, http.MethodGet, base+"/servicePrincipals(appId='"+appID+"')?$select=id", token, nil, &sp)
	if err != nil {
		return n1, err
	}
	n2, err := do(hc, http.MethodPatch, base+"/servicePrincipals/"+sp.ID, token, []byte(`{"accountEnabled":false}`), nil)
	return n1 + n2, err
}
