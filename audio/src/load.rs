//! Opus complexity under load: a node that takes too long to mix and encode a frame
//! lowers its encoders' complexity rather than fall behind real time, and raises it
//! again when there is room.

/// Highest (best) complexity.
pub const MAX_COMPLEXITY: i32 = 10;

/// Share of a frame's duration above which the work is too slow.
const BUSY: f32 = 0.5;
/// Share below which there is room to spend on quality.
const IDLE: f32 = 0.2;

/// The complexity to use next, given the current one and the share of the last
/// frame's duration (20 ms) that its work took. Falls fast, rises slowly.
pub fn next_complexity(current: i32, busy: f32) -> i32 {
    if busy > BUSY {
        (current - 2).max(0)
    } else if busy < IDLE {
        (current + 1).min(MAX_COMPLEXITY)
    } else {
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_under_load_and_recovers() {
        assert_eq!(next_complexity(10, 0.9), 8);
        assert_eq!(next_complexity(1, 0.9), 0);
        assert_eq!(next_complexity(0, 0.9), 0);
        assert_eq!(next_complexity(5, 0.3), 5);
        assert_eq!(next_complexity(5, 0.05), 6);
        assert_eq!(next_complexity(10, 0.0), 10);
        assert_eq!(next_complexity(-3, 0.0), -2);
    }
}
