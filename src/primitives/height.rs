//! Block heights: a type of their own so a height is never confused with a timestamp,
//! a nonce or a count.

use std::fmt;

/// The number of blocks between a block and genesis (genesis is height 0).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Height(pub u64);

impl Height {
    pub const GENESIS: Height = Height(0);

    pub const fn get(self) -> u64 {
        self.0
    }

    /// The next height; `None` at `u64::MAX`.
    pub fn next(self) -> Option<Height> {
        self.0.checked_add(1).map(Height)
    }

    /// `self + blocks`, saturating.
    pub fn saturating_add(self, blocks: u64) -> Height {
        Height(self.0.saturating_add(blocks))
    }

    /// `self - blocks`, `None` below genesis.
    pub fn checked_sub(self, blocks: u64) -> Option<Height> {
        self.0.checked_sub(blocks).map(Height)
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Height({})", self.0)
    }
}

impl From<u64> for Height {
    fn from(h: u64) -> Height {
        Height(h)
    }
}
