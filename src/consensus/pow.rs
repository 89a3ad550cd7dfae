//! Subsidy, median time past and the difficulty retarget (PROTOCOL.md sections 4-5).

use super::params::NetworkParams;
use crate::primitives::{Amount, Height, Target, U256};

/// Blocks in the median-time-past window.
pub const MTP_WINDOW: usize = 11;

/// `initial_reward >> (height / halving_interval)`, zero once the shift reaches 64.
pub fn subsidy(params: &NetworkParams, height: Height) -> Amount {
    let halvings = height.get() / params.halving_interval.max(1);
    params.initial_reward.shift_right(halvings)
}

/// `MTP(x)`: the median of the timestamps of the (up to 11) blocks ending at `x`, as
/// element `floor(n/2)` of the ascending sort. `timestamps` lists the chain up to and
/// including `x`, oldest first; only the last 11 count.
pub fn median_time_past(timestamps: &[u64]) -> u64 {
    let mut sorted: Vec<u64> = timestamps.iter().rev().take(MTP_WINDOW).copied().collect();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

/// Whether the block at `height` starts a new difficulty period.
pub fn is_retarget_height(params: &NetworkParams, height: Height) -> bool {
    let h = height.get();
    h >= params.retarget_interval && h.is_multiple_of(params.retarget_interval)
}

/// The target required at a retarget height, given the previous block's target and
/// `actual = MTP(h - 1) - MTP(h - R)`.
pub fn retarget(params: &NetworkParams, prev_target: Target, actual_timespan: u64) -> Target {
    let expected = (params.retarget_interval - 1) * params.target_block_time;
    let actual = actual_timespan.clamp(expected / 4, expected * 4);
    let scaled = prev_target
        .0
        .mul_div_u64(actual, expected)
        .unwrap_or(U256::MAX);
    Target(scaled.min(params.pow_limit.0).max(U256::ONE))
}

/// The target required for the block at `height`: the parent's target, except at a
/// retarget height, where `mtp_span` (`MTP(h - 1) - MTP(h - R)`) is asked for.
pub fn next_target(
    params: &NetworkParams,
    height: Height,
    parent_target: Target,
    mtp_span: impl FnOnce() -> u64,
) -> Target {
    if is_retarget_height(params, height) {
        retarget(params, parent_target, mtp_span())
    } else {
        parent_target
    }
}
