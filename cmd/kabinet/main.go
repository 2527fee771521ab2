// Command kabinet is the Telegram personal account of an internet and TV
// provider. main only wires: run does the work, with its environment passed
// in, so that the end-to-end tests run exactly what production runs.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kabinet-bot/kabinet/internal/app"
)

const usage = `usage: kabinet <command>

commands:
  sandbox     try the bot in a browser: the bot against the built-in Bot API
              emulator, with demo data, at SANDBOX_ADDR (default localhost:8080)
  serve       run the bot (long polling, or a webhook when WEBHOOK_URL is set)
  migrate     create the database if needed and apply the migrations (safe to repeat)
  demo-data   load the demo subscribers, offices and payment points (safe to repeat)
  offices import FILE.csv
              load or update offices and payment points from a CSV file (offices/CSV.md)
  notify outage --city CITY [--until HH:MM] --text-file FILE [--dry-run] | --end ID
              announce an outage to a city's subscribers (the running bot sends it), or end it
  notify status
              the notices by kind and state, the send rate, running broadcasts

Settings come from environment variables: see README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kabinet:", err)
		os.Exit(1)
	}
}

// run executes one command until it finishes or ctx is cancelled.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "sandbox":
		return runSandbox(ctx, getenv, stdout, stderr, nil)
	case "serve":
		return app.Run(ctx, getenv, stderr, nil)
	case "migrate":
		return migrate(ctx, getenv, stdout)
	case "demo-data":
		return demoData(ctx, getenv, stdout)
	case "offices":
		return officesCommand(ctx, args[1:], getenv, stdout, stderr)
	case "notify":
		return notifyCommand(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
