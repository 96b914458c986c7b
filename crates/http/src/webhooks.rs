//! Webhook delivery: messages from the outbox, signed as Standard Webhooks
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`: HMAC-SHA256), retried with backoff.

use std::time::Duration;

use app::App;
use app::operator::Message;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The `webhook-signature` value for a message: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{payload}` under the secret (the base64 part of `whsec_...`).
pub fn sign(secret: &str, id: &str, timestamp: i64, payload: &str) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let key = engine.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).unwrap_or_else(|_| secret.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.{payload}").as_bytes());
    format!("v1,{}", engine.encode(mac.finalize().into_bytes()))
}

/// Sends one message; the status code, or the transport error.
async fn send(client: &reqwest::Client, m: &Message) -> Result<u16, String> {
    let response = client
        .post(&m.url)
        .header("content-type", "application/json")
        .header("webhook-id", &m.id)
        .header("webhook-timestamp", m.timestamp.to_string())
        .header("webhook-signature", sign(&m.secret, &m.id, m.timestamp, &m.payload))
        .body(m.payload.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}

/// Moves new events into deliveries and attempts every delivery that is due.
pub async fn deliver_due(app: &App, clock: app::Clock, client: &reqwest::Client) -> app::Result<usize> {
    app.pump_outbox(clock.now()).await?;
    let due = app.due_messages(clock.now(), 100).await?;
    let n = due.len();
    for (delivery, message) in due {
        let outcome = send(client, &message).await;
        let (status, error) = match &outcome {
            Ok(s) if (200..300).contains(s) => (Some(*s), None),
            Ok(s) => (Some(*s), Some(format!("endpoint answered {s}"))),
            Err(e) => (None, Some(e.clone())),
        };
        if let Some(e) = &error {
            tracing::warn!(message = %message.id, url = %message.url, error = %e, "webhook delivery failed; will retry");
        }
        app.record_delivery(clock.now(), &delivery, status, error.as_deref()).await?;
    }
    Ok(n)
}

/// Delivers webhooks until `shutdown` turns true.
pub async fn run(app: App, clock: app::Clock, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client");
    loop {
        match deliver_due(&app, clock, &client).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "webhook delivery"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signs_like_the_standard_webhooks_example() {
        let signature =
            sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
