//! The multi-machine path without `custos up`: each operator runs their own
//! step.

use super::*;

/// The multi-machine path without `custos up`: each operator runs their own
/// step, and trust is established only by fingerprints compared out of band.
#[test]
fn manual_enrolment_by_separate_operators() {
    let d = std::env::temp_dir().join(format!("custos-enrol-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    let mut children = Procs(Vec::new());
    let path = |p: &str| d.join(p).display().to_string();
    std::fs::write(d.join("pass"), "an operator passphrase").unwrap();
    let (api, nodes_port) = (free_port(), free_port());
    let (api_addr, node_addr) = (
        format!("127.0.0.1:{api}"),
        format!("127.0.0.1:{nodes_port}"),
    );

    // Server operator, with the API certificate of the institution's CA
    // (here a self-signed ECDSA P-256 one); nodes pin the server's own.
    let api_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let api_cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&api_key)
        .unwrap();
    std::fs::write(d.join("api-cert.pem"), api_cert.pem()).unwrap();
    std::fs::write(d.join("api-key.pem"), api_key.serialize_pem()).unwrap();
    std::fs::write(d.join("not-a-key.pem"), "not a key").unwrap();
    let init = |key: &str| {
        custos_env(
            &[
                "server",
                "init",
                "--dir",
                &path("server"),
                "--api-addr",
                &api_addr,
                "--node-addr",
                &node_addr,
                "--api-cert",
                &path("api-cert.pem"),
                "--api-key",
                &path(key),
            ],
            &[],
        )
    };
    let (ok, _, err) = init("not-a-key.pem");
    assert!(!ok && err.contains("no PEM private key"), "{err}");
    let (ok, out, err) = init("api-key.pem");
    assert!(ok, "{err}");
    let line = |prefix: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap()
            .trim()
            .to_owned()
    };
    let server_fp = line("server TLS fingerprint: ");
    let api_fp = line("API TLS fingerprint (users pin it): ");
    assert_eq!(
        api_fp,
        custos_net::Fingerprint::of(api_cert.der()).to_string()
    );
    let (ok, _, err) = custos_env(&["server", "run", "--dir", &path("server")], &[]);
    assert!(!ok && err.contains("no nodes enrolled yet"), "{err}");

    // Node operators (c will try to join without being enrolled).
    for name in ["a", "b", "c"] {
        let (ok, out, err) = custos_env(
            &[
                "node",
                "init",
                "--dir",
                &path(name),
                "--name",
                &format!("node-{name}"),
                "--server-addr",
                &node_addr,
                "--server-fingerprint",
                &server_fp,
                "--passphrase-file",
                &path("pass"),
            ],
            &[],
        );
        assert!(ok, "{err}");
        assert!(out.contains("tls_fingerprint"), "{out}");
    }
    let (ok, _, err) = custos_env(
        &[
            "node",
            "run",
            "--dir",
            &path("a"),
            "--passphrase-file",
            &path("pass"),
        ],
        &[],
    );
    assert!(!ok && err.contains("no committee pinned yet"), "{err}");

    // Server operator enrols a and b as a 2-of-2 committee.
    let (ok, out, err) = custos_env(
        &[
            "server",
            "enrol",
            "--dir",
            &path("server"),
            "--threshold",
            "2",
            &path("a/enrolment.json"),
            &path("b/enrolment.json"),
        ],
        &[],
    );
    assert!(ok, "{err}");
    let committee_fp = out
        .trim()
        .strip_prefix("committee fingerprint: ")
        .unwrap()
        .to_owned();
    let committee = path("server/committee.json");

    // The first admins make their keys; the genesis names them and the
    // server's audit key; node operators confirm its hash when they pin.
    let key_env = [("CUSTOS_KEY_PASSPHRASE", USER_KEY_PASSPHRASE)];
    let mut admins = Vec::new();
    for who in ["alice", "bob"] {
        let out = path(&format!("{who}.key"));
        let (ok, pk, err) = custos_env(&["user", "keygen", "--id", who, "--out", &out], &key_env);
        assert!(ok, "{err}");
        admins.push(format!("{who}:{}", pk.trim()));
    }
    let init = |quorum: &str| {
        custos_env(
            &[
                "governance",
                "init",
                "--server-dir",
                &path("server"),
                "--admin",
                &admins[0],
                "--admin",
                &admins[1],
                "--quorum",
                quorum,
            ],
            &[],
        )
    };
    // One admin alone may not change everything outside the demo.
    let (ok, _, err) = init("1");
    assert!(!ok && err.contains("admin quorum of 1"), "{err}");
    let (ok, genesis, err) = init("2");
    assert!(ok, "{err}");
    // The genesis lists what it commits to, for each operator to compare.
    assert!(
        err.contains("committee default (2-of-2)") && err.contains("node-a: channel "),
        "{err}"
    );
    let genesis = genesis.trim().to_owned();
    // Pinning checks the fingerprint and membership.
    let pin = |node: &str, fp: &str| {
        custos_env(
            &[
                "node",
                "pin",
                "--dir",
                &path(node),
                "--committee",
                &committee,
                "--fingerprint",
                fp,
                "--genesis",
                &genesis,
            ],
            &[],
        )
    };
    let (ok, _, err) = pin("a", &"00".repeat(32));
    assert!(!ok && err.contains("committee fingerprint is"), "{err}");
    let (ok, _, err) = pin("c", &committee_fp);
    assert!(!ok && err.contains("not a member"), "{err}");
    for node in ["a", "b"] {
        let (ok, out, err) = pin(node, &committee_fp);
        assert!(
            ok && out.contains("pinned committee default (2-of-2)"),
            "{out}{err}"
        );
    }
    // c's operator pins the committee by hand anyway; the server must still refuse it.
    let mut c_config: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("c/node.json")).unwrap()).unwrap();
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(&committee).unwrap()).unwrap();
    c_config["members"] = spec["members"].clone();
    c_config["threshold"] = 2.into();
    std::fs::write(d.join("c/node.json"), c_config.to_string()).unwrap();

    let spawn = |args: &[&str], name: &str| {
        Command::new(EXE)
            .args(args)
            .stdout(log(&d, name))
            .stderr(log(&d, name))
            .spawn()
            .unwrap()
    };
    children.0.push(spawn(
        &["server", "run", "--dir", &path("server")],
        "server",
    ));
    for node in ["a", "b", "c"] {
        children.0.push(spawn(
            &[
                "node",
                "run",
                "--dir",
                &path(node),
                "--passphrase-file",
                &path("pass"),
            ],
            node,
        ));
    }
    let url = format!("https://{api_addr}");
    // Users pin the API's certificate: the operator's.
    pin_api(&url, &api_fp);
    // The users' CLI checks everything the server says against the
    // genesis the admins published.
    let env = [
        ("CUSTOS_API_URL", url.as_str()),
        ("CUSTOS_KEY_PASSPHRASE", USER_KEY_PASSPHRASE),
        ("CUSTOS_GENESIS", genesis.as_str()),
        ("CUSTOS_API_FINGERPRINT", api_fp.as_str()),
    ];
    let start = Instant::now();
    loop {
        if let Some(h) = http_get(&format!("{url}/v1/health")) {
            if serde_json::from_str::<Value>(&h).unwrap()["ready"] == true {
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nodes did not connect"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The server's own certificate is not what the API presents: a CLI
    // pinning it refuses the connection.
    let mut wrong = env;
    wrong[3] = ("CUSTOS_API_FINGERPRINT", server_fp.as_str());
    let (ok, _, err) = custos_env(
        &[
            "wallet",
            "create",
            "--scheme",
            "ed25519",
            "--key",
            &path("alice.key"),
        ],
        &wrong,
    );
    assert!(!ok && err.contains("cannot reach the server"), "{err}");
    // Keys are created by an admin's signed call.
    let (ok, out, err) = custos_env(
        &[
            "wallet",
            "create",
            "--scheme",
            "ed25519",
            "--json",
            "--key",
            &path("alice.key"),
        ],
        &env,
    );
    assert!(ok, "{err}");
    let wallet: Value = serde_json::from_str(out.trim()).unwrap();
    let sign = || {
        custos_env(
            &[
                "sign",
                "--wallet",
                wallet["id"].as_str().unwrap(),
                "--message-hex",
                "48656c6c6f",
                "--json",
                "--key",
                &path("alice.key"),
            ],
            &env,
        )
    };
    // Nothing signs before governance allows it: alice is no initiator yet
    // and no policy exists (default deny).
    let (ok, _, err) = sign();
    assert!(
        !ok && err.contains("does not hold the initiator role"),
        "{err}"
    );
    std::fs::write(
        d.join("policy.json"),
        r#"{"rules":[{"name":"messages","initiators":[{"user":"alice"}],"kinds":["message"],"action":{"type":"allow"}}]}"#,
    )
    .unwrap();
    let (ok, out, err) = custos_env(
        &[
            "governance",
            "propose",
            "--grant",
            "alice:initiator",
            "--policy",
            &path("policy.json"),
            "--key",
            &path("alice.key"),
        ],
        &env,
    );
    assert!(ok && out.contains("pending"), "{out}{err}");
    let proposal = out
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    let (ok, out, err) = custos_env(
        &[
            "governance",
            "approve",
            &proposal,
            "--key",
            &path("bob.key"),
        ],
        &env,
    );
    assert!(ok && out.contains("applied"), "{out}{err}");
    let (ok, out, err) = sign();
    assert!(ok, "{err}");
    check_message(
        &serde_json::from_str(out.trim()).unwrap(),
        "ed25519",
        b"Hello",
    );
    let server_log = std::fs::read_to_string(d.join("server.log")).unwrap();
    assert!(
        server_log.contains("refused connection from"),
        "{server_log}"
    );
    assert!(!server_log.contains("node-c connected"), "{server_log}");
    drop(children);
    std::fs::remove_dir_all(&d).ok();
}
