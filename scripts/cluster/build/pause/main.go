// Why: nothing can be pulled here, so the pod sandbox ("pause") image is built
// locally. This one static binary is that image's process and, given a
// subcommand, a tiny toolbox for smoke-test pods (the image has no shell):
//
//	pause                 hold the pod's namespaces until SIGTERM/SIGINT, reaping
//	                      orphans like the upstream pause (it is PID 1 when the
//	                      pod shares its PID namespace)
//	pause echo WORDS...   print WORDS and exit 0
//	pause printenv NAME   print the environment variable NAME; exit 1 if unset
//	pause lookup NAME     resolve NAME with the pod's resolv.conf; exit 1 if it
//	                      does not resolve
//	pause sleep SECONDS   sleep, then exit 0
//	pause write FILE TEXT write TEXT to FILE (a volume's permissions at work)
//	pause serve PORT      answer every HTTP request with the pod's hostname
//	pause get URL         print the body of an HTTP GET; exit 1 on failure
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		pause()
		return
	}
	switch os.Args[1] {
	case "echo":
		fmt.Println(strings.Join(os.Args[2:], " "))
	case "printenv":
		if len(os.Args) != 3 {
			fail("usage: pause printenv NAME")
		}
		v, ok := os.LookupEnv(os.Args[2])
		if !ok {
			fail(os.Args[2] + " is not set")
		}
		fmt.Println(v)
	case "lookup":
		if len(os.Args) != 3 {
			fail("usage: pause lookup NAME")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The pure-Go resolver (CGO_ENABLED=0) reads /etc/resolv.conf.
		addrs, err := net.DefaultResolver.LookupHost(ctx, os.Args[2])
		if err != nil {
			fail(err.Error())
		}
		fmt.Printf("%s %s\n", os.Args[2], strings.Join(addrs, " "))
	case "sleep":
		if len(os.Args) != 3 {
			fail("usage: pause sleep SECONDS")
		}
		s, err := strconv.ParseFloat(os.Args[2], 64)
		if err != nil {
			fail(err.Error())
		}
		time.Sleep(time.Duration(s * float64(time.Second)))
	case "write":
		if len(os.Args) != 4 {
			fail("usage: pause write FILE TEXT")
		}
		if err := os.WriteFile(os.Args[2], []byte(os.Args[3]+"\n"), 0o644); err != nil {
			fail(err.Error())
		}
	case "serve":
		if len(os.Args) != 3 {
			fail("usage: pause serve PORT")
		}
		host, _ := os.Hostname()
		http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, host) })
		fail(http.ListenAndServe(":"+os.Args[2], nil).Error())
	case "get":
		if len(os.Args) != 3 {
			fail("usage: pause get URL")
		}
		c := http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get(os.Args[2])
		if err != nil {
			fail(err.Error())
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			fail(resp.Status)
		}
		fmt.Print(string(body))
	default:
		fail("unknown subcommand " + os.Args[1])
	}
}

func pause() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "pause:", msg)
	os.Exit(1)
}
