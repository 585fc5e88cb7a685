//! Mutual TLS with pinned certificates over real loopback sockets.

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;

use custos_net::{
    client_config, peer_fingerprint, read_msg, server_config, write_msg, Enrolled, Fingerprint,
    TlsIdentity,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A stand-in for the protocol's messages (this crate frames any serde type).
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum ServerMessage {
    Abort { session: [u8; 32], reason: String },
}

struct Outcome {
    client: Result<ServerMessage, String>,
    server: Result<Fingerprint, String>,
}

/// One connection: the server pins `enrolled`, the client pins `server_pin`.
async fn connect(
    server_id: &TlsIdentity,
    client_id: &TlsIdentity,
    enrolled: Vec<Fingerprint>,
    server_pin: Fingerprint,
) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let enrolled: Enrolled = Arc::new(move |f| enrolled.contains(f));
    let acceptor = TlsAcceptor::from(Arc::new(server_config(server_id, enrolled).unwrap()));
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let peer = peer_fingerprint(tls.get_ref().1).ok_or("no client certificate")?;
        write_msg(
            &mut tls,
            &ServerMessage::Abort {
                session: [3; 32],
                reason: "hello".into(),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok::<_, String>(peer)
    });
    let connector = TlsConnector::from(Arc::new(client_config(client_id, server_pin).unwrap()));
    let client = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut tls = connector
            .connect(ServerName::try_from("custos-server").unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        read_msg::<ServerMessage>(&mut tls)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    Outcome {
        client,
        server: server.await.unwrap(),
    }
}

#[tokio::test]
async fn pinned_peers_connect_and_exchange_messages() {
    let server = TlsIdentity::generate("custos-server").unwrap();
    let node = TlsIdentity::generate("node-0").unwrap();
    let out = connect(
        &server,
        &node,
        vec![node.fingerprint()],
        server.fingerprint(),
    )
    .await;
    assert_eq!(
        out.client.unwrap(),
        ServerMessage::Abort {
            session: [3; 32],
            reason: "hello".into()
        }
    );
    assert_eq!(out.server.unwrap(), node.fingerprint());
}

#[tokio::test]
async fn client_refuses_an_unpinned_server() {
    let server = TlsIdentity::generate("custos-server").unwrap();
    let impostor = TlsIdentity::generate("custos-server").unwrap();
    let node = TlsIdentity::generate("node-0").unwrap();
    let out = connect(
        &impostor,
        &node,
        vec![node.fingerprint()],
        server.fingerprint(),
    )
    .await;
    assert!(out.client.is_err(), "client accepted an unpinned server");
    assert!(out.server.is_err());
}

#[tokio::test]
async fn server_refuses_an_unenrolled_node() {
    let server = TlsIdentity::generate("custos-server").unwrap();
    let enrolled = TlsIdentity::generate("node-0").unwrap();
    let stranger = TlsIdentity::generate("node-0").unwrap();
    let out = connect(
        &server,
        &stranger,
        vec![enrolled.fingerprint()],
        server.fingerprint(),
    )
    .await;
    assert!(out.server.is_err(), "server accepted an unenrolled node");
    assert!(
        out.client.is_err(),
        "the refused node must not receive messages"
    );
}

#[test]
fn fingerprints_parse_and_identity_debug_is_redacted() {
    let id = TlsIdentity::generate("node-1").unwrap();
    let f = id.fingerprint();
    assert_eq!(f.to_string().parse::<Fingerprint>().unwrap(), f);
    assert!(format!("{id:?}").contains("<redacted>"));
    let again = TlsIdentity::from_der(id.cert_der().to_vec(), id.key_der().clone());
    assert_eq!(again.fingerprint(), f);
}

#[test]
fn an_operators_api_certificate_loads_from_pem_and_names_its_leaf() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["api.example".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (_, fp) =
        custos_net::api_server_config_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
            .unwrap();
    assert_eq!(fp, custos_net::Fingerprint::of(cert.der()));
    // Not PEM, no key, or a key that is not the certificate's: refused.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    assert!(custos_net::api_server_config_pem(b"junk", key.serialize_pem().as_bytes()).is_err());
    assert!(custos_net::api_server_config_pem(cert.pem().as_bytes(), b"junk").is_err());
    assert!(custos_net::api_server_config_pem(
        cert.pem().as_bytes(),
        other.serialize_pem().as_bytes()
    )
    .is_err());
}
