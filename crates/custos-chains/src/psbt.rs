//! PSBT (BIP-174, BIP-371) signing for one wallet: find the inputs that pay
//! the wallet's accounts, compute their sighashes from the PSBT's own
//! transaction and prevouts, and finalize them with the threshold
//! signatures. Other inputs are left as they are.

use std::collections::BTreeMap;
use std::io::Cursor;

use bitcoin::hashes::Hash;
pub use bitcoin::psbt::Psbt;
use bitcoin::{ScriptBuf, TapSighashType, TxOut, Witness};

use crate::bitcoin::{account, p2wpkh_sighash_with, taproot_key_sighash_with, witnesses, Spend};
use crate::error::ChainError;
use crate::intent::BitcoinNetwork;
use crate::tx::{AccountKey, Payload};

/// Largest PSBT accepted.
pub const MAX_PSBT_BYTES: usize = 1 << 20;
/// Most inputs, and most outputs, a PSBT may have (as for transfers).
pub const MAX_PSBT_IO: usize = crate::intent::MAX_UTXOS;
/// Accounts `m/0/0` … `m/0/(ACCOUNT_SCAN-1)` are searched for inputs.
pub const ACCOUNT_SCAN: u32 = 100;

/// Parses a PSBT from its binary form or base64 text; trailing bytes are
/// refused.
pub fn parse(bytes: &[u8]) -> Result<Psbt, ChainError> {
    if bytes.len() > MAX_PSBT_BYTES {
        return Err(ChainError::Psbt("too large".into()));
    }
    let binary;
    let raw: &[u8] = if bytes.starts_with(b"psbt\xff") {
        bytes
    } else {
        use base64::Engine;
        let text = std::str::from_utf8(bytes)
            .map_err(|_| ChainError::Psbt("neither binary nor base64".into()))?;
        binary = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| ChainError::Psbt("neither binary nor base64".into()))?;
        &binary
    };
    let mut cursor = Cursor::new(raw);
    let psbt =
        Psbt::deserialize_from_reader(&mut cursor).map_err(|e| ChainError::Psbt(e.to_string()))?;
    if usize::try_from(cursor.position()).ok() != Some(raw.len()) {
        return Err(ChainError::Psbt("trailing bytes".into()));
    }
    let tx = &psbt.unsigned_tx;
    if tx.input.len() > MAX_PSBT_IO || tx.output.len() > MAX_PSBT_IO {
        return Err(ChainError::Psbt(format!(
            "{} inputs and {} outputs: at most {MAX_PSBT_IO} of each",
            tx.input.len(),
            tx.output.len()
        )));
    }
    Ok(psbt)
}

/// One input this wallet signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedInput {
    /// Input index.
    pub index: usize,
    /// The output it spends: txid (display byte order) and index.
    pub outpoint: ([u8; 32], u32),
    /// The value the PSBT states for it (sats).
    pub value: u64,
    /// Whether the PSBT proves that value with the previous transaction
    /// (`non_witness_utxo`, checked against the txid).
    pub proven: bool,
    /// Account (`m/0/account`) whose key signs it.
    pub account: u32,
    /// What that key signs.
    pub payload: Payload,
}

fn prevouts(psbt: &Psbt) -> Result<Vec<TxOut>, ChainError> {
    psbt.inputs
        .iter()
        .zip(&psbt.unsigned_tx.input)
        .enumerate()
        .map(|(i, (input, txin))| {
            if let Some(prev) = &input.non_witness_utxo {
                if prev.compute_txid() != txin.previous_output.txid {
                    return Err(ChainError::Psbt(format!(
                        "input {i}: UTXO transaction does not match"
                    )));
                }
            }
            let from_tx = input.non_witness_utxo.as_ref().and_then(|t| {
                usize::try_from(txin.previous_output.vout)
                    .ok()
                    .and_then(|v| t.output.get(v).cloned())
            });
            match (&input.witness_utxo, from_tx) {
                (Some(w), Some(t)) if *w != t => {
                    Err(ChainError::Psbt(format!("input {i}: UTXO fields disagree")))
                }
                (Some(w), _) => Ok(w.clone()),
                (None, Some(t)) => Ok(t),
                (None, None) => Err(ChainError::Psbt(format!("input {i} has no UTXO"))),
            }
        })
        .collect()
}

/// What a PSBT puts at stake, for policy: the sum of all its inputs'
/// values (sats). An upper bound on what it moves (outputs may pay change
/// back) and never an understatement of the wallet's part: segwit sighashes
/// commit to the amounts of the inputs they sign (BIP-143 its own, BIP-341
/// all), so a PSBT that understates them gets signatures the network
/// refuses.
pub fn input_value(psbt: &Psbt) -> Result<u64, ChainError> {
    prevouts(psbt)?.iter().try_fold(0u64, |sum, out| {
        sum.checked_add(out.value.to_sat())
            .ok_or_else(|| ChainError::Psbt("input values overflow".into()))
    })
}

/// The scripts of a wallet's accounts `m/0/0` … `m/0/(ACCOUNT_SCAN-1)`:
/// what its inputs spend and its change pays.
#[derive(Debug, Clone)]
pub struct WalletScripts(BTreeMap<ScriptBuf, (u32, Spend)>);

impl WalletScripts {
    /// Derives them with `key_at` on `network`.
    pub fn derive(
        network: BitcoinNetwork,
        key_at: impl Fn(u32) -> Result<AccountKey, ChainError>,
    ) -> Result<Self, ChainError> {
        let mut scripts = BTreeMap::new();
        for a in 0..ACCOUNT_SCAN {
            let (addr, spend) = account(&key_at(a)?, network)?;
            scripts.insert(addr.script_pubkey(), (a, spend));
        }
        Ok(Self(scripts))
    }

    /// The scripts alone (what change pays).
    pub fn scripts(&self) -> std::collections::BTreeSet<ScriptBuf> {
        self.0.keys().cloned().collect()
    }
}

/// Finds the wallet's inputs (scanning accounts with `key_at`) and their
/// sighashes. Refuses a PSBT with no input of the wallet, with one of the
/// wallet's inputs already finalized, or asking for another sighash type.
pub fn plan(
    psbt: &Psbt,
    network: BitcoinNetwork,
    key_at: impl Fn(u32) -> Result<AccountKey, ChainError>,
) -> Result<Vec<PlannedInput>, ChainError> {
    plan_with(psbt, &WalletScripts::derive(network, key_at)?)
}

/// [`plan`] with the wallet's scripts derived already.
pub fn plan_with(psbt: &Psbt, scripts: &WalletScripts) -> Result<Vec<PlannedInput>, ChainError> {
    let prevouts = prevouts(psbt)?;
    let mut cache = bitcoin::sighash::SighashCache::new(&psbt.unsigned_tx);
    let mut planned = Vec::new();
    for (index, ((input, prevout), txin)) in psbt
        .inputs
        .iter()
        .zip(&prevouts)
        .zip(&psbt.unsigned_tx.input)
        .enumerate()
    {
        let Some((acct, spend)) = scripts.0.get(&prevout.script_pubkey) else {
            continue;
        };
        if input.final_script_witness.is_some() || input.final_script_sig.is_some() {
            return Err(ChainError::Psbt(format!(
                "input {index} is already finalized"
            )));
        }
        let payload = match spend {
            Spend::P2wpkh(_) => {
                if input
                    .sighash_type
                    .is_some_and(|t| t.ecdsa_hash_ty().ok() != Some(bitcoin::EcdsaSighashType::All))
                {
                    return Err(ChainError::Psbt(format!(
                        "input {index}: only SIGHASH_ALL is signed"
                    )));
                }
                Payload::Ecdsa(p2wpkh_sighash_with(
                    &mut cache,
                    index,
                    &prevout.script_pubkey,
                    prevout.value,
                )?)
            }
            Spend::P2tr(_) => {
                if input
                    .sighash_type
                    .is_some_and(|t| t.taproot_hash_ty().ok() != Some(TapSighashType::Default))
                {
                    return Err(ChainError::Psbt(format!(
                        "input {index}: only SIGHASH_DEFAULT is signed"
                    )));
                }
                if input.tap_merkle_root.is_some() {
                    return Err(ChainError::Psbt(format!(
                        "input {index}: has a script tree"
                    )));
                }
                Payload::Bip340(taproot_key_sighash_with(
                    &mut cache,
                    index,
                    &prevouts,
                    TapSighashType::Default,
                )?)
            }
        };
        let mut txid: [u8; 32] = txin.previous_output.txid.to_byte_array();
        txid.reverse();
        planned.push(PlannedInput {
            index,
            outpoint: (txid, txin.previous_output.vout),
            value: prevout.value.to_sat(),
            proven: input.non_witness_utxo.is_some(),
            account: *acct,
            payload,
        });
    }
    if planned.is_empty() {
        return Err(ChainError::Psbt("no input belongs to this wallet".into()));
    }
    Ok(planned)
}

/// Puts one signature per planned input into `psbt` and finalizes those
/// inputs (each signature is verified first).
pub fn apply(
    psbt: &mut Psbt,
    network: BitcoinNetwork,
    planned: &[PlannedInput],
    signatures: &[Vec<u8>],
    key_at: impl Fn(u32) -> Result<AccountKey, ChainError>,
) -> Result<(), ChainError> {
    if planned.len() != signatures.len() {
        return Err(ChainError::Signature("one signature per planned input"));
    }
    for (p, sig) in planned.iter().zip(signatures) {
        let (_, spend) = account(&key_at(p.account)?, network)?;
        let witness: Witness = witnesses(
            std::slice::from_ref(&p.payload),
            &spend,
            std::slice::from_ref(sig),
        )?
        .pop()
        .ok_or(ChainError::Signature("witness"))?;
        let input = psbt
            .inputs
            .get_mut(p.index)
            .ok_or(ChainError::Psbt("input index".into()))?;
        // BIP-174 finalizer: set the final witness, clear what it replaces.
        input.final_script_witness = Some(witness);
        input.partial_sigs.clear();
        input.sighash_type = None;
        input.redeem_script = None;
        input.witness_script = None;
        input.bip32_derivation.clear();
        input.tap_key_sig = None;
        input.tap_key_origins.clear();
        input.tap_internal_key = None;
        input.tap_merkle_root = None;
    }
    Ok(())
}

/// A PSBT after signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The updated PSBT, base64.
    pub psbt: String,
    /// When every input is final: the transaction (hex).
    pub raw_tx: Option<String>,
    /// Each input's prevout (script, value), in input order.
    pub prevouts: Vec<(Vec<u8>, u64)>,
}

/// The PSBT (base64) and, when every input is final, the extracted
/// transaction.
pub fn finish(psbt: &Psbt) -> Result<Signed, ChainError> {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(psbt.serialize());
    let complete = psbt
        .inputs
        .iter()
        .all(|i| i.final_script_witness.is_some() || i.final_script_sig.is_some());
    let prevouts: Vec<(Vec<u8>, u64)> = prevouts(psbt)?
        .iter()
        .map(|p| (p.script_pubkey.to_bytes(), p.value.to_sat()))
        .collect();
    let raw_tx = if complete {
        let tx = psbt
            .clone()
            .extract_tx()
            .map_err(|e| ChainError::Psbt(e.to_string()))?;
        Some(bitcoin::consensus::encode::serialize_hex(&tx))
    } else {
        None
    };
    Ok(Signed {
        psbt: text,
        raw_tx,
        prevouts,
    })
}
