package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/idp"
)

// clientFlags are the flags of `client add`.
type clientFlags struct {
	name, grants, redirects, postLogout, scopes, roles, idTokenAlg, backchannel string
	public, native, api                                                         bool
}

// clientUpdateFlags are the flags of `client update`: only those given change.
type clientUpdateFlags struct {
	name, grants, redirects, postLogout, scopes, roles, idTokenAlg, backchannel optString
	api                                                                         optBool
}

func (u *clientUpdateFlags) update() idp.ClientUpdate {
	return idp.ClientUpdate{Name: u.name.ptr(), GrantTypes: u.grants.list(), Scopes: u.scopes.list(), API: u.api.ptr(),
		RedirectURIs: u.redirects.list(), PostLogoutRedirectURIs: u.postLogout.list(), Roles: u.roles.list(),
		IDTokenAlg: u.idTokenAlg.ptr(), BackchannelLogoutURI: u.backchannel.ptr()}
}

const (
	grantsUsage      = "comma-separated grant types: authorization_code, refresh_token, client_credentials, " + idp.GrantDeviceCode
	redirectsUsage   = "comma-separated redirect URIs, matched exactly: https, or http on 127.0.0.1, [::1] or localhost"
	postLogoutUsage  = "comma-separated post-logout redirect URIs, matched exactly"
	scopesUsage      = "comma-separated scopes the client may have (default openid,profile,email,offline_access)"
	rolesUsage       = "comma-separated roles the client holds itself (client_credentials only)"
	idTokenAlgUsage  = "algorithm of the client's ID tokens: RS256 (what every library verifies) or ES256"
	backchannelUsage = "URI the gate POSTs a logout token to when a session the client took part in ends (OpenID Back-Channel Logout)"
)

func clientCommand() *command {
	var cf clientFlags
	var uf clientUpdateFlags
	return &command{name: "client", short: "manage OpenID Connect clients", commands: []*command{
		{name: "add", args: "CLIENT_ID", short: "register a client; a confidential client's secret is printed once", group: "db", nargs: 1,
			long: "Register an OAuth 2.0 / OpenID Connect client.\n\n" +
				"A confidential client (the default) gets a secret, printed once on standard output and stored only\n" +
				"as a hash; it authenticates with client_secret_basic or client_secret_post. A service client has the\n" +
				"client_credentials grant and roles of its own (--roles): its tokens speak for it, with those roles.\n" +
				"A --public client has no secret and must use PKCE; --native marks a public app that may use any\n" +
				"port on a loopback redirect URI (RFC 8252).\n\n" +
				"Only clients with API access get tokens that open the MLflow API (the mlflow scope, granted to them\n" +
				"whether or not they ask for it): service clients always have it, other clients only with --api. An\n" +
				"application that uses the gate only to log its users in needs no --api, and its tokens cannot be\n" +
				"used against MLflow.\n\n" +
				"ID tokens are signed with RS256 unless --id-token-alg says ES256; access tokens with the gate's\n" +
				"own algorithm (MLFLOW_GATE_TOKEN_SIGNING_ALG). The key set publishes both.\n\n" +
				"Examples:\n" +
				"  mlflow-gate client add nightly-training --grants client_credentials --roles Default\n" +
				"  mlflow-gate client add notebook --grants authorization_code,refresh_token --redirect-uris https://nb.example.com/cb\n" +
				"  mlflow-gate client add grafana --grants authorization_code,refresh_token --redirect-uris https://grafana.example.com/login/generic_oauth \\\n" +
				"      --backchannel-logout-uri https://grafana.example.com/logout/backchannel",
			flags: func(fs *flag.FlagSet, _ *opts) {
				fs.StringVar(&cf.name, "name", "", "a display name, shown on the device approval page")
				fs.StringVar(&cf.grants, "grants", idp.GrantClientCredentials, grantsUsage)
				fs.StringVar(&cf.redirects, "redirect-uris", "", redirectsUsage)
				fs.StringVar(&cf.postLogout, "post-logout-uris", "", postLogoutUsage)
				fs.StringVar(&cf.scopes, "scopes", "", scopesUsage)
				fs.StringVar(&cf.roles, "roles", "", rolesUsage)
				fs.StringVar(&cf.idTokenAlg, "id-token-alg", idp.DefaultIDTokenAlg, idTokenAlgUsage)
				fs.StringVar(&cf.backchannel, "backchannel-logout-uri", "", backchannelUsage)
				fs.BoolVar(&cf.public, "public", false, "a public client: no secret, PKCE required")
				fs.BoolVar(&cf.native, "native", false, "a native public app (implies --public): any port on loopback redirects")
				fs.BoolVar(&cf.api, "api", false, "API access: the client's tokens open the MLflow API (always on for client_credentials)")
			},
			action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
				spec := idp.ClientSpec{ID: args[0], Name: cf.name, Public: cf.public || cf.native, Native: cf.native,
					GrantTypes: splitList(cf.grants), Scopes: splitList(cf.scopes), RedirectURIs: splitList(cf.redirects),
					PostLogoutRedirectURIs: splitList(cf.postLogout), Roles: splitList(cf.roles), API: cf.api,
					IDTokenAlg: cf.idTokenAlg, BackchannelLogoutURI: cf.backchannel}
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					secret, err := ad.CreateClient(ctx, admin.CLI, spec)
					if err != nil {
						return err
					}
					if secret != "" {
						fmt.Fprintln(e.stdout, secret)
						fmt.Fprintf(e.stderr, "client %s created; its secret above is shown only this once\n", spec.ID)
						return nil
					}
					fmt.Fprintf(e.stdout, "client %s created (public: no secret)\n", spec.ID)
					return nil
				})
			}},
		{name: "update", args: "CLIENT_ID", short: "change a client's registration; only the flags given change", group: "db", nargs: 1,
			long: "Change a registered client without removing it: its tokens, secret and kind stay. Flags not given\n" +
				"keep their value; a list flag replaces the whole list (\"\" empties it). The result must be a\n" +
				"client `client add` would accept.\n\n" +
				"Examples:\n" +
				"  mlflow-gate client update notebook --redirect-uris https://nb.example.com/cb,https://nb2.example.com/cb\n" +
				"  mlflow-gate client update legacy-app --id-token-alg ES256\n" +
				"  mlflow-gate client update nightly-training --roles Default,Admin",
			flags: func(fs *flag.FlagSet, _ *opts) {
				fs.Var(&uf.name, "name", "a display name, shown on the device approval page")
				fs.Var(&uf.grants, "grants", grantsUsage)
				fs.Var(&uf.redirects, "redirect-uris", redirectsUsage)
				fs.Var(&uf.postLogout, "post-logout-uris", postLogoutUsage)
				fs.Var(&uf.scopes, "scopes", scopesUsage)
				fs.Var(&uf.roles, "roles", rolesUsage)
				fs.Var(&uf.idTokenAlg, "id-token-alg", idTokenAlgUsage)
				fs.Var(&uf.backchannel, "backchannel-logout-uri", backchannelUsage+"; \"\" for none")
				fs.Var(&uf.api, "api", "API access: the client's tokens open the MLflow API (--api=false takes it away)")
			},
			action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
				up := uf.update()
				if up.Empty() {
					return usageError("name at least one setting to change (see mlflow-gate client update --help)")
				}
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					c, err := ad.UpdateClient(ctx, admin.CLI, args[0], up)
					if err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "client %s updated: grants %s, redirect URIs %s, post-logout URIs %s, roles %s, ID tokens %s, back-channel logout %s\n",
						c.ID, strings.Join(c.GrantTypes, ","), dash(strings.Join(c.RedirectURIs, " ")), dash(strings.Join(c.PostLogoutRedirectURIs, " ")),
						dash(strings.Join(c.Roles, ",")), c.IDTokenAlg, dash(c.BackchannelLogoutURI))
					return nil
				})
			}},
		{name: "list", short: "list clients", group: "db", nargs: 0,
			action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					clients, err := ad.ListClients(ctx, admin.CLI)
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "CLIENT ID\tTYPE\tSTATE\tAPI\tGRANTS\tROLES\tID TOKENS\tREDIRECT URIS\tPOST-LOGOUT URIS\tBACK-CHANNEL LOGOUT")
					for _, c := range clients {
						kind := "confidential"
						if c.Native {
							kind = "public,native"
						} else if c.Public {
							kind = "public"
						}
						state := "enabled"
						if c.DisabledAt != nil {
							state = "disabled"
						}
						api := "no"
						if slices.Contains(c.Scopes, idp.ScopeMLflow) {
							api = "yes"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, kind, state, api, strings.Join(c.GrantTypes, ","),
							dash(strings.Join(c.Roles, ",")), c.IDTokenAlg, dash(strings.Join(c.RedirectURIs, " ")),
							dash(strings.Join(c.PostLogoutRedirectURIs, " ")), dash(c.BackchannelLogoutURI))
					}
					return tw.Flush()
				})
			}},
		{name: "remove", args: "CLIENT_ID", short: "remove a client; its tokens stop working at once, on every replica", group: "db", nargs: 1,
			action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					if err := ad.RemoveClient(ctx, admin.CLI, args[0]); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "client %s removed\n", args[0])
					return nil
				})
			}},
		{name: "rotate-secret", args: "CLIENT_ID", short: "give a confidential client a new secret (printed once); the old one stops working", group: "db", nargs: 1,
			action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					secret, err := ad.RotateClientSecret(ctx, admin.CLI, args[0])
					if err != nil {
						return err
					}
					fmt.Fprintln(e.stdout, secret)
					fmt.Fprintf(e.stderr, "client %s has a new secret, shown only this once; the old one no longer works\n", args[0])
					return nil
				})
			}},
		{name: "set-roles", args: "CLIENT_ID ROLES", short: "replace the roles a service client holds (comma-separated, \"\" for none)", group: "db", nargs: 2,
			action: func(ctx context.Context, e *cli, _ *opts, args []string) error {
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					if err := ad.SetClientRoles(ctx, admin.CLI, args[0], splitList(args[1])); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "client %s now holds roles [%s]\n", args[0], strings.Join(splitList(args[1]), ","))
					return nil
				})
			}},
	}}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
