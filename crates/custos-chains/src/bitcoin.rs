//! Bitcoin spends from one wallet account (rust-bitcoin): P2WPKH with BIP-143
//! sighashes for ECDSA wallets, Taproot key path with BIP-341 sighashes for
//! BIP-340 wallets. Change returns to the account's own address.

use std::str::FromStr;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{ecdsa, schnorr, Message, PublicKey, Secp256k1, XOnlyPublicKey};
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, EcdsaSighashType, OutPoint, ScriptBuf, Sequence, TapSighashType, Transaction, TxIn,
    TxOut, Txid, Witness,
};
use custos_tss::Scheme;

use crate::address::{p2tr_output, p2wpkh, parse_bitcoin};
use crate::error::ChainError;
use crate::intent::BitcoinTransfer;
use crate::tx::{AccountKey, Built, Payload, SignedTx};

/// Highest fee rate a node signs, in sat/vB.
pub const FEE_RATE_CAP: u64 = 2_000;
/// Highest absolute fee a node signs: 0.01 BTC.
pub const FEE_CAP_SATS: u64 = 1_000_000;
/// 21 million BTC in satoshis.
pub const MAX_MONEY: u64 = 21_000_000 * 100_000_000;

/// How the account's outputs are spent.
#[derive(Debug, Clone)]
pub(crate) enum Spend {
    /// Segwit v0 key hash (ECDSA).
    P2wpkh(PublicKey),
    /// Taproot key path (BIP-340), output key.
    P2tr(XOnlyPublicKey),
}

/// An unsigned Bitcoin transaction with its prevouts.
#[derive(Debug, Clone)]
pub struct UnsignedBtc {
    pub(crate) tx: Transaction,
    pub(crate) prevouts: Vec<TxOut>,
    pub(crate) spend: Spend,
}

/// The account's own script and how to spend it.
pub(crate) fn account(
    key: &AccountKey,
    network: crate::intent::BitcoinNetwork,
) -> Result<(bitcoin::Address, Spend), ChainError> {
    match key.scheme {
        Scheme::EcdsaSecp256k1 => {
            let pk = PublicKey::from_slice(&key.public_key)
                .map_err(|_| ChainError::Key("secp256k1 key"))?;
            Ok((p2wpkh(&key.public_key, network)?, Spend::P2wpkh(pk)))
        }
        Scheme::SchnorrBip340 => {
            let x = XOnlyPublicKey::from_slice(&key.public_key)
                .map_err(|_| ChainError::Key("x-only key"))?;
            Ok((p2tr_output(&key.public_key, network)?, Spend::P2tr(x)))
        }
        Scheme::Ed25519 => Err(ChainError::Key("Bitcoin needs a secp256k1 wallet")),
    }
}

/// Dummy witness of the largest size a signature for `spend` takes, for
/// fee estimation.
fn dummy_witness(spend: &Spend) -> Witness {
    match spend {
        Spend::P2wpkh(_) => Witness::from_slice(&[vec![0u8; 72], vec![0u8; 33]]),
        Spend::P2tr(_) => Witness::from_slice(&[vec![0u8; 64]]),
    }
}

fn fee_for(tx: &Transaction, spend: &Spend, rate: u64) -> Result<u64, ChainError> {
    let mut sized = tx.clone();
    for input in &mut sized.input {
        input.witness = dummy_witness(spend);
    }
    u64::try_from(sized.vsize())
        .ok()
        .and_then(|v| v.checked_mul(rate))
        .ok_or(ChainError::AmountOverflow("fee"))
}

pub(crate) fn build(
    t: &BitcoinTransfer,
    key: &AccountKey,
) -> Result<Built<UnsignedBtc>, ChainError> {
    let (own, spend) = account(key, t.network)?;
    let to = parse_bitcoin(&t.to, t.network)?;
    if t.fee_rate == 0 || t.fee_rate > FEE_RATE_CAP {
        return Err(ChainError::Fee("fee rate must be 1 to 2000 sat/vB"));
    }
    if t.amount > MAX_MONEY {
        return Err(ChainError::AmountOverflow("more than 21 million BTC"));
    }
    let payment = TxOut {
        value: Amount::from_sat(t.amount),
        script_pubkey: to.script_pubkey(),
    };
    let payment_dust = payment.script_pubkey.minimal_non_dust().to_sat();
    if t.amount < payment_dust {
        return Err(ChainError::Dust {
            what: "payment",
            value: t.amount,
            limit: payment_dust,
        });
    }
    let own_script: ScriptBuf = own.script_pubkey();
    let mut total: u64 = 0;
    let mut input = Vec::with_capacity(t.utxos.len());
    let mut prevouts = Vec::with_capacity(t.utxos.len());
    for u in &t.utxos {
        total = total
            .checked_add(u.value)
            .filter(|v| *v <= MAX_MONEY)
            .ok_or(ChainError::AmountOverflow("sum of inputs"))?;
        let txid = Txid::from_str(&hex::encode(u.txid)).map_err(|_| ChainError::Intent("txid"))?;
        input.push(TxIn {
            previous_output: OutPoint::new(txid, u.vout),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        });
        prevouts.push(TxOut {
            value: Amount::from_sat(u.value),
            script_pubkey: own_script.clone(),
        });
    }
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input,
        output: vec![payment],
    };
    let fee_exact = fee_for(&tx, &spend, t.fee_rate)?;
    let needed = t
        .amount
        .checked_add(fee_exact)
        .ok_or(ChainError::AmountOverflow("amount + fee"))?;
    if total < needed {
        return Err(ChainError::InsufficientFunds {
            available: total,
            needed,
        });
    }
    let mut fee = fee_exact;
    if total > needed {
        let change = TxOut {
            value: Amount::ZERO,
            script_pubkey: own_script.clone(),
        };
        let change_dust = change.script_pubkey.minimal_non_dust().to_sat();
        let mut with_change = tx.clone();
        with_change.output.push(change);
        let fee_change = fee_for(&with_change, &spend, t.fee_rate)?;
        let value = total
            .checked_sub(t.amount)
            .and_then(|v| v.checked_sub(fee_change))
            .unwrap_or(0);
        if value < change_dust {
            return Err(ChainError::Dust {
                what: "change",
                value,
                limit: change_dust,
            });
        }
        if let Some(out) = with_change.output.last_mut() {
            out.value = Amount::from_sat(value);
        }
        tx = with_change;
        fee = fee_change;
    }
    if fee > FEE_CAP_SATS {
        return Err(ChainError::FeeTooHigh {
            fee: u128::from(fee),
            cap: u128::from(FEE_CAP_SATS),
        });
    }
    let payloads = sighashes(&tx, &prevouts, &spend)?;
    Ok(Built {
        from: own.to_string(),
        payloads,
        tx: UnsignedBtc {
            tx,
            prevouts,
            spend,
        },
    })
}

/// BIP-143 sighash (SIGHASH_ALL) of input `index` spending a P2WPKH
/// output with `script_pubkey` and `value`.
pub fn p2wpkh_sighash(
    tx: &Transaction,
    index: usize,
    script_pubkey: &bitcoin::Script,
    value: Amount,
) -> Result<[u8; 32], ChainError> {
    p2wpkh_sighash_with(&mut SighashCache::new(tx), index, script_pubkey, value)
}

/// [`p2wpkh_sighash`] with a cache shared by every input of the
/// transaction (BIP-143's hashPrevouts, hashSequence and hashOutputs are
/// computed once, not once per input: no quadratic hashing).
pub(crate) fn p2wpkh_sighash_with(
    cache: &mut SighashCache<&Transaction>,
    index: usize,
    script_pubkey: &bitcoin::Script,
    value: Amount,
) -> Result<[u8; 32], ChainError> {
    cache
        .p2wpkh_signature_hash(index, script_pubkey, value, EcdsaSighashType::All)
        .map(|h| h.to_byte_array())
        .map_err(|e| ChainError::Encoding(e.to_string()))
}

/// BIP-341 key-path sighash of input `index` with `hash_type`, committing to
/// all `prevouts`. Custos signs with `TapSighashType::Default`.
pub fn taproot_key_sighash(
    tx: &Transaction,
    index: usize,
    prevouts: &[TxOut],
    hash_type: TapSighashType,
) -> Result<[u8; 32], ChainError> {
    taproot_key_sighash_with(&mut SighashCache::new(tx), index, prevouts, hash_type)
}

/// [`taproot_key_sighash`] with a cache shared by every input (BIP-341's
/// sha_prevouts, sha_amounts, … computed once).
pub(crate) fn taproot_key_sighash_with(
    cache: &mut SighashCache<&Transaction>,
    index: usize,
    prevouts: &[TxOut],
    hash_type: TapSighashType,
) -> Result<[u8; 32], ChainError> {
    cache
        .taproot_key_spend_signature_hash(index, &Prevouts::All(prevouts), hash_type)
        .map(|h| h.to_byte_array())
        .map_err(|e| ChainError::Encoding(e.to_string()))
}

/// One sighash per input: BIP-143 (SIGHASH_ALL) or BIP-341 key path
/// (SIGHASH_DEFAULT, committing to every prevout).
pub(crate) fn sighashes(
    tx: &Transaction,
    prevouts: &[TxOut],
    spend: &Spend,
) -> Result<Vec<Payload>, ChainError> {
    let mut cache = SighashCache::new(tx);
    (0..tx.input.len())
        .map(|i| {
            let prevout = prevouts.get(i).ok_or(ChainError::Intent("prevout"))?;
            match spend {
                Spend::P2wpkh(_) => {
                    p2wpkh_sighash_with(&mut cache, i, &prevout.script_pubkey, prevout.value)
                        .map(Payload::Ecdsa)
                }
                Spend::P2tr(_) => {
                    taproot_key_sighash_with(&mut cache, i, prevouts, TapSighashType::Default)
                        .map(Payload::Bip340)
                }
            }
        })
        .collect()
}

/// Witnesses for every input, each signature checked against its sighash
/// first (libsecp256k1).
pub(crate) fn witnesses(
    payloads: &[Payload],
    spend: &Spend,
    signatures: &[Vec<u8>],
) -> Result<Vec<Witness>, ChainError> {
    let secp = Secp256k1::verification_only();
    payloads
        .iter()
        .zip(signatures)
        .map(|(payload, sig)| {
            let digest: [u8; 32] = payload
                .message()
                .try_into()
                .map_err(|_| ChainError::Signature("sighash"))?;
            let msg = Message::from_digest(digest);
            match spend {
                Spend::P2wpkh(pk) => {
                    let s = ecdsa::Signature::from_compact(sig)
                        .map_err(|_| ChainError::Signature("ECDSA signature is 64 bytes r||s"))?;
                    secp.verify_ecdsa(&msg, &s, pk)
                        .map_err(|_| ChainError::Signature("does not verify"))?;
                    let sig = bitcoin::ecdsa::Signature {
                        signature: s,
                        sighash_type: EcdsaSighashType::All,
                    };
                    Ok(Witness::p2wpkh(&sig, pk))
                }
                Spend::P2tr(x) => {
                    let s = schnorr::Signature::from_slice(sig)
                        .map_err(|_| ChainError::Signature("BIP-340 signature is 64 bytes"))?;
                    secp.verify_schnorr(&s, &msg, x)
                        .map_err(|_| ChainError::Signature("does not verify"))?;
                    let sig = bitcoin::taproot::Signature {
                        signature: s,
                        sighash_type: TapSighashType::Default,
                    };
                    Ok(Witness::p2tr_key_spend(&sig))
                }
            }
        })
        .collect()
}

pub(crate) fn assemble(
    u: &UnsignedBtc,
    from: &str,
    signatures: &[Vec<u8>],
) -> Result<SignedTx, ChainError> {
    let payloads = sighashes(&u.tx, &u.prevouts, &u.spend)?;
    let mut tx = u.tx.clone();
    for (input, witness) in tx
        .input
        .iter_mut()
        .zip(witnesses(&payloads, &u.spend, signatures)?)
    {
        input.witness = witness;
    }
    Ok(SignedTx {
        chain: "bitcoin",
        raw_tx: bitcoin::consensus::encode::serialize_hex(&tx),
        from: from.to_owned(),
        prevouts: u
            .prevouts
            .iter()
            .map(|p| (p.script_pubkey.to_bytes(), p.value.to_sat()))
            .collect(),
    })
}
