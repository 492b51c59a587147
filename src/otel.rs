//! Tracing spans exported with OpenTelemetry (the `otel` feature): when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set, every span of an elf (one per job, with its run and job ids) and
//! of `mycelium serve` (one per request, one per job it serves over HTTP)
//! goes to that OTLP collector over HTTP with JSON bodies, batched on the
//! SDK's own thread. The standard `OTEL_*` variables tune it
//! (`OTEL_BSP_SCHEDULE_DELAY`, `OTEL_EXPORTER_OTLP_HEADERS`, ...);
//! `OTEL_SERVICE_NAME` overrides the service name (the elf's name, or
//! `mycelium-serve`).
//!
//! The exporter sends with ureq, the HTTP client the ArangoDB backend
//! already uses, so the feature brings no second HTTP stack.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// The provider, kept to flush its last spans at exit.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The layer that exports spans, when an OTLP endpoint is configured;
/// `None` (and a warning on stderr when the exporter cannot be built)
/// otherwise. `service` names the process in the collector.
pub(crate) fn layer<S>(service: &str) -> Option<impl Layer<S>>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let configured = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()));
    if !configured {
        return None;
    }
    let exporter = match SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_http_client(Ureq::new())
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "warning: OpenTelemetry: cannot export spans to OTEL_EXPORTER_OTLP_ENDPOINT ({e}); \
                 set it to the collector's OTLP/HTTP base URL, e.g. http://127.0.0.1:4318"
            );
            return None;
        }
    };
    let name = std::env::var("OTEL_SERVICE_NAME").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| service.to_owned());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(name).build())
        .build();
    let tracer = provider.tracer("mycelium");
    let _ = PROVIDER.set(provider);
    Some(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Sends the spans not exported yet and stops the exporter (at exit).
pub(crate) fn shutdown() {
    if let Some(p) = PROVIDER.get()
        && let Err(e) = p.shutdown_with_timeout(Duration::from_secs(5))
    {
        eprintln!("warning: OpenTelemetry: the last spans could not be exported: {e}");
    }
}

/// The exporter's HTTP client: ureq, blocking, which suits the batch
/// processor's own thread.
#[derive(Debug)]
struct Ureq(ureq::Agent);

impl Ureq {
    fn new() -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build();
        Self(config.into())
    }

    fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let mut response = self.0.run(Request::from_parts(parts, body.to_vec()))?;
        let status = response.status();
        let bytes = response.body_mut().with_config().limit(4 * 1024 * 1024).read_to_vec()?;
        Ok(Response::builder().status(status).body(Bytes::from(bytes))?)
    }
}

impl HttpClient for Ureq {
    // What `#[async_trait]` makes of `async fn send_bytes`.
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { self.send(request) })
    }
}
