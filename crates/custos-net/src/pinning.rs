//! rustls configurations that accept exactly the pinned certificates.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::{Fingerprint, NetError, TlsIdentity};

/// Decides whether a client certificate belongs to an enrolled node. Shared
/// with the server's enrolment state so new nodes are accepted without restart.
pub type Enrolled = Arc<dyn Fn(&Fingerprint) -> bool + Send + Sync>;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    ring::default_provider().signature_verification_algorithms
}

fn refuse() -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
}

#[derive(Debug)]
struct PinnedServer {
    pin: Fingerprint,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if Fingerprint::of(end_entity.as_ref()) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(refuse())
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

struct PinnedClients {
    enrolled: Enrolled,
    algorithms: WebPkiSupportedAlgorithms,
}

impl std::fmt::Debug for PinnedClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinnedClients")
    }
}

impl ClientCertVerifier for PinnedClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if (self.enrolled)(&Fingerprint::of(end_entity.as_ref())) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(refuse())
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Server side: present `identity`, require a client certificate that
/// `enrolled` accepts. TLS 1.3 only.
pub fn server_config(
    identity: &TlsIdentity,
    enrolled: Enrolled,
) -> Result<rustls::ServerConfig, NetError> {
    let verifier = Arc::new(PinnedClients {
        enrolled,
        algorithms: algorithms(),
    });
    Ok(rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain(), identity.private_key())?)
}

/// Client side: present `identity`, accept only the server certificate with
/// fingerprint `server_pin`. TLS 1.3 only.
pub fn client_config(
    identity: &TlsIdentity,
    server_pin: Fingerprint,
) -> Result<rustls::ClientConfig, NetError> {
    let verifier = Arc::new(PinnedServer {
        pin: server_pin,
        algorithms: algorithms(),
    });
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(identity.chain(), identity.private_key())?)
}

/// The REST API's side: present `identity` to any client (users
/// authenticate per call, with signatures), TLS 1.3 only.
pub fn api_server_config(identity: &TlsIdentity) -> Result<rustls::ServerConfig, NetError> {
    Ok(rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(identity.chain(), identity.private_key())?)
}

/// The REST API's side with an operator's certificate chain and private
/// key (PEM, e.g. from the institution's CA): TLS 1.3 only. Returns the
/// leaf's fingerprint, which users pin as they pin the server's own.
pub fn api_server_config_pem(
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<(rustls::ServerConfig, Fingerprint), NetError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| NetError::Identity("the API certificate file is not PEM".into()))?;
    let leaf = chain
        .first()
        .map(|c| Fingerprint::of(c.as_ref()))
        .ok_or_else(|| {
            NetError::Identity("the API certificate file holds no certificate".into())
        })?;
    // (The key's bytes are not echoed in any error.)
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| NetError::Identity("the API key file holds no PEM private key".into()))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok((config, leaf))
}

/// An API client's side: accept only the server certificate with
/// fingerprint `server_pin` (no client certificate). TLS 1.3 only.
pub fn api_client_config(server_pin: Fingerprint) -> Result<rustls::ClientConfig, NetError> {
    let verifier = Arc::new(PinnedServer {
        pin: server_pin,
        algorithms: algorithms(),
    });
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The fingerprint of the certificate the peer presented.
pub fn peer_fingerprint(conn: &rustls::CommonState) -> Option<Fingerprint> {
    conn.peer_certificates()
        .and_then(|c| c.first())
        .map(|c| Fingerprint::of(c.as_ref()))
}
