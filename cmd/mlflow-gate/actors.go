package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
)

// actor is one long-running part of serve. run works until ctx ends and then
// returns nil (or why it could not stop cleanly); returning earlier, with or
// without an error, is a failure that stops every other actor.
type actor struct {
	name string
	run  func(ctx context.Context) error
}

// runActors runs every actor until ctx ends or one of them fails, then stops
// them all and waits for each. started runs once every actor is running;
// stopped once they all returned without error. The first failure is returned.
func runActors(ctx context.Context, actors []actor, started, stopped func()) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, a := range actors {
		g.Go(func() error {
			err := a.run(gctx)
			if gctx.Err() == nil {
				if err == nil {
					err = errors.New("stopped unexpectedly")
				}
				return fmt.Errorf("%s: %w", a.name, err)
			}
			return err
		})
	}
	if started != nil {
		started()
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if stopped != nil {
		stopped()
	}
	return nil
}

// httpActor serves srv on ln; when its context ends it stops accepting and
// gives in-flight requests up to drain to finish. log, when not nil, notes
// the draining.
func httpActor(name string, srv *http.Server, ln net.Listener, drain time.Duration, log *slog.Logger) actor {
	return actor{name: name, run: func(ctx context.Context) error {
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served:
			return fmt.Errorf("server stopped: %w", err)
		case <-ctx.Done():
		}
		if log != nil {
			log.Info("shutting down: draining in-flight requests", "timeout", drain.String())
		}
		sctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		err := srv.Shutdown(sctx)
		<-served // Serve returns as soon as Shutdown begins
		if err != nil {
			return fmt.Errorf("shutdown did not drain in time: %w", err)
		}
		return nil
	}}
}
