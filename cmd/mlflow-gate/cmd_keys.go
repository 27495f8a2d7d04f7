package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/idp"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// keyEncryptionKey is the key sealing private signing keys, derived from
// MLFLOW_GATE_SECRET: serve and `keys rotate` both call this.
func keyEncryptionKey(cfg *Config) []byte { return cfg.DeriveKey(idp.KeyEncryptionPurpose) }

func keysCommand() *command {
	var alg string
	var delay time.Duration
	var force bool
	return &command{name: "keys", short: "list, rotate and revoke the provider's token signing keys", commands: []*command{
		{name: "list", short: "list signing keys and their state (next, active, retired, expired, revoked)", group: "db", nargs: 0,
			action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					keys, err := ad.ListKeys(ctx, admin.CLI)
					if err != nil {
						return err
					}
					now := time.Now()
					const layout = "2006-01-02 15:04:05"
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "KID\tALG\tSTATE\tNOT BEFORE\tRETIRE AT\tEXPIRES AT")
					for _, k := range keys {
						nb := k.NotBefore
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State(now), when(&nb, layout, "-"),
							when(k.RetireAt, layout, "-"), when(k.ExpiresAt, layout, "-"))
					}
					return tw.Flush()
				})
			}},
		{name: "rotate", short: "publish the next signing key now; it signs after --publish-delay on every replica", group: "secret", nargs: 0,
			long: "Create the next signing key of each algorithm, ES256 and RS256 (or of --alg only), sealed with a key\n" +
				"derived from MLFLOW_GATE_SECRET as `serve` does. Access tokens are signed with\n" +
				"MLFLOW_GATE_TOKEN_SIGNING_ALG, ID tokens with each client's algorithm.\n" +
				"Each is published in the key set at once and starts signing after --publish-delay, on every replica\n" +
				"at the same moment. The delay must exceed how long the key set may be cached (" + idp.JWKSMaxAge.String() + "), so\n" +
				"no relying party meets a key it has not seen. The previous key stops signing then and stays\n" +
				"published until the tokens it signed have expired (MLFLOW_GATE_TOKEN_ACCESS_TTL and _ID_TTL).\n",
			flags: func(fs *flag.FlagSet, _ *opts) {
				fs.StringVar(&alg, "alg", "", "rotate only the key of this algorithm, ES256 or RS256 (default: both, alike)")
				fs.DurationVar(&delay, "publish-delay", idp.DefaultPublishDelay, "how long the key is published before it signs")
			},
			action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
				algs := []string{idp.AlgES256, idp.AlgRS256}
				if alg != "" {
					if alg != idp.AlgES256 && alg != idp.AlgRS256 {
						return usageError(fmt.Sprintf("--alg %q: use ES256 or RS256", alg))
					}
					algs = []string{alg}
				}
				if delay < 0 {
					return usageError("--publish-delay must not be negative")
				}
				if delay <= idp.JWKSMaxAge {
					fmt.Fprintf(e.stderr, "warning: --publish-delay %s does not exceed the key set's cache lifetime %s; relying parties may meet the new key before they have it\n",
						delay, idp.JWKSMaxAge)
				}
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					for _, alg := range algs {
						k, err := ad.RotateKey(ctx, admin.CLI, alg, delay)
						if err != nil {
							return err
						}
						fmt.Fprintf(e.stdout, "key %s (%s) published; it signs from %s\n", k.KID, k.Alg, k.NotBefore.UTC().Format(time.RFC3339))
					}
					return nil
				})
			}},
		{name: "revoke", args: "KID", short: "revoke a compromised key: dropped from the key set, what it signed refused at once", group: "secret", nargs: 1,
			long: "Revoke a signing key at once on every replica: it leaves the key set and every token it signed\n" +
				"is refused. Revoking the only key that can sign is refused; with --force a replacement key is\n" +
				"made and signs at once (relying parties that cached the key set refetch it on the unknown kid).",
			flags: func(fs *flag.FlagSet, _ *opts) {
				fs.BoolVar(&force, "force", false, "revoke even the only key able to sign, making a replacement that signs at once")
			},
			action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					repl, err := ad.RevokeKey(ctx, admin.CLI, args[0], force)
					if err != nil {
						if errors.Is(err, storage.ErrOnlySigningKey) {
							return fmt.Errorf("%w; run `mlflow-gate keys rotate` and wait for it to sign, or pass --force", err)
						}
						return err
					}
					fmt.Fprintf(e.stdout, "key %s revoked\n", args[0])
					if repl != "" {
						fmt.Fprintf(e.stdout, "key %s replaces it and signs now\n", repl)
					}
					return nil
				})
			}},
	}}
}
