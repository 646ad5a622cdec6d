// Command pause is the sandbox process of the platform suite's pods: it
// holds a pod's namespaces open, reaps the orphans re-parented to it, and
// exits cleanly when the runtime stops the sandbox. It is packed into the
// node's pause image by `go run ./test/cmd/images`, in place of a pause image
// pulled from a registry.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// -v prints a version and exits, as upstream's pause does: the node's
	// preflight runs it in a container to prove that runc works here.
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (gopherops platform suite)")
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
