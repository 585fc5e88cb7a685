//! Why an intent, address or signature was refused. Nothing here is signed
//! after any of these.

/// A refused intent, address or signature.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The address does not parse for this chain.
    #[error("malformed address: {0}")]
    Address(String),
    /// A mixed-case Ethereum address whose EIP-55 checksum is wrong, or one
    /// without a checksum.
    #[error("address checksum: {0}")]
    Checksum(String),
    /// The address is for another network.
    #[error("address is for another network: {0}")]
    WrongNetwork(String),
    /// Zero amount.
    #[error("amount must be greater than zero")]
    ZeroAmount,
    /// The amount does not fit the chain's range, or a sum overflows.
    #[error("amount out of range: {0}")]
    AmountOverflow(&'static str),
    /// Inputs do not cover amount and fee.
    #[error("insufficient funds: inputs {available} < amount + fee {needed}")]
    InsufficientFunds {
        /// Sum of inputs.
        available: u64,
        /// Amount plus fee.
        needed: u64,
    },
    /// Change (or the payment) would be below the dust limit.
    #[error("{what} of {value} sat is below the dust limit {limit} sat")]
    Dust {
        /// `change` or `payment`.
        what: &'static str,
        /// Value.
        value: u64,
        /// Dust limit.
        limit: u64,
    },
    /// The fee exceeds the sanity cap.
    #[error("fee {fee} exceeds the sanity cap {cap}")]
    FeeTooHigh {
        /// Fee in base units.
        fee: u128,
        /// Cap in base units.
        cap: u128,
    },
    /// A fee parameter is invalid.
    #[error("fee parameters: {0}")]
    Fee(&'static str),
    /// The token is not known for this chain and network.
    #[error("unknown token {0}")]
    UnknownToken(String),
    /// Transfer arguments are missing or malformed (the message names the
    /// field as the CLI calls it).
    #[error("{0}")]
    Arguments(String),
    /// The intent is malformed (encoding, version, trailing bytes, fields).
    #[error("intent: {0}")]
    Intent(&'static str),
    /// The key does not fit the chain (wrong scheme or length).
    #[error("key: {0}")]
    Key(&'static str),
    /// A PSBT was refused.
    #[error("psbt: {0}")]
    Psbt(String),
    /// A signature does not fit or verify.
    #[error("signature: {0}")]
    Signature(&'static str),
    /// A chain library refused to encode.
    #[error("encoding: {0}")]
    Encoding(String),
}
