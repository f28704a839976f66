// Command tinypayd is the tinypay node daemon. See `tinypayd --help`.
package main

import (
	"context"
	"os"

	"github.com/tinypay/tinypay/cmd/tinypayd/daemon"
)

func main() {
	os.Exit(daemon.Main(context.Background(), os.Args, os.Stdin, os.Stdout, os.Stderr))
}
