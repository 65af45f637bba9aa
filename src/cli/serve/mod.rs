//! `prebounce serve`: the checks over HTTP (axum over hyper).
//!
//! One checker (one resolver, one verdict cache, one history store) serves
//! every request, so identical lookups in flight at once are merged and a
//! domain asked again is answered from the cache. Routes:
//!
//! - `POST /v1/check`: `{"address": "..."}` gives one result,
//!   `{"addresses": [...]}` gives `{"results": [...]}` in order; a result
//!   is exactly a `check --format jsonl` row (docs/api.md).
//! - `GET /v1/domains/{domain}`: what `domain --format json` prints.
//! - `GET /healthz` (never needs a key), `GET /metrics` (Prometheus text),
//!   `GET /openapi.json` (OpenAPI 3.1, no key), `GET /` and `POST /`: a
//!   page with a form (no script), which takes the key in a field when keys
//!   are on.
//!
//! Errors are JSON (`{"error": code, "message": ...}`): 400 malformed, 401
//! no or wrong key, 413 body or batch too large, 429 rate limited (with
//! `Retry-After`). A check still pending when `--request-timeout` runs out
//! comes back as a `retry` row (`dns_failure`), never as a 5xx.
//! SIGTERM or SIGINT stops accepting, finishes the requests in flight,
//! writes the history held back, and exits 0; SIGHUP reads the key file
//! again.

pub mod api;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod page;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use clap::Args;
use futures_util::future::join_all;
use prebounce::{Checker, DomainReport};
use prebounce_core::history::HistoryPolicy;
use prebounce_core::rules::Policy;
use prebounce_core::verdict::Verdict;

use super::args::{duration_in, number_in, DnsArgs, HistoryArgs, ProbeArgs};
use super::config::{history_setup, long_lived_dns_setup, UsageError};
use super::output::{jsonl_row, Outcome};
use keys::Keys;
use limits::{Limiter, RateLimit};
use metrics::Metrics;

/// `prebounce serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one; the address is
    /// printed on standard output). Without API keys only a loopback
    /// address is allowed, unless --no-auth.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8025")]
    pub listen: SocketAddr,

    /// API keys, one per line (blank lines and # comments ignored), read
    /// again on SIGHUP; requests then need `Authorization: Bearer KEY`
    /// [env: PREBOUNCE_API_KEYS, keys separated by commas or spaces].
    #[arg(long, value_name = "FILE")]
    pub api_keys: Option<PathBuf>,

    /// Serve without keys on a non-loopback address (anyone who can reach
    /// it can use it).
    #[arg(long, conflicts_with = "api_keys")]
    pub no_auth: bool,

    /// Addresses per request, at most (more: 413).
    #[arg(long, value_name = "N", default_value = "1000", value_parser = number_in(1usize, 1_000_000usize))]
    pub max_batch: usize,

    /// Request body size, at most (more: 413): 1MiB, 512KiB, bytes.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = limits::parse_size)]
    pub max_body: usize,

    /// Requests per key (per client address without keys): N/s or N/m, a
    /// token bucket holding N (the burst; `,burst=B` sets it), or `off`.
    /// Over it: 429 with Retry-After.
    #[arg(long, value_name = "RATE", default_value = "100/s", value_parser = limits::parse_rate_limit)]
    pub rate_limit: RateLimit,

    /// How long a request may wait for DNS; rows still pending then are
    /// `retry` (dns_failure, warning unfinished) and their checks
    /// go on in the background, cached for the next request.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration_in(Duration::from_millis(10), Duration::from_secs(600)))]
    pub request_timeout: Duration,

    /// How long a domain's verdict (and its MX hosts' lookups) is cached
    /// before the next request checks it again; a `retry` verdict, at most
    /// 30 s.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration_in(Duration::from_secs(1), Duration::from_secs(7 * 86_400)))]
    pub cache_ttl: Duration,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub history: HistoryArgs,
}

/// How often the checker's checkpoint runs: expired cache entries dropped,
/// the history held back written, an unhealthy resolver asked again.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

/// Runs a checkpoint, saying on standard error when history was held back.
async fn checkpoint(checker: &Checker) {
    if let Err(e) = checker.checkpoint().await {
        eprintln!("prebounce serve: history checkpoint: {e}");
    }
}

/// What every request shares.
pub struct App {
    checker: Checker,
    policy: Policy,
    history_policy: Option<HistoryPolicy>,
    keys: Keys,
    limiter: Limiter,
    metrics: Metrics,
    max_batch: usize,
    /// `--max-body` (the limit itself is a layer; this is for messages).
    max_body: usize,
    request_timeout: Duration,
}

type Shared = Arc<App>;

/// A JSON error response.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({"error": code, "message": message.into()});
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

fn json_bytes(bytes: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

/// A body that could not be read: too large (413) or broken (400).
fn body_error(e: BytesRejection, max: usize) -> Response {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {max} bytes (--max-body)"),
        )
    } else {
        error(StatusCode::BAD_REQUEST, "bad_request", e.body_text())
    }
}

/// Counts every request: route, status, latency.
async fn count(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = metrics::route_index(
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
            .unwrap_or("other"),
    );
    let response = next.run(req).await;
    app.metrics
        .request(route, response.status().as_u16(), started.elapsed());
    response
}

/// Checks the key (when keys are on) and takes a token from the client's
/// bucket.
async fn guard(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    // The client a request is counted against: its key, else its address.
    let client = if app.keys.on() {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| keys::bearer(v.as_bytes()));
        match given.and_then(|k| app.keys.find(k)) {
            Some(key) => key,
            None => {
                let mut r = error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    if given.is_some() {
                        "the API key is not valid"
                    } else {
                        "an API key is needed: Authorization: Bearer KEY"
                    },
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"prebounce\""),
                );
                return r;
            }
        }
    } else {
        peer.ip().to_string().into_bytes().into_boxed_slice()
    };
    if let Err(wait) = app.limiter.take(&client) {
        return rate_limited(&app, wait);
    }
    next.run(req).await
}

fn rate_limited(app: &App, wait: Duration) -> Response {
    app.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests for this key (--rate-limit); try again in {secs} s"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// One checked address, ready to be written as a row.
pub struct Checked {
    row: prebounce::input::Row,
    verdict: Verdict,
    report: Option<Arc<DomainReport>>,
}

impl Checked {
    fn outcome(&self) -> Outcome<'_> {
        let domain = match &self.row.parsed {
            Ok(a) => Some(a.domain.as_str()),
            Err(e) => e.domain.as_deref(),
        };
        Outcome {
            row: &self.row,
            domain,
            verdict: &self.verdict,
            report: self.report.as_ref(),
        }
    }

    /// The row as `check --format jsonl` writes it.
    pub fn json(&self, policy: &Policy) -> std::io::Result<Vec<u8>> {
        jsonl_row(&self.outcome(), policy)
    }

    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    pub fn address(&self) -> &str {
        &self.row.address
    }
}

/// What the request's time limit ran out on, for the row's detail.
fn out_of_time(limit: Duration) -> String {
    format!("the request's time limit ({limit:?}, --request-timeout) ran out before DNS answered; the check goes on, and a later request gets its result")
}

impl App {
    /// Checks addresses as `check` does, all at once, until the deadline.
    pub async fn check_all(&self, addresses: &[String]) -> Vec<Checked> {
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        let checks = addresses.iter().enumerate().map(|(i, text)| async move {
            let row = prebounce::input::row_from_text(i as u64 + 1, text);
            let Ok(parsed) = &row.parsed else {
                let verdict = match &row.parsed {
                    Err(e) => prebounce::syntax_verdict(
                        e,
                        row.address
                            .rsplit_once('@')
                            .map(|(_, d)| d)
                            .unwrap_or_default(),
                    ),
                    Ok(_) => unreachable!(),
                };
                return Checked {
                    row,
                    verdict,
                    report: None,
                };
            };
            let domain = parsed.domain.clone();
            if self.checker.is_started(&domain) {
                self.metrics
                    .verdict_cache_hits
                    .fetch_add(1, Ordering::Relaxed);
            }
            let work = async { self.checker.start(&domain).await.wait().await };
            let report = match tokio::time::timeout_at(deadline, work).await {
                Ok(report) => report,
                Err(_) => {
                    self.metrics.timeouts.fetch_add(1, Ordering::Relaxed);
                    prebounce::unfinished_report(&domain, &out_of_time(self.request_timeout))
                }
            };
            Checked {
                row,
                verdict: report.verdict.clone(),
                report: Some(report),
            }
        });
        let done = join_all(checks).await;
        self.metrics.verdicts(done.iter().map(|c| &c.verdict));
        done
    }

    /// A domain's report as `domain` makes it, until the deadline.
    async fn explain(&self, name: &str) -> Arc<DomainReport> {
        let limit = self.request_timeout;
        let work = async {
            match name.rsplit_once('@') {
                Some((_, d)) => match self.checker.check_address(name).await.report {
                    Some(r) => r,
                    None => self.checker.check_domain(d).await,
                },
                None => self.checker.check_domain(name).await,
            }
        };
        match tokio::time::timeout(limit, work).await {
            Ok(r) => r,
            Err(_) => {
                self.metrics.timeouts.fetch_add(1, Ordering::Relaxed);
                let d = name
                    .rsplit('@')
                    .next()
                    .unwrap_or(name)
                    .trim()
                    .to_ascii_lowercase();
                prebounce::unfinished_report(&d, &out_of_time(limit))
            }
        }
    }
}

/// Check one address or a list.
#[utoipa::path(
    post,
    path = "/v1/check",
    request_body = api::CheckRequest,
    responses(
        (status = 200, description = "One result for `address`, or `{\"results\": [...]}` in order for `addresses`", body = api::CheckResponse),
        (status = 400, description = "Malformed JSON, or neither `address` nor `addresses`", body = api::ApiError),
        (status = 401, description = "No key, or a wrong one (when keys are on)", body = api::ApiError),
        (status = 413, description = "Body over --max-body, or more addresses than --max-batch", body = api::ApiError),
        (status = 429, description = "Over the key's rate limit; see Retry-After", body = api::ApiError),
    ),
    security((), ("api_key" = []))
)]
pub async fn check(State(app): State<Shared>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return body_error(e, app.max_body),
    };
    let request: api::CheckRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let why = if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
                "the body must be {\"address\": \"...\"} or {\"addresses\": [\"...\", ...]}, nothing else".to_string()
            } else {
                format!("the body is not valid JSON: {e}")
            };
            return error(StatusCode::BAD_REQUEST, "bad_request", why);
        }
    };
    let (addresses, one) = match request {
        api::CheckRequest::One(a) => (vec![a.address], true),
        api::CheckRequest::Many(m) => (m.addresses, false),
    };
    if addresses.len() > app.max_batch {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_addresses",
            format!(
                "{} addresses in one request; at most {} (--max-batch): split the list",
                addresses.len(),
                app.max_batch
            ),
        );
    }
    let checked = app.check_all(&addresses).await;
    let mut out = Vec::with_capacity(64 + 600 * checked.len());
    if !one {
        out.extend_from_slice(b"{\"results\":[");
    }
    for (i, c) in checked.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match c.json(&app.policy) {
            Ok(row) => out.extend_from_slice(&row),
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("cannot write a row: {e}"),
                )
            }
        }
    }
    if !one {
        out.extend_from_slice(b"]}");
    }
    json_bytes(out)
}

/// Explain one domain (an address is taken for its domain).
#[utoipa::path(
    get,
    path = "/v1/domains/{domain}",
    params(("domain" = String, Path, description = "A domain (an address is accepted: its domain is used)")),
    responses(
        (status = 200, description = "What `prebounce domain --format json` prints", body = api::DomainResult),
        (status = 401, description = "No key, or a wrong one", body = api::ApiError),
        (status = 429, description = "Over the key's rate limit", body = api::ApiError),
    ),
    security((), ("api_key" = []))
)]
pub async fn domain(State(app): State<Shared>, Path(name): Path<String>) -> Response {
    let report = app.explain(&name).await;
    app.metrics.verdicts(std::iter::once(&report.verdict));
    match super::domain::json_value(&report, &app.policy, app.history_policy.as_ref()) {
        Ok(bytes) => json_bytes(bytes),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("cannot write the report: {e}"),
        ),
    }
}

/// Liveness: 200 while the server answers (no key needed).
#[utoipa::path(
    get,
    path = "/healthz",
    responses((status = 200, description = "The server answers", body = api::Health)),
    security(())
)]
pub async fn healthz(State(app): State<Shared>) -> Response {
    let body = serde_json::json!({
        "status": "ok",
        "resolver_unhealthy": app.checker.resolver_unhealthy(),
    });
    json_bytes(body.to_string().into_bytes())
}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(
    get,
    path = "/metrics",
    responses(
        (status = 200, description = "Counters and histograms", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "No key, or a wrong one", body = api::ApiError),
        (status = 429, description = "Over the key's rate limit", body = api::ApiError),
    ),
    security((), ("api_key" = []))
)]
pub async fn metrics(State(app): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        app.metrics.render(&app.checker, app.keys.count()),
    )
        .into_response()
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)),
    security(())
)]
pub async fn openapi_json() -> Response {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOC.get_or_init(api::document).as_str(),
    )
        .into_response()
}

/// A JSON 404 for every other path.
async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route: see /openapi.json",
    )
}

/// A JSON 405 for a route asked with another method.
async fn wrong_method() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method: see /openapi.json",
    )
}

/// The routes, with their layers.
pub fn router(app: Shared) -> Router {
    let max_body = app.max_body;
    let guarded = Router::new()
        .route("/v1/check", post(check))
        .route("/v1/domains/{domain}", get(domain))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(app.clone(), guard));
    Router::new()
        .merge(guarded)
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi_json))
        .route("/", get(page::show).post(page::submit))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(app.clone(), count))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(app)
}

/// SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// Runs `prebounce serve` until SIGTERM or SIGINT.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let keys = Keys::load(args.api_keys.as_deref())?;
    if !keys.on() && !args.no_auth && !args.listen.ip().is_loopback() {
        return Err(UsageError(format!(
            "--listen {}: not a loopback address, and no API keys: give --api-keys FILE (or PREBOUNCE_API_KEYS), or --no-auth to serve anyone who can reach it",
            args.listen
        ))
        .into());
    }
    if keys.on() && args.no_auth {
        return Err(UsageError("--no-auth with PREBOUNCE_API_KEYS set: choose one".into()).into());
    }
    let history = history_setup(&args.history, !args.dns.zone.is_empty(), true)?;
    let setup = long_lived_dns_setup(&args.dns, &args.probe, history, args.cache_ttl).await?;
    let checker = setup.checker.clone();
    let _ = checker.check_resolver(true).await;
    let app = Arc::new(App {
        policy: checker.policy().clone(),
        history_policy: checker.history_policy().cloned(),
        checker: checker.clone(),
        keys,
        limiter: Limiter::new(args.rate_limit.0),
        metrics: Metrics::default(),
        max_batch: args.max_batch,
        max_body: args.max_body,
        request_timeout: args.request_timeout,
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr()?;
    println!("{local}");
    eprintln!(
        "prebounce serve: listening on http://{local}/ ({}; {})",
        if app.keys.on() {
            format!("{} API key(s)", app.keys.count())
        } else {
            "no API keys".to_string()
        },
        setup.describe()
    );
    // SIGHUP: the key file again.
    let hup_app = app.clone();
    let hup = tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            match hup_app.keys.reload() {
                Ok(n) => eprintln!("prebounce serve: SIGHUP: {n} API key(s) in force"),
                Err(e) => eprintln!("prebounce serve: SIGHUP: {e}; the keys in force stay"),
            }
        }
    });
    let ticker_checker = checker.clone();
    let ticker = tokio::spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            checkpoint(&ticker_checker).await;
        }
    });
    let service = router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
    // Small responses go out at once (no Nagle delay behind a client's
    // delayed ACK).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, service)
        .with_graceful_shutdown(async {
            stop_signal().await;
            eprintln!("prebounce serve: stopping: finishing the requests in flight");
        })
        .await
        .map_err(|e| anyhow::anyhow!("the server failed: {e}"))?;
    hup.abort();
    ticker.abort();
    checkpoint(&checker).await;
    checker
        .finish_history()
        .map_err(|e| anyhow::anyhow!("cannot write the history: {e}"))?;
    eprintln!("prebounce serve: stopped");
    drop(setup);
    Ok(())
}
