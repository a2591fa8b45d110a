//! How dag's messages travel: sized against the server's max payload (a larger one
//! goes through the `dag_payloads` object store, and the message carries its name),
//! publish errors told apart by whether trying again can help, and the per-attempt
//! token that binds a result to the task message handed out.
//!
//! The token: the scheduler draws 128 random bits for each attempt it publishes and
//! sends them in the task message's `Dag-Token` header, which only the worker that
//! takes the message receives. The worker's results carry `Dag-Proof`, an HMAC-SHA256
//! of the result's payload keyed by the token; the scheduler accepts a result only
//! with the proof of the attempt it waits for. A client that can publish results but
//! never received the task message cannot make one, and one that saw a result cannot
//! make another from it.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, object_store};
use bytes::Bytes;
use tokio::io::AsyncReadExt;

use super::{NatsError, QUEUE_MAX_AGE};

/// Object store bucket of payloads too large for one message.
pub const PAYLOADS_BUCKET: &str = "dag_payloads";
/// Header of a task message: its attempt's token.
pub const TOKEN_HEADER: &str = "Dag-Token";
/// Header of a result: the HMAC of its payload keyed by the attempt's token.
pub const PROOF_HEADER: &str = "Dag-Proof";
/// Header of a message whose payload is in [`PAYLOADS_BUCKET`]: the object's name.
pub const OBJECT_HEADER: &str = "Dag-Object";
/// Header of a message whose payload is in [`PAYLOADS_BUCKET`]: the payload's
/// SHA-256. The object can be replaced by anyone who may write the bucket; the
/// message, which names it, only by its sender.
pub const DIGEST_HEADER: &str = "Dag-Digest";
/// The largest message dag sends at all, through the object store: 64 MiB (a task
/// message of an fn task carries the outputs of its direct upstream tasks, up to
/// 1 MiB each, 32 MiB for a list a `for_each` reads).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Room kept under the max payload for headers.
const HEADROOM: usize = 4 * 1024;

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The server is away or slow: trying again may succeed.
    Retry(String),
    /// Trying again cannot succeed (too large, an invalid subject, a permission the
    /// server refuses).
    Never(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Retry(e) | SendError::Never(e) => f.write_str(e),
        }
    }
}

/// A fresh attempt token: 128 bits from the system's secure random source, in hex.
pub fn new_token() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    // The system source does not fail on Linux once booted; a failure leaves a token
    // no result can prove, so the attempt fails rather than trusting anyone.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    hex(&bytes)
}

/// The SHA-256 of `payload`, in hex.
pub fn digest(payload: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, payload).as_ref())
}

use crate::engine::text::hex;

/// The proof of `payload` under `token`.
pub fn proof(token: &str, payload: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
    hex(ring::hmac::sign(&key, payload).as_ref())
}

/// Whether `proof` is the proof of `payload` under `token` (in constant time).
pub fn verify(token: &str, payload: &[u8], proof: &str) -> bool {
    let Some(tag) = unhex(proof) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
    ring::hmac::verify(&key, payload, &tag).is_ok()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A header's value.
pub fn header<'a>(headers: Option<&'a HeaderMap>, name: &str) -> Option<&'a str> {
    headers.and_then(|h| h.get(name)).map(|v| v.as_str())
}

/// The payload bucket, created with `replicas` copies if missing.
pub async fn payloads_bucket(
    js: &jetstream::Context,
    replicas: super::Replicas,
) -> Result<object_store::ObjectStore, NatsError> {
    super::object_store(
        js,
        object_store::Config {
            bucket: PAYLOADS_BUCKET.into(),
            max_age: QUEUE_MAX_AGE,
            ..Default::default()
        },
        replicas,
    )
    .await
}

/// The largest payload that goes in a message itself, from the server's
/// advertised max payload.
pub fn inline_limit(client: &async_nats::Client) -> usize {
    let max = client.server_info().max_payload;
    let max = if max == 0 { 1024 * 1024 } else { max };
    // A small max payload keeps three quarters for the payload, not nothing.
    max.saturating_sub(HEADROOM.min(max / 4))
}

/// A message the stream has.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// Its stream sequence.
    pub sequence: u64,
    /// Whether its payload went to the payload bucket.
    pub stored: bool,
}

/// Publishes `payload` on `subject` and waits for the stream's ack. A payload over [`inline_limit`] is put in the payload
/// bucket as `object` first, and the message carries only its name. A payload over
/// [`MAX_MESSAGE_BYTES`] is refused. The payload bucket is created with
/// `replicas` copies if it went missing.
pub async fn send(
    js: &jetstream::Context,
    client: &async_nats::Client,
    subject: &str,
    mut headers: HeaderMap,
    payload: Bytes,
    object: &str,
    replicas: super::Replicas,
) -> Result<Sent, SendError> {
    let mut payload = payload;
    let mut stored = false;
    if payload.len() > MAX_MESSAGE_BYTES {
        return Err(SendError::Never(format!(
            "the message is {} bytes, over the limit of {MAX_MESSAGE_BYTES} bytes (64 MiB)",
            payload.len()
        )));
    }
    if payload.len() > inline_limit(client) {
        let store = payloads_bucket(js, replicas)
            .await
            .map_err(|e| classify_text(subject, e.to_string()))?;
        put_object(client, &store, object, &payload)
            .await
            .map_err(|e| {
                classify_text(PAYLOADS_BUCKET, format!("cannot store the payload: {e}"))
            })?;
        headers.insert(OBJECT_HEADER, object);
        headers.insert(DIGEST_HEADER, digest(&payload).as_str());
        payload = Bytes::new();
        stored = true;
    }
    let ack = js
        .publish_with_headers(subject.to_string(), headers, payload)
        .await
        .map_err(|e| classify(subject, &e))?
        .await
        .map_err(|e| classify_text(subject, e.to_string()))?;
    Ok(Sent {
        sequence: ack.sequence,
        stored,
    })
}

/// Puts `payload` in `store` as `name`, in chunks that fit the server's max payload
/// however small it is set.
pub async fn put_object(
    client: &async_nats::Client,
    store: &object_store::ObjectStore,
    name: &str,
    payload: &[u8],
) -> Result<(), object_store::PutError> {
    let chunk = inline_limit(client).clamp(1024, 128 * 1024);
    let meta = object_store::ObjectMetadata {
        name: name.to_string(),
        chunk_size: Some(chunk),
        ..Default::default()
    };
    let mut reader = Chunked {
        data: payload,
        chunk,
    };
    store.put(meta, &mut reader).await.map(drop)
}

/// Reads `data` at most `chunk` bytes at a time (the object store publishes what
/// one read gives as one chunk).
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl tokio::io::AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = self.chunk.min(self.data.len()).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        std::task::Poll::Ready(Ok(()))
    }
}

fn classify(subject: &str, e: &jetstream::context::PublishError) -> SendError {
    use jetstream::context::PublishErrorKind;
    match e.kind() {
        PublishErrorKind::MaxPayloadExceeded => SendError::Never(e.to_string()),
        _ => classify_text(subject, e.to_string()),
    }
}

/// What the server says when a stream or bucket is at one of its limits (JetStream
/// errors 10077 maximum bytes, 10078 maximum messages, 10054 message size, 10023
/// resources): the same publish fails again until someone makes room, so the task
/// fails with the reason instead of waiting.
const STORAGE_LIMITS: &[&str] = &[
    "maximum bytes exceeded",
    "maximum messages exceeded",
    "maximum messages per subject exceeded",
    "message size exceeds maximum allowed",
    "insufficient resources",
    "error code 10077",
    "error code 10078",
    "error code 10054",
    "error code 10023",
];

/// An error as text, told apart by what it says: an invalid subject or a permission
/// the server refused on this subject (whose request then only times out) cannot
/// succeed later.
/// `subject` is the subject published to, or the bucket written.
fn classify_text(subject: &str, text: String) -> SendError {
    if text.contains("max payload") || STORAGE_LIMITS.iter().any(|l| text.contains(l)) {
        return SendError::Never(text);
    }
    if text.contains("invalid subject") {
        return SendError::Never(format!("{text} (`{}`)", super::wire::excerpt(subject)));
    }
    if let Some(refusal) = super::last_refusal()
        && (refusal.contains(&format!("\"{subject}\""))
            || refusal.contains(&format!(".{subject}.")))
    {
        return SendError::Never(super::refusal_cause(&refusal));
    }
    SendError::Retry(text)
}

/// The payload of a received message: its own, or the object it names (at most
/// [`MAX_MESSAGE_BYTES`]). A missing object is an error that cannot pass.
pub async fn receive(
    js: &jetstream::Context,
    headers: Option<&HeaderMap>,
    payload: &Bytes,
    replicas: super::Replicas,
) -> Result<Bytes, SendError> {
    let Some(name) = header(headers, OBJECT_HEADER) else {
        return Ok(payload.clone());
    };
    let cannot = |e: &dyn std::fmt::Display| {
        format!(
            "cannot read object {} of {PAYLOADS_BUCKET}: {e}",
            super::wire::excerpt(name)
        )
    };
    let Some(expected) = header(headers, DIGEST_HEADER).map(str::to_string) else {
        return Err(SendError::Never(cannot(&"its message carries no digest")));
    };
    // The metadata first (one small read): an object that is gone, too large, or
    // whose recorded digest is not the message's is refused before any chunk is
    // awaited.
    let store = tokio::time::timeout(LOOKUP, payloads_bucket(js, replicas))
        .await
        .map_err(|_| SendError::Retry(cannot(&"no answer from the server")))?
        .map_err(|e| SendError::Retry(e.to_string()))?;
    let info = tokio::time::timeout(LOOKUP, store.info(name))
        .await
        .map_err(|_| SendError::Retry(cannot(&"no answer from the server")))?
        .map_err(|e| match e.kind() {
            object_store::InfoErrorKind::NotFound | object_store::InfoErrorKind::InvalidName => {
                SendError::Never(cannot(&e))
            }
            _ => SendError::Retry(cannot(&e)),
        })?;
    if info.deleted {
        return Err(SendError::Never(cannot(&"it was deleted")));
    }
    if is_link(&info) {
        return Err(SendError::Never(cannot(&"it is a link to another object")));
    }
    if info.size > MAX_MESSAGE_BYTES {
        return Err(SendError::Never(cannot(&format!(
            "it is {} bytes, over the limit of {MAX_MESSAGE_BYTES} bytes",
            info.size
        ))));
    }
    if unhex(&expected).map(|d| format!("SHA-256={}", base64_url(&d))) != info.digest {
        return Err(SendError::Never(cannot(&MISMATCH)));
    }
    // Then the chunks, within a bound from the size: chunks that never come (an
    // object whose metadata was written without them) fail it, never wait for long.
    let bound = read_bound(info.size);
    let fetch = async {
        let object = store.get(name).await.map_err(|e| match e.kind() {
            object_store::GetErrorKind::NotFound | object_store::GetErrorKind::InvalidName => {
                SendError::Never(cannot(&e))
            }
            _ => SendError::Retry(cannot(&e)),
        })?;
        let mut bytes = Vec::with_capacity(info.size);
        object
            .take(MAX_MESSAGE_BYTES as u64)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| SendError::Retry(cannot(&e)))?;
        if digest(&bytes) != expected {
            return Err(SendError::Never(cannot(&MISMATCH)));
        }
        Ok(Bytes::from(bytes))
    };
    tokio::time::timeout(bound, fetch)
        .await
        .unwrap_or_else(|_| {
            Err(SendError::Never(cannot(&format!(
                "its {} bytes did not arrive within {} (chunks missing?)",
                info.size,
                humantime::format_duration(bound)
            ))))
        })
}

/// The longest a lookup of an object's metadata waits for the server.
const LOOKUP: Duration = Duration::from_secs(5);
/// Why an object is refused when its content is not what its message says.
const MISMATCH: &str = "its content does not match the digest its message carries (replaced?)";

/// How long reading an object of `size` bytes may take: 5 s, plus 1 s per 4 MiB
/// (21 s for the largest, 64 MiB).
pub fn read_bound(size: usize) -> Duration {
    Duration::from_secs(5 + (size / (4 * 1024 * 1024)) as u64)
}

/// `bytes` in URL-safe base64 with padding (how the object store records digests).
/// Whether an object is a link: the client follows links without end (a link
/// to itself overflows the stack), and no object dag writes is one.
pub(super) fn is_link(info: &object_store::ObjectInfo) -> bool {
    info.options.as_ref().is_some_and(|o| o.link.is_some())
}

pub(super) fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Deletes the object a message names, if it names one (best effort: the bucket's
/// max age removes what is left).
pub async fn discard(js: &jetstream::Context, headers: Option<&HeaderMap>) {
    if let Some(name) = header(headers, OBJECT_HEADER) {
        delete_object(js, name).await;
    }
}

/// Deletes an object of the payload bucket (best effort).
pub async fn delete_object(js: &jetstream::Context, name: &str) {
    if let Ok(store) = js.get_object_store(PAYLOADS_BUCKET).await {
        let _ = store.delete(name).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_holds_only_for_its_token_and_payload() {
        let token = new_token();
        assert_eq!(token.len(), 32);
        assert_ne!(token, new_token());
        let p = proof(&token, b"result");
        assert!(verify(&token, b"result", &p));
        assert!(!verify(&token, b"forged", &p));
        assert!(!verify(&new_token(), b"result", &p));
        assert!(!verify(&token, b"result", "zz"));
        assert!(!verify(&token, b"result", ""));
        assert!(!verify(&token, b"result", "\u{e9}a"));
    }

    #[test]
    fn digests_are_compared_as_the_object_store_records_them() {
        // The object store's own encoding of SHA-256("hello").
        let d = unhex(&digest(b"hello")).unwrap();
        assert_eq!(
            base64_url(&d),
            "LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
        );
        assert_eq!(base64_url(b"ab"), "YWI=");
        assert_eq!(base64_url(b"abc"), "YWJj");
        assert_eq!(read_bound(0), Duration::from_secs(5));
        assert_eq!(read_bound(MAX_MESSAGE_BYTES), Duration::from_secs(21));
    }

    #[test]
    fn only_errors_that_can_pass_are_retried() {
        assert!(matches!(
            classify_text("dag.results.x", "timed out".into()),
            SendError::Retry(_)
        ));
        assert!(matches!(
            classify_text("dag.results.a b", "invalid subject".into()),
            SendError::Never(_)
        ));
        // A full bucket or stream stays full (finding 6 of the attack on issue 13).
        for full in [
            "cannot store the payload: maximum bytes exceeded (code 503, error code 10077)",
            "maximum messages exceeded (code 503, error code 10078)",
            "insufficient resources (code 503, error code 10023)",
        ] {
            assert!(
                matches!(
                    classify_text("dag_payloads", full.into()),
                    SendError::Never(_)
                ),
                "{full}"
            );
        }
    }
}
