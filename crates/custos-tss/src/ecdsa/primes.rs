//! Safe primes for aux-info generation, separable so nodes can make them ahead
//! of time (≈16 s CPU each at 1536 bits; four per party).

use cggmp24::security_level::SecurityLevel;
use paillier_zk::backend::Integer;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::Level;
use crate::error::ShareError;

const MAGIC: &[u8; 4] = b"CSPR";
const VERSION: u16 = 1;

/// Four safe primes (Paillier p, q and ring-Pedersen p', q') for one party.
///
/// # Security
/// These become the party's Paillier secret key: keep them as secret as a
/// key share. They are consumed by [`super::aux_info`]; use each set once.
pub struct SafePrimes(cggmp24::PregeneratedPrimes<Level>);

impl std::fmt::Debug for SafePrimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SafePrimes(<redacted>)")
    }
}

impl SafePrimes {
    /// Primes per party.
    pub const COUNT: usize = 4;

    /// Generates the primes one by one, calling `on_prime(done, total)` after each.
    pub fn generate(
        rng: &mut (impl RngCore + CryptoRng),
        mut on_prime: impl FnMut(usize, usize),
    ) -> Self {
        let mut primes = Vec::with_capacity(Self::COUNT);
        for done in 1..=Self::COUNT {
            primes.push(Integer::generate_safe_prime(rng, Level::RSA_PRIME_BITLEN));
            on_prime(done, Self::COUNT);
        }
        match Self::from_vec(primes) {
            Some(p) => p,
            // generate_safe_prime returns primes of the requested size.
            None => Self::generate(rng, on_prime),
        }
    }

    fn from_vec(primes: Vec<Integer>) -> Option<Self> {
        let arr: [Integer; 4] = primes.try_into().ok()?;
        cggmp24::PregeneratedPrimes::try_from(arr).ok().map(Self)
    }

    pub(crate) fn into_inner(self) -> cggmp24::PregeneratedPrimes<Level> {
        self.0
    }

    /// Versioned encoding: magic, version, then each prime as a u16 length and
    /// big-endian magnitude.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        for p in self.0.primes_ref() {
            let bytes = Zeroizing::new(p.to_bytes_msf());
            out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        out
    }

    /// Decodes [`Self::to_bytes`]. Checks sizes only; primality is proven
    /// inside the aux-info protocol, which fails on a bad prime.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ShareError> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or(ShareError::Magic)?;
        let (version, mut rest) = rest
            .split_first_chunk::<2>()
            .ok_or(ShareError::Decode("short"))?;
        let version = u16::from_be_bytes(*version);
        if version != VERSION {
            return Err(ShareError::Version(version));
        }
        let mut primes = Vec::with_capacity(Self::COUNT);
        for _ in 0..Self::COUNT {
            let (len, tail) = rest
                .split_first_chunk::<2>()
                .ok_or(ShareError::Decode("short"))?;
            let len = usize::from(u16::from_be_bytes(*len));
            let (p, tail) = tail
                .split_at_checked(len)
                .ok_or(ShareError::Decode("short"))?;
            primes.push(Integer::from_bytes_msf(p));
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(ShareError::Decode("trailing bytes"));
        }
        Self::from_vec(primes).ok_or(ShareError::Inconsistent("prime too small"))
    }
}
