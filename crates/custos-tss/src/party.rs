//! Party indices, committees and signer sets, validated before any round runs.

use crate::error::ParamError;

pub use crate::limits::{PartyIndex, MAX_PARTIES};

/// A committee of `n` parties sharing keys with threshold `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Committee {
    t: u16,
    n: u16,
}

impl Committee {
    /// Checks 1 < t ≤ n ≤ [`MAX_PARTIES`].
    pub fn new(t: u16, n: u16) -> Result<Self, ParamError> {
        if t < 2 || t > n || n > MAX_PARTIES {
            return Err(ParamError::Threshold { t, n });
        }
        Ok(Self { t, n })
    }

    /// Threshold: how many parties must sign.
    pub fn threshold(&self) -> u16 {
        self.t
    }

    /// Committee size.
    pub fn size(&self) -> u16 {
        self.n
    }

    /// All members, `0..n`.
    pub fn members(&self) -> Vec<PartyIndex> {
        (0..self.n).collect()
    }

    /// Checks that `me` is a member.
    pub fn check_member(&self, me: PartyIndex) -> Result<(), ParamError> {
        if me >= self.n {
            return Err(ParamError::UnknownParty {
                index: me,
                n: self.n,
            });
        }
        Ok(())
    }

    /// Validates a signer set: exactly `t` distinct members including `me`.
    /// Returns the set sorted, which is the order every party uses.
    pub fn signer_set(
        &self,
        signers: &[PartyIndex],
        me: PartyIndex,
    ) -> Result<Vec<PartyIndex>, ParamError> {
        let mut sorted = signers.to_vec();
        sorted.sort_unstable();
        for pair in sorted.windows(2) {
            if let [a, b] = pair {
                if a == b {
                    return Err(ParamError::DuplicateParty(*a));
                }
            }
        }
        if let Some(&bad) = sorted.iter().find(|&&i| i >= self.n) {
            return Err(ParamError::UnknownParty {
                index: bad,
                n: self.n,
            });
        }
        let need = self.t;
        match sorted.len() {
            got if got < usize::from(need) => return Err(ParamError::TooFewSigners { got, need }),
            got if got > usize::from(need) => return Err(ParamError::TooManySigners { got, need }),
            _ => {}
        }
        if !sorted.contains(&me) {
            return Err(ParamError::NotASigner(me));
        }
        Ok(sorted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert!(Committee::new(2, 3).is_ok());
        assert!(Committee::new(16, 16).is_ok());
        assert_eq!(
            Committee::new(1, 3),
            Err(ParamError::Threshold { t: 1, n: 3 })
        );
        assert_eq!(
            Committee::new(4, 3),
            Err(ParamError::Threshold { t: 4, n: 3 })
        );
        assert_eq!(
            Committee::new(2, 17),
            Err(ParamError::Threshold { t: 2, n: 17 })
        );
    }

    #[test]
    fn signer_sets() {
        let c = Committee::new(2, 3).unwrap();
        assert_eq!(c.signer_set(&[2, 0], 0).unwrap(), vec![0, 2]);
        assert_eq!(
            c.signer_set(&[0], 0),
            Err(ParamError::TooFewSigners { got: 1, need: 2 })
        );
        assert_eq!(
            c.signer_set(&[0, 1, 2], 0),
            Err(ParamError::TooManySigners { got: 3, need: 2 })
        );
        assert_eq!(c.signer_set(&[1, 1], 1), Err(ParamError::DuplicateParty(1)));
        assert_eq!(
            c.signer_set(&[0, 3], 0),
            Err(ParamError::UnknownParty { index: 3, n: 3 })
        );
        assert_eq!(c.signer_set(&[1, 2], 0), Err(ParamError::NotASigner(0)));
    }
}
