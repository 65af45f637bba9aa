//! `GET /` and `POST /`: a small page for people. A plain HTML form (no
//! script, inline CSS, no external asset) posts one address or a pasted
//! list to `POST /`, which answers with the same page and a table of
//! verdicts: action, reason, status, the row's detail and what the reason
//! means. When keys are on, the form has a key field, checked like the
//! bearer header (and counted against the key's rate limit); without keys,
//! `GET /?addresses=...` works too, so a result can be linked.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use prebounce_core::verdict::Action;
use serde::Deserialize;

use super::{Checked, Shared};
use crate::cli::report::ACTION_COLORS;

/// The form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct PageForm {
    /// One address, or several, one per line (commas and semicolons
    /// separate them too).
    #[serde(default)]
    addresses: Option<String>,
    /// The API key, when keys are on.
    #[serde(default)]
    key: Option<String>,
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn color(a: Action) -> &'static str {
    ACTION_COLORS
        .iter()
        .find(|(x, _)| *x == a)
        .map(|(_, c)| *c)
        .unwrap_or("#555")
}

/// The addresses of the form's text: one per line (or separated by
/// commas or semicolons), blank ones skipped.
fn split(text: &str) -> Vec<String> {
    text.split(['\n', ',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn render(keys_on: bool, text: &str, message: Option<&str>, rows: &[Checked]) -> String {
    let mut h = String::with_capacity(4096 + rows.len() * 400);
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>prebounce</title>
<style>
body {{ font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; background: #fafafa; }}
main {{ max-width: 62rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }}
h1 {{ font-size: 1.5rem; margin: 0 0 .25rem; }}
p.lead {{ margin: 0 0 1rem; color: #555; }}
form {{ background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 1rem; }}
label {{ display: block; font-weight: 600; margin-bottom: .3rem; }}
textarea, input[type=password] {{ width: 100%; box-sizing: border-box; font: 15px ui-monospace, monospace; padding: .5rem; border: 1px solid #bbb; border-radius: 4px; }}
.row {{ margin-bottom: .8rem; }}
button {{ font: inherit; padding: .45rem 1.2rem; border: 0; border-radius: 4px; background: #0072b2; color: #fff; cursor: pointer; }}
.message {{ margin: 1rem 0; padding: .6rem .8rem; border-left: 4px solid #882255; background: #fff; }}
table {{ width: 100%; border-collapse: collapse; margin-top: 1.2rem; background: #fff; }}
th, td {{ text-align: left; vertical-align: top; padding: .45rem .5rem; border-bottom: 1px solid #e4e4e4; }}
th {{ font-size: .85rem; text-transform: uppercase; letter-spacing: .03em; color: #666; }}
td.address {{ font-family: ui-monospace, monospace; word-break: break-all; }}
.verdict {{ display: inline-block; min-width: 4.5rem; text-align: center; padding: .1rem .45rem; border-radius: 3px; color: #fff; font-weight: 600; }}
.why {{ color: #555; font-size: .9rem; }}
code {{ font-family: ui-monospace, monospace; }}
</style></head>
<body><main>
<h1>prebounce</h1>
<p class="lead">Which addresses can never receive mail? DNS evidence for each: <b>deliver</b>, <b>retry</b> or <b>suppress</b>, with a reason and an RFC 3463 status.</p>
<form method="post" action="/">
<div class="row"><label for="addresses">Addresses (one per line)</label>
<textarea id="addresses" name="addresses" rows="6" placeholder="ann@example.org&#10;bob@example.net" required>{}</textarea></div>
"#,
        esc(text)
    );
    if keys_on {
        h.push_str(
            r#"<div class="row"><label for="key">API key</label>
<input type="password" id="key" name="key" autocomplete="current-password" required></div>
"#,
        );
    }
    h.push_str("<button type=\"submit\">Check</button>\n</form>\n");
    if let Some(m) = message {
        let _ = writeln!(h, "<p class=\"message\" id=\"message\">{}</p>", esc(m));
    }
    if !rows.is_empty() {
        h.push_str(
            "<table id=\"results\"><thead><tr><th>Address</th><th>Verdict</th><th>Reason</th><th>Status</th><th>Explanation</th></tr></thead><tbody>\n",
        );
        for r in rows {
            let v = r.verdict();
            let a = v.action();
            let status = v
                .status()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "–".into());
            let mut detail = esc(&v.detail);
            if !v.warnings.is_empty() {
                let codes: Vec<&str> = v.warnings.iter().map(|w| w.code()).collect();
                let _ = write!(
                    detail,
                    " <span class=\"why\">(warnings: {})</span>",
                    esc(&codes.join(", "))
                );
            }
            let _ = writeln!(
                h,
                "<tr class=\"result\" data-action=\"{a}\" data-reason=\"{code}\"><td class=\"address\">{addr}</td><td><span class=\"verdict\" style=\"background:{col}\">{a}</span></td><td><code class=\"reason\">{code}</code></td><td>{status}</td><td><span class=\"detail\">{detail}</span><br><span class=\"why\">{when}</span></td></tr>",
                a = a.as_str(),
                code = v.reason.code(),
                addr = esc(r.address()),
                col = color(a),
                status = esc(&status),
                when = esc(v.reason.info().when),
            );
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("</main></body></html>\n");
    h
}

fn page(status: StatusCode, keys_on: bool, text: &str, message: &str) -> Response {
    (status, Html(render(keys_on, text, Some(message), &[]))).into_response()
}

/// Checks the form's addresses and renders them.
async fn answer(app: &Shared, text: &str) -> Response {
    let addresses = split(text);
    if addresses.len() > app.max_batch {
        return page(
            StatusCode::PAYLOAD_TOO_LARGE,
            app.keys.on(),
            text,
            &format!(
                "{} addresses: at most {} at once (--max-batch).",
                addresses.len(),
                app.max_batch
            ),
        );
    }
    if addresses.is_empty() {
        return page(
            StatusCode::BAD_REQUEST,
            app.keys.on(),
            text,
            "Give at least one address.",
        );
    }
    let rows = app.check_all(&addresses).await;
    Html(render(app.keys.on(), text, None, &rows)).into_response()
}

/// Takes a token for the client (its key, else its address); a 429 page
/// when there is none.
fn limited(app: &Shared, client: &[u8], text: &str) -> Option<Response> {
    let wait = app.limiter.take(client).err()?;
    app.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut r = page(
        StatusCode::TOO_MANY_REQUESTS,
        app.keys.on(),
        text,
        &format!("Too many requests: try again in {secs} s."),
    );
    r.headers_mut()
        .insert(axum::http::header::RETRY_AFTER, secs.into());
    Some(r)
}

/// `GET /`: the form; without keys, `?addresses=` also checks them.
pub async fn show(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<PageForm>, QueryRejection>,
) -> Response {
    let text = query.ok().and_then(|q| q.0.addresses).unwrap_or_default();
    if text.trim().is_empty() {
        return Html(render(app.keys.on(), "", None, &[])).into_response();
    }
    if app.keys.on() {
        return page(
            StatusCode::UNAUTHORIZED,
            true,
            &text,
            "This server needs an API key: enter it in the form.",
        );
    }
    if let Some(r) = limited(&app, peer.ip().to_string().as_bytes(), &text) {
        return r;
    }
    answer(&app, &text).await
}

/// `POST /`: the form's answer.
pub async fn submit(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: Result<Form<PageForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => {
            let status = e.status();
            return page(
                status,
                app.keys.on(),
                "",
                &format!("The form could not be read: {}", e.body_text()),
            );
        }
    };
    let text = form.addresses.unwrap_or_default();
    let client: Vec<u8> = if app.keys.on() {
        let given = form.key.unwrap_or_default();
        match app.keys.find(given.trim().as_bytes()) {
            Some(k) => k.into_vec(),
            None => {
                return page(
                    StatusCode::UNAUTHORIZED,
                    true,
                    &text,
                    if given.is_empty() {
                        "This server needs an API key: enter it in the form."
                    } else {
                        "The API key is not valid."
                    },
                )
            }
        }
    } else {
        peer.ip().to_string().into_bytes()
    };
    if let Some(r) = limited(&app, &client, &text) {
        return r;
    }
    answer(&app, &text).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_escapes_what_it_echoes() {
        let html = render(true, "<script>x</script>", Some("a & b"), &[]);
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("a &amp; b"));
        assert!(html.contains("name=\"key\""));
        assert!(!render(false, "", None, &[]).contains("name=\"key\""));
    }

    #[test]
    fn pasted_lists_split() {
        assert_eq!(
            split("a@b.zz\r\nc@d.zz, e@f.zz;g@h.zz\n\n not one \n"),
            ["a@b.zz", "c@d.zz", "e@f.zz", "g@h.zz", "not one"]
        );
    }
}
