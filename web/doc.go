// Package web serves the gate's own pages: the admin pages for users, roles,
// permissions, clients and tokens, and the browser session that puts the
// MLflow UI behind single sign-on. Templates are embedded and parsed once;
// forms POST and redirect with 303, and every cookie-authenticated write is
// checked against cross-site request forgery.
package web
