//! SMS and voice calls through a Twilio-compatible API (our integration; Alertmanager has
//! none): `POST {api_url}/2010-04-01/Accounts/{sid}/Messages.json` with `To`, `From`,
//! `Body`, or `Calls.json` with `To`, `From`, `Twiml`, basic auth `sid:token`.
//!
//! Each number is paged at most `max_per_hour` times in any hour. Over the limit the
//! attempt is not made: the outbox records it as rate-limited and tries again when the
//! window frees (a page is delayed, never dropped; if the delivery outlives the outbox's
//! `max_age` meanwhile, it fails and raises the meta-alert). The windows live in memory:
//! a restart forgets them, erring on the side of paging.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use super::http::check_response;
use super::template::{html_escape, Data};
use super::{ErrorKind, SendError};
use crate::model::Notification;
use crate::receiver::{PhoneConfig, PhoneMode};

/// One SMS segment of GSM-7 text.
pub const SMS_MAX_CHARS: usize = 160;

const HOUR_MS: i64 = 3_600_000;

/// The send times of each number within the last hour.
#[derive(Debug, Default)]
pub struct Windows(Mutex<HashMap<String, VecDeque<i64>>>);

impl Windows {
    /// `Ok` if `to` may be paged at `now_ms` under `max_per_hour`, else when it may.
    fn check(&self, to: &str, max_per_hour: u32, now_ms: i64) -> Result<(), i64> {
        let mut map = self.0.lock();
        let sent = map.entry(to.to_string()).or_default();
        while sent.front().is_some_and(|&t| t <= now_ms - HOUR_MS) {
            sent.pop_front();
        }
        if sent.len() >= max_per_hour as usize {
            // The oldest send within the hour leaves the window an hour after it.
            let oldest = sent.front().copied().unwrap_or(now_ms);
            return Err(oldest + HOUR_MS);
        }
        Ok(())
    }

    fn record(&self, to: &str, now_ms: i64) {
        self.0
            .lock()
            .entry(to.to_string())
            .or_default()
            .push_back(now_ms);
    }
}

/// The SMS text: the subject, then the common summary annotation if any, cut to
/// [`SMS_MAX_CHARS`] characters (ending in `...` when cut).
pub fn sms_body(data: &Data) -> String {
    let mut text = data.subject().trim_end().to_string();
    let summary = data.common_annotations.get("summary").or_else(|| {
        data.alerts
            .first()
            .and_then(|a| a.annotations.get("summary"))
    });
    if let Some(s) = summary {
        text.push_str(" - ");
        text.push_str(s);
    }
    if text.chars().count() > SMS_MAX_CHARS {
        // "..." rather than "…": the ellipsis is not in the GSM-7 alphabet and would turn
        // the message into UCS-2, whose segments hold 70 characters.
        let mut cut: String = text.chars().take(SMS_MAX_CHARS - 3).collect();
        cut.push_str("...");
        cut
    } else {
        text
    }
}

/// The TwiML of a voice call: the SMS text read twice.
pub fn twiml(data: &Data) -> String {
    let said = html_escape(&sms_body(data));
    format!("<Response><Say>{said}</Say><Pause length=\"1\"/><Say>{said}</Say></Response>")
}

/// One message or call to `to`.
pub async fn send(
    http: &reqwest::Client,
    config: &PhoneConfig,
    to: &str,
    n: &Notification,
    windows: &Windows,
) -> Result<(), SendError> {
    let now_ms = crate::outbox::now_ms();
    if let Err(until_ms) = windows.check(to, config.max_per_hour, now_ms) {
        return Err(SendError {
            kind: ErrorKind::RateLimited { until_ms },
            status: None,
            message: format!(
                "{to}: {} pages in the last hour (max_per_hour)",
                config.max_per_hour
            ),
        });
    }
    let data = Data::new(n, &n.alerts);
    let base = config.api_url.trim_end_matches('/');
    let (resource, field, content) = match config.mode {
        PhoneMode::Sms => ("Messages.json", "Body", sms_body(&data)),
        PhoneMode::Voice => ("Calls.json", "Twiml", twiml(&data)),
    };
    let url = format!(
        "{base}/2010-04-01/Accounts/{}/{resource}",
        config.account_sid
    );
    let form = [
        ("To", to),
        ("From", config.from.as_str()),
        (field, content.as_str()),
    ];
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let result = http
        .post(url)
        .basic_auth(&config.account_sid, Some(&config.auth_token))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await;
    check_response(result).await?;
    windows.record(to, now_ms);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_limit_each_number_per_hour() {
        let w = Windows::default();
        for t in [0, 10, 20] {
            assert_eq!(w.check("+1", 3, t), Ok(()));
            w.record("+1", t);
        }
        assert_eq!(w.check("+1", 3, 30), Err(HOUR_MS));
        assert_eq!(w.check("+2", 3, 30), Ok(()));
        assert_eq!(w.check("+1", 3, HOUR_MS), Ok(()));
    }
}
