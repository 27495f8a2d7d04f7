// The openid-client relying party of the conformance test (e2e/conformance_test.go).
//
// openid-client 6 (on oauth4webapi) does discovery (refusing an issuer other than
// the one asked for), builds the authorization and end-session URLs, validates the
// authorization response (state, and iss as RFC 9207 requires when discovery
// advertises it), exchanges the code with PKCE, and validates every ID token:
// signature (enableNonRepudiationChecks), an alg equal to the client's registered
// id_token_signed_response_alg, iss, aud, exp, iat, nonce, azp. Access tokens and
// the back-channel logout token are verified with jose (openid-client's own JOSE
// library), pinned to the one algorithm each must carry.
//
// A person's part (signing in, approving a device), the clock (expiring a code)
// and the application's back-channel logout endpoint are played by the Go test:
// this script asks with one JSON line on stdout and reads the answer on stdin. It
// ends with {"op": "result", "report": {...}}, flat keys that the Go test compares
// with its table; a failure of the protocol exits non-zero with the reason on
// stderr.
//
// Environment: GATE_ISSUER, GATE_CLIENT_ID, GATE_CLIENT_SECRET, GATE_REDIRECT_URI,
// GATE_POST_LOGOUT_URI, GATE_ID_TOKEN_ALG, GATE_ACCESS_TOKEN_ALG.
import * as client from 'openid-client';
import * as jose from 'jose';
import { createInterface } from 'node:readline';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const ISSUER = env('GATE_ISSUER');
const CLIENT_ID = env('GATE_CLIENT_ID');
const CLIENT_SECRET = env('GATE_CLIENT_SECRET');
const REDIRECT_URI = env('GATE_REDIRECT_URI');
const POST_LOGOUT_URI = env('GATE_POST_LOGOUT_URI');
const ID_ALG = env('GATE_ID_TOKEN_ALG');
const AT_ALG = env('GATE_ACCESS_TOKEN_ALG');
const SCOPE = 'openid profile email offline_access';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

// ask sends one request to the Go test and returns its answer.
async function ask(op, fields = {}) {
  process.stdout.write(JSON.stringify({ op, ...fields }) + '\n');
  const { value, done } = await lines.next();
  if (done) throw new Error(`${op}: no answer`);
  const answer = JSON.parse(value);
  if (answer.error) throw new Error(`${op}: ${answer.error}`);
  return answer;
}

// refused is the status and error code of a call that must fail, as
// openid-client reports it.
async function refused(call) {
  try {
    await call();
    return 'no error';
  } catch (e) {
    if (e instanceof client.ResponseBodyError) return { status: e.status, error: e.error };
    return `${e.name}: ${e.message}`;
  }
}

const header = (jwt) => jose.decodeProtectedHeader(jwt); // reported only; the libraries verify
const asList = (v) => (typeof v === 'string' ? [v] : v);
const put = (rep, prefix, claims) => {
  for (const [k, v] of Object.entries(claims)) rep[prefix + k] = k === 'aud' ? asList(v) : v;
};

async function main() {
  const rep = {};
  const st = {};
  // The gate is plain http on the loopback interface in this test:
  // openid-client refuses http unless allowInsecureRequests is given.
  const config = await client.discovery(
    new URL(ISSUER),
    CLIENT_ID,
    { id_token_signed_response_alg: ID_ALG },
    client.ClientSecretBasic(CLIENT_SECRET),
    { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] },
  );
  const meta = config.serverMetadata();
  rep['discovery.issuer'] = meta.issuer;
  const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));

  // authorize runs the code flow in the person's browser up to the
  // callback; openid-client then validates the response and exchanges it.
  const authorize = async (extra = {}, fresh = false) => {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI, scope: SCOPE, state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
    });
    const callback = new URL((await ask('browse', { url: url.href, stop: REDIRECT_URI, fresh })).url);
    return { callback, state, nonce, verifier };
  };
  const exchange = (a) =>
    client.authorizationCodeGrant(config, a.callback, {
      pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce, idTokenExpected: true,
    });

  // prompt=none without a session: openid-client reads the error only from
  // a response that carries the right iss and state.
  const promptNone = async () => {
    const none = await authorize({ prompt: 'none' }, true);
    try {
      await exchange(none);
      rep['authorize.prompt_none.error'] = 'no error';
    } catch (e) {
      rep['authorize.prompt_none.error'] = e instanceof client.AuthorizationResponseError ? e.error : `${e.name}: ${e.message}`;
    }
    rep['authorize.prompt_none.iss'] = none.callback.searchParams.get('iss');
    rep['authorize.prompt_none.state'] = none.callback.searchParams.get('state') === none.state;
  };

  // Code + PKCE, the ID token, the access token, userinfo.
  const code = async () => {
    const tokens = await exchange(await authorize());
    st.idToken = tokens.id_token;
    const idClaims = tokens.claims();
    put(rep, 'id_token.', idClaims);
    rep['id_token.alg'] = header(tokens.id_token).alg;
    const at = await jose.jwtVerify(tokens.access_token, jwks, {
      issuer: ISSUER, audience: ISSUER + '/api', algorithms: [AT_ALG], typ: 'at+jwt',
    });
    put(rep, 'access_token.', at.payload);
    rep['access_token.alg'] = at.protectedHeader.alg;
    rep['access_token.typ'] = at.protectedHeader.typ;
    put(rep, 'userinfo.', await client.fetchUserInfo(config, tokens.access_token, idClaims.sub));
  };

  // Refresh: rotation, and reuse revoking the family.
  const refresh = async () => {
    const tokens = await exchange(await authorize());
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    rep['refresh.rotated'] = !!refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token;
    if (refreshed.id_token) {
      rep['refresh.id_token_alg'] = header(refreshed.id_token).alg;
      rep['refresh.sub'] = refreshed.claims().sub;
    }
    rep['refresh.reuse'] = await refused(() => client.refreshTokenGrant(config, tokens.refresh_token));
    rep['refresh.family'] = await refused(() => client.refreshTokenGrant(config, refreshed.refresh_token));
  };

  // A used code, and an expired one (single sign-on gives the codes).
  const codeMisuse = async () => {
    const first = await authorize();
    await exchange(first);
    rep['code.replay'] = await refused(() => exchange(first));
    const second = await authorize();
    await ask('expire_code', { code: second.callback.searchParams.get('code') });
    rep['code.expired'] = await refused(() => exchange(second));
  };

  // Introspection (RFC 7662) and revocation (RFC 7009) of a fresh pair.
  const introspect = async () => {
    const tokens = await exchange(await authorize());
    const intro = await client.tokenIntrospection(config, tokens.access_token);
    rep['introspect.active'] = intro.active;
    rep['introspect.sub'] = intro.sub;
    rep['introspect.client_id'] = intro.client_id;
    await client.tokenRevocation(config, tokens.access_token, { token_type_hint: 'access_token' });
    rep['introspect.revoked.active'] = (await client.tokenIntrospection(config, tokens.access_token)).active;
    try {
      await client.tokenRevocation(config, 'unknown-' + client.randomState());
      rep['revoke.unknown'] = 'ok';
    } catch (e) {
      rep['revoke.unknown'] = `${e.name}: ${e.message}`;
    }
    await client.tokenRevocation(config, tokens.refresh_token, { token_type_hint: 'refresh_token' });
    rep['revoke.refresh'] = await refused(() => client.refreshTokenGrant(config, tokens.refresh_token));
  };

  // RP-initiated logout with the ID token as hint, then the back-channel
  // logout token (OpenID Back-Channel Logout 1.0 section 2.6).
  const logout = async () => {
    if (!st.idToken) throw new Error('no ID token from the code flow to send as id_token_hint');
    const state = client.randomState();
    const end = client.buildEndSessionUrl(config, {
      id_token_hint: st.idToken, post_logout_redirect_uri: POST_LOGOUT_URI, state,
    });
    const out = new URL((await ask('browse', { url: end.href, stop: POST_LOGOUT_URI })).url);
    rep['logout.state'] = out.searchParams.get('state') === state;
    const { logout_token: raw } = await ask('logout_token');
    const lt = await jose.jwtVerify(raw, jwks, {
      issuer: ISSUER, audience: CLIENT_ID, algorithms: [ID_ALG], typ: 'logout+jwt',
      requiredClaims: ['iat', 'jti', 'events'], maxTokenAge: '2 minutes',
    });
    rep['logout.token.alg'] = lt.protectedHeader.alg;
    rep['logout.token.typ'] = lt.protectedHeader.typ;
    rep['logout.token.iss'] = lt.payload.iss;
    rep['logout.token.aud'] = asList(lt.payload.aud);
    rep['logout.token.sub'] = lt.payload.sub;
    rep['logout.token.sid'] = lt.payload.sid;
    rep['logout.token.event'] = Object.hasOwn(lt.payload.events ?? {}, LOGOUT_EVENT);
    rep['logout.token.jti'] = !!lt.payload.jti;
    rep['logout.token.nonce'] = Object.hasOwn(lt.payload, 'nonce');
  };

  // A failed section is reported (the Go test fails on it), and the others
  // still run.
  for (const [name, section] of [
    ['authorize.prompt_none', promptNone], ['code', code], ['refresh', refresh], ['code.misuse', codeMisuse],
    ['introspect', introspect], ['device', () => device(config, rep)], ['logout', logout],
  ]) {
    try {
      await section();
    } catch (e) {
      rep[`${name}.failed`] = `${e.name}: ${e.message}${e.cause ? ' ' + JSON.stringify(e.cause) : ''}`;
    }
  }
  process.stdout.write(JSON.stringify({ op: 'result', report: rep }) + '\n');
}

// device runs three device authorizations (RFC 8628): approved, denied and
// expired, then the approved one's device code again.
async function device(config, rep) {
  const start = () => client.initiateDeviceAuthorization(config, { scope: SCOPE });
  const poll = (da) => client.genericGrantRequest(config, DEVICE_GRANT, { device_code: da.device_code });
  const errorOf = (r) => (typeof r === 'object' ? r.error : r);
  const [approved, denied, expired] = await Promise.all([start(), start(), start()]);
  // The first poll, and one sooner than the interval.
  rep['device.first_poll'] = errorOf(await refused(() => poll(approved)));
  rep['device.fast_poll'] = errorOf(await refused(() => poll(approved)));
  await ask('device', { url: approved.verification_uri_complete, action: 'approve' });
  await ask('device', { url: denied.verification_uri_complete, action: 'deny' });
  await ask('expire_device', { device_code: expired.device_code });
  // openid-client polls at the interval; after the slow_down above that is
  // five seconds more (RFC 8628 section 3.5).
  const [tokens, deniedErr, expiredErr] = await Promise.all([
    client.pollDeviceAuthorizationGrant(config, { ...approved, interval: (approved.interval ?? 5) + 5 }),
    refused(() => client.pollDeviceAuthorizationGrant(config, denied)),
    refused(() => poll(expired)),
  ]);
  rep['device.id_token_alg'] = header(tokens.id_token).alg;
  rep['device.sub'] = tokens.claims().sub;
  rep['device.denied'] = deniedErr;
  rep['device.expired'] = expiredErr;
  rep['device.replay'] = await refused(() => poll(approved));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e?.stack ?? String(e), e?.cause ? `\ncause: ${JSON.stringify(e.cause)}` : '');
    process.exit(1);
  },
);
