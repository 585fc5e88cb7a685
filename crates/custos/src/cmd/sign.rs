//! `custos sign`, `custos transfer` and `custos psbt`: signing requests
//! made with the initiator's key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use super::print_request;
use crate::client::Client;
use crate::json::Field;
use crate::{govern, userkey};
use custos_chains::message::MessageFormat;

#[derive(clap::Args)]
pub struct SignArgs {
    /// Wallet id.
    #[arg(long)]
    wallet: String,
    /// The message, as text.
    #[arg(long, conflicts_with_all = ["message_hex", "digest"])]
    message: Option<String>,
    /// The message, hex (the nodes hash it by the format's convention).
    #[arg(long, conflicts_with = "digest")]
    message_hex: Option<String>,
    /// eip191 | bip322 | solana-offchain (default: the wallet scheme's
    /// chain; ECDSA wallets serve two and must name one).
    #[arg(long)]
    format: Option<String>,
    /// A bare 32-byte digest, hex: blind wallets only (created for it by an
    /// admin quorum); always a full threshold signing.
    #[arg(long)]
    digest: Option<String>,
    /// Signer indices, comma-separated (default: the first t connected nodes).
    #[arg(long, value_delimiter = ',')]
    signers: Option<Vec<u16>>,
    /// Non-hardened derivation path (default m).
    #[arg(long)]
    path: Option<String>,
    /// Print {"scheme","public_key","format","address","message","signature","encoded","request"}:
    /// "message" is what the signature verifies against (the digest the
    /// format made, or for Ed25519 its bytes); "encoded" is the signature in
    /// the chain's convention.
    #[arg(long)]
    json: bool,
    /// Your (the initiator's) key file (default: the demo admin of `custos up`).
    #[arg(long)]
    key: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct TransferArgs {
    /// Wallet id.
    #[arg(long)]
    wallet: String,
    /// ethereum | bitcoin | solana.
    #[arg(long)]
    chain: String,
    /// Recipient address.
    #[arg(long)]
    to: String,
    /// Amount in base units (wei, satoshis, lamports, token units).
    #[arg(long)]
    amount: String,
    /// ERC-20 contract or SPL mint (must be in the server's token list).
    #[arg(long)]
    asset: Option<String>,
    /// Account index (`m/0/INDEX`).
    #[arg(long, default_value_t = 0)]
    index: u32,
    /// Bitcoin network: mainnet | testnet | signet | regtest.
    #[arg(long)]
    network: Option<String>,
    /// Ethereum: EIP-155 chain id.
    #[arg(long)]
    chain_id: Option<u64>,
    /// Ethereum: nonce.
    #[arg(long)]
    nonce: Option<u64>,
    /// Ethereum: max fee per gas (wei).
    #[arg(long)]
    max_fee_per_gas: Option<String>,
    /// Ethereum: max priority fee per gas (wei).
    #[arg(long)]
    max_priority_fee_per_gas: Option<String>,
    /// Ethereum: gas limit.
    #[arg(long)]
    gas_limit: Option<u64>,
    /// Bitcoin: TXID:VOUT:SATS of an output of the account to spend (repeatable).
    #[arg(long = "utxo")]
    utxos: Vec<String>,
    /// Bitcoin: fee rate in sat/vB.
    #[arg(long)]
    fee_rate: Option<u64>,
    /// Solana: recent blockhash (base58).
    #[arg(long)]
    recent_blockhash: Option<String>,
    /// Signer indices, comma-separated (default: the first t connected nodes).
    #[arg(long, value_delimiter = ',')]
    signers: Option<Vec<u16>>,
    /// Your (the initiator's) key file (default: the demo admin of `custos up`).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Print the request as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum PsbtCommand {
    /// Sign the inputs of a PSBT (base64 or binary file) that belong to a wallet.
    Sign {
        /// Wallet id.
        #[arg(long)]
        wallet: String,
        /// Bitcoin network: mainnet | testnet | signet | regtest.
        #[arg(long)]
        network: Option<String>,
        /// Signer indices, comma-separated (default: the first t connected nodes).
        #[arg(long, value_delimiter = ',')]
        signers: Option<Vec<u16>>,
        /// The PSBT file.
        file: PathBuf,
        /// Print {"psbt","raw_tx","prevouts"}.
        #[arg(long)]
        json: bool,
        /// Your (the initiator's) key file (default: the demo admin of `custos up`).
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

/// `custos sign`: a message by its chain's convention, or (blind wallets
/// only) a bare digest.
pub fn message(a: SignArgs, data_dir: &Path) -> Result<()> {
    let c = Client::locate(data_dir)?;
    let key = userkey::locate(a.key, data_dir)?;
    let path = a.path.as_deref().unwrap_or("m");
    let r = if let Some(d) = &a.digest {
        let digest: [u8; 32] = hex::decode(d)
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("--digest is 32 bytes of hex")?;
        govern::sign_blind(&c, &key, &a.wallet, path, digest, a.signers)?
    } else {
        let message = match (&a.message, &a.message_hex) {
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(h)) => hex::decode(h).context("--message-hex is not hex")?,
            _ => bail!("give --message or --message-hex (or --digest on a blind wallet)"),
        };
        let format: MessageFormat = match &a.format {
            Some(f) => f.parse()?,
            None => {
                let w = c.get_as(&key, &format!("/v1/wallets/{}", a.wallet))?;
                let scheme: custos_tss::Scheme = w
                    .at("scheme")
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .map_err(anyhow::Error::msg)?;
                MessageFormat::for_scheme(scheme).context(
                    "an ECDSA wallet signs eip191 (Ethereum) or bip322 (Bitcoin) messages: give --format",
                )?
            }
        };
        govern::sign_message(&c, &key, &a.wallet, path, format, message, a.signers)?
    };
    let s = r.at("signed");
    if r.at("state") != "signed" {
        print_request(&r, a.json);
    } else if a.json {
        let record = serde_json::json!({
            "scheme": s.at("scheme"), "public_key": s.at("public_key"),
            "format": s.at("format"), "address": s.at("address"),
            "message": s.at("message"), "signature": s.at("signature"),
            "encoded": s.at("encoded"), "request": r.at("id"),
        });
        println!("{record}");
    } else if let Some(e) = s.at("encoded").as_str() {
        println!("{e}");
    } else {
        println!("{}", s.at("signature").as_str().unwrap_or_default());
    }
    Ok(())
}

/// `custos transfer`.
pub fn transfer(a: &TransferArgs, data_dir: &Path) -> Result<()> {
    let c = Client::locate(data_dir)?;
    let body = serde_json::json!({
        "chain": a.chain, "to": a.to, "amount": a.amount, "asset": a.asset,
        "index": a.index, "network": a.network, "chain_id": a.chain_id, "nonce": a.nonce,
        "max_fee_per_gas": a.max_fee_per_gas,
        "max_priority_fee_per_gas": a.max_priority_fee_per_gas,
        "gas_limit": a.gas_limit,
        "utxos": (!a.utxos.is_empty()).then_some(&a.utxos),
        "fee_rate": a.fee_rate, "recent_blockhash": a.recent_blockhash, "signers": a.signers,
    });
    let key = userkey::locate(a.key.clone(), data_dir)?;
    let r = govern::transfer(&c, &key, &a.wallet, body)?;
    print_request(&r, a.json);
    Ok(())
}

/// `custos psbt`.
pub fn psbt(cmd: PsbtCommand, data_dir: &Path) -> Result<()> {
    let PsbtCommand::Sign {
        wallet,
        network,
        signers,
        file,
        json,
        key,
    } = cmd;
    let bytes = std::fs::read(&file).with_context(|| format!("read {}", file.display()))?;
    // Binary or base64; the request carries the canonical binary form.
    let psbt = custos_chains::psbt::parse(&bytes)?.serialize();
    let c = Client::locate(data_dir)?;
    let key = userkey::locate(key, data_dir)?;
    let r = govern::sign_psbt(
        &c,
        &key,
        &wallet,
        network.as_deref().unwrap_or("mainnet"),
        psbt,
        signers,
    )?;
    let signed = r.at("signed");
    if r.at("state") != "signed" {
        print_request(&r, json);
    } else if json {
        println!("{signed}");
    } else if let Some(tx) = signed.at("raw_tx").as_str() {
        println!("{tx}");
    } else {
        println!("{}", signed.at("psbt").as_str().unwrap_or_default());
    }
    Ok(())
}
