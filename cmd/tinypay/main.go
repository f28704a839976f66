// Command tinypay is the operator CLI of a tinypay node. See `tinypay --help`.
package main

import (
	"context"
	"os"

	"github.com/tinypay/tinypay/cmd/tinypay/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args, os.Stdout, os.Stderr))
}
