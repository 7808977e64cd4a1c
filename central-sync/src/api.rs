//! `central-sync serve`: the HTTPS API sites call (axum over rustls with the ring provider, HTTP/1.1).
//!
//! Every connection is TLS with central's server certificate. A site's client certificate (issued
//! at enrolment) is asked for; routes other than enrolment, health and the API document refuse a
//! caller without one, or whose certificate is not the current one of an enrolled site.
//!
//! Bounds: at most [`CONNECTIONS_MAX`] connections at once (more wait in the listen queue), a TLS
//! handshake gets [`HANDSHAKE_TIMEOUT`], a connection lives at most [`CONNECTION_LIFETIME`], JSON
//! bodies are at most [`API_JSON_BYTES_MAX`] and results [`RESULT_BYTES_MAX`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use exam_crypto::Fingerprint;
use exam_protocol::central::{
    API_JSON_BYTES_MAX, ApiError, BatchReceipt, EnrollRequest, KeyRelease, PackageList,
    RESULT_BATCH_BYTES_MAX, RESULT_BYTES_MAX,
};
use rusqlite::Connection;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};

use crate::keys::CentralKeys;
use crate::{enroll, packages, results, store};

/// Connections served at once.
pub const CONNECTIONS_MAX: usize = 512;
/// Time a client has to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection is kept (a large package to a slow uplink included).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(3_600);

/// What handlers share.
pub struct Central {
    pub db: Mutex<Connection>,
    pub keys: CentralKeys,
    pub data: PathBuf,
}

/// A refusal: an HTTP status and a message for a person.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "考试中心内部错误，请稍后重试 / central failed to handle this ({e}); retry later"
            ),
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ApiError {
                error: self.message,
            }),
        )
            .into_response()
    }
}

/// The client certificate of this connection, if one was presented (checked by rustls).
#[derive(Clone, Copy, Debug)]
pub struct PeerCert(pub Option<Fingerprint>);

/// A running API server.
pub struct RunningCentral {
    pub addr: SocketAddr,
    pub fingerprint: Fingerprint,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningCentral {
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}

/// Starts the API on `listen` over the store and keys in `data`.
pub async fn start(data: &Path, listen: SocketAddr) -> anyhow::Result<RunningCentral> {
    start_with(data, listen, None).await
}

/// [`start`], serving the operator's certificate instead of central's own when given.
pub async fn start_with(
    data: &Path,
    listen: SocketAddr,
    operator: Option<crate::keys::OperatorCert>,
) -> anyhow::Result<RunningCentral> {
    let keys = CentralKeys::load(data, SystemTime::now())?;
    let conn = store::open(data)?;
    let tls = Arc::new(keys.server_config(operator.as_ref())?);
    let fingerprint = operator
        .as_ref()
        .map_or_else(|| keys.fingerprint(), |o| o.fingerprint());
    let central = Arc::new(Central {
        db: Mutex::new(conn),
        keys,
        data: data.to_path_buf(),
    });
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, tls, router(central), rx));
    tracing::info!(%addr, %fingerprint, "central listening");
    Ok(RunningCentral {
        addr,
        fingerprint,
        shutdown: Some(tx),
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut shutdown: oneshot::Receiver<()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    // Every connection's task: dropped (aborted) with the loop, so a stopped central answers no
    // one, not even on a kept-alive connection.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = &mut shutdown => return,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        conns.spawn(async move {
            let _permit = permit;
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(%peer, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| Fingerprint::of(c));
            let svc =
                hyper_util::service::TowerToHyperService::new(app.layer(Extension(PeerCert(cert))));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "connection ended"),
                Err(_) => tracing::info!(%peer, "connection closed: lived too long"),
                Ok(Ok(())) => {}
            }
        });
    }
}

fn router(central: Arc<Central>) -> Router {
    // Everything a site does needs its certificate, checked before a body is read.
    let sites = Router::new()
        .route("/api/v1/packages", get(package_list))
        .route("/api/v1/packages/{session}", get(package_get))
        .route("/api/v1/sessions/{session}/key", get(key_get))
        .route(
            "/api/v1/results",
            post(result_post).layer(DefaultBodyLimit::max(RESULT_BYTES_MAX as usize + 1024)),
        )
        .route(
            "/api/v1/results/batch",
            post(result_batch).layer(DefaultBodyLimit::max(RESULT_BATCH_BYTES_MAX as usize)),
        )
        .route_layer(axum::middleware::from_fn(require_cert));
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/openapi.json", get(openapi))
        .route(
            "/api/v1/enroll",
            post(enroll_route).layer(DefaultBodyLimit::max(API_JSON_BYTES_MAX)),
        )
        .merge(sites)
        .with_state(central)
}

/// Refuses a caller without a client certificate before anything else is done.
async fn require_cert(
    Extension(peer): Extension<PeerCert>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if peer.0.is_none() {
        return Refusal::new(
            StatusCode::UNAUTHORIZED,
            "需要考点证书，请先注册考点 / this needs the site's certificate: enroll the site first (`site-server init --central …`)",
        )
        .into_response();
    }
    next.run(req).await
}

/// Runs blocking store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    central: &Arc<Central>,
    f: impl FnOnce(&Central, &mut Connection) -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    let central = central.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = central
            .db
            .lock()
            .map_err(|_| Refusal::internal("the store lock was poisoned"))?;
        f(&central, &mut conn)
    })
    .await
    .map_err(Refusal::internal)?
}

/// The enrolled site calling, or a refusal.
fn calling_site(conn: &Connection, peer: PeerCert) -> Result<String, Refusal> {
    let Some(fp) = peer.0 else {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "需要考点证书，请先注册考点 / this needs the site's certificate: enroll the site first (`site-server init --central …`)",
        ));
    };
    enroll::site_calling(conn, &fp, crate::store::unix_ms())
        .map_err(Refusal::internal)?
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::FORBIDDEN,
                "该证书已失效（考点已重新注册或被停用） / this site certificate is no longer valid (the site enrolled again or was disabled): enroll it again",
            )
        })
}

async fn enroll_route(
    State(central): State<Arc<Central>>,
    Json(req): Json<EnrollRequest>,
) -> Result<Response, Refusal> {
    let resp = blocking(&central, move |c, conn| {
        enroll::enroll(conn, &c.keys, &req, crate::store::unix_ms())
    })
    .await?;
    Ok(Json(resp).into_response())
}

async fn package_list(
    State(central): State<Arc<Central>>,
    Extension(peer): Extension<PeerCert>,
) -> Result<Json<PackageList>, Refusal> {
    blocking(&central, move |c, conn| {
        let site = calling_site(conn, peer)?;
        packages::list_for_site(conn, &c.keys, &site, crate::store::unix_ms())
    })
    .await
    .map(Json)
}

async fn package_get(
    State(central): State<Arc<Central>>,
    Extension(peer): Extension<PeerCert>,
    UrlPath(session): UrlPath<String>,
) -> Result<Response, Refusal> {
    let bytes = blocking(&central, move |_, conn| {
        let site = calling_site(conn, peer)?;
        packages::stored(conn, &site, &session)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn key_get(
    State(central): State<Arc<Central>>,
    Extension(peer): Extension<PeerCert>,
    UrlPath(session): UrlPath<String>,
) -> Result<Json<KeyRelease>, Refusal> {
    blocking(&central, move |_, conn| {
        let site = calling_site(conn, peer)?;
        packages::release_key(conn, &site, &session, crate::store::unix_ms())
    })
    .await
    .map(Json)
}

async fn result_post(
    State(central): State<Arc<Central>>,
    Extension(peer): Extension<PeerCert>,
    body: Bytes,
) -> Result<Response, Refusal> {
    let receipt = blocking(&central, move |c, conn| {
        let site = calling_site(conn, peer)?;
        results::ingest(
            conn,
            &c.keys,
            &body,
            Some(&site),
            "uplink",
            crate::store::unix_ms(),
        )
        .map_err(|r| Refusal::new(r.status(), r.to_string()))
    })
    .await?;
    Ok(Json(receipt).into_response())
}

async fn result_batch(
    State(central): State<Arc<Central>>,
    Extension(peer): Extension<PeerCert>,
    body: Bytes,
) -> Result<Json<Vec<BatchReceipt>>, Refusal> {
    let batch = exam_protocol::central::decode_batch(&body)
        .map_err(|e| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    blocking(&central, move |c, conn| {
        let site = calling_site(conn, peer)?;
        let items: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        let outcomes = results::ingest_batch(
            conn,
            &c.keys,
            &items,
            Some(&site),
            "uplink",
            crate::store::unix_ms(),
        )
        .map_err(Refusal::internal)?;
        Ok(outcomes
            .into_iter()
            .zip(&batch)
            .map(|(outcome, bytes)| match outcome {
                Ok(r) => BatchReceipt {
                    bundle_id: r.bundle_id,
                    outcome: Some(r.outcome),
                    error: None,
                    permanent: false,
                },
                Err(e) => BatchReceipt {
                    bundle_id: exam_protocol::central::decode_result(bytes)
                        .map(|s| s.bundle_id)
                        .unwrap_or_default(),
                    outcome: None,
                    permanent: e.is_permanent(),
                    error: Some(e.to_string()),
                },
            })
            .collect())
    })
    .await
    .map(Json)
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

/// The API document, OpenAPI 3.1. A test checks that every route of [`router`] is in it.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");
