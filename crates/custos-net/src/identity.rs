//! Self-signed Ed25519 TLS identities and their fingerprints.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::NetError;

/// SHA-256 of a certificate's DER encoding: what enrolment pins.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Fingerprint of a DER certificate.
    pub fn of(cert_der: &[u8]) -> Self {
        Self(Sha256::digest(cert_der).into())
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Self, NetError> {
        let bytes = hex::decode(s.trim())
            .map_err(|_| NetError::Identity("fingerprint is not hex".into()))?;
        Ok(Self(bytes.try_into().map_err(|_| {
            NetError::Identity("fingerprint is not 32 bytes".into())
        })?))
    }
}

/// A certificate and its private key.
pub struct TlsIdentity {
    cert: CertificateDer<'static>,
    key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &self.fingerprint())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl TlsIdentity {
    /// A fresh self-signed Ed25519 certificate for `name` (also its DNS SAN).
    pub fn generate(name: &str) -> Result<Self, NetError> {
        let err = |e: rcgen::Error| NetError::Identity(e.to_string());
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(err)?;
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).map_err(err)?;
        let cert = params.self_signed(&key).map_err(err)?;
        Ok(Self {
            cert: cert.der().clone(),
            key: Zeroizing::new(key.serialize_der()),
        })
    }

    /// Restores an identity from DER certificate and PKCS#8 key.
    pub fn from_der(cert: Vec<u8>, key: Zeroizing<Vec<u8>>) -> Self {
        Self {
            cert: CertificateDer::from(cert),
            key,
        }
    }

    /// The certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        self.cert.as_ref()
    }

    /// The private key (PKCS#8 DER), for the vault.
    pub fn key_der(&self) -> &Zeroizing<Vec<u8>> {
        &self.key
    }

    /// The fingerprint to enrol.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.cert.as_ref())
    }

    pub(crate) fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.clone()]
    }

    pub(crate) fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.to_vec()))
    }
}
