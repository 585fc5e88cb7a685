//! A 2-of-3 committee in one process (custos-tss), wallet account keys and
//! threshold signing of what custos-chains says must be signed.

use custos_chains::intent::{ChainIntent, TransferIntent, INTENT_VERSION};
use custos_chains::{AccountKey, Payload, SignedTx};
use custos_tss::driver::simulate;
use custos_tss::ecdsa::AuxInfo;
use custos_tss::{Committee, DerivationPath, KeyShare, Scheme};
use rand::rngs::OsRng;
use rand::RngCore;

pub struct Wallet {
    pub shares: Vec<KeyShare>,
}

fn sid() -> [u8; 32] {
    let mut s = [0u8; 32];
    OsRng.fill_bytes(&mut s);
    s
}

impl Wallet {
    pub fn new(scheme: Scheme) -> Self {
        let aux: Option<Vec<AuxInfo>> = (scheme == Scheme::EcdsaSecp256k1).then(|| {
            include_str!("../../../custos-tss/test-data/aux-3.hex")
                .lines()
                .map(|l| AuxInfo::from_bytes(&hex::decode(l).unwrap()).unwrap())
                .collect()
        });
        let committee = Committee::new(2, 3).unwrap();
        let s = sid();
        let sessions = (0..3u16)
            .map(|i| {
                let aux = aux.as_ref().map(|a| &a[usize::from(i)]);
                custos_tss::keygen(scheme, &s, committee, i, aux, &mut OsRng).unwrap()
            })
            .collect();
        let shares = simulate(sessions).into_iter().map(Result::unwrap).collect();
        Self { shares }
    }

    pub fn key_id(&self) -> String {
        self.shares[0].key_id().to_string()
    }

    pub fn account(&self, index: u32) -> AccountKey {
        let path: DerivationPath = format!("m/0/{index}").parse().unwrap();
        AccountKey {
            scheme: self.shares[0].scheme(),
            public_key: self.shares[0].public_key(&path).unwrap(),
        }
    }

    /// Nodes 0 and 1 sign each payload at the intent's account path.
    pub fn sign(&self, intent: &TransferIntent, payloads: &[Payload]) -> Vec<Vec<u8>> {
        self.sign_at(intent.account, payloads)
    }

    /// Nodes 0 and 1 sign each payload with the key at `m/0/account`.
    pub fn sign_at(&self, account: u32, payloads: &[Payload]) -> Vec<Vec<u8>> {
        let path: DerivationPath = format!("m/0/{account}").parse().unwrap();
        payloads
            .iter()
            .map(|p| {
                assert_eq!(p.scheme(), self.shares[0].scheme());
                let s = sid();
                let sessions = [0u16, 1]
                    .iter()
                    .map(|&i| {
                        custos_tss::sign(
                            &self.shares[usize::from(i)],
                            &s,
                            &[0, 1],
                            &path,
                            p.message(),
                            &mut OsRng,
                        )
                        .unwrap()
                    })
                    .collect();
                simulate(sessions).remove(0).unwrap().bytes
            })
            .collect()
    }

    /// Builds, signs and assembles.
    pub fn transfer(&self, intent: &TransferIntent) -> SignedTx {
        let key = self.account(intent.account);
        let unsigned = custos_chains::build(intent, &key).unwrap();
        let sigs = self.sign(intent, &unsigned.payloads);
        custos_chains::assemble(&unsigned, &sigs).unwrap()
    }
}

pub fn intent(wallet: &Wallet, account: u32, chain: ChainIntent) -> TransferIntent {
    let mut request_id = [0u8; 16];
    OsRng.fill_bytes(&mut request_id);
    TransferIntent {
        version: INTENT_VERSION,
        request_id,
        wallet: "w1".into(),
        key_id: wallet.key_id(),
        account,
        chain,
    }
}
