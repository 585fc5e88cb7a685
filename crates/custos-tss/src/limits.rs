//! Party indices and the largest committee (a leaf: errors name parties).

/// A party's 0-based position in the committee that generated a key.
pub type PartyIndex = u16;

/// Largest committee Custos supports.
pub const MAX_PARTIES: u16 = 16;
