//! Signed API calls, TOTP sessions and the CLI's saved session.

use super::*;

/// The key of user rex (a viewer the test holds in memory).
pub(crate) fn rex() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[0x5e; 32])
}

/// Signed API calls: a replayed or stale call is refused; TOTP login opens a
/// session once per code (RFC 6238 vectors are in custos-governance).
pub(crate) fn signed_calls_and_totp_sessions(c: &mut Cluster) {
    let api = serde_json::from_str::<Value>(
        &std::fs::read_to_string(c.data.join("cluster.json")).unwrap(),
    )
    .unwrap()["api_url"]
        .as_str()
        .unwrap()
        .to_owned();
    // The API speaks only TLS: a plain-HTTP request gets no HTTP answer.
    {
        use std::io::{Read, Write};
        let host = api.strip_prefix("https://").unwrap();
        let mut s = std::net::TcpStream::connect(host).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // The server may close as soon as it sees the first bytes are no TLS:
        // a failed write is as much a refusal as a closed read.
        let request = format!("GET /v1/health HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let _ = s.write_all(request.as_bytes());
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        assert!(
            !answer.starts_with(b"HTTP/"),
            "plain HTTP was answered: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    // The CLI refuses a server that presents another certificate than the
    // pinned one (here: the pin is wrong), and a plain-HTTP URL.
    let data = c.data.display().to_string();
    for (url, pin, expect) in [
        (api.as_str(), "00".repeat(32), "cannot reach the server"),
        (
            &api.replace("https://", "http://"),
            "00".repeat(32),
            "is not https://",
        ),
    ] {
        let (ok, out, err) = custos_env(
            &["--data-dir", &data, "wallet", "list"],
            &[("CUSTOS_API_URL", url), ("CUSTOS_API_FINGERPRINT", &pin)],
        );
        assert!(!ok && err.contains(expect), "{url}: {out}{err}");
    }
    let key = rex();
    let body = b"{}";
    let nonce = "11".repeat(16);
    let h = signed_headers(
        "rex",
        &key,
        "POST",
        "/v1/users/totp",
        body,
        unix_now(),
        &nonce,
    );
    let (status, enrolment) = http(&format!("{api}/v1/users/totp"), "POST", &h, body);
    assert_eq!(status, 200, "{enrolment}");
    // The same signed call again: replayed.
    let (status, err) = http(&format!("{api}/v1/users/totp"), "POST", &h, body);
    assert_eq!(status, 401, "{err}");
    assert!(err.contains("request replayed"), "{err}");
    // And after a restart (the server's memory is empty; its store is not).
    c.restart_server(None);
    let (status, err) = http(&format!("{api}/v1/users/totp"), "POST", &h, body);
    assert_eq!(status, 401, "{err}");
    assert!(
        err.contains("request replayed (nonce seen before)"),
        "{err}"
    );
    // Stale: ten minutes old.
    let h = signed_headers(
        "rex",
        &key,
        "POST",
        "/v1/users/totp",
        body,
        unix_now() - 600,
        &"22".repeat(16),
    );
    let (status, err) = http(&format!("{api}/v1/users/totp"), "POST", &h, body);
    assert_eq!(status, 401, "{err}");
    assert!(err.contains("outside"), "{err}");
    // Another user's signature over rex's call.
    let h = signed_headers(
        "rex",
        &ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
        "POST",
        "/v1/users/totp",
        body,
        unix_now(),
        &"33".repeat(16),
    );
    let (status, _) = http(&format!("{api}/v1/users/totp"), "POST", &h, body);
    assert_eq!(status, 401);

    let secret: Value = serde_json::from_str(&enrolment).unwrap();
    let secret = base32::decode(
        base32::Alphabet::Rfc4648 { padding: false },
        secret["secret"].as_str().unwrap(),
    )
    .unwrap();
    let totp = custos_governance::auth::Totp::new(zeroize::Zeroizing::new(secret), None).unwrap();
    let code = totp.code(unix_now() as u64);
    let login = |nonce: &str, code: &str| {
        let body = serde_json::json!({ "code": code }).to_string();
        let h = signed_headers(
            "rex",
            &key,
            "POST",
            "/v1/login",
            body.as_bytes(),
            unix_now(),
            nonce,
        );
        http(&format!("{api}/v1/login"), "POST", &h, body.as_bytes())
    };
    let (status, wrong) = login(
        &"44".repeat(16),
        if code == "000000" { "111111" } else { "000000" },
    );
    assert_eq!(status, 401, "{wrong}");
    let (status, session) = login(&"55".repeat(16), &code);
    assert_eq!(status, 200, "{session}");
    let token = serde_json::from_str::<Value>(&session).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, me) = http(
        &format!("{api}/v1/session"),
        "GET",
        &[("x-custos-session", token.clone())],
        b"",
    );
    assert_eq!(status, 200, "{me}");
    assert!(
        me.contains("\"user\":\"rex\"") && me.contains("viewer"),
        "{me}"
    );
    // The same code again (fresh signature): refused.
    let (status, err) = login(&"66".repeat(16), &code);
    assert_eq!(status, 401, "{err}");
    assert!(err.contains("TOTP code refused"), "{err}");

    // Reads need a user: the session reads what a viewer may, not the audit
    // log; a signed read works without a session; anonymous or bogus
    // credentials read nothing; the health check stays public.
    let session = [("x-custos-session", token)];
    let (status, list) = http(&format!("{api}/v1/requests"), "GET", &session, b"");
    assert_eq!(status, 200, "{list}");
    let (status, err) = http(&format!("{api}/v1/audit/export"), "GET", &session, b"");
    assert_eq!(status, 403, "{err}");
    assert!(err.contains("rex may not read /v1/audit/export"), "{err}");
    let h = signed_headers(
        "rex",
        &key,
        "GET",
        "/v1/wallets",
        b"",
        unix_now(),
        &"77".repeat(16),
    );
    let (status, wallets) = http(&format!("{api}/v1/wallets"), "GET", &h, b"");
    assert_eq!(status, 200, "{wallets}");
    for headers in [vec![], vec![("x-custos-session", "ab".repeat(32))]] {
        let (status, err) = http(&format!("{api}/v1/requests"), "GET", &headers, b"");
        assert_eq!(status, 401, "{err}");
    }
    let (status, _) = http(&format!("{api}/v1/health"), "GET", &[], b"");
    assert_eq!(status, 200);
    // Logging out ends the session.
    let (status, _) = http(&format!("{api}/v1/session"), "DELETE", &session, b"");
    assert_eq!(status, 204);
    let (status, err) = http(&format!("{api}/v1/requests"), "GET", &session, b"");
    assert_eq!(status, 401, "{err}");
}

/// The CLI reads through the session `custos login` saved (a revoked one
/// fails, it does not fall back), and `custos logout` ends it.
pub(crate) fn cli_session(c: &mut Cluster) {
    let enrolment = c.run(&["user", "totp-enrol"]).unwrap();
    let secret = base32::decode(
        base32::Alphabet::Rfc4648 { padding: false },
        enrolment["secret"].as_str().unwrap(),
    )
    .unwrap();
    // The store holds it sealed: not in the database files in the clear.
    let clear = hex::encode(&secret);
    for f in ["server.db", "server.db-wal"] {
        let bytes = std::fs::read(c.data.join("server").join(f)).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(&clear), "{f}");
    }
    let totp = custos_governance::auth::Totp::new(zeroize::Zeroizing::new(secret), None).unwrap();
    let code = totp.code(unix_now() as u64);
    let (ok, out, err) = custos(&c.data, &["login", "--code", &code]);
    assert!(ok && out.contains("logged in as admin"), "{out}{err}");
    let file = c.data.join("session.json");
    let saved = std::fs::read(&file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (ok, _, err) = custos(&c.data, &["requests", "list"]);
    assert!(ok, "{err}");
    let (ok, out, err) = custos(&c.data, &["logout"]);
    assert!(ok && out.contains("logged out"), "{out}{err}");
    assert!(!file.exists());
    std::fs::write(&file, &saved).unwrap();
    let (ok, _, err) = custos(&c.data, &["requests", "list"]);
    assert!(!ok && err.contains("no such session"), "{err}");
    std::fs::remove_file(&file).unwrap();
    let (ok, _, err) = custos(&c.data, &["requests", "list"]);
    assert!(ok, "{err}");
}
