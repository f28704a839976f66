package cli

import (
	"context"
	"strings"

	ucli "github.com/urfave/cli/v3"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

func peerCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "peer",
		Usage: "connect to and list peers",
		Commands: []*ucli.Command{
			{
				Name:      "connect",
				Usage:     "connect to a peer's node (it must prove its key)",
				ArgsUsage: "HOST:PORT [HOST:PORT...]",
				Flags:     []ucli.Flag{&ucli.StringFlag{Name: "address", Usage: "refuse the connection unless the peer proves this node address"}},
				Description: `The connection is kept up and redialled while channels need it.

A node run as a hot standby pair (tinypayd run --standby) has an address per
process, of which only the active one answers: give them all (up to 4), and
the node dials them in turn, now and on every redial. It also remembers the
addresses the peer advertises itself.

Examples:
   tinypay peer connect 127.0.0.1:9735
   tinypay peer connect 127.0.0.1:9735 --address 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E
   tinypay peer connect 127.0.0.1:9745 127.0.0.1:9735 --address 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E`,
				Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
					a, err := args(cmd, 1, 4)
					if err != nil {
						return err
					}
					p, err := c.ConnectPeer(ctx, &apiv1.ConnectPeerRequest{HostPort: a[0], MoreHostPorts: a[1:], Address: cmd.String("address")})
					if err != nil {
						return err
					}
					if c.json {
						return c.printJSON(p)
					}
					c.printf("connected to %s at %s\n", p.GetAddress(), p.GetRemoteAddr())
					if len(p.GetDialAddrs()) > 1 {
						c.printf("redials at %s\n", strings.Join(p.GetDialAddrs(), ", "))
					}
					return nil
				}),
			},
			{
				Name:        "list",
				Usage:       "list known peers",
				Description: "Example:\n   tinypay peer list",
				Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
					r, err := c.ListPeers(ctx, &apiv1.ListPeersRequest{})
					if err != nil {
						return err
					}
					if c.json {
						return c.printJSON(r)
					}
					for _, p := range r.GetPeers() {
						state := "disconnected"
						if p.GetConnected() {
							state = "connected"
						}
						c.printf("%s  %-13s %s\n", p.GetAddress(), state, p.GetRemoteAddr())
					}
					return nil
				}),
			},
		},
	}
}
