//! What a key may sign, by what it was born for: the wallet an admin
//! ordered it for (a request naming another wallet is refused, whatever the
//! server's database says), and its kind — an ordinary wallet's key signs
//! transfers, PSBTs and messages (all built by the nodes); a blind wallet's
//! key, born blind under an id the governance chain allows, signs bare
//! digests and nothing else. What a key was born for is recorded by each
//! node when it makes its share, sealed in its vault, and never changes: no
//! later request or governance change turns one into the other.

use custos_governance::Governance;
use custos_protocol::authz::SigningRequest;

use crate::recheck::Refusal;

/// What a key was born for, as this node recorded it when the key was
/// made: it never changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPurpose {
    /// An ordinary wallet of this id: transfers, PSBTs, messages.
    Wallet {
        /// Wallet id.
        wallet: String,
    },
    /// A blind wallet of this id: bare digests only.
    Blind {
        /// Wallet id.
        wallet: String,
    },
}

impl KeyPurpose {
    /// The wallet the key was made for.
    pub fn wallet(&self) -> &str {
        match self {
            KeyPurpose::Wallet { wallet } | KeyPurpose::Blind { wallet } => wallet,
        }
    }
}

/// Whether a key born for `purpose` may sign `request`: only for the wallet
/// it was made for; a blind digest only with a key born blind, which
/// governance still lists; everything else only with an ordinary wallet's
/// key.
pub fn check_purpose(
    gov: Option<&Governance>,
    request: &SigningRequest,
    purpose: &KeyPurpose,
) -> Result<(), Refusal> {
    let gov = gov.ok_or(Refusal::NoGovernance)?;
    if request.wallet() != purpose.wallet() {
        return Err(Refusal::WalletKey {
            wallet: request.wallet().to_owned(),
            key_of: purpose.wallet().to_owned(),
        });
    }
    match (request, purpose) {
        (SigningRequest::Blind(b), KeyPurpose::Blind { wallet })
            if *wallet == b.wallet && gov.state().blind_wallets.contains(wallet) =>
        {
            Ok(())
        }
        (SigningRequest::Blind(b), _) => Err(Refusal::NotBlind(b.wallet.clone())),
        (_, KeyPurpose::Blind { .. }) => Err(Refusal::BlindOnly),
        (_, KeyPurpose::Wallet { .. }) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_chains::intent::{Asset, ChainIntent, EthereumTransfer, INTENT_VERSION};
    use custos_chains::TransferIntent;
    use custos_governance::{Change, Genesis, Proposal, SignedProposal};
    use custos_protocol::authz::BlindRequest;
    use ed25519_dalek::SigningKey;

    fn gov() -> Governance {
        let admin = SigningKey::from_bytes(&[1; 32]);
        let genesis = Genesis {
            admins: vec![("admin".into(), admin.verifying_key().to_bytes())],
            admin_quorum: 1,
            audit_key: SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes(),
            committees: vec![],
            demo: true,
        };
        let mut gov = Governance::genesis(&genesis).unwrap();
        let p = Proposal {
            height: 1,
            prev: gov.head(),
            proposer: "admin".into(),
            time: 0,
            changes: vec![Change::AllowBlindWallet {
                wallet: "bw".into(),
            }],
        };
        let sig = p.sign(&admin).unwrap();
        gov.apply(&SignedProposal {
            proposal: p,
            signatures: vec![("admin".into(), sig)],
        })
        .unwrap();
        gov
    }

    fn eth() -> SigningRequest {
        SigningRequest::Transfer(TransferIntent {
            version: INTENT_VERSION,
            request_id: [1; 16],
            wallet: "w1".into(),
            key_id: "00".repeat(32),
            account: 0,
            chain: ChainIntent::Ethereum(EthereumTransfer {
                chain_id: 1,
                to: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into(),
                asset: Asset::Native,
                amount: 1,
                nonce: 0,
                max_fee_per_gas: 1,
                max_priority_fee_per_gas: 1,
                gas_limit: 21_000,
            }),
        })
    }

    #[test]
    fn a_key_signs_only_what_it_was_born_for() {
        let gov = gov();
        let blind = |wallet: &str| {
            SigningRequest::Blind(BlindRequest {
                request_id: [8; 16],
                wallet: wallet.into(),
                key_id: "00".repeat(32),
                path: "m".into(),
                digest: [7; 32],
            })
        };
        let born_blind = KeyPurpose::Blind {
            wallet: "bw".into(),
        };
        let ordinary = KeyPurpose::Wallet {
            wallet: "w1".into(),
        };
        let g = Some(&gov);
        check_purpose(g, &blind("bw"), &born_blind).unwrap();
        assert_eq!(
            check_purpose(g, &blind("w1"), &ordinary),
            Err(Refusal::NotBlind("w1".into()))
        );
        // Another wallet's id on a blind key, or a wallet governance never
        // allowed: refused.
        assert!(check_purpose(g, &blind("w1"), &born_blind).is_err());
        let rogue = KeyPurpose::Blind {
            wallet: "rogue".into(),
        };
        assert!(check_purpose(g, &blind("rogue"), &rogue).is_err());
        let blind_w1 = KeyPurpose::Blind {
            wallet: "w1".into(),
        };
        assert_eq!(check_purpose(g, &eth(), &blind_w1), Err(Refusal::BlindOnly));
        check_purpose(g, &eth(), &ordinary).unwrap();
        // Another wallet's key: refused whatever the kinds.
        let other = KeyPurpose::Wallet {
            wallet: "w2".into(),
        };
        assert_eq!(
            check_purpose(g, &eth(), &other),
            Err(Refusal::WalletKey {
                wallet: "w1".into(),
                key_of: "w2".into()
            })
        );
        assert!(check_purpose(g, &blind("bw"), &other).is_err());
    }
}
